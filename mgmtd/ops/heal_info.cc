// volume heal NAME info: the pending entries of every brick, read from each brick's heal
// index (HealIndex RPC, paged). It costs in proportion to what is pending, never to the
// size of the volume.
#include "client-fuse/protocol/brick_client.h"
#include "common/log.h"
#include "mgmtd/background/self_heal_daemon.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"
#include "proto/brick.grpc.pb.h"

#include <set>

#include "common/gfid.h"

namespace hafs::mgmtd::ops {

using namespace std::chrono_literals;

void HealInfo(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::HealInfoReply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep->mutable_reply(), NoSuchVolume(req.name()));
  if (vol->state() != mgmtpb::STARTED)
    return FillReply(rep->mutable_reply(), Status(EINVAL, fmt::format("Volume {} is not started", req.name())));
  constexpr size_t kMaxListed = 100000;  // entries listed per brick; `total` always counts all
  for (const auto& b : vol->bricks()) {
    auto* out = rep->add_bricks();
    out->set_brick(b.host() + ":" + b.path());
    if (b.port() == 0) {
      out->set_error("brick has no port (not started)");
      continue;
    }
    std::string host = b.host().find(':') != std::string::npos ? "[" + b.host() + "]" : b.host();
    auto stub = proto::Brick::NewStub(
        grpc::CreateChannel(host + ":" + std::to_string(b.port()), grpc::InsecureChannelCredentials()));
    std::string after;
    bool ok = true;
    while (true) {
      grpc::ClientContext cctx;
      client::AddInternalKey(&cctx);
      cctx.set_deadline(std::chrono::system_clock::now() + 3s);
      proto::HealIndexRequest hreq;
      hreq.set_start_after(after);
      hreq.set_limit(1000);
      proto::HealIndexReply hrep;
      auto st = stub->HealIndex(&cctx, hreq, &hrep);
      if (!st.ok()) {
        out->set_error("Transport endpoint is not connected");
        ok = false;
        break;
      }
      out->set_total(hrep.total());
      for (const auto& g : hrep.gfids()) {
        if (static_cast<size_t>(out->gfids_size()) >= kMaxListed) break;
        auto gfid = Gfid::FromBytes(g);
        out->add_gfids(gfid ? gfid->ToString() : "?");
      }
      if (hrep.complete() || hrep.gfids().empty() || static_cast<size_t>(out->gfids_size()) >= kMaxListed) break;
      after = hrep.gfids(hrep.gfids_size() - 1);
    }
    out->set_online(ok);
  }
  for (auto& d : AllBricks(ctx, *vol)) *rep->add_daemons() = std::move(d);
  rep->mutable_reply()->set_ok(true);
}

void Heal(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep, NoSuchVolume(req.name()));
  if (vol->state() != mgmtpb::STARTED)
    return FillReply(rep, Status(EINVAL, fmt::format("Volume {} is not started", req.name())));
  if (vol->replica() < 2)
    return FillReply(rep, Status(EINVAL, fmt::format("Volume {} is not of type replicate", req.name())));
  auto it = vol->options().find("cluster.self-heal-daemon");
  if (it != vol->options().end() && (it->second == "off" || it->second == "false" || it->second == "disable" ||
                                     it->second == "no" || it->second == "0"))
    return FillReply(rep, Status(EPERM, "Self-heal-daemon is disabled. Heal will not be triggered on volume " +
                                            req.name()));
  if (req.full()) ctx.heal->TriggerFull(req.name());
  else ctx.heal->Trigger(req.name());
  if (req.force()) return FillReply(rep, Status::Ok());  // a peer's fan-out: this node only
  std::set<std::string> hosts;
  for (const auto& b : vol->bricks()) hosts.insert(b.host());
  for (const auto& host : hosts) {
    auto peer = ctx.FindPeer(host);
    if (!peer || peer->uuid() == ctx.self_id) continue;
    grpc::ClientContext cctx;
    SetDeadline(&cctx, ctx.peer_deadline);
    mgmtpb::VolumeRequest preq;
    preq.set_name(req.name());
    preq.set_force(true);
    preq.set_full(req.full());
    mgmtpb::Reply prep;
    if (!ctx.Stub(peer->address())->Heal(&cctx, preq, &prep).ok())
      HAFS_LOG_WARN("heal trigger: peer {} did not answer", peer->address());
  }
  FillReply(rep, Status::Ok());
}

}  // namespace hafs::mgmtd::ops
