#include "mgmtd/raft/grpc_transport.h"

namespace hafs::mgmtd {

std::shared_ptr<grpc::Channel> PeerChannels::Get(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& ch = channels_[address];
  if (!ch) {
    grpc::ChannelArguments args;
    // Reconnect quickly after a peer comes back (defaults back off up to 2 minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(64 << 20);
    ch = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds d) {
  ctx->set_deadline(std::chrono::system_clock::now() + d);
}

Status FromGrpcStatus(const grpc::Status& st, const std::string& what) {
  if (st.ok()) return Status::Ok();
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Status(ENOTCONN, fmt::format("{}: Transport endpoint is not connected ({})", what, st.error_message()));
    default:
      return Status(EIO, fmt::format("{}: {}", what, st.error_message()));
  }
}

Result<mgmtpb::VoteReply> GrpcRaftTransport::RequestVote(const std::string& address, const mgmtpb::VoteRequest& req) {
  auto stub = mgmtpb::Raft::NewStub(channels_->Get(address));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline_);
  mgmtpb::VoteReply rep;
  auto st = stub->RequestVote(&ctx, req, &rep);
  if (!st.ok()) return FromGrpcStatus(st, "vote request to " + address);
  return rep;
}

Result<mgmtpb::AppendReply> GrpcRaftTransport::AppendEntries(const std::string& address,
                                                             const mgmtpb::AppendRequest& req) {
  auto stub = mgmtpb::Raft::NewStub(channels_->Get(address));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, deadline_);
  mgmtpb::AppendReply rep;
  auto st = stub->AppendEntries(&ctx, req, &rep);
  if (!st.ok()) return FromGrpcStatus(st, "append to " + address);
  return rep;
}

}  // namespace hafs::mgmtd
