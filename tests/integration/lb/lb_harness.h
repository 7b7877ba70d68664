// Test harness for the hafs-lb integration tests: real processes (hafs-lb and
// lb_test_backend) on 127.0.0.1, stopped by PID in destructors even when a test
// fails, a small blocking HTTP client with deadlines, and a load generator.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lbtest {

std::string BinDir();
// A port that was free a moment ago (bind to port 0 and release).
int FreePort();
bool WaitPortOpen(int port, std::chrono::milliseconds timeout);
// Polls pred every 20 ms until true or timeout; returns the final value.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

class Process {
 public:
  Process() = default;
  Process(const std::vector<std::string>& argv, const std::string& log_file);
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  pid_t pid() const { return pid_; }
  bool Alive();
  void Signal(int sig);
  void Kill();  // SIGKILL and reap
  void Stop();  // SIGTERM, then SIGKILL after 5 s; reaps
  int exit_status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Starts an lb_test_backend named `name` on `port` and waits until it listens.
Process StartBackend(int port, const std::string& name, const std::string& log_dir);
// Starts hafs-lb on a config file and waits until `wait_port` listens.
Process StartLb(const std::string& cfg_file, int wait_port, const std::string& log_file);

struct Response {
  bool ok = false;  // a complete response was read
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names (last wins)
  std::vector<std::string> set_cookies;
  std::string body;
  std::string error;
};

// One request on a new connection. `extra_headers` lines end with "\r\n".
Response HttpRequest(int port, const std::string& method, const std::string& path, const std::string& extra_headers = "",
                     const std::string& body = "", int timeout_ms = 5000);
// Sends raw bytes, then reads until the peer closes or timeout; returns what was read.
std::string RawExchange(int port, const std::string& bytes, int timeout_ms = 5000, bool* closed = nullptr);

// A keep-alive client connection.
class Conn {
 public:
  explicit Conn(int port, int timeout_ms = 5000);
  ~Conn();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& bytes);
  Response Read();  // one response
  Response Request(const std::string& method, const std::string& path, const std::string& extra = "",
                   const std::string& body = "");

 private:
  int fd_ = -1;
  std::string buf_;
};

struct LoadResult {
  int ok = 0;
  int failed = 0;
  int resets = 0;
  std::map<std::string, int> per_backend;  // X-Backend header
  std::vector<std::string> errors;         // first few
};
// `total` requests from `concurrency` threads, each on a new connection (ab style).
// `during` runs in the caller's thread while the load runs (may be empty).
LoadResult RunLoad(int port, const std::string& path, int total, int concurrency,
                   const std::function<void(const std::atomic<int>& done)>& during = {});

std::string AdminCommand(const std::string& socket_path, const std::string& cmd);

}  // namespace lbtest
