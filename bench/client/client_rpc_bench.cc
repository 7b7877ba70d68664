// Latency and client CPU of one brick round trip through the client's protocol layer: the
// synchronous call, the asynchronous (future) call that the layers use, three in parallel
// (replicate's fan-out), the same three on completion queues drained by the waiting thread,
// and 1 MiB writes (shared payload vs copied, HAFS_SHARED_WRITE), against a real hafs-brickd.
// Per call: wall time, this process's CPU time and context switches (the brick is another
// process).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <functional>

#include "client-fuse/protocol/protocol_layer.h"
#include "tests/support/brickd_process.h"

using namespace hafs;
using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
  Clock::time_point t;
  double cpu_us;
  long cs;
};

Sample Now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  return {Clock::now(), cpu, ru.ru_nvcsw + ru.ru_nivcsw};
}

void Measure(const char* what, int n, const std::function<void()>& fn) {
  Sample a = Now();
  for (int i = 0; i < n; ++i) fn();
  Sample b = Now();
  std::printf("%-34s %8.1f us wall  %8.1f us client CPU  %5.1f context switches (process)\n", what,
              std::chrono::duration<double, std::micro>(b.t - a.t).count() / n, (b.cpu_us - a.cpu_us) / n,
              static_cast<double>(b.cs - a.cs) / n);
}

}  // namespace

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
  Measure("getattr sync", n, [&] { (void)layer.client().Call(&proto::Brick::Stub::Getattr, req, "getattr"); });
  Measure("getattr async (future)", n, [&] { (void)layer.Getattr(req).get(); });
  Measure("3 getattr in parallel (futures)", n, [&] {
    auto a = layer.Getattr(req), b = layer.Getattr(req), c = layer.Getattr(req);
    (void)a.get(), (void)b.get(), (void)c.get();
  });
  // The completion-queue flavour: the waiting thread polls for its own completions.
  auto stub = proto::Brick::NewStub(grpc::CreateChannel(o.address.Endpoint(), grpc::InsecureChannelCredentials()));
  Measure("3 getattr in parallel (own CQ)", n, [&] {
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx[3];
    proto::AttrReply rep[3];
    grpc::Status st[3];
    std::unique_ptr<grpc::ClientAsyncResponseReader<proto::AttrReply>> r[3];
    for (int i = 0; i < 3; ++i) {
      r[i] = stub->PrepareAsyncGetattr(&ctx[i], req, &cq);
      r[i]->StartCall();
      r[i]->Finish(&rep[i], &st[i], reinterpret_cast<void*>(static_cast<intptr_t>(i + 1)));
    }
    void* tag;
    bool ok;
    for (int i = 0; i < 3; ++i) cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  });
  Measure("3 getattr in parallel (a CQ each)", n, [&] {
    grpc::CompletionQueue cq[3];
    grpc::ClientContext ctx[3];
    proto::AttrReply rep[3];
    grpc::Status st[3];
    std::unique_ptr<grpc::ClientAsyncResponseReader<proto::AttrReply>> r[3];
    for (int i = 0; i < 3; ++i) {
      r[i] = stub->PrepareAsyncGetattr(&ctx[i], req, &cq[i]);
      r[i]->StartCall();
      r[i]->Finish(&rep[i], &st[i], reinterpret_cast<void*>(static_cast<intptr_t>(i + 1)));
    }
    void* tag;
    bool ok;
    for (int i = 0; i < 3; ++i) {
      cq[i].Next(&tag, &ok);
      cq[i].Shutdown();
      while (cq[i].Next(&tag, &ok)) {
      }
    }
  });
  // 1 MiB writes.
  proto::CreateRequest cr;
  Gfid g = Gfid::Random();
  cr.set_parent(Gfid::Root().Bytes());
  cr.set_name("w");
  cr.set_gfid(g.Bytes());
  cr.set_mode(0644);
  if (!layer.Create(cr).get().ok()) return 1;
  auto data = std::make_shared<const std::string>(std::string(1 << 20, 'x'));
  int nw = std::max(1, n / 20);
  Measure(client::ProtocolLayer::shared_write() ? "1 MiB write (shared payload)" : "1 MiB write (copied, serialised)", nw,
          [&] {
            proto::WriteRequest w;
            w.set_gfid(g.Bytes());
            (void)layer.WriteShared(w, data).get();
          });
  return 0;
}
