// peer probe / peer detach / peer status / pool list, and the peer side of a probe (Join,
// Leave). A probed peer forgets its own one-peer pool and is brought into ours by the
// leader, which sends it the whole log.
#include "common/log.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd::ops {

namespace {
bool Connected(const MgmtContext& ctx, const mgmtpb::Peer& p) { return ctx.raft->RecentlyHeard(p.uuid()); }
}  // namespace

void PeerProbe(const MgmtContext& ctx, const mgmtpb::ProbeRequest& req, mgmtpb::Reply* rep) {
  std::string address = WithDefaultPort(req.host());
  if (req.host().empty()) return FillReply(rep, Status(EINVAL, "no host given"));
  if (address == ctx.self_address) {
    rep->set_ok(true);
    rep->set_message("Probe on localhost not needed");
    return;
  }
  if (ctx.FindPeer(address)) {
    rep->set_ok(true);
    rep->set_message(fmt::format("Host {} port {} already in peer list", HostOf(address),
                                 address.substr(address.rfind(':') + 1)));
    return;
  }
  auto info = ctx.raft->Info();
  if (info.leader_address.empty())
    return FillReply(rep, Status(ENOTCONN, "the pool has no leader (no quorum); cannot add a peer now"));
  auto state = ctx.raft->State();
  // Ask the new peer to join: it refuses if it already belongs to another pool.
  auto stub = ctx.Stub(address);
  grpc::ClientContext cctx;
  SetDeadline(&cctx, ctx.peer_deadline);
  mgmtpb::JoinRequest jreq;
  jreq.set_pool_id(state.pool_id());
  jreq.set_from(ctx.self_address);
  mgmtpb::JoinReply jrep;
  auto gst = stub->Join(&cctx, jreq, &jrep);
  if (!gst.ok())
    return FillReply(rep, Status(ENOTCONN, fmt::format("Probe returned with Transport endpoint is not connected "
                                                        "(no hafs-mgmtd answers at {})",
                                                        address)));
  if (!jrep.reply().ok()) return FillReply(rep, FromReply(jrep.reply()));
  mgmtpb::Command c;
  c.mutable_add_peer()->mutable_peer()->set_uuid(jrep.uuid());
  // The peer's own advertised address: the name its bricks are known by.
  c.mutable_add_peer()->mutable_peer()->set_address(jrep.address().empty() ? address : jrep.address());
  Status st = ctx.Submit(c);
  if (!st.ok()) {
    // Give the peer its own pool back.
    grpc::ClientContext lctx;
    SetDeadline(&lctx, ctx.peer_deadline);
    mgmtpb::PoolRequest lreq;
    mgmtpb::Reply lrep;
    (void)ctx.Stub(address)->Leave(&lctx, lreq, &lrep);
  } else {
    HAFS_LOG_INFO("peer {} ({}) joined the pool", address, jrep.uuid());
  }
  FillReply(rep, st);
}

void Join(const MgmtContext& ctx, const mgmtpb::JoinRequest& req, mgmtpb::JoinReply* rep) {
  auto state = ctx.raft->State();
  rep->set_uuid(ctx.self_id);
  rep->set_address(ctx.self_address);
  if (state.pool_id() == req.pool_id()) {
    rep->mutable_reply()->set_ok(true);
    return;
  }
  if (state.peers_size() > 1 || state.volumes_size() > 0)
    return FillReply(rep->mutable_reply(),
                     Status(EEXIST, fmt::format("{} is either already part of another cluster or having volumes "
                                                "configured",
                                                ctx.self_address)));
  HAFS_LOG_INFO("joining the pool of {} (pool {})", req.from(), req.pool_id());
  FillReply(rep->mutable_reply(), ctx.raft->ResetForJoin(req.pool_id()));
}

void Leave(const MgmtContext& ctx, mgmtpb::Reply* rep) {
  HAFS_LOG_INFO("detached from the pool; starting a new pool with this peer alone");
  FillReply(rep, ctx.raft->ResetStandalone());
}

void PeerDetach(const MgmtContext& ctx, const mgmtpb::DetachRequest& req, mgmtpb::Reply* rep) {
  auto peer = ctx.FindPeer(req.host());
  if (!peer) return FillReply(rep, Status(ENOENT, fmt::format("{} is not part of cluster", req.host())));
  if (peer->uuid() == ctx.self_id) return FillReply(rep, Status(EINVAL, fmt::format("{} is localhost", req.host())));
  if (!req.force() && !Connected(ctx, *peer))
    return FillReply(rep, Status(ENOTCONN, fmt::format("Peer {} is not connected; use 'force' to detach it anyway",
                                                        req.host())));
  mgmtpb::Command c;
  c.mutable_remove_peer()->set_uuid(peer->uuid());
  Status st = ctx.Submit(c);
  if (st.ok()) {
    grpc::ClientContext lctx;
    SetDeadline(&lctx, ctx.peer_deadline);
    mgmtpb::PoolRequest lreq;
    mgmtpb::Reply lrep;
    auto gst = ctx.Stub(peer->address())->Leave(&lctx, lreq, &lrep);
    if (!gst.ok()) HAFS_LOG_WARN("detached peer {} did not answer; it keeps its old state", peer->address());
  }
  FillReply(rep, st);
}

void PoolList(const MgmtContext& ctx, mgmtpb::PoolReply* rep) {
  auto state = ctx.raft->State();
  auto info = ctx.raft->Info();
  for (const auto& p : state.peers()) {
    auto* s = rep->add_peers();
    *s->mutable_peer() = p;
    s->set_self(p.uuid() == ctx.self_id);
    s->set_connected(Connected(ctx, p));
    s->set_leader(p.uuid() == info.leader_id);
  }
  rep->set_pool_id(state.pool_id());
  rep->set_term(info.term);
  rep->set_commit_index(info.commit_index);
  rep->mutable_reply()->set_ok(true);
}

}  // namespace hafs::mgmtd::ops
