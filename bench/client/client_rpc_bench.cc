// Latency of one brick round trip through the client's protocol layer: the synchronous call
// and the asynchronous (future) call that the layers use, against a real hafs-brickd.
#include <chrono>
#include <cstdio>

#include "client-fuse/protocol/protocol_layer.h"
#include "tests/support/brickd_process.h"

using namespace hafs;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  testing::BrickdProcess brick;
  client::BrickClient::Options o;
  o.address = {"127.0.0.1", brick.port(), brick.dir()};
  o.volume_id = testing::kVolumeId;
  client::ProtocolLayer layer(o);
  layer.client().Start();
  if (!layer.client().WaitUp(std::chrono::seconds(5))) return 1;
  proto::GfidRequest req;
  req.set_gfid(Gfid::Root().Bytes());
  auto t = Clock::now();
  for (int i = 0; i < n; ++i) (void)layer.client().Call(&proto::Brick::Stub::Getattr, req, "getattr");
  double sync_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count() / n;
  t = Clock::now();
  for (int i = 0; i < n; ++i) (void)layer.Getattr(req).get();
  double async_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count() / n;
  t = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto a = layer.Getattr(req), b = layer.Getattr(req), c = layer.Getattr(req);
    (void)a.get(), (void)b.get(), (void)c.get();
  }
  double fan_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count() / n;
  std::printf("getattr round trip: sync %.1f us, async %.1f us, 3 in parallel %.1f us\n", sync_us, async_us, fan_us);
  return 0;
}
