// volume add-brick, volume rebalance, volume remove-brick (docs/rebalance.md).
// add-brick checks new bricks as create does (syntax, duplicates, replica arithmetic, hosts in
// the pool, disk checks on the owning node, not used by any volume) and appends them; the
// brick supervisors start them if the volume is started and clients follow the new volfile.
// rebalance start/pause/resume/stop are replicated commands the crawler peer follows
// (background/rebalancer.h); status asks that peer. remove-brick start marks the bricks as
// being removed (no range in new layouts) and starts a rebalance that moves everything off
// them; commit is refused until that run has completed without failures.
#include <set>
#include <thread>

#include "common/gfid.h"
#include "mgmtd/background/rebalancer.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd::ops {

using namespace std::chrono_literals;

namespace {

// Disk checks of new bricks on their own nodes.
Status CheckOnHosts(const MgmtContext& ctx, const std::vector<BrickSpec>& bricks, bool force) {
  std::map<std::string, std::vector<std::string>> by_host;
  for (const auto& b : bricks) by_host[b.host].push_back(b.path);
  for (const auto& [host, paths] : by_host) {
    auto peer = ctx.FindPeer(host);
    if (!peer || HostOf(peer->address()) != host)
      return Status(ENOENT, fmt::format("Host {} is not in 'Peer in Cluster' state", host));
    if (peer->uuid() == ctx.self_id) {
      HAFS_RETURN_IF_ERROR(CheckLocalBricks(host, paths, force));
      continue;
    }
    grpc::ClientContext cctx;
    SetDeadline(&cctx, ctx.peer_deadline);
    mgmtpb::CheckBricksRequest creq;
    for (const auto& p : paths) creq.add_paths(p);
    creq.set_force(force);
    mgmtpb::Reply crep;
    auto gst = ctx.Stub(peer->address())->CheckBricks(&cctx, creq, &crep);
    if (!gst.ok()) return Status(ENOTCONN, fmt::format("Host {} is not connected", host));
    if (!crep.ok()) return FromReply(crep);
  }
  return Status::Ok();
}

// Waits (bounded) until every brick of a started volume has published its port.
void WaitBricksOnline(const MgmtContext& ctx, const std::string& name, mgmtpb::Reply* rep) {
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::vector<std::string> missing;
  for (;;) {
    missing.clear();
    auto st = ctx.raft->State();
    const auto* v = FindVolume(st, name);
    if (!v || v->state() != mgmtpb::STARTED) return;
    for (const auto& b : v->bricks())
      if (b.port() == 0) missing.push_back(b.host() + ":" + b.path());
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  if (!missing.empty())
    rep->set_message(fmt::format("{} brick(s) are not online yet (first: {}); see 'volume status'", missing.size(),
                                 missing.front()));
}

Status SubmitRebalance(const MgmtContext& ctx, const std::string& name, const mgmtpb::RebalanceControl& c) {
  mgmtpb::Command cmd;
  cmd.mutable_set_rebalance()->set_name(name);
  *cmd.mutable_set_rebalance()->mutable_control() = c;
  return ctx.Submit(cmd);
}

// The crawler's progress, asked of the peer that crawls.
void Progress(const MgmtContext& ctx, const mgmtpb::Volume& v, mgmtpb::RebalanceReply* rep) {
  std::string host = Rebalancer::CrawlerHost(v);
  auto peer = ctx.FindPeer(host);
  if (host == ctx.self_host || !peer || peer->uuid() == ctx.self_id) {
    *rep->add_nodes() = ctx.rebalance->Progress(v.name());
  } else {
    grpc::ClientContext cctx;
    SetDeadline(&cctx, ctx.peer_deadline);
    mgmtpb::RebalanceRequest r;
    r.set_name(v.name());
    r.set_action("status");
    r.set_local(true);
    mgmtpb::RebalanceReply pr;
    auto gst = ctx.Stub(peer->address())->VolumeRebalance(&cctx, r, &pr);
    if (!gst.ok() || pr.nodes().empty()) {
      auto* n = rep->add_nodes();
      n->set_node(host);
      n->set_status("unknown");
      n->set_error(gst.ok() ? pr.reply().message() : "peer not reachable");
      n->set_eta_s(-1);
    } else {
      for (const auto& n : pr.nodes()) *rep->add_nodes() = n;
    }
  }
  // The replicated wish wins over a crawler that has not noticed it yet.
  for (auto& n : *rep->mutable_nodes()) {
    if (n.id() != v.rebalance().id() && n.status() != "unknown") {
      // The crawler still shows an earlier run.
      mgmtpb::RebalanceNode fresh;
      fresh.set_node(n.node());
      fresh.set_status("not started");
      fresh.set_id(v.rebalance().id());
      fresh.set_eta_s(-1);
      n = fresh;
    }
  }
  rep->mutable_reply()->set_ok(true);
}

}  // namespace

void VolumeAddBrick(const MgmtContext& ctx, const mgmtpb::AddBrickRequest& req, mgmtpb::Reply* rep) {
  auto refuse = [&](Status st) { FillReply(rep, st); };
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return refuse(NoSuchVolume(req.name()));
  int replica = std::max(1, vol->replica());
  if (req.replica() > 0 && req.replica() != replica)
    return refuse(Status(EINVAL, fmt::format("Volume {} has replica {}; changing the replica count with add-brick "
                                             "is not supported",
                                             req.name(), replica)));
  auto parsed = ParseBrickSets(req.bricks(), replica, req.force());
  if (!parsed.ok()) return refuse(parsed.status());
  const std::vector<BrickSpec>& bricks = *parsed;
  for (const auto& b : bricks)
    for (const auto& o : vol->bricks())
      if (o.host() == b.host && o.path() == b.path)
        return refuse(
            Status(EEXIST, fmt::format("Brick: {}:{} is already part of volume {}", b.host, b.path, req.name())));
  if (Status st = CheckOnHosts(ctx, bricks, req.force()); !st.ok()) return refuse(st);
  mgmtpb::Command c;
  auto* a = c.mutable_add_bricks();
  a->set_name(req.name());
  for (const auto& b : bricks) {
    auto* nb = a->add_bricks();
    nb->set_host(b.host);
    nb->set_path(b.path);
  }
  if (Status st = ctx.Submit(c); !st.ok()) return refuse(st);
  rep->set_ok(true);
  WaitBricksOnline(ctx, req.name(), rep);
}

void VolumeRebalance(const MgmtContext& ctx, const mgmtpb::RebalanceRequest& req, mgmtpb::RebalanceReply* rep) {
  auto refuse = [&](Status st) { FillReply(rep->mutable_reply(), st); };
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return refuse(NoSuchVolume(req.name()));
  if (req.local()) {
    *rep->add_nodes() = ctx.rebalance->Progress(req.name());
    rep->mutable_reply()->set_ok(true);
    return;
  }
  const auto& now = vol->rebalance();
  int replica = std::max(1, vol->replica());
  mgmtpb::RebalanceControl c = now;
  const std::string& a = req.action();
  if (a == "status") {
    if (now.state().empty()) return refuse(Status(ENOENT, fmt::format("Rebalance not started for volume {}", req.name())));
    return Progress(ctx, *vol, rep);
  } else if (a == "start") {
    if (vol->state() != mgmtpb::STARTED)
      return refuse(Status(EINVAL, fmt::format("Volume {} needs to be started to perform rebalance", req.name())));
    if (vol->bricks_size() / replica < 2)
      return refuse(Status(EINVAL, fmt::format("Volume {} is not a distribute volume or contains only 1 brick. Not "
                                               "performing rebalance",
                                               req.name())));
    if (now.state() == "started" || now.state() == "paused") {
      mgmtpb::RebalanceReply cur;
      Progress(ctx, *vol, &cur);
      bool finished = !cur.nodes().empty() && (cur.nodes(0).status() == "completed" || cur.nodes(0).status() == "failed");
      if (!finished)
        return refuse(Status(EBUSY, fmt::format("Rebalance on {} is already started (pause, resume or stop it)",
                                                req.name())));
    }
    c.set_id(Gfid::Random().ToString());
    c.set_state("started");
    c.set_fix_layout_only(req.fix_layout());
  } else if (a == "pause") {
    c.set_state("paused");
  } else if (a == "resume") {
    if (now.state() != "paused") return refuse(Status(EINVAL, fmt::format("Rebalance of {} is not paused", req.name())));
    c.set_state("started");
  } else if (a == "stop") {
    if (now.state() != "started" && now.state() != "paused")
      return refuse(Status(EINVAL, fmt::format("Rebalance not started for volume {}", req.name())));
    c.set_state("stopped");
  } else {
    return refuse(Status(EINVAL, "rebalance action is start, status, pause, resume or stop"));
  }
  if (Status st = SubmitRebalance(ctx, req.name(), c); !st.ok()) return refuse(st);
  rep->mutable_reply()->set_ok(true);
  if (a == "start")
    rep->mutable_reply()->set_message(
        fmt::format("Rebalance on {} has been started successfully. Use rebalance status command to check status of "
                    "the rebalance process.\nID: {}",
                    req.name(), c.id()));
}

void VolumeRemoveBrick(const MgmtContext& ctx, const mgmtpb::RemoveBrickRequest& req, mgmtpb::RebalanceReply* rep) {
  auto refuse = [&](Status st) { FillReply(rep->mutable_reply(), st); };
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return refuse(NoSuchVolume(req.name()));
  std::vector<std::string> names;
  for (const auto& s : req.bricks()) {
    auto b = ParseBrick(s);
    if (!b.ok()) return refuse(b.status());
    names.push_back(b->host + ":" + b->path);
  }
  const std::string& a = req.action();
  if (a == "status") {
    if (vol->removing().empty()) return refuse(Status(EINVAL, fmt::format("No remove-brick in progress on {}", req.name())));
    return Progress(ctx, *vol, rep);
  }
  if (names.empty()) return refuse(Status(EINVAL, "no bricks given"));
  mgmtpb::Command c;
  auto* r = c.mutable_remove_bricks();
  r->set_name(req.name());
  for (const auto& n : names) r->add_bricks(n);
  if (a == "start") {
    if (vol->state() != mgmtpb::STARTED)
      return refuse(Status(EINVAL, fmt::format("Volume {} needs to be started to remove bricks with migration", req.name())));
    if (vol->rebalance().state() == "started" || vol->rebalance().state() == "paused") {
      mgmtpb::RebalanceReply cur;
      Progress(ctx, *vol, &cur);
      bool finished = !cur.nodes().empty() && (cur.nodes(0).status() == "completed" || cur.nodes(0).status() == "failed");
      if (!finished) return refuse(Status(EBUSY, fmt::format("Rebalance on {} is in progress; stop it first", req.name())));
    }
    r->set_phase("start");
    if (Status st = ctx.Submit(c); !st.ok()) return refuse(st);
    mgmtpb::RebalanceControl rc;
    rc.set_id(Gfid::Random().ToString());
    rc.set_state("started");
    if (Status st = SubmitRebalance(ctx, req.name(), rc); !st.ok()) return refuse(st);
    rep->mutable_reply()->set_ok(true);
    rep->mutable_reply()->set_message(
        fmt::format("Remove Brick start successful: data is being moved off. Check the removal status with "
                    "'hafs volume remove-brick {} ... status'; commit when it is completed.\nID: {}",
                    req.name(), rc.id()));
    return;
  }
  if (a == "stop") {
    r->set_phase("stop");
    if (Status st = ctx.Submit(c); !st.ok()) return refuse(st);
    mgmtpb::RebalanceControl rc = vol->rebalance();
    if (rc.state() == "started" || rc.state() == "paused") {
      rc.set_state("stopped");
      (void)SubmitRebalance(ctx, req.name(), rc);
    }
    rep->mutable_reply()->set_ok(true);
    rep->mutable_reply()->set_message("remove-brick stopped: the bricks stay; files already moved stay where they are");
    return;
  }
  if (a == "commit") {
    std::set<std::string> removing(vol->removing().begin(), vol->removing().end());
    if (removing.empty()) return refuse(Status(EINVAL, fmt::format("No remove-brick in progress on {}; run 'start' first", req.name())));
    if (removing != std::set<std::string>(names.begin(), names.end()))
      return refuse(Status(EINVAL, "commit names exactly the bricks given to 'remove-brick ... start'"));
    if (!req.force()) {
      mgmtpb::RebalanceReply cur;
      Progress(ctx, *vol, &cur);
      const auto* n = cur.nodes().empty() ? nullptr : &cur.nodes(0);
      if (!n || n->status() != "completed")
        return refuse(Status(EBUSY, fmt::format("Removal of bricks from {} is not complete yet (status: {}); commit "
                                                "refused until every file has been moved off",
                                                req.name(), n ? n->status() : "unknown")));
      if (n->failures() > 0)
        return refuse(Status(EIO, fmt::format("The migration off the bricks had {} failure(s); check the mgmtd log, "
                                              "run 'remove-brick ... start' again or commit with 'force'",
                                              n->failures())));
    }
    r->set_phase("commit");
    if (Status st = ctx.Submit(c); !st.ok()) return refuse(st);
    rep->mutable_reply()->set_ok(true);
    rep->mutable_reply()->set_message("Remove Brick commit successful. The removed bricks' directories are left as "
                                      "they are on their nodes.");
    return;
  }
  refuse(Status(EINVAL, "remove-brick action is start, status, stop or commit"));
}

}  // namespace hafs::mgmtd::ops
