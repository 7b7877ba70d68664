// volume start / stop / delete. Start and stop are replicated state changes; every mgmtd's
// BrickSupervisor then starts or stops the bricks on its own node. `start` waits (bounded)
// until every brick has published its port, so a mount right after it works.
#include <thread>

#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd::ops {

using namespace std::chrono_literals;

void VolumeStart(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep, NoSuchVolume(req.name()));
  if (!(req.force() && vol->state() == mgmtpb::STARTED)) {
    mgmtpb::Command c;
    c.mutable_set_state()->set_name(req.name());
    c.mutable_set_state()->set_state(mgmtpb::STARTED);
    Status st = ctx.Submit(c);
    if (!st.ok()) return FillReply(rep, st);
  }
  // Wait for the bricks to come online (their ports reach the replicated state).
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::vector<std::string> missing;
  while (true) {
    missing.clear();
    auto now_state = ctx.raft->State();
    const auto* v = FindVolume(now_state, req.name());
    if (!v || v->state() != mgmtpb::STARTED) break;
    for (const auto& b : v->bricks())
      if (b.port() == 0) missing.push_back(b.host() + ":" + b.path());
    if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  rep->set_ok(true);
  if (!missing.empty())
    rep->set_message(fmt::format("started, but {} brick(s) are not online yet (first: {}); see 'volume status'",
                                 missing.size(), missing.front()));
}

void VolumeStop(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  if (!FindVolume(state, req.name())) return FillReply(rep, NoSuchVolume(req.name()));
  mgmtpb::Command c;
  c.mutable_set_state()->set_name(req.name());
  c.mutable_set_state()->set_state(mgmtpb::STOPPED);
  FillReply(rep, ctx.Submit(c));
}

void VolumeDelete(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  if (!FindVolume(state, req.name())) return FillReply(rep, NoSuchVolume(req.name()));
  mgmtpb::Command c;
  c.mutable_delete_volume()->set_name(req.name());
  FillReply(rep, ctx.Submit(c));
}

}  // namespace hafs::mgmtd::ops
