#include "mgmtd/state_machine.h"

#include <set>

#include "mgmtd/options.h"

namespace hafs::mgmtd {

std::string HostOf(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    auto close = address.find(']');
    return close == std::string::npos ? address : address.substr(1, close - 1);
  }
  auto colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

std::string StateName(mgmtpb::VolumeState s) {
  switch (s) {
    case mgmtpb::STARTED:
      return "Started";
    case mgmtpb::STOPPED:
      return "Stopped";
    default:
      return "Created";
  }
}

bool ValidVolumeName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-') return false;
  for (char c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return name != "all";
}

mgmtpb::Volume* ClusterStateMachine::Find(const std::string& name) {
  for (auto& v : *state_.mutable_volumes())
    if (v.name() == name) return &v;
  return nullptr;
}

Status ClusterStateMachine::Apply(const mgmtpb::Command& c) {
  Status st;
  switch (c.kind_case()) {
    case mgmtpb::Command::kBootstrapPoolId:
      if (state_.pool_id().empty()) state_.set_pool_id(c.bootstrap_pool_id());
      break;
    case mgmtpb::Command::kAddPeer:
      st = AddPeer(c.add_peer().peer());
      break;
    case mgmtpb::Command::kRemovePeer:
      st = RemovePeer(c.remove_peer().uuid());
      break;
    case mgmtpb::Command::kCreateVolume:
      st = CreateVolume(c.create_volume().volume());
      break;
    case mgmtpb::Command::kDeleteVolume:
      st = DeleteVolume(c.delete_volume().name());
      break;
    case mgmtpb::Command::kSetState:
      st = SetState(c.set_state());
      break;
    case mgmtpb::Command::kSetOptions:
      st = SetOptions(c.set_options());
      break;
    case mgmtpb::Command::kSetBrickPort:
      st = SetBrickPort(c.set_brick_port());
      break;
    case mgmtpb::Command::kAddBricks:
      st = AddBricks(c.add_bricks());
      break;
    case mgmtpb::Command::kSetRebalance:
      st = SetRebalance(c.set_rebalance());
      break;
    case mgmtpb::Command::kRemoveBricks:
      st = RemoveBricks(c.remove_bricks());
      break;
    case mgmtpb::Command::KIND_NOT_SET:  // a new leader's no-op
      return Status::Ok();
  }
  if (st.ok()) state_.set_version(state_.version() + 1);
  return st;
}

Status ClusterStateMachine::AddPeer(const mgmtpb::Peer& peer) {
  for (auto& p : *state_.mutable_peers()) {
    if (p.uuid() == peer.uuid()) {
      p.set_address(peer.address());
      return Status::Ok();
    }
    if (p.address() == peer.address())
      return Status(EEXIST, fmt::format("{} is already part of the pool as {}", peer.address(), p.uuid()));
  }
  *state_.add_peers() = peer;
  return Status::Ok();
}

Status ClusterStateMachine::RemovePeer(const std::string& uuid) {
  auto* peers = state_.mutable_peers();
  for (int i = 0; i < peers->size(); ++i) {
    if (peers->Get(i).uuid() != uuid) continue;
    std::string host = HostOf(peers->Get(i).address());
    for (const auto& v : state_.volumes())
      for (const auto& b : v.bricks())
        if (b.host() == host)
          return Status(EBUSY, fmt::format("Brick(s) with the peer {} exist in cluster (volume {})", host, v.name()));
    peers->DeleteSubrange(i, 1);
    return Status::Ok();
  }
  return Status(ENOENT, fmt::format("peer {} is not part of the pool", uuid));
}

Status ClusterStateMachine::CreateVolume(const mgmtpb::Volume& volume) {
  if (!ValidVolumeName(volume.name()))
    return Status(EINVAL, fmt::format("Volume name {} is not valid (1..64 of A-Z a-z 0-9 _ -)", volume.name()));
  if (Find(volume.name())) return Status(EEXIST, fmt::format("Volume {} already exists", volume.name()));
  for (const auto& v : state_.volumes())
    if (v.id() == volume.id()) return Status(EEXIST, fmt::format("Volume id {} already in use", volume.id()));
  if (volume.bricks().empty()) return Status(EINVAL, "a volume needs at least one brick");
  int replica = std::max(1, volume.replica());
  if (volume.bricks_size() % replica != 0)
    return Status(EINVAL, fmt::format("number of bricks is not a multiple of replica count {}", replica));
  for (const auto& b : volume.bricks()) {
    bool known = false;
    for (const auto& p : state_.peers()) known |= HostOf(p.address()) == b.host();
    if (!known) return Status(ENOENT, fmt::format("Host {} is not in 'Peer in Cluster' state", b.host()));
    HAFS_RETURN_IF_ERROR(BrickFree(b));
  }
  mgmtpb::Volume v = volume;
  v.set_state(mgmtpb::CREATED);
  v.set_version(1);
  for (auto& b : *v.mutable_bricks()) b.set_port(0);
  *state_.add_volumes() = std::move(v);
  return Status::Ok();
}

Status ClusterStateMachine::DeleteVolume(const std::string& name) {
  auto* vols = state_.mutable_volumes();
  for (int i = 0; i < vols->size(); ++i) {
    if (vols->Get(i).name() != name) continue;
    if (vols->Get(i).state() == mgmtpb::STARTED)
      return Status(EBUSY, fmt::format("Volume {} has been started. Volume needs to be stopped before deletion.", name));
    vols->DeleteSubrange(i, 1);
    return Status::Ok();
  }
  return Status(ENOENT, fmt::format("Volume {} does not exist", name));
}

Status ClusterStateMachine::SetState(const mgmtpb::SetVolumeState& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  if (c.state() == mgmtpb::STARTED && v->state() == mgmtpb::STARTED)
    return Status(EALREADY, fmt::format("Volume {} already started", c.name()));
  if (c.state() == mgmtpb::STOPPED && v->state() != mgmtpb::STARTED)
    return Status(EALREADY, fmt::format("Volume {} is not in the started state", c.name()));
  v->set_state(c.state());
  if (c.state() != mgmtpb::STARTED)
    for (auto& b : *v->mutable_bricks()) b.set_port(0);
  v->set_version(v->version() + 1);
  return Status::Ok();
}

Status ClusterStateMachine::SetOptions(const mgmtpb::SetOptions& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  for (const auto& [k, val] : c.set()) HAFS_RETURN_IF_ERROR(ValidateOption(k, val));
  for (const auto& k : c.reset())
    if (!FindOption(k)) return Status(EINVAL, fmt::format("option : {} does not exist", k));
  if (c.reset_all()) v->mutable_options()->clear();
  for (const auto& k : c.reset()) v->mutable_options()->erase(k);
  for (const auto& [k, val] : c.set()) (*v->mutable_options())[k] = val;
  v->set_version(v->version() + 1);
  return Status::Ok();
}

Status ClusterStateMachine::SetBrickPort(const mgmtpb::SetBrickPort& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  for (auto& b : *v->mutable_bricks()) {
    if (b.host() == c.host() && b.path() == c.path()) {
      if (v->state() != mgmtpb::STARTED) return Status(EINVAL, fmt::format("Volume {} is not started", c.name()));
      if (b.port() == c.port()) return Status::Ok();
      b.set_port(c.port());
      v->set_version(v->version() + 1);
      return Status::Ok();
    }
  }
  return Status(ENOENT, fmt::format("brick {}:{} is not part of volume {}", c.host(), c.path(), c.name()));
}

}  // namespace hafs::mgmtd

namespace hafs::mgmtd {

Status ClusterStateMachine::BrickFree(const mgmtpb::Brick& b) const {
  for (const auto& v : state_.volumes())
    for (const auto& o : v.bricks()) {
      if (o.host() != b.host()) continue;
      if (o.path() == b.path())
        return Status(EEXIST, fmt::format("Brick: {}:{} is already part of volume {}", b.host(), b.path(), v.name()));
      if (b.path().starts_with(o.path() + "/") || o.path().starts_with(b.path() + "/"))
        return Status(EEXIST, fmt::format("Brick: {}:{} overlaps brick {}:{} of volume {}", b.host(), b.path(),
                                          o.host(), o.path(), v.name()));
    }
  return Status::Ok();
}

Status ClusterStateMachine::AddBricks(const mgmtpb::AddBricks& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  if (c.bricks().empty()) return Status(EINVAL, "no bricks given");
  int replica = std::max(1, v->replica());
  if (c.bricks_size() % replica != 0)
    return Status(EINVAL, fmt::format("number of bricks ({}) is not a multiple of replica count {}", c.bricks_size(),
                                      replica));
  if (!v->removing().empty()) return Status(EBUSY, fmt::format("Volume {}: a remove-brick is in progress", c.name()));
  for (const auto& b : c.bricks()) {
    bool known = false;
    for (const auto& p : state_.peers()) known |= HostOf(p.address()) == b.host();
    if (!known) return Status(ENOENT, fmt::format("Host {} is not in 'Peer in Cluster' state", b.host()));
    HAFS_RETURN_IF_ERROR(BrickFree(b));
  }
  for (const auto& b : c.bricks()) {
    auto* nb = v->add_bricks();
    nb->set_host(b.host());
    nb->set_path(b.path());
    nb->set_port(0);
  }
  int sets = v->bricks_size() / replica;
  v->set_type(replica == 1 ? "distribute" : sets == 1 ? "replicate" : "distributed-replicate");
  v->set_version(v->version() + 1);
  return Status::Ok();
}

Status ClusterStateMachine::SetRebalance(const mgmtpb::SetRebalance& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  const auto& want = c.control();
  const auto& now = v->rebalance();
  if (want.state() == "started" && want.id() != now.id() && v->state() != mgmtpb::STARTED)
    return Status(EINVAL, fmt::format("Volume {} needs to be started to perform rebalance", c.name()));
  if (want.state() == "paused" && now.state() != "started")
    return Status(EINVAL, fmt::format("Rebalance of volume {} is not running", c.name()));
  if (want.state() == "started" && want.id() == now.id() && now.state() != "paused")
    return Status(EINVAL, fmt::format("Rebalance of volume {} is not paused", c.name()));
  *v->mutable_rebalance() = want;
  v->set_version(v->version() + 1);
  return Status::Ok();
}

Status ClusterStateMachine::RemoveBricks(const mgmtpb::RemoveBricks& c) {
  auto* v = Find(c.name());
  if (!v) return Status(ENOENT, fmt::format("Volume {} does not exist", c.name()));
  int replica = std::max(1, v->replica());
  std::set<std::string> names(c.bricks().begin(), c.bricks().end());
  for (const auto& n : names) {
    bool found = false;
    for (const auto& b : v->bricks()) found |= b.host() + ":" + b.path() == n;
    if (!found) return Status(EINVAL, fmt::format("Incorrect brick {} for volume {}", n, c.name()));
  }
  if (c.phase() == "start") {
    if (!v->removing().empty()) return Status(EBUSY, fmt::format("Volume {}: a remove-brick is in progress", c.name()));
    // Whole replica sets only, and at least one set must stay.
    int sets_removed = 0;
    for (int s = 0; s * replica < v->bricks_size(); ++s) {
      int in = 0;
      for (int k = 0; k < replica; ++k) {
        const auto& b = v->bricks(s * replica + k);
        in += names.count(b.host() + ":" + b.path());
      }
      if (in != 0 && in != replica)
        return Status(EINVAL, fmt::format("Bricks not from the same replica set: give all {} bricks of a set", replica));
      sets_removed += in ? 1 : 0;
    }
    if (sets_removed * replica >= v->bricks_size()) return Status(EINVAL, "cannot remove every brick of a volume");
    for (const auto& n : c.bricks()) v->add_removing(n);
  } else if (c.phase() == "stop") {
    if (v->removing().empty()) return Status(EINVAL, fmt::format("Volume {}: no remove-brick in progress", c.name()));
    v->clear_removing();
  } else if (c.phase() == "commit") {
    std::set<std::string> removing(v->removing().begin(), v->removing().end());
    if (removing != names)
      return Status(EINVAL, "commit names exactly the bricks given to 'remove-brick ... start'");
    google::protobuf::RepeatedPtrField<mgmtpb::Brick> keep;
    for (const auto& b : v->bricks())
      if (!names.count(b.host() + ":" + b.path())) *keep.Add() = b;
    *v->mutable_bricks() = keep;
    v->clear_removing();
    int sets = v->bricks_size() / replica;
    v->set_type(replica == 1 ? "distribute" : sets == 1 ? "replicate" : "distributed-replicate");
  } else {
    return Status(EINVAL, "remove-brick phase is start, stop or commit");
  }
  v->set_version(v->version() + 1);
  return Status::Ok();
}

}  // namespace hafs::mgmtd
