// The handlers behind every Mgmt RPC, one file per verb group (a reader finds "what does
// `volume start` do" in ops/volume_lifecycle.cc). Each takes the shared context and the
// request and fills the reply; a refusal is a Reply with ok=false and one line.
// Thread-safety: handlers run concurrently on gRPC threads; they share only MgmtContext.
#pragma once

#include <grpcpp/grpcpp.h>

#include "mgmtd/context.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::mgmtd::ops {

// peer_ops.cc
void PeerProbe(const MgmtContext& ctx, const mgmtpb::ProbeRequest& req, mgmtpb::Reply* rep);
void PeerDetach(const MgmtContext& ctx, const mgmtpb::DetachRequest& req, mgmtpb::Reply* rep);
void PoolList(const MgmtContext& ctx, mgmtpb::PoolReply* rep);
void Join(const MgmtContext& ctx, const mgmtpb::JoinRequest& req, mgmtpb::JoinReply* rep);
void Leave(const MgmtContext& ctx, mgmtpb::Reply* rep);

// volume_create.cc
struct BrickSpec {
  std::string host, path;
};
// HOST:/PATH, normalised; a clear error for anything else.
Result<BrickSpec> ParseBrick(const std::string& spec);
// A command's brick list: parsed, no duplicates, whole replica sets, and (unless `force`) no
// replica set with two bricks on one host.
Result<std::vector<BrickSpec>> ParseBrickSets(const google::protobuf::RepeatedPtrField<std::string>& specs,
                                              int replica, bool force);
void VolumeCreate(const MgmtContext& ctx, const mgmtpb::VolumeCreateRequest& req, mgmtpb::Reply* rep);
void CheckBricks(const MgmtContext& ctx, const mgmtpb::CheckBricksRequest& req, mgmtpb::Reply* rep);
// Checks of bricks on this node's disk (exposed for tests).
Status CheckLocalBricks(const std::string& host, const std::vector<std::string>& paths, bool force);

// volume_lifecycle.cc
void VolumeStart(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep);
void VolumeStop(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep);
void VolumeDelete(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep);

// volume_options.cc
void VolumeSet(const MgmtContext& ctx, const mgmtpb::VolumeSetRequest& req, mgmtpb::Reply* rep);
void VolumeGet(const MgmtContext& ctx, const mgmtpb::VolumeGetRequest& req, mgmtpb::VolumeGetReply* rep);
void VolumeReset(const MgmtContext& ctx, const mgmtpb::VolumeResetRequest& req, mgmtpb::Reply* rep);

// volume_info.cc
void VolumeInfo(const MgmtContext& ctx, const mgmtpb::VolumeInfoRequest& req, mgmtpb::VolumeInfoReply* rep);
void VolumeStatus(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::VolumeStatusReply* rep);
void LocalBrickStatus(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::VolumeStatusReply* rep);

// volfile_ops.cc
void GetVolfile(const MgmtContext& ctx, const mgmtpb::VolfileRequest& req, mgmtpb::VolfileReply* rep);
grpc::Status WatchVolfile(const MgmtContext& ctx, grpc::ServerContext* sctx, const mgmtpb::VolfileRequest& req,
                          grpc::ServerWriter<mgmtpb::VolfileReply>* writer);

// heal_info.cc
void HealInfo(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::HealInfoReply* rep);
void Heal(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::Reply* rep);

// volume_info.cc: this node's bricks of a volume with process state, counters and heal progress.
std::vector<mgmtpb::BrickProcess> LocalBricks(const MgmtContext& ctx, const std::string& volume);
// Every brick of a volume as its own node reports it (peers asked over gRPC).
std::vector<mgmtpb::BrickProcess> AllBricks(const MgmtContext& ctx, const mgmtpb::Volume& volume);

// heal_split_brain.cc
void HealInfoSplitBrain(const MgmtContext& ctx, const mgmtpb::VolumeRequest& req, mgmtpb::HealInfoReply* rep);
void HealSplitBrain(const MgmtContext& ctx, const mgmtpb::SplitBrainRequest& req, mgmtpb::Reply* rep);

// volume_rebalance.cc: add-brick, rebalance, remove-brick (docs/rebalance.md).
void VolumeAddBrick(const MgmtContext& ctx, const mgmtpb::AddBrickRequest& req, mgmtpb::Reply* rep);
void VolumeRebalance(const MgmtContext& ctx, const mgmtpb::RebalanceRequest& req, mgmtpb::RebalanceReply* rep);
void VolumeRemoveBrick(const MgmtContext& ctx, const mgmtpb::RemoveBrickRequest& req, mgmtpb::RebalanceReply* rep);

// Shared lookups.
const mgmtpb::Volume* FindVolume(const mgmtpb::ClusterState& state, const std::string& name);
Status NoSuchVolume(const std::string& name);

}  // namespace hafs::mgmtd::ops
