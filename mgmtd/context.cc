#include "mgmtd/context.h"

#include <algorithm>
#include <thread>

#include "mgmtd/state_machine.h"

namespace hafs::mgmtd {

void StateChanges::Notify(uint64_t version) {
  std::lock_guard lock(mu_);
  version_ = version;
  cv_.notify_all();
}

uint64_t StateChanges::WaitChange(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return shutdown_ || version_ != seen; });
  return version_;
}

void StateChanges::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

bool StateChanges::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutdown_;
}

void FillReply(mgmtpb::Reply* reply, const Status& st) {
  reply->set_ok(st.ok());
  reply->set_err(st.err());
  reply->set_message(st.ok() ? "" : st.message());
}

Status FromReply(const mgmtpb::Reply& reply) {
  if (reply.ok()) return Status::Ok();
  return Status(reply.err() ? reply.err() : EIO, reply.message());
}

std::string WithDefaultPort(const std::string& host) {
  if (host.empty()) return host;
  if (host[0] == '[') return host.find("]:") != std::string::npos ? host : host + ":" + std::to_string(kDefaultPort);
  if (std::count(host.begin(), host.end(), ':') == 1) return host;
  if (std::count(host.begin(), host.end(), ':') > 1) return "[" + host + "]:" + std::to_string(kDefaultPort);
  return host + ":" + std::to_string(kDefaultPort);
}

std::unique_ptr<mgmtpb::Mgmt::Stub> MgmtContext::Stub(const std::string& address) const {
  return mgmtpb::Mgmt::NewStub(channels->Get(address));
}

Status MgmtContext::Submit(const mgmtpb::Command& command) const {
  // A leader change during the call is retried a few times; a refusal is final.
  auto deadline = std::chrono::steady_clock::now() + commit_timeout;
  Status last;
  while (true) {
    std::string leader;
    last = raft->Propose(command, commit_timeout, &leader);
    if (last.ok() || last.err() != EAGAIN) return last;
    if (!leader.empty() && leader != self_address) {
      auto stub = Stub(leader);
      grpc::ClientContext ctx;
      SetDeadline(&ctx, commit_timeout + std::chrono::milliseconds(1000));
      mgmtpb::ProposeRequest req;
      *req.mutable_command() = command;
      mgmtpb::Reply rep;
      auto st = stub->Propose(&ctx, req, &rep);
      if (st.ok()) {
        last = FromReply(rep);
        // Read-your-writes: what the caller does next on this peer sees the change.
        if (rep.index() > 0) raft->WaitApplied(rep.index(), commit_timeout);
        if (last.ok() || last.err() != EAGAIN) return last;
      } else {
        last = FromGrpcStatus(st, "the leader " + leader);
      }
    }
    // No leader known (an election is running) or it did not answer: retry until the deadline.
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

void MgmtContext::SyncRead() const {
  auto info = raft->Info();
  uint64_t target = info.commit_index;
  if (info.role != RaftRole::kLeader) {
    if (info.leader_address.empty() || info.leader_address == self_address) return;
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::milliseconds(1000));
    mgmtpb::PoolRequest req;
    mgmtpb::Reply rep;
    if (!Stub(info.leader_address)->Ping(&ctx, req, &rep).ok()) return;
    target = rep.index();
  }
  raft->WaitApplied(target, std::chrono::milliseconds(2000));
}

std::optional<mgmtpb::Peer> MgmtContext::FindPeer(const std::string& name) const {
  auto state = raft->State();
  std::string full = WithDefaultPort(name);
  for (const auto& p : state.peers())
    if (p.address() == name || p.address() == full) return p;
  for (const auto& p : state.peers())
    if (HostOf(p.address()) == name) return p;
  return std::nullopt;
}

}  // namespace hafs::mgmtd
