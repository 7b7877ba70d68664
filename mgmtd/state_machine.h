// ClusterStateMachine: the replicated configuration of a trusted pool (peers and volumes)
// and the deterministic rules that change it. Every peer applies the same committed
// commands in the same order, so every check here gives the same answer everywhere: a
// command that breaks a rule (duplicate volume, unknown peer…) is refused on every peer
// alike and changes nothing. Checks that depend on one node's disk happen before a command
// is proposed (see ops/volume_create.cc).
//
// Thread-safety: none; RaftNode serialises access.
#pragma once

#include <string>

#include "common/status.h"
#include "proto/mgmt.pb.h"

namespace hafs::mgmtd {

class ClusterStateMachine {
 public:
  ClusterStateMachine() = default;
  explicit ClusterStateMachine(mgmtpb::ClusterState state) : state_(std::move(state)) {}

  // Applies one command; on refusal the state is unchanged.
  Status Apply(const mgmtpb::Command& command);
  const mgmtpb::ClusterState& state() const { return state_; }

 private:
  Status AddPeer(const mgmtpb::Peer& peer);
  Status RemovePeer(const std::string& uuid);
  Status CreateVolume(const mgmtpb::Volume& volume);
  Status DeleteVolume(const std::string& name);
  Status SetState(const mgmtpb::SetVolumeState& c);
  Status SetOptions(const mgmtpb::SetOptions& c);
  Status SetBrickPort(const mgmtpb::SetBrickPort& c);
  Status AddBricks(const mgmtpb::AddBricks& c);
  Status SetRebalance(const mgmtpb::SetRebalance& c);
  Status RemoveBricks(const mgmtpb::RemoveBricks& c);
  // A brick host:path already used by a volume (or overlapping one): the refusal, else OK.
  Status BrickFree(const mgmtpb::Brick& b) const;
  mgmtpb::Volume* Find(const std::string& name);

  mgmtpb::ClusterState state_;
};

// Host part of "HOST:PORT" (IPv6 in brackets allowed).
std::string HostOf(const std::string& address);
// Name of a volume state as gluster prints it (Created, Started, Stopped).
std::string StateName(mgmtpb::VolumeState s);
// A volume name gluster would accept: 1..64 of [A-Za-z0-9_-], not starting with '-'.
bool ValidVolumeName(const std::string& name);

}  // namespace hafs::mgmtd
