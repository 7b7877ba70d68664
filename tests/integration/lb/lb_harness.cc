#include "lb_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace lbtest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string BinDir() {
  if (const char* d = std::getenv("HAFS_BIN_DIR")) return d;
  return fs::read_symlink("/proc/self/exe").parent_path().string();
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

static int Dial(int port, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

bool WaitPortOpen(int port, std::chrono::milliseconds timeout) {
  return WaitFor(
      [port] {
        int fd = Dial(port, 200);
        if (fd < 0) return false;
        close(fd);
        return true;
      },
      timeout);
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/hafs-lb-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}
std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p) << content;
  return p;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_file) {
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // If the test process dies without running destructors (a crash), take the child along.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}
Process::~Process() { Stop(); }
Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
Process& Process::operator=(Process&& o) noexcept {
  Stop();
  pid_ = o.pid_;
  status_ = o.status_;
  o.pid_ = -1;
  return *this;
}
bool Process::Alive() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    pid_ = -1;
    return false;
  }
  return true;
}
void Process::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}
void Process::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  pid_ = -1;
}
void Process::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 250; ++i) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  Kill();
}

Process StartBackend(int port, const std::string& name, const std::string& log_dir) {
  Process p({BinDir() + "/lb_test_backend", "--port", std::to_string(port), "--name", name},
            log_dir + "/backend-" + name + ".log");
  WaitPortOpen(port, 5s);
  return p;
}

Process StartLb(const std::string& cfg_file, int wait_port, const std::string& log_file) {
  Process p({BinDir() + "/hafs-lb", "-f", cfg_file}, log_file);
  WaitPortOpen(wait_port, 5s);
  return p;
}

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one response from fd into r, using buf as carry-over. false on failure.
bool ReadResponse(int fd, std::string& buf, const std::string& method, Response* r) {
  auto more = [&]() {
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  for (;;) {
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!more()) return r->error = buf.empty() ? "no response" : "truncated head", false;
    if (buf.compare(0, 10, "HTTP/1.1 1") == 0 && buf.compare(0, 12, "HTTP/1.1 101") != 0) {
      buf.erase(0, end + 4);  // interim
      continue;
    }
    break;
  }
  std::string head = buf.substr(0, end + 2);
  buf.erase(0, end + 4);
  if (head.size() < 12) return r->error = "bad status line", false;
  r->status = std::atoi(head.c_str() + 9);
  size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (name == "set-cookie") r->set_cookies.push_back(value);
    r->headers[name] = value;
  }
  bool no_body = method == "HEAD" || r->status == 204 || r->status == 304;
  if (no_body) return r->ok = true;
  if (Lower(r->headers["transfer-encoding"]) == "chunked") {
    for (;;) {
      size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos)
        if (!more()) return r->error = "truncated chunk", false;
      size_t len = std::strtoul(buf.substr(0, eol).c_str(), nullptr, 16);
      buf.erase(0, eol + 2);
      if (len == 0) {
        while ((eol = buf.find("\r\n")) != 0) {
          if (eol == std::string::npos) {
            if (!more()) return r->error = "truncated trailer", false;
          } else {
            buf.erase(0, eol + 2);
          }
        }
        buf.erase(0, 2);
        return r->ok = true;
      }
      while (buf.size() < len + 2)
        if (!more()) return r->error = "truncated chunk data", false;
      r->body += buf.substr(0, len);
      buf.erase(0, len + 2);
    }
  }
  if (r->headers.count("content-length")) {
    size_t cl = std::strtoul(r->headers["content-length"].c_str(), nullptr, 10);
    while (buf.size() < cl)
      if (!more()) return r->error = "truncated body", false;
    r->body = buf.substr(0, cl);
    buf.erase(0, cl);
    return r->ok = true;
  }
  while (more()) {
  }
  r->body = buf;
  buf.clear();
  return r->ok = true;
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Response HttpRequest(int port, const std::string& method, const std::string& path, const std::string& extra_headers,
                     const std::string& body, int timeout_ms) {
  Response r;
  int fd = Dial(port, timeout_ms);
  if (fd < 0) {
    r.error = std::string("connect: ") + strerror(errno);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  std::string buf;
  if (!SendAll(fd, req)) r.error = std::string("send: ") + strerror(errno);
  else ReadResponse(fd, buf, method, &r);
  if (!r.ok && r.error.empty()) r.error = strerror(errno);
  close(fd);
  return r;
}

std::string RawExchange(int port, const std::string& bytes, int timeout_ms, bool* closed) {
  std::string out;
  int fd = Dial(port, timeout_ms);
  if (fd < 0) return out;
  SendAll(fd, bytes);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool eof = false;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof = true;
      break;
    }
    out.append(tmp, static_cast<size_t>(n));
  }
  if (closed) *closed = eof;
  close(fd);
  return out;
}

Conn::Conn(int port, int timeout_ms) { fd_ = Dial(port, timeout_ms); }
Conn::~Conn() {
  if (fd_ >= 0) close(fd_);
}
bool Conn::Send(const std::string& bytes) { return fd_ >= 0 && SendAll(fd_, bytes); }
Response Conn::Read() {
  Response r;
  if (fd_ >= 0) ReadResponse(fd_, buf_, "GET", &r);
  return r;
}
Response Conn::Request(const std::string& method, const std::string& path, const std::string& extra,
                       const std::string& body) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: test\r\n" + extra;
  if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  Response r;
  if (!Send(req)) return r.error = "send failed", r;
  ReadResponse(fd_, buf_, method, &r);
  return r;
}

LoadResult RunLoad(int port, const std::string& path, int total, int concurrency,
                   const std::function<void(const std::atomic<int>& done)>& during) {
  LoadResult res;
  std::mutex mu;
  std::atomic<int> next{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      std::map<std::string, int> mine;
      int ok = 0, failed = 0, resets = 0;
      std::vector<std::string> errs;
      while (next.fetch_add(1) < total) {
        Response r = HttpRequest(port, "GET", path, "", "", 10000);
        if (r.ok && r.status == 200) {
          ++ok;
          mine[r.headers["x-backend"]]++;
        } else {
          ++failed;
          if (r.error.find("reset") != std::string::npos) ++resets;
          if (errs.size() < 5) errs.push_back(r.ok ? "status " + std::to_string(r.status) + " " + r.body : r.error);
        }
        done.fetch_add(1);
      }
      std::lock_guard lk(mu);
      res.ok += ok;
      res.failed += failed;
      res.resets += resets;
      for (auto& [k, v] : mine) res.per_backend[k] += v;
      for (auto& e : errs)
        if (res.errors.size() < 10) res.errors.push_back(e);
    });
  }
  if (during) during(done);
  for (auto& t : threads) t.join();
  return res;
}

std::string AdminCommand(const std::string& socket_path, const std::string& cmd) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof(a.sun_path) - 1);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    close(fd);
    return "connect failed";
  }
  SendAll(fd, cmd + "\n");
  std::string out;
  char tmp[4096];
  for (;;) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    out.append(tmp, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace lbtest
