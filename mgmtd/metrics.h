// MetricsServer: a Prometheus text endpoint (`GET /metrics`, exposition format 0.0.4) on its
// own small HTTP listener, since gRPC's port does not speak plain HTTP/1.1. One thread,
// one request per connection, bounded reads and writes; anything but GET /metrics is 404.
// RenderMetrics builds the page for one mgmtd: consensus, pool, volumes, supervised bricks
// (with each brick's own per-op counters and latency histograms from its Stats RPC) and
// the heal daemon.
// Thread-safety: Start/Stop from one thread; the render callback runs on the server thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"
#include "mgmtd/context.h"

namespace hafs::mgmtd {

class MetricsServer {
 public:
  explicit MetricsServer(std::function<std::string()> render) : render_(std::move(render)) {}
  ~MetricsServer() { Stop(); }
  // Binds ADDR:PORT (IPv4).
  Status Start(const std::string& listen);
  void Stop();

 private:
  void Loop();
  std::function<std::string()> render_;
  int fd_ = -1;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

std::string RenderMetrics(const MgmtContext& ctx);

}  // namespace hafs::mgmtd
