#include "raid/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"

namespace hafs::raid {

std::string RunDir() {
  const char* d = std::getenv("HAFS_RAID_RUN_DIR");
  return d && *d ? d : "/run/hafs-raid";
}
std::string SocketPath(const std::string& name) { return RunDir() + "/" + name + ".sock"; }
std::string MapPath(const std::string& name) { return RunDir() + "/" + name + ".map"; }

namespace {

Result<int> MakeAddr(const std::string& path, sockaddr_un* a) {
  if (path.size() >= sizeof(a->sun_path)) return Status(ENAMETOOLONG, "socket path too long: " + path);
  std::memset(a, 0, sizeof(*a));
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  return fd;
}

bool WaitFd(int fd, short ev, int ms) {
  pollfd p{fd, ev, 0};
  return poll(&p, 1, ms) > 0;
}

}  // namespace

ControlServer::~ControlServer() { Stop(); }

Status ControlServer::Start(const std::string& path, Handler h) {
  mkdir(RunDir().c_str(), 0755);
  sockaddr_un a;
  auto fd = MakeAddr(path, &a);
  if (!fd.ok()) return fd.status();
  unlink(path.c_str());
  if (bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(*fd, 16) != 0) {
    Status st = Status::FromErrno(errno, "bind " + path);
    ::close(*fd);
    return st;
  }
  chmod(path.c_str(), 0600);  // control is root's business
  fd_ = *fd;
  path_ = path;
  handler_ = std::move(h);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void ControlServer::Stop() {
  if (fd_ < 0) return;
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  fd_ = -1;
  unlink(path_.c_str());
}

void ControlServer::Loop() {
  while (!stop_) {
    if (!WaitFd(fd_, POLLIN, 200)) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::string line;
    char ch;
    while (line.size() < 4096 && WaitFd(c, POLLIN, 2000) && read(c, &ch, 1) == 1 && ch != '\n') line += ch;
    const auto sp = line.find(' ');
    const std::string cmd = line.substr(0, sp);
    const std::string arg = sp == std::string::npos ? "" : line.substr(sp + 1);
    std::string out;
    Status st = handler_(cmd, arg, &out);
    std::string reply = st.ok() ? "OK\n" : fmt::format("ERR {} {}\n", st.err(), st.message());
    reply += out;
    for (size_t done = 0; done < reply.size();) {
      ssize_t n = write(c, reply.data() + done, reply.size() - done);
      if (n <= 0) break;
      done += size_t(n);
    }
    ::close(c);
  }
}

Result<std::string> ControlCall(const std::string& name, const std::string& cmd, const std::string& arg,
                                int timeout_ms) {
  sockaddr_un a;
  auto fd = MakeAddr(SocketPath(name), &a);
  if (!fd.ok()) return fd.status();
  if (connect(*fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    Status st = Status::FromErrno(errno, "connect " + SocketPath(name));
    ::close(*fd);
    return st;
  }
  std::string req = cmd + (arg.empty() ? "" : " " + arg) + "\n";
  if (write(*fd, req.data(), req.size()) != ssize_t(req.size())) {
    ::close(*fd);
    return Status(EIO, "control write failed");
  }
  std::string resp;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (true) {
    const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                              std::chrono::steady_clock::now())
                             .count());
    if (left <= 0 || !WaitFd(*fd, POLLIN, left)) {
      ::close(*fd);
      return Status(ETIMEDOUT, fmt::format("no answer from the running array {} within {} ms", name, timeout_ms));
    }
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n <= 0) break;
    resp.append(buf, size_t(n));
  }
  ::close(*fd);
  const auto nl = resp.find('\n');
  const std::string head = resp.substr(0, nl);
  const std::string body = nl == std::string::npos ? "" : resp.substr(nl + 1);
  if (head == "OK") return body;
  if (head.rfind("ERR ", 0) == 0) {
    const auto sp = head.find(' ', 4);
    const int err = std::atoi(head.substr(4, sp - 4).c_str());
    return Status(err ? err : EIO, sp == std::string::npos ? "" : head.substr(sp + 1));
  }
  return Status(EPROTO, "malformed control reply");
}

}  // namespace hafs::raid
