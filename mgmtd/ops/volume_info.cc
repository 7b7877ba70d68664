// volume info (the replicated configuration, read locally) and volume status (each brick's
// process as its own node's mgmtd sees it, plus the brick's counters).
#include <set>

#include "mgmtd/background/brick_supervisor.h"
#include "mgmtd/background/self_heal_daemon.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd::ops {

void VolumeInfo(const MgmtContext& ctx, const mgmtpb::VolumeInfoRequest& req, mgmtpb::VolumeInfoReply* rep) {
  auto state = ctx.raft->State();
  if (!req.name().empty() && req.name() != "all") {
    const auto* v = FindVolume(state, req.name());
    if (!v) return FillReply(rep->mutable_reply(), NoSuchVolume(req.name()));
    *rep->add_volumes() = *v;
  } else {
    for (const auto& v : state.volumes()) *rep->add_volumes() = v;
  }
  rep->mutable_reply()->set_ok(true);
}

std::vector<mgmtpb::BrickProcess> LocalBricks(const MgmtContext& ctx, const std::string& volume) {
  auto bricks = ctx.supervisor->Local(volume);
  for (auto& b : bricks) ctx.heal->FillProgress(volume, &b);
  return bricks;
}

void LocalBrickStatus(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::VolumeStatusReply* rep) {
  for (auto& b : LocalBricks(ctx, req.name())) *rep->add_bricks() = std::move(b);
  rep->set_name(req.name());
  rep->mutable_reply()->set_ok(true);
}

std::vector<mgmtpb::BrickProcess> AllBricks(const MgmtContext& ctx, const mgmtpb::Volume& vol) {
  // Ask each node that holds bricks of the volume about its own bricks.
  std::map<std::string, std::vector<mgmtpb::BrickProcess>> by_host;
  std::set<std::string> hosts;
  for (const auto& b : vol.bricks()) hosts.insert(b.host());
  for (const auto& host : hosts) {
    auto peer = ctx.FindPeer(host);
    std::vector<mgmtpb::BrickProcess> local;
    if (peer && peer->uuid() == ctx.self_id) {
      local = LocalBricks(ctx, vol.name());
    } else if (peer) {
      grpc::ClientContext cctx;
      SetDeadline(&cctx, ctx.peer_deadline);
      mgmtpb::VolumeRequest lreq;
      lreq.set_name(vol.name());
      mgmtpb::VolumeStatusReply lrep;
      if (ctx.Stub(peer->address())->LocalBrickStatus(&cctx, lreq, &lrep).ok())
        local.assign(lrep.bricks().begin(), lrep.bricks().end());
    }
    by_host[host] = local;
  }
  std::vector<mgmtpb::BrickProcess> out;
  for (const auto& b : vol.bricks()) {
    mgmtpb::BrickProcess o;
    o.set_host(b.host());
    o.set_path(b.path());
    o.set_error("its node's hafs-mgmtd did not answer");
    for (const auto& l : by_host[b.host()])
      if (l.path() == b.path()) o = l;
    out.push_back(o);
  }
  return out;
}

void VolumeStatus(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::VolumeStatusReply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep->mutable_reply(), NoSuchVolume(req.name()));
  if (vol->state() != mgmtpb::STARTED)
    return FillReply(rep->mutable_reply(), Status(EINVAL, fmt::format("Volume {} is not started", req.name())));
  rep->set_name(req.name());
  for (auto& b : AllBricks(ctx, *vol)) *rep->add_bricks() = std::move(b);
  rep->mutable_reply()->set_ok(true);
}

}  // namespace hafs::mgmtd::ops
