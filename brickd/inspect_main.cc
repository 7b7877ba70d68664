// hafs-brick-inspect: asks a running brick what it knows, for operators and debugging.
//
//   hafs-brick-inspect ADDR:PORT ping|stats|heal-index
//   hafs-brick-inspect ADDR:PORT pending GFID
#include <cstdio>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "common/gfid.h"
#include "proto/brick.grpc.pb.h"

using namespace hafs;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: hafs-brick-inspect ADDR:PORT ping|stats|heal-index|pending GFID\n";
    return 2;
  }
  auto stub = proto::Brick::NewStub(grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  std::string what = argv[2];
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (what == "ping") {
    proto::PingReply r;
    auto st = stub->Ping(&ctx, proto::PingRequest(), &r);
    if (!st.ok()) return std::cerr << "error: " << st.error_message() << "\n", 1;
    std::printf("volume %s brick %u uptime %llu ms sessions %u\n", r.volume_id().c_str(), r.brick_id(),
                static_cast<unsigned long long>(r.uptime_ms()), r.sessions());
  } else if (what == "stats") {
    proto::StatsReply r;
    auto st = stub->Stats(&ctx, proto::PingRequest(), &r);
    if (!st.ok()) return std::cerr << "error: " << st.error_message() << "\n", 1;
    for (auto& o : r.ops())
      std::printf("%-12s count %8llu errors %6llu avg %6.1f us\n", o.op().c_str(),
                  static_cast<unsigned long long>(o.count()), static_cast<unsigned long long>(o.errors()),
                  o.count() ? static_cast<double>(o.total_us()) / o.count() : 0.0);
    std::printf("bytes read %llu written %llu (direct %llu) sessions %u locks %llu heal-pending %llu\n",
                static_cast<unsigned long long>(r.bytes_read()), static_cast<unsigned long long>(r.bytes_written()),
                static_cast<unsigned long long>(r.bytes_written_direct()),
                r.sessions(), static_cast<unsigned long long>(r.locks_held()),
                static_cast<unsigned long long>(r.heal_pending()));
    std::printf("read-channel reads %llu\n", static_cast<unsigned long long>(r.reads_by_channel()));
    std::printf("read-channel calls %llu\n", static_cast<unsigned long long>(r.calls_by_channel()));
  } else if (what == "heal-index") {
    proto::HealIndexRequest q;
    q.set_limit(10000);
    proto::HealIndexReply r;
    auto st = stub->HealIndex(&ctx, q, &r);
    if (!st.ok()) return std::cerr << "error: " << st.error_message() << "\n", 1;
    for (auto& g : r.gfids()) std::printf("%s\n", Gfid::FromBytes(g)->ToString().c_str());
    std::printf("total %llu%s\n", static_cast<unsigned long long>(r.total()), r.complete() ? "" : " (listing cut)");
  } else if (what == "pending" && argc == 4) {
    auto g = Gfid::Parse(argv[3]);
    if (!g) return std::cerr << "not a gfid: " << argv[3] << "\n", 2;
    proto::GfidRequest q;
    q.set_gfid(g->Bytes());
    q.set_want_pending(true);
    proto::AttrReply r;
    auto st = stub->Getattr(&ctx, q, &r);
    if (!st.ok()) return std::cerr << "error: " << st.error_message() << "\n", 1;
    if (r.err()) return std::cerr << "error: " << std::strerror(r.err()) << "\n", 1;
    for (auto& [k, v] : r.pending()) std::printf("%s = %lld\n", k.c_str(), static_cast<long long>(v));
  } else {
    std::cerr << "unknown command " << what << "\n";
    return 2;
  }
  return 0;
}
