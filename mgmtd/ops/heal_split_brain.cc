// volume heal NAME info split-brain, and its resolution by policy (bigger-file,
// latest-mtime, source-brick). A gfid is in split-brain when the client's own judgement of its
// replica set's counters says so (ComputeAccused, docs/replication.md: no copy has every change
// another completed). Resolution makes the chosen brick the only source — the others stop
// accusing it, it accuses every other brick and not itself — and then heals the gfid through
// the replicate layer, so the copy itself follows the shared heal rules (locks, subtract what
// was read).
//
// Known limit: the counter adjustment is not done under the heal locks; a write racing the
// resolution of the same file may leave it pending again (never silently wrong: it is
// healed or reported again).
#include <set>

#include <grpcpp/grpcpp.h>

#include "client-fuse/graph.h"
#include "client-fuse/replicate/changelog.h"
#include "common/gfid.h"
#include "common/log.h"
#include "mgmtd/ops/ops.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::mgmtd::ops {

using namespace std::chrono_literals;

namespace {

const char* kKinds[] = {"data", "metadata", "entry"};

#define HAFS_RETURN_IF_ERROR_REPLY(rep, expr) \
  do {                                        \
    ::hafs::Status _st = (expr);              \
    if (!_st.ok()) return FillReply(rep, _st); \
  } while (0)

struct BrickConn {
  std::string name;  // HOST:/PATH
  int index = 0;     // volume-wide
  std::unique_ptr<proto::Brick::Stub> stub;
};

std::vector<BrickConn> Connect(const mgmtpb::Volume& v) {
  std::vector<BrickConn> out;
  for (int i = 0; i < v.bricks_size(); ++i) {
    const auto& b = v.bricks(i);
    std::string host = b.host().find(':') != std::string::npos ? "[" + b.host() + "]" : b.host();
    out.push_back({b.host() + ":" + b.path(), i,
                   proto::Brick::NewStub(grpc::CreateChannel(host + ":" + std::to_string(b.port()),
                                                             grpc::InsecureChannelCredentials()))});
  }
  return out;
}

// Attributes and counters of gfid on one brick; nullopt if it did not answer or lacks it.
std::optional<proto::AttrReply> Examine(BrickConn& b, const Gfid& gfid) {
  grpc::ClientContext ctx;
  client::AddInternalKey(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  proto::GfidRequest req;
  req.set_gfid(gfid.Bytes());
  req.set_want_pending(true);
  proto::AttrReply rep;
  if (!b.stub->Getattr(&ctx, req, &rep).ok() || rep.err() != 0) return std::nullopt;
  return rep;
}

int64_t Counter(const proto::AttrReply& a, const std::string& kind, int brick) {
  auto it = a.pending().find(fmt::format("pending.{}.{}", kind, brick));
  return it == a.pending().end() ? 0 : it->second;
}

// The kinds for which the set is in split-brain, judged as the client's replicate layer
// judges it (a brick that accuses itself is not taken at its word: counting any two bricks
// with counters for each other, as before, listed sets the client heals by itself).
std::set<std::string> SplitKinds(const std::vector<std::optional<proto::AttrReply>>& attrs,
                                 const std::vector<int>& set) {
  std::vector<std::map<std::string, int64_t>> counters(set.size());
  std::vector<bool> answered(set.size(), false);
  for (size_t a = 0; a < set.size(); ++a) {
    if (!attrs[a]) continue;
    answered[a] = true;
    counters[a] = {attrs[a]->pending().begin(), attrs[a]->pending().end()};
  }
  std::set<std::string> kinds;
  for (const char* k : kKinds) {
    std::vector<std::string> names;
    for (int b : set) names.push_back(fmt::format("pending.{}.{}", k, b));
    bool split = false;
    client::ComputeAccused(counters, answered, names, &split);
    if (split) kinds.insert(k);
  }
  return kinds;
}

std::vector<int> SetOf(const mgmtpb::Volume& v, int brick) {
  int r = std::max(1, v.replica());
  std::vector<int> set;
  for (int i = (brick / r) * r; i < (brick / r) * r + r; ++i) set.push_back(i);
  return set;
}

std::vector<Gfid> HealIndexOf(BrickConn& b, size_t limit) {
  std::vector<Gfid> out;
  std::string after;
  while (out.size() < limit) {
    grpc::ClientContext ctx;
    client::AddInternalKey(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    proto::HealIndexRequest req;
    req.set_start_after(after);
    req.set_limit(1000);
    proto::HealIndexReply rep;
    if (!b.stub->HealIndex(&ctx, req, &rep).ok()) break;
    for (const auto& g : rep.gfids())
      if (auto gfid = Gfid::FromBytes(g)) out.push_back(*gfid);
    if (rep.complete() || rep.gfids().empty()) break;
    after = rep.gfids(rep.gfids_size() - 1);
  }
  return out;
}

Status Xattrop(BrickConn& b, const Gfid& gfid, const std::string& counter, int64_t delta) {
  grpc::ClientContext ctx;
  client::AddInternalKey(&ctx);
  ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  proto::XattropRequest req;
  req.set_gfid(gfid.Bytes());
  (*req.mutable_deltas())[counter] = delta;
  proto::XattropReply rep;
  auto st = b.stub->Xattrop(&ctx, req, &rep);
  if (!st.ok()) return Status(ENOTCONN, "brick " + b.name + " did not answer");
  if (rep.err() != 0) return Status(rep.err(), "xattrop on " + b.name + ": " + std::strerror(rep.err()));
  return Status::Ok();
}

// "/a/b" or "gfid:UUID" → gfid, looked up on the bricks of every set.
Result<Gfid> Resolve(std::vector<BrickConn>& bricks, const std::string& file) {
  if (file.rfind("gfid:", 0) == 0) {
    auto g = Gfid::Parse(file.substr(5));
    if (!g) return Status(EINVAL, "not a gfid: " + file);
    return *g;
  }
  if (file.empty() || file[0] != '/') return Status(EINVAL, "FILE must be /path/from/the/volume/root or gfid:UUID");
  for (auto& b : bricks) {
    Gfid cur = Gfid::Root();
    bool found = true;
    size_t i = 1;
    while (i <= file.size() && found) {
      size_t j = file.find('/', i);
      if (j == std::string::npos) j = file.size();
      std::string name = file.substr(i, j - i);
      i = j + 1;
      if (name.empty()) continue;
      grpc::ClientContext ctx;
      client::AddInternalKey(&ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + 3s);
      proto::EntryRequest req;
      req.set_parent(cur.Bytes());
      req.set_name(name);
      proto::EntryReply rep;
      if (!b.stub->Lookup(&ctx, req, &rep).ok() || rep.err() != 0) {
        found = false;
        break;
      }
      cur = Gfid::FromBytes(rep.attr().gfid()).value_or(Gfid());
    }
    if (found && !cur.IsNull()) return cur;
  }
  return Status(ENOENT, file + ": no such file on any brick");
}

}  // namespace

void HealInfoSplitBrain(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::HealInfoReply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep->mutable_reply(), NoSuchVolume(req.name()));
  if (vol->state() != mgmtpb::STARTED)
    return FillReply(rep->mutable_reply(), Status(EINVAL, fmt::format("Volume {} is not started", req.name())));
  auto bricks = Connect(*vol);
  for (auto& b : bricks) {
    auto* out = rep->add_bricks();
    out->set_brick(b.name);
    auto set = SetOf(*vol, b.index);
    for (const auto& gfid : HealIndexOf(b, 100000)) {
      std::vector<std::optional<proto::AttrReply>> attrs;
      for (int i : set) attrs.push_back(Examine(bricks[i], gfid));
      if (!SplitKinds(attrs, set).empty()) out->add_gfids(gfid.ToString());
    }
    out->set_total(out->gfids_size());
    out->set_online(true);
  }
  rep->mutable_reply()->set_ok(true);
}

void HealSplitBrain(const MgmtContext& ctx, const mgmtpb::SplitBrainRequest& req, mgmtpb::Reply* rep) {
  auto state = ctx.raft->State();
  const auto* vol = FindVolume(state, req.name());
  if (!vol) return FillReply(rep, NoSuchVolume(req.name()));
  if (vol->state() != mgmtpb::STARTED)
    return FillReply(rep, Status(EINVAL, fmt::format("Volume {} is not started", req.name())));
  if (vol->replica() < 2) return FillReply(rep, Status(EINVAL, fmt::format("Volume {} is not replicated", req.name())));
  const std::string& policy = req.policy();
  if (policy != "bigger-file" && policy != "latest-mtime" && policy != "source-brick")
    return FillReply(rep, Status(EINVAL, "policy must be bigger-file, latest-mtime or source-brick"));
  auto bricks = Connect(*vol);
  int source_brick = -1;
  if (policy == "source-brick") {
    for (auto& b : bricks)
      if (b.name == req.source_brick()) source_brick = b.index;
    if (source_brick < 0)
      return FillReply(rep, Status(EINVAL, fmt::format("{} is not a brick of volume {}", req.source_brick(), req.name())));
  } else if (req.file().empty()) {
    return FillReply(rep, Status(EINVAL, policy + " needs a FILE (/path or gfid:UUID)"));
  }
  // What to resolve: one file, or every split-brain entry of the source brick's set.
  std::vector<Gfid> targets;
  if (!req.file().empty()) {
    auto g = Resolve(bricks, req.file());
    if (!g.ok()) return FillReply(rep, g.status());
    targets.push_back(*g);
  } else {
    std::set<Gfid> seen;
    for (int i : SetOf(*vol, source_brick))
      for (const auto& g : HealIndexOf(bricks[i], 100000)) seen.insert(g);
    targets.assign(seen.begin(), seen.end());
  }
  client::Volfile vf;
  vf.name = vol->name();
  vf.id = vol->id();
  vf.type = vol->type();
  vf.replica = vol->replica();
  for (const auto& b : vol->bricks()) vf.bricks.push_back({b.host(), b.port(), b.path()});
  for (const auto& [k, val] : vol->options()) vf.options[k] = val;
  auto graph = client::Graph::Build(vf, "hafs-split-brain@" + ctx.self_host, 5s);
  if (!graph.ok()) return FillReply(rep, graph.status());
  auto sets = (*graph)->replica_sets();

  int resolved = 0;
  for (const auto& gfid : targets) {
    // The replica set that holds it: the source brick's, or the first where it is split.
    std::vector<int> set;
    std::vector<std::optional<proto::AttrReply>> attrs;
    std::set<std::string> kinds;
    for (int s = 0; s * vol->replica() < vol->bricks_size(); ++s) {
      if (source_brick >= 0 && source_brick / vol->replica() != s) continue;
      std::vector<int> cand = SetOf(*vol, s * vol->replica());
      std::vector<std::optional<proto::AttrReply>> a;
      for (int i : cand) a.push_back(Examine(bricks[i], gfid));
      auto k = SplitKinds(a, cand);
      if (!k.empty()) {
        set = cand;
        attrs = a;
        kinds = k;
        break;
      }
    }
    if (set.empty()) {
      if (!req.file().empty())
        return FillReply(rep, Status(EINVAL, fmt::format("{} is not in split-brain", req.file())));
      continue;
    }
    // Choose the source.
    int src = source_brick;
    if (src < 0) {
      int64_t best = -1;
      for (size_t k = 0; k < set.size(); ++k) {
        if (!attrs[k]) continue;
        int64_t key = policy == "bigger-file" ? static_cast<int64_t>(attrs[k]->attr().size()) : attrs[k]->attr().mtime_ns();
        if (key > best) {
          best = key;
          src = set[k];
        }
      }
    }
    size_t src_pos = std::find(set.begin(), set.end(), src) - set.begin();
    if (src < 0 || src_pos >= set.size() || !attrs[src_pos])
      return FillReply(rep, Status(ENOENT, "the chosen source brick does not have gfid:" + gfid.ToString()));
    // The others stop accusing the source; the source accuses every other brick, and not
    // itself (a count for itself would make its accusations count only above it).
    for (const auto& kind : kinds) {
      int64_t own = Counter(*attrs[src_pos], kind, src);
      if (own != 0)
        HAFS_RETURN_IF_ERROR_REPLY(rep, Xattrop(bricks[src], gfid, fmt::format("pending.{}.{}", kind, src), -own));
    }
    for (size_t k = 0; k < set.size(); ++k) {
      if (set[k] == src || !attrs[k]) continue;
      for (const auto& kind : kinds) {
        int64_t v = Counter(*attrs[k], kind, src);
        if (v > 0) HAFS_RETURN_IF_ERROR_REPLY(rep, Xattrop(bricks[set[k]], gfid, fmt::format("pending.{}.{}", kind, src), -v));
        if (Counter(*attrs[src_pos], kind, set[k]) <= 0)
          HAFS_RETURN_IF_ERROR_REPLY(rep, Xattrop(bricks[src], gfid, fmt::format("pending.{}.{}", kind, set[k]), 1));
      }
    }
    Status healed = sets[src / vol->replica()]->Heal(gfid);
    if (!healed.ok())
      return FillReply(rep, Status(healed.err(), "gfid:" + gfid.ToString() + ": heal failed: " + healed.ToString()));
    HAFS_LOG_INFO("split-brain of gfid {} in volume {} resolved with {} as source ({})", gfid.ToString(), req.name(),
                  bricks[src].name, policy);
    ++resolved;
  }
  rep->set_ok(true);
  rep->set_message(fmt::format("resolved {} split-brain entr{}", resolved, resolved == 1 ? "y" : "ies"));
}

}  // namespace hafs::mgmtd::ops
