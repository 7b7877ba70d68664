// volume create NAME [replica N] HOST:/PATH... [force], with the checks gluster operators
// know: brick syntax, duplicates, replica arithmetic, bricks of one replica set on one host,
// hosts in the pool, and on each brick's own node: a path on the root filesystem, a path
// that is not a directory, a path already used by a volume. Disk checks run on the node
// that owns the brick (CheckBricks); the replicated state machine then refuses names and
// paths already used by another volume, on every peer alike.
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "common/gfid.h"
#include "mgmtd/ops/ops.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd::ops {

Result<BrickSpec> ParseBrick(const std::string& spec) {
  auto bad = Status(EINVAL, fmt::format("wrong brick type: {}, use <HOSTNAME>:<export-dir-abs-path>", spec));
  auto pos = spec.find(":/");
  if (pos == std::string::npos || pos == 0) return bad;
  BrickSpec b{spec.substr(0, pos), spec.substr(pos + 1)};
  if (b.host.find_first_of(" /\t") != std::string::npos) return bad;
  // Normalise: no trailing slash, no empty, "." or ".." components.
  std::string norm;
  size_t i = 0;
  while (i < b.path.size()) {
    while (i < b.path.size() && b.path[i] == '/') ++i;
    size_t j = b.path.find('/', i);
    if (j == std::string::npos) j = b.path.size();
    std::string comp = b.path.substr(i, j - i);
    if (comp == "." || comp == "..") return bad;
    if (!comp.empty()) norm += "/" + comp;
    i = j;
  }
  if (norm.empty()) return Status(EINVAL, fmt::format("brick {}: the root directory cannot be a brick", spec));
  b.path = norm;
  return b;
}

Status CheckLocalBricks(const std::string& host, const std::vector<std::string>& paths, bool force) {
  struct stat root;
  if (::stat("/", &root) != 0) return Status::FromErrno(errno, "stat /");
  for (const auto& path : paths) {
    if (path.empty() || path[0] != '/') return Status(EINVAL, fmt::format("brick path {} is not absolute", path));
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return Status(ENOTDIR, fmt::format("Brick {}:{} is not a directory", host, path));
      if (::access((path + "/.hafs/volume-id").c_str(), F_OK) == 0)
        return Status(EEXIST, fmt::format("{}:{} is already part of a volume", host, path));
    }
    // The device the brick will live on: the nearest existing ancestor's.
    std::filesystem::path p(path);
    while (::stat(p.c_str(), &st) != 0 && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
    if (!force && st.st_dev == root.st_dev)
      return Status(EPERM, fmt::format("The brick {}:{} is being created in the root partition. It is recommended "
                                       "that you don't use the system's root partition for storage backend. Or use "
                                       "'force' at the end of the command if you want to override this behavior.",
                                       host, path));
  }
  return Status::Ok();
}

void CheckBricks(const MgmtContext& ctx, const mgmtpb::CheckBricksRequest& req, mgmtpb::Reply* rep) {
  FillReply(rep, CheckLocalBricks(ctx.self_host, {req.paths().begin(), req.paths().end()}, req.force()));
}

Result<std::vector<BrickSpec>> ParseBrickSets(const google::protobuf::RepeatedPtrField<std::string>& specs,
                                              int replica, bool force) {
  if (specs.empty()) return Status(EINVAL, "no bricks given");
  std::vector<BrickSpec> bricks;
  std::set<std::string> seen;
  for (const auto& s : specs) {
    auto b = ParseBrick(s);
    if (!b.ok()) return b.status();
    std::string key = b->host + ":" + b->path;
    if (!seen.insert(key).second) return Status(EINVAL, fmt::format("Found duplicate exports {}", key));
    bricks.push_back(*b);
  }
  if (static_cast<int>(bricks.size()) % replica != 0)
    return Status(EINVAL,
                  fmt::format("number of bricks ({}) is not a multiple of replica count {}", bricks.size(), replica));
  if (!force && replica > 1) {
    for (size_t s = 0; s < bricks.size(); s += replica) {
      std::set<std::string> hosts;
      for (int i = 0; i < replica; ++i)
        if (!hosts.insert(bricks[s + i].host).second)
          return Status(EPERM,
                        "Multiple bricks of a replicate volume are present on the same server. This setup is "
                        "not optimal. Bricks should be on different nodes to have best fault tolerant "
                        "configuration. Use 'force' at the end of the command if you want to override this "
                        "behavior.");
    }
  }
  return bricks;
}

void VolumeCreate(const MgmtContext& ctx, const mgmtpb::VolumeCreateRequest& req, mgmtpb::Reply* rep) {
  auto refuse = [&](Status st) { FillReply(rep, st); };
  if (!ValidVolumeName(req.name()))
    return refuse(Status(EINVAL, fmt::format("Volume name {} is not valid: use 1..64 of A-Z a-z 0-9 _ -", req.name())));
  int replica = std::max(1, req.replica());
  auto parsed = ParseBrickSets(req.bricks(), replica, req.force());
  if (!parsed.ok()) return refuse(parsed.status());
  const std::vector<BrickSpec>& bricks = *parsed;
  auto state = ctx.raft->State();
  if (FindVolume(state, req.name())) return refuse(Status(EEXIST, fmt::format("Volume {} already exists", req.name())));
  // Every host must be a peer; ask each one about its bricks.
  std::map<std::string, std::vector<std::string>> by_host;
  for (const auto& b : bricks) by_host[b.host].push_back(b.path);
  for (const auto& [host, paths] : by_host) {
    auto peer = ctx.FindPeer(host);
    if (!peer || HostOf(peer->address()) != host)
      return refuse(Status(ENOENT, fmt::format("Host {} is not in 'Peer in Cluster' state", host)));
    if (peer->uuid() == ctx.self_id) {
      Status st = CheckLocalBricks(host, paths, req.force());
      if (!st.ok()) return refuse(st);
      continue;
    }
    grpc::ClientContext cctx;
    SetDeadline(&cctx, ctx.peer_deadline);
    mgmtpb::CheckBricksRequest creq;
    for (const auto& p : paths) creq.add_paths(p);
    creq.set_force(req.force());
    mgmtpb::Reply crep;
    auto gst = ctx.Stub(peer->address())->CheckBricks(&cctx, creq, &crep);
    if (!gst.ok()) return refuse(Status(ENOTCONN, fmt::format("Host {} is not connected", host)));
    if (!crep.ok()) return refuse(FromReply(crep));
  }
  mgmtpb::Command c;
  auto* v = c.mutable_create_volume()->mutable_volume();
  v->set_name(req.name());
  v->set_id(Gfid::Random().ToString());
  v->set_replica(replica);
  int sets = static_cast<int>(bricks.size()) / replica;
  v->set_type(replica == 1 ? "distribute" : sets == 1 ? "replicate" : "distributed-replicate");
  for (const auto& b : bricks) {
    auto* nb = v->add_bricks();
    nb->set_host(b.host);
    nb->set_path(b.path);
  }
  FillReply(rep, ctx.Submit(c));
}

const mgmtpb::Volume* FindVolume(const mgmtpb::ClusterState& state, const std::string& name) {
  for (const auto& v : state.volumes())
    if (v.name() == name) return &v;
  return nullptr;
}

Status NoSuchVolume(const std::string& name) { return Status(ENOENT, fmt::format("Volume {} does not exist", name)); }

}  // namespace hafs::mgmtd::ops
