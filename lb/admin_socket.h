// AdminSocket: the `stats socket` (a Unix stream socket, HAProxy's runtime API
// style: one or more ';'-separated commands per connection, answer, close).
// Runs on its own thread; each client gets a short read/write deadline so a stuck
// client cannot hold the socket. Commands are executed by Lb::Command().
// Thread-safety: Start()/Stop() from the owner.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace hafs::lb {

class AdminSocket {
 public:
  using Handler = std::function<std::string(const std::string&)>;
  AdminSocket(std::string path, int mode, Handler handler);
  ~AdminSocket();
  Status Start();
  void Stop();

 private:
  void Run();
  void Serve(int fd);
  std::string path_;
  int mode_;
  Handler handler_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hafs::lb
