#include "mgmtd/background/peer_prober.h"

namespace hafs::mgmtd {

using namespace std::chrono_literals;

void PeerProber::Start() {
  std::lock_guard lock(mu_);
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void PeerProber::Stop() {
  {
    std::lock_guard lock(mu_);
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void PeerProber::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    lock.unlock();
    auto state = ctx_->raft->State();
    for (const auto& p : state.peers()) {
      if (p.uuid() == ctx_->self_id) continue;
      grpc::ClientContext cctx;
      SetDeadline(&cctx, 800ms);
      mgmtpb::PoolRequest req;
      mgmtpb::Reply rep;
      if (ctx_->Stub(p.address())->Ping(&cctx, req, &rep).ok()) ctx_->raft->NoteContact(p.uuid());
    }
    lock.lock();
    cv_.wait_for(lock, 1s, [&] { return !running_; });
  }
}

}  // namespace hafs::mgmtd
