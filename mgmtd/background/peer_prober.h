// PeerProber: pings every other peer of the pool once a second so `peer status` can say
// Connected/Disconnected on every node (Raft alone only tells the leader). Runs whether or
// not anything else is going on (gluster's liveness pings only while requests are
// outstanding are what we avoid). Thread-safety: Start/Stop from one thread.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "mgmtd/context.h"

namespace hafs::mgmtd {

class PeerProber {
 public:
  explicit PeerProber(const MgmtContext* ctx) : ctx_(ctx) {}
  ~PeerProber() { Stop(); }
  void Start();
  void Stop();

 private:
  void Loop();
  const MgmtContext* ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  std::thread thread_;
};

}  // namespace hafs::mgmtd
