// GrpcRaftTransport: RaftTransport over the peers' `Raft` gRPC service, and PeerChannels, the
// cache of one gRPC channel per peer address shared by everything in mgmtd that calls a
// peer. Every call has a deadline. Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "mgmtd/raft/raft_node.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::mgmtd {

class PeerChannels {
 public:
  std::shared_ptr<grpc::Channel> Get(const std::string& address);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

class GrpcRaftTransport : public RaftTransport {
 public:
  GrpcRaftTransport(PeerChannels* channels, std::chrono::milliseconds deadline)
      : channels_(channels), deadline_(deadline) {}
  Result<mgmtpb::VoteReply> RequestVote(const std::string& address, const mgmtpb::VoteRequest& req) override;
  Result<mgmtpb::AppendReply> AppendEntries(const std::string& address, const mgmtpb::AppendRequest& req) override;

 private:
  PeerChannels* channels_;
  std::chrono::milliseconds deadline_;
};

// gRPC transport failure as a Status with the errno an operator expects.
Status FromGrpcStatus(const grpc::Status& st, const std::string& what);
void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds d);

}  // namespace hafs::mgmtd
