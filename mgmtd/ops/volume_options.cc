// volume set / get / reset: options are validated against the declared table
// (mgmtd/options.h) before they are proposed, and again by the state machine.
#include "mgmtd/ops/ops.h"
#include "mgmtd/options.h"

namespace hafs::mgmtd::ops {

void VolumeSet(const MgmtContext& ctx, const mgmtpb::VolumeSetRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  if (!FindVolume(state, req.name())) return FillReply(rep, NoSuchVolume(req.name()));
  if (req.options().empty()) return FillReply(rep, Status(EINVAL, "no option given"));
  for (const auto& [k, v] : req.options()) {
    Status st = ValidateOption(k, v);
    if (!st.ok()) return FillReply(rep, st);
  }
  mgmtpb::Command c;
  c.mutable_set_options()->set_name(req.name());
  *c.mutable_set_options()->mutable_set() = req.options();
  FillReply(rep, ctx.Submit(c));
}

void VolumeGet(const MgmtContext& ctx, const mgmtpb::VolumeGetRequest& req, mgmtpb::VolumeGetReply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep->mutable_reply(), NoSuchVolume(req.name()));
  bool all = req.key().empty() || req.key() == "all";
  if (!all && !FindOption(req.key()))
    return FillReply(rep->mutable_reply(), Status(EINVAL, fmt::format("option : {} does not exist", req.key())));
  for (const auto& spec : AllOptions()) {
    if (!all && spec.key != req.key()) continue;
    auto* o = rep->add_options();
    o->set_key(spec.key);
    o->set_default_value(spec.default_value);
    o->set_description(spec.description);
    auto it = vol->options().find(spec.key);
    o->set_is_set(it != vol->options().end());
    o->set_value(o->is_set() ? it->second : spec.default_value);
  }
  rep->mutable_reply()->set_ok(true);
}

void VolumeReset(const MgmtContext& ctx, const mgmtpb::VolumeResetRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  if (!FindVolume(state, req.name())) return FillReply(rep, NoSuchVolume(req.name()));
  mgmtpb::Command c;
  c.mutable_set_options()->set_name(req.name());
  if (req.key().empty() || req.key() == "all") {
    c.mutable_set_options()->set_reset_all(true);
  } else {
    if (!FindOption(req.key()))
      return FillReply(rep, Status(EINVAL, fmt::format("option : {} does not exist", req.key())));
    c.mutable_set_options()->add_reset(req.key());
  }
  FillReply(rep, ctx.Submit(c));
}

}  // namespace hafs::mgmtd::ops
