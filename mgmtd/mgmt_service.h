// The gRPC faces of one mgmtd: MgmtService (CLI, clients, peers) forwards every call to its
// handler in ops/; RaftService hands consensus messages to the RaftNode.
// Thread-safety: called concurrently by gRPC; state lives in MgmtContext.
#pragma once

#include <functional>
#include <string>

#include "mgmtd/context.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::mgmtd {

class MgmtService final : public mgmtpb::Mgmt::Service {
 public:
  MgmtService(const MgmtContext* ctx, std::function<std::string()> dump) : ctx_(ctx), dump_(std::move(dump)) {}

  grpc::Status PeerProbe(grpc::ServerContext*, const mgmtpb::ProbeRequest*, mgmtpb::Reply*) override;
  grpc::Status PeerDetach(grpc::ServerContext*, const mgmtpb::DetachRequest*, mgmtpb::Reply*) override;
  grpc::Status PoolList(grpc::ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::PoolReply*) override;
  grpc::Status VolumeCreate(grpc::ServerContext*, const mgmtpb::VolumeCreateRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeStart(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeStop(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeDelete(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeInfo(grpc::ServerContext*, const mgmtpb::VolumeInfoRequest*, mgmtpb::VolumeInfoReply*) override;
  grpc::Status VolumeStatus(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::VolumeStatusReply*) override;
  grpc::Status VolumeSet(grpc::ServerContext*, const mgmtpb::VolumeSetRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeGet(grpc::ServerContext*, const mgmtpb::VolumeGetRequest*, mgmtpb::VolumeGetReply*) override;
  grpc::Status VolumeReset(grpc::ServerContext*, const mgmtpb::VolumeResetRequest*, mgmtpb::Reply*) override;
  grpc::Status HealInfo(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::HealInfoReply*) override;
  grpc::Status Heal(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::Reply*) override;
  grpc::Status HealInfoSplitBrain(grpc::ServerContext*, const mgmtpb::VolumeRequest*, mgmtpb::HealInfoReply*) override;
  grpc::Status HealSplitBrain(grpc::ServerContext*, const mgmtpb::SplitBrainRequest*, mgmtpb::Reply*) override;
  grpc::Status GetVolfile(grpc::ServerContext*, const mgmtpb::VolfileRequest*, mgmtpb::VolfileReply*) override;
  grpc::Status WatchVolfile(grpc::ServerContext*, const mgmtpb::VolfileRequest*,
                            grpc::ServerWriter<mgmtpb::VolfileReply>*) override;
  grpc::Status StateDump(grpc::ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::StateDumpReply*) override;
  grpc::Status VolumeAddBrick(grpc::ServerContext*, const mgmtpb::AddBrickRequest*, mgmtpb::Reply*) override;
  grpc::Status VolumeRebalance(grpc::ServerContext*, const mgmtpb::RebalanceRequest*, mgmtpb::RebalanceReply*) override;
  grpc::Status VolumeRemoveBrick(grpc::ServerContext*, const mgmtpb::RemoveBrickRequest*,
                                 mgmtpb::RebalanceReply*) override;
  grpc::Status Ping(grpc::ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::Reply*) override;
  grpc::Status Propose(grpc::ServerContext*, const mgmtpb::ProposeRequest*, mgmtpb::Reply*) override;
  grpc::Status Join(grpc::ServerContext*, const mgmtpb::JoinRequest*, mgmtpb::JoinReply*) override;
  grpc::Status Leave(grpc::ServerContext*, const mgmtpb::PoolRequest*, mgmtpb::Reply*) override;
  grpc::Status CheckBricks(grpc::ServerContext*, const mgmtpb::CheckBricksRequest*, mgmtpb::Reply*) override;
  grpc::Status LocalBrickStatus(grpc::ServerContext*, const mgmtpb::VolumeRequest*,
                                mgmtpb::VolumeStatusReply*) override;

 private:
  const MgmtContext* ctx_;
  std::function<std::string()> dump_;
};

class RaftService final : public mgmtpb::Raft::Service {
 public:
  explicit RaftService(RaftNode* raft) : raft_(raft) {}
  grpc::Status RequestVote(grpc::ServerContext*, const mgmtpb::VoteRequest* req, mgmtpb::VoteReply* rep) override {
    *rep = raft_->HandleRequestVote(*req);
    return grpc::Status::OK;
  }
  grpc::Status AppendEntries(grpc::ServerContext*, const mgmtpb::AppendRequest* req,
                             mgmtpb::AppendReply* rep) override {
    *rep = raft_->HandleAppendEntries(*req);
    return grpc::Status::OK;
  }

 private:
  RaftNode* raft_;
};

}  // namespace hafs::mgmtd
