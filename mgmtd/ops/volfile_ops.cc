// The volfile service: a started volume's layout and brick addresses as the JSON of
// client-fuse/volfile.h, and a watch stream that sends it again whenever the volume changes
// (a brick restarted on another port, an option set, the volume stopped).
#include "client-fuse/volfile.h"
#include "mgmtd/ops/ops.h"

namespace hafs::mgmtd::ops {

using namespace std::chrono_literals;

namespace {

Status BuildVolfile(const mgmtpb::ClusterState& state, const std::string& name, mgmtpb::VolfileReply* rep) {
  const auto* v = FindVolume(state, name);
  if (!v) return NoSuchVolume(name);
  if (v->state() != mgmtpb::STARTED) return Status(EAGAIN, fmt::format("Volume {} is not started", name));
  client::Volfile f;
  f.name = v->name();
  f.id = v->id();
  f.type = v->type();
  f.replica = std::max(1, v->replica());
  for (const auto& b : v->bricks()) {
    if (b.port() == 0)
      return Status(EAGAIN, fmt::format("Volume {}: brick {}:{} has not come online yet", name, b.host(), b.path()));
    f.bricks.push_back({b.host(), b.port(), b.path()});
  }
  for (const auto& [k, val] : v->options()) f.options[k] = val;
  f.removing.assign(v->removing().begin(), v->removing().end());
  rep->set_json(f.ToJson());
  rep->set_version(v->version());
  return Status::Ok();
}

}  // namespace

void GetVolfile(const MgmtContext& ctx, const mgmtpb::VolfileRequest& req, mgmtpb::VolfileReply* rep) {
  FillReply(rep->mutable_reply(), BuildVolfile(ctx.raft->State(), req.name(), rep));
}

grpc::Status WatchVolfile(const MgmtContext& ctx, grpc::ServerContext* sctx, const mgmtpb::VolfileRequest& req,
                          grpc::ServerWriter<mgmtpb::VolfileReply>* writer) {
  std::string last;  // what the client has now (json or the refusal)
  uint64_t seen = 0;
  while (!sctx->IsCancelled() && !ctx.changes->shutting_down()) {
    mgmtpb::VolfileReply rep;
    FillReply(rep.mutable_reply(), BuildVolfile(ctx.raft->State(), req.name(), &rep));
    std::string now = rep.reply().ok() ? rep.json() : "!" + rep.reply().message();
    if (now != last) {
      if (!writer->Write(rep)) break;
      last = now;
    }
    seen = ctx.changes->WaitChange(seen, 1s);
  }
  return grpc::Status::OK;
}

}  // namespace hafs::mgmtd::ops
