#include "lb/admin_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"

namespace hafs::lb {

AdminSocket::AdminSocket(std::string path, int mode, Handler handler)
    : path_(std::move(path)), mode_(mode), handler_(std::move(handler)) {}

AdminSocket::~AdminSocket() { Stop(); }

Status AdminSocket::Start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) return Status(ENAMETOOLONG, "stats socket path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::FromErrno(errno, "socket");
  unlink(path_.c_str());
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || listen(fd_, 16) < 0) {
    Status st = Status::FromErrno(errno, "bind stats socket " + path_);
    close(fd_);
    fd_ = -1;
    return st;
  }
  chmod(path_.c_str(), static_cast<mode_t>(mode_));
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void AdminSocket::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    close(fd_);
    unlink(path_.c_str());
    fd_ = -1;
  }
}

void AdminSocket::Run() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    Serve(c);
    close(c);
  }
}

void AdminSocket::Serve(int fd) {
  std::string in;
  char buf[4096];
  while (in.find('\n') == std::string::npos && in.size() < 65536) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  in = in.substr(0, in.find('\n'));
  std::string out;
  size_t pos = 0;
  while (pos <= in.size()) {
    size_t semi = in.find(';', pos);
    std::string cmd = in.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    if (cmd.find_first_not_of(" \t\r") != std::string::npos) out += handler_(cmd);
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace hafs::lb
