// HealthChecker: active checks of every server with `check`, on its own thread
// with its own epoll loop (non-blocking connects, never blocks a traffic loop).
//
// Layer-4 check: a TCP connect within the check timeout. Layer-7 check (`option
// httpchk`): "<method> <uri> HTTP/1.0" and the status must match `http-check expect
// status` (default: any 2xx/3xx). A server goes DOWN after `fall` consecutive
// failures and UP after `rise` consecutive successes; `fastinter` is used while a
// server is changing state, `downinter` while it is down. Passive failures seen by
// traffic (sessions.h) request an immediate check.
// Thread-safety: Start()/Stop() from the owner; the loop reads Runtime snapshots.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "lb/runtime.h"

namespace hafs::lb {

class HealthChecker {
 public:
  explicit HealthChecker(std::function<std::shared_ptr<Runtime>()> current);
  ~HealthChecker();
  void Start();
  void Stop();

 private:
  void Run();
  std::function<std::shared_ptr<Runtime>()> current_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hafs::lb
