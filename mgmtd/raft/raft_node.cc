#include "mgmtd/raft/raft_node.h"

#include <algorithm>
#include <sstream>

#include "common/gfid.h"
#include "common/log.h"

namespace hafs::mgmtd {

using namespace std::chrono_literals;

RaftNode::RaftNode(RaftOptions options, RaftTransport* transport, RaftStorage* storage)
    : options_(std::move(options)), transport_(transport), storage_(storage), rng_(std::random_device{}()) {}

RaftNode::~RaftNode() { Stop(); }

Status RaftNode::Start(bool bootstrap) {
  auto loaded = storage_->Load();
  if (!loaded.ok()) return loaded.status();
  std::unique_lock lock(mu_);
  term_ = loaded->term;
  voted_for_ = loaded->voted_for;
  log_ = std::move(loaded->log);
  snap_index_ = loaded->snap_index;
  snap_term_ = loaded->snap_term;
  sm_ = ClusterStateMachine(loaded->state);
  applied_ = commit_index_ = std::max(snap_index_, std::min<uint64_t>(loaded->applied, LastIndex()));
  pool_id_ = sm_.state().pool_id();
  if (pool_id_.empty() && snap_index_ == 0 && !log_.empty() && log_[0].command().has_bootstrap_pool_id())
    pool_id_ = log_[0].command().bootstrap_pool_id();
  if (LastIndex() == 0 && bootstrap) HAFS_RETURN_IF_ERROR(BootstrapLocked());
  running_ = true;
  RecomputeConfig();
  ResetElectionTimer();
  tick_thread_ = std::thread([this] { TickLoop(); });
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  return Status::Ok();
}

void RaftNode::Stop() {
  std::vector<std::unique_ptr<PeerProgress>> all;
  {
    std::lock_guard lock(mu_);
    if (!running_ && !tick_thread_.joinable()) return;
    running_ = false;
    for (auto& [id, p] : peers_) {
      p->stop = true;
      all.push_back(std::move(p));
    }
    peers_.clear();
    for (auto& p : retired_) all.push_back(std::move(p));
    retired_.clear();
    cv_.notify_all();
  }
  for (auto& p : all)
    if (p->thread.joinable()) p->thread.join();
  if (tick_thread_.joinable()) tick_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
}

Status RaftNode::BootstrapLocked() {
  std::string pool = Gfid::Random().ToString();
  term_ = 1;
  voted_for_.clear();
  HAFS_RETURN_IF_ERROR(PersistTermVote());
  mgmtpb::LogEntry first, second;
  first.set_term(1);
  first.set_index(1);
  first.mutable_command()->set_bootstrap_pool_id(pool);
  second.set_term(1);
  second.set_index(2);
  auto* peer = second.mutable_command()->mutable_add_peer()->mutable_peer();
  peer->set_uuid(options_.self_id);
  peer->set_address(options_.self_address);
  HAFS_RETURN_IF_ERROR(AppendLocked({first, second}));
  pool_id_ = pool;
  HAFS_LOG_INFO("raft: started a new pool {} with this peer alone", pool);
  return Status::Ok();
}

Status RaftNode::WipeLocked() {
  HAFS_RETURN_IF_ERROR(storage_->Wipe());
  term_ = 0;
  voted_for_.clear();
  log_.clear();
  snap_index_ = snap_term_ = 0;
  commit_index_ = applied_ = 0;
  sm_ = ClusterStateMachine();
  role_ = RaftRole::kFollower;
  leader_id_.clear();
  leader_address_.clear();
  votes_.clear();
  pool_id_.clear();
  ++generation_;
  RecomputeConfig();
  cv_.notify_all();
  return Status::Ok();
}

Status RaftNode::ResetForJoin(const std::string& pool_id) {
  std::lock_guard lock(mu_);
  HAFS_RETURN_IF_ERROR(WipeLocked());
  pool_id_ = pool_id;
  HAFS_LOG_INFO("raft: forgot the old pool, joining pool {}", pool_id);
  return Status::Ok();
}

Status RaftNode::ResetStandalone() {
  std::lock_guard lock(mu_);
  HAFS_RETURN_IF_ERROR(WipeLocked());
  HAFS_RETURN_IF_ERROR(BootstrapLocked());
  RecomputeConfig();
  ResetElectionTimer();
  return Status::Ok();
}

void RaftNode::AddObserver(std::function<void(const mgmtpb::ClusterState&)> fn) {
  std::lock_guard lock(mu_);
  observers_.push_back(std::move(fn));
}

// ---- persistence helpers ----

Status RaftNode::PersistTermVote() {
  Status st = storage_->SaveTermVote(term_, voted_for_);
  if (!st.ok()) HAFS_LOG_ERROR("raft: cannot persist term: {}", st.ToString());
  return st;
}

Status RaftNode::AppendLocked(std::vector<mgmtpb::LogEntry> entries) {
  HAFS_RETURN_IF_ERROR(storage_->Append(entries));
  for (auto& e : entries) log_.push_back(std::move(e));
  RecomputeConfig();
  return Status::Ok();
}

Status RaftNode::TruncateLocked(uint64_t from) {
  HAFS_RETURN_IF_ERROR(storage_->TruncateFrom(from));
  if (from > snap_index_ && from <= LastIndex()) log_.resize(from - 1 - snap_index_);
  RecomputeConfig();
  return Status::Ok();
}

// ---- configuration ----

void RaftNode::RecomputeConfig() {
  std::vector<mgmtpb::Peer> cfg(sm_.state().peers().begin(), sm_.state().peers().end());
  for (uint64_t i = applied_ + 1; i <= LastIndex(); ++i) {
    const auto& c = Entry(i).command();
    if (c.has_add_peer()) {
      auto it = std::find_if(cfg.begin(), cfg.end(), [&](auto& p) { return p.uuid() == c.add_peer().peer().uuid(); });
      if (it == cfg.end()) cfg.push_back(c.add_peer().peer());
      else *it = c.add_peer().peer();
    } else if (c.has_remove_peer()) {
      std::erase_if(cfg, [&](auto& p) { return p.uuid() == c.remove_peer().uuid(); });
    }
  }
  config_ = cfg;
  std::set<std::string> wanted;
  for (const auto& p : cfg) {
    if (p.uuid() == options_.self_id) continue;
    wanted.insert(p.uuid());
    auto& slot = peers_[p.uuid()];
    if (!slot) {
      slot = std::make_unique<PeerProgress>();
      slot->uuid = p.uuid();
      slot->next_index = LastIndex() + 1;
      if (running_) {
        PeerProgress* raw = slot.get();
        slot->thread = std::thread([this, raw] { PeerLoop(raw); });
      }
      last_heard_[p.uuid()] = Clock::now();
    }
    slot->address = p.address();
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!wanted.count(it->first) || !running_) {
      it->second->stop = true;
      if (it->second->thread.joinable() || running_) retired_.push_back(std::move(it->second));
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  cv_.notify_all();
}

bool RaftNode::InConfig(const std::string& uuid) const {
  return std::any_of(config_.begin(), config_.end(), [&](auto& p) { return p.uuid() == uuid; });
}

size_t RaftNode::Majority() const { return config_.size() / 2 + 1; }

bool RaftNode::HasQuorumContact() const {
  auto now = Clock::now();
  size_t n = InConfig(options_.self_id) ? 1 : 0;
  for (const auto& [id, p] : peers_) {
    auto it = last_heard_.find(id);
    if (it != last_heard_.end() && now - it->second <= options_.election_max) ++n;
  }
  return n >= Majority();
}

std::string RaftNode::QuorumMessage() const {
  auto now = Clock::now();
  size_t n = InConfig(options_.self_id) ? 1 : 0;
  for (const auto& [id, p] : peers_) {
    auto it = last_heard_.find(id);
    if (it != last_heard_.end() && now - it->second <= options_.election_max) ++n;
  }
  return fmt::format(
      "the pool has no quorum: this peer reaches {} of {} peers, {} are needed; changes are refused until a majority "
      "is back",
      n, config_.size(), Majority());
}

void RaftNode::ResetElectionTimer() {
  auto lo = options_.election_min.count(), hi = options_.election_max.count();
  std::uniform_int_distribution<int64_t> d(lo, hi);
  auto timeout = std::chrono::milliseconds(d(rng_));
  // Alone in the pool: no one else can be leader, do not wait a whole timeout.
  if (config_.size() == 1 && InConfig(options_.self_id)) timeout = std::min<std::chrono::milliseconds>(timeout, 50ms);
  election_deadline_ = Clock::now() + timeout;
}

// ---- roles ----

void RaftNode::BecomeFollower(uint64_t term) {
  if (term > term_) {
    term_ = term;
    voted_for_.clear();
    (void)PersistTermVote();
  }
  if (role_ == RaftRole::kLeader) {
    leader_id_.clear();
    leader_address_.clear();
  }
  role_ = RaftRole::kFollower;
  votes_.clear();
  ResetElectionTimer();
  cv_.notify_all();
}

void RaftNode::StartElection() {
  ++term_;
  role_ = RaftRole::kCandidate;
  voted_for_ = options_.self_id;
  if (!PersistTermVote().ok()) {
    role_ = RaftRole::kFollower;
    ResetElectionTimer();
    return;
  }
  votes_ = {options_.self_id};
  leader_id_.clear();
  leader_address_.clear();
  for (auto& [id, p] : peers_) p->vote_requested = false;
  ResetElectionTimer();
  HAFS_LOG_DEBUG("raft: election for term {}", term_);
  if (votes_.size() >= Majority()) BecomeLeader();
  cv_.notify_all();
}

void RaftNode::BecomeLeader() {
  role_ = RaftRole::kLeader;
  leader_id_ = options_.self_id;
  leader_address_ = options_.self_address;
  leader_since_ = Clock::now();
  for (auto& [id, p] : peers_) {
    p->next_index = LastIndex() + 1;
    p->match_index = 0;
    p->last_sent = {};
    p->retry_after = {};
    p->sent_commit = 0;
    last_heard_[id] = Clock::now();
  }
  HAFS_LOG_INFO("raft: this peer is the leader for term {}", term_);
  // A no-op of the new term lets earlier entries commit (§5.4.2).
  mgmtpb::LogEntry noop;
  noop.set_term(term_);
  noop.set_index(LastIndex() + 1);
  if (!AppendLocked({noop}).ok()) {
    BecomeFollower(term_);
    return;
  }
  AdvanceCommit();
  cv_.notify_all();
}

void RaftNode::AdvanceCommit() {
  if (role_ != RaftRole::kLeader) return;
  for (uint64_t n = LastIndex(); n > commit_index_; --n) {
    if (TermAt(n) != term_) break;
    size_t count = InConfig(options_.self_id) ? 1 : 0;
    for (const auto& [id, p] : peers_)
      if (p->match_index >= n) ++count;
    if (count >= Majority()) {
      commit_index_ = n;
      cv_.notify_all();
      return;
    }
  }
}

// ---- threads ----

void RaftNode::TickLoop() {
  std::unique_lock lock(mu_);
  while (running_) {
    if (!retired_.empty()) {
      auto retired = std::move(retired_);
      retired_.clear();
      lock.unlock();
      for (auto& p : retired)
        if (p->thread.joinable()) p->thread.join();
      lock.lock();
      continue;
    }
    auto now = Clock::now();
    if (role_ != RaftRole::kLeader && InConfig(options_.self_id) && now >= election_deadline_) {
      StartElection();
    } else if (role_ == RaftRole::kLeader && now - leader_since_ > options_.election_max && !HasQuorumContact()) {
      HAFS_LOG_WARN("raft: leader lost contact with a majority of the pool; stepping down");
      BecomeFollower(term_);
    }
    cv_.wait_for(lock, 20ms);
  }
}

void RaftNode::ApplyLoop() {
  std::unique_lock lock(mu_);
  while (running_) {
    cv_.wait_for(lock, 200ms, [&] { return !running_ || commit_index_ > applied_ || publish_; });
    if (!running_) break;
    if (commit_index_ <= applied_ && !publish_) continue;
    publish_ = false;
    uint64_t gen = generation_;
    while (applied_ < commit_index_ && applied_ < LastIndex()) {
      const auto& e = Entry(applied_ + 1);
      Status st = sm_.Apply(e.command());
      ++applied_;
      if (!st.ok()) HAFS_LOG_DEBUG("raft: entry {} refused by the state machine: {}", applied_, st.ToString());
      if (waiting_.count(applied_)) results_[applied_] = st;
    }
    if (pool_id_.empty()) pool_id_ = sm_.state().pool_id();
    if (Status st = storage_->SaveState(sm_.state(), applied_); !st.ok())
      HAFS_LOG_ERROR("raft: cannot save the applied state: {}", st.ToString());
    else
      MaybeCompactLocked();
    RecomputeConfig();
    if (role_ == RaftRole::kLeader && !InConfig(options_.self_id)) {
      HAFS_LOG_INFO("raft: this peer left the configuration; stepping down");
      BecomeFollower(term_);
    }
    auto state = sm_.state();
    auto observers = observers_;
    cv_.notify_all();
    lock.unlock();
    for (auto& fn : observers) fn(state);
    lock.lock();
    (void)gen;
  }
}

void RaftNode::PeerLoop(PeerProgress* p) {
  std::unique_lock lock(mu_);
  while (running_ && !p->stop) {
    auto now = Clock::now();
    bool more = false;
    if (now >= p->retry_after) {
      if (role_ == RaftRole::kLeader &&
          (p->next_index <= LastIndex() || p->sent_commit < commit_index_ ||
           now - p->last_sent >= options_.heartbeat)) {
        more = ReplicateTo(lock, p);
      } else if (role_ == RaftRole::kCandidate && !p->vote_requested) {
        RequestVoteFrom(lock, p);
      }
    }
    if (!more && running_ && !p->stop) cv_.wait_for(lock, options_.heartbeat / 2);
  }
}

bool RaftNode::ReplicateTo(std::unique_lock<std::mutex>& lock, PeerProgress* p) {
  uint64_t gen = generation_, term = term_;
  mgmtpb::AppendRequest req;
  req.set_term(term_);
  req.set_leader(options_.self_id);
  req.set_leader_address(options_.self_address);
  uint64_t prev = std::min(p->next_index - 1, LastIndex());
  if (prev < snap_index_) {
    // The entries this peer needs are compacted away: send the applied state instead.
    *req.mutable_snapshot() = sm_.state();
    req.set_snapshot_index(applied_);
    req.set_snapshot_term(TermAt(applied_));
    prev = applied_;
    HAFS_LOG_INFO("raft: peer {} is behind the compacted log (needs {}); sending the state at {}", p->uuid,
                  p->next_index, applied_);
  }
  req.set_prev_log_index(prev);
  req.set_prev_log_term(TermAt(prev));
  for (uint64_t i = prev + 1; i <= LastIndex() && req.entries_size() < static_cast<int>(options_.max_batch); ++i)
    *req.add_entries() = Entry(i);
  req.set_commit_index(commit_index_);
  req.set_pool_id(pool_id_);
  p->last_sent = Clock::now();
  p->sent_commit = commit_index_;
  std::string address = p->address;
  lock.unlock();
  auto r = transport_->AppendEntries(address, req);
  lock.lock();
  if (gen != generation_ || term_ != term || role_ != RaftRole::kLeader || p->stop || !running_) return false;
  if (!r.ok()) {
    p->retry_after = Clock::now() + options_.heartbeat;
    p->sent_commit = 0;
    return false;
  }
  if (r->term() > term_) {
    HAFS_LOG_INFO("raft: peer {} has term {}; stepping down", p->uuid, r->term());
    BecomeFollower(r->term());
    return false;
  }
  last_heard_[p->uuid] = Clock::now();
  if (r->success()) {
    p->match_index = std::max(p->match_index, r->match_index());
    p->next_index = p->match_index + 1;
    AdvanceCommit();
    // More entries, or a commit index this peer has not heard yet: send again at once (a
    // notify during this call was missed while the lock was released).
    return p->next_index <= LastIndex() || p->sent_commit < commit_index_;
  }
  uint64_t hint = r->hint_index() == 0 ? 1 : r->hint_index();
  p->next_index = std::max<uint64_t>(1, std::min(p->next_index - 1, hint));
  return true;
}

void RaftNode::RequestVoteFrom(std::unique_lock<std::mutex>& lock, PeerProgress* p) {
  uint64_t gen = generation_, term = term_;
  p->vote_requested = true;
  mgmtpb::VoteRequest req;
  req.set_term(term_);
  req.set_candidate(options_.self_id);
  req.set_last_log_index(LastIndex());
  req.set_last_log_term(TermAt(LastIndex()));
  req.set_pool_id(pool_id_);
  std::string address = p->address;
  lock.unlock();
  auto r = transport_->RequestVote(address, req);
  lock.lock();
  if (gen != generation_ || term_ != term || role_ != RaftRole::kCandidate || p->stop || !running_) return;
  if (!r.ok()) {
    p->vote_requested = false;
    p->retry_after = Clock::now() + options_.heartbeat;
    return;
  }
  last_heard_[p->uuid] = Clock::now();
  if (r->term() > term_) {
    BecomeFollower(r->term());
    return;
  }
  if (!r->granted()) return;
  votes_.insert(p->uuid);
  size_t n = 0;
  for (const auto& id : votes_) n += InConfig(id) ? 1 : 0;
  if (n >= Majority()) BecomeLeader();
}

// ---- RPC handlers ----

mgmtpb::VoteReply RaftNode::HandleRequestVote(const mgmtpb::VoteRequest& req) {
  std::lock_guard lock(mu_);
  mgmtpb::VoteReply reply;
  reply.set_term(term_);
  if (!pool_id_.empty() && !req.pool_id().empty() && req.pool_id() != pool_id_) {
    reply.set_term(req.term());
    return reply;
  }
  last_heard_[req.candidate()] = Clock::now();
  // A peer that still hears from a live leader ignores disruptive candidates (thesis §4.2.3).
  auto now = Clock::now();
  if ((role_ == RaftRole::kLeader && HasQuorumContact()) || (role_ == RaftRole::kFollower && now < leader_lease_))
    return reply;
  if (req.term() < term_) return reply;
  if (req.term() > term_) BecomeFollower(req.term());
  bool up_to_date = req.last_log_term() > TermAt(LastIndex()) ||
                    (req.last_log_term() == TermAt(LastIndex()) && req.last_log_index() >= LastIndex());
  if ((voted_for_.empty() || voted_for_ == req.candidate()) && up_to_date) {
    voted_for_ = req.candidate();
    if (PersistTermVote().ok()) {
      reply.set_granted(true);
      ResetElectionTimer();
    }
  }
  reply.set_term(term_);
  return reply;
}

mgmtpb::AppendReply RaftNode::HandleAppendEntries(const mgmtpb::AppendRequest& req) {
  std::lock_guard lock(mu_);
  mgmtpb::AppendReply reply;
  reply.set_term(term_);
  if (!pool_id_.empty() && !req.pool_id().empty() && req.pool_id() != pool_id_) {
    // Another pool's leader: answer neutrally so it is not disturbed.
    reply.set_term(req.term());
    reply.set_hint_index(1);
    return reply;
  }
  if (req.term() < term_) return reply;
  if (req.term() > term_ || role_ != RaftRole::kFollower) BecomeFollower(req.term());
  reply.set_term(term_);
  leader_id_ = req.leader();
  leader_address_ = req.leader_address();
  auto now = Clock::now();
  leader_lease_ = now + options_.election_min;
  last_heard_[req.leader()] = now;
  ResetElectionTimer();
  if (pool_id_.empty()) pool_id_ = req.pool_id();

  if (req.snapshot_index() > 0 && !InstallSnapshotLocked(req)) return reply;
  uint64_t prev = req.prev_log_index();
  // (prev before the compaction point: entries up to it are committed here, so they match.)
  if (prev >= snap_index_ && prev > LastIndex()) {
    reply.set_hint_index(LastIndex() + 1);
    return reply;
  } else if (prev >= snap_index_ && TermAt(prev) != req.prev_log_term()) {
    uint64_t conflict_term = TermAt(prev);
    uint64_t first = prev;
    while (first > snap_index_ + 1 && TermAt(first - 1) == conflict_term) --first;
    reply.set_hint_index(std::max<uint64_t>(1, first));
    return reply;
  }
  std::vector<mgmtpb::LogEntry> fresh;
  for (const auto& e : req.entries()) {
    if (!fresh.empty()) {
      fresh.push_back(e);
      continue;
    }
    if (e.index() <= snap_index_) continue;
    if (e.index() <= LastIndex()) {
      if (TermAt(e.index()) == e.term()) continue;
      if (e.index() <= commit_index_) {
        HAFS_LOG_ERROR("raft: leader {} conflicts with committed entry {}; ignoring", req.leader(), e.index());
        return reply;
      }
      if (!TruncateLocked(e.index()).ok()) return reply;
    }
    fresh.push_back(e);
  }
  if (!fresh.empty() && !AppendLocked(std::move(fresh)).ok()) return reply;
  uint64_t last_new = std::max<uint64_t>(req.prev_log_index() + req.entries_size(), snap_index_);
  if (req.commit_index() > commit_index_) {
    commit_index_ = std::max(commit_index_, std::min(req.commit_index(), last_new));
    cv_.notify_all();
  }
  reply.set_success(true);
  reply.set_match_index(last_new);
  return reply;
}

// ---- log compaction (§7) ----

void RaftNode::MaybeCompactLocked() {
  if (options_.compact_every == 0 || applied_ < snap_index_ + options_.compact_every + options_.compact_keep) return;
  uint64_t upto = applied_ - options_.compact_keep;
  uint64_t term = TermAt(upto);
  if (Status st = storage_->Compact(upto, term); !st.ok()) {
    HAFS_LOG_ERROR("raft: cannot compact the log: {}", st.ToString());
    return;
  }
  log_.erase(log_.begin(), log_.begin() + static_cast<long>(upto - snap_index_));
  HAFS_LOG_INFO("raft: compacted the log: entries up to {} dropped ({} kept)", upto, log_.size());
  snap_index_ = upto;
  snap_term_ = term;
}

bool RaftNode::InstallSnapshotLocked(const mgmtpb::AppendRequest& req) {
  uint64_t index = req.snapshot_index(), term = req.snapshot_term();
  if (index <= commit_index_) return true;  // already have all of it
  if (Status st = storage_->InstallSnapshot(req.snapshot(), index, term); !st.ok()) {
    HAFS_LOG_ERROR("raft: cannot install the leader's snapshot: {}", st.ToString());
    return false;
  }
  log_.clear();
  snap_index_ = index;
  snap_term_ = term;
  sm_ = ClusterStateMachine(req.snapshot());
  applied_ = commit_index_ = index;
  if (pool_id_.empty()) pool_id_ = sm_.state().pool_id();
  RecomputeConfig();
  publish_ = true;
  cv_.notify_all();
  HAFS_LOG_INFO("raft: installed the leader's state at index {} (term {})", index, term);
  return true;
}

// ---- proposals and reads ----

bool RaftNode::WaitApplied(uint64_t index, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return !running_ || applied_ >= index; }) && applied_ >= index;
}

Status RaftNode::Propose(const mgmtpb::Command& command, std::chrono::milliseconds timeout, std::string* leader,
                         uint64_t* applied_index) {
  std::unique_lock lock(mu_);
  if (!running_) return Status(ESHUTDOWN, "mgmtd is shutting down");
  if (role_ != RaftRole::kLeader) {
    if (leader) *leader = leader_address_;
    if (leader_address_.empty()) {
      if (HasQuorumContact()) return Status(EAGAIN, "a leader election is in progress; retry");
      return Status(ENOTCONN, "no leader: " + QuorumMessage());
    }
    return Status(EAGAIN, "not the leader; the leader is " + leader_address_);
  }
  if (!HasQuorumContact()) return Status(ENOTCONN, QuorumMessage());
  mgmtpb::LogEntry e;
  e.set_term(term_);
  e.set_index(LastIndex() + 1);
  *e.mutable_command() = command;
  uint64_t index = e.index(), term = term_, gen = generation_;
  HAFS_RETURN_IF_ERROR(AppendLocked({e}));
  waiting_.insert(index);
  if (applied_index) *applied_index = index;
  AdvanceCommit();
  cv_.notify_all();
  bool done = cv_.wait_for(lock, timeout, [&] {
    return !running_ || gen != generation_ || applied_ >= index || term_ != term;
  });
  Status st;
  if (gen == generation_ && applied_ >= index) {
    auto it = results_.find(index);
    if (TermAt(index) == term && it != results_.end()) st = it->second;
    else st = Status(EAGAIN, "the leader changed while the change was being made; nothing was applied, retry");
  } else if (!done) {
    st = Status(ETIMEDOUT, fmt::format("the change was not confirmed by a majority within {} ms", timeout.count()));
  } else {
    st = Status(EAGAIN, "the leader changed while the change was being made; retry");
  }
  waiting_.erase(index);
  results_.erase(index);
  return st;
}

RaftNode::Snapshot RaftNode::Info() const {
  std::lock_guard lock(mu_);
  return Snapshot{role_, term_, commit_index_, applied_, LastIndex(), snap_index_, leader_id_, leader_address_, config_};
}

mgmtpb::ClusterState RaftNode::State() const {
  std::lock_guard lock(mu_);
  return sm_.state();
}

bool RaftNode::RecentlyHeard(const std::string& uuid) const {
  std::lock_guard lock(mu_);
  if (uuid == options_.self_id) return true;
  auto it = last_heard_.find(uuid);
  return it != last_heard_.end() &&
         Clock::now() - it->second <= options_.election_max + std::chrono::milliseconds(1000);
}

void RaftNode::NoteContact(const std::string& uuid) {
  std::lock_guard lock(mu_);
  last_heard_[uuid] = Clock::now();
}

std::string RaftNode::DumpState() const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  const char* role = role_ == RaftRole::kLeader ? "leader" : role_ == RaftRole::kCandidate ? "candidate" : "follower";
  o << "raft: self=" << options_.self_id << " role=" << role << " term=" << term_ << " pool=" << pool_id_
    << " last_index=" << LastIndex() << " compacted_to=" << snap_index_ << " commit=" << commit_index_ << " applied=" << applied_
    << " leader=" << leader_address_ << "\n";
  auto now = Clock::now();
  for (const auto& [id, p] : peers_) {
    auto it = last_heard_.find(id);
    long ago = it == last_heard_.end() ? -1
                                       : std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count();
    o << "  peer " << id << " " << p->address << " next=" << p->next_index << " match=" << p->match_index
      << " heard_ms_ago=" << ago << "\n";
  }
  o << "  pending proposals: " << waiting_.size() << "\n";
  return o.str();
}

}  // namespace hafs::mgmtd
