// RaftNode: one peer's share of the pool's consensus (Raft, Ongaro & Ousterhout 2014).
//
// - Leader election with randomized timeouts (§5.2), log replication and commit on a
//   majority of the current term (§5.3, §5.4.2), persistence of term/vote/log before any
//   reply (figure 2), catch-up of a returning peer by walking nextIndex back (§5.3, with the
//   conflict-index optimisation).
// - Log compaction (§7): once `compact_every` entries are applied beyond the last compaction
//   point, the entries up to `applied - compact_keep` are dropped (the saved applied state
//   stands for them). A peer that needs a dropped entry (a lagging or joining peer) gets the
//   leader's applied state instead: an AppendEntries carrying `snapshot` (InstallSnapshot
//   folded into AppendEntries; the state is a few KiB), after which ordinary entries follow.
// - Membership is the pool's peer list: the configuration is the applied state's peers plus
//   AddPeer/RemovePeer entries still in the log (single-server changes, thesis §4.1).
// - Check-quorum: a leader that has not heard from a majority for an election timeout steps
//   down, and refuses proposals at once when it cannot reach a majority, so a minority
//   partition refuses changes with a clear message instead of appending entries it cannot
//   commit.
// - Committed commands are applied to a ClusterStateMachine in order on a dedicated thread,
//   the state is saved with the applied index, and observers are called after each apply.
//
// Ownership: owns its threads and the state machine; borrows transport and storage, which
// must outlive it. Thread-safety: every public method is safe from any thread; observers run
// on the apply thread without locks held and must not call Propose() synchronously.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "mgmtd/raft/raft_storage.h"
#include "mgmtd/state_machine.h"
#include "proto/mgmt.pb.h"

namespace hafs::mgmtd {

// How a node reaches its peers. Calls are synchronous, bounded by the transport's deadline.
class RaftTransport {
 public:
  virtual ~RaftTransport() = default;
  virtual Result<mgmtpb::VoteReply> RequestVote(const std::string& address, const mgmtpb::VoteRequest& req) = 0;
  virtual Result<mgmtpb::AppendReply> AppendEntries(const std::string& address, const mgmtpb::AppendRequest& req) = 0;
};

struct RaftOptions {
  std::string self_id;                  // this peer's uuid
  std::string self_address;             // HOST:PORT
  std::chrono::milliseconds heartbeat{100};
  std::chrono::milliseconds election_min{1000};
  std::chrono::milliseconds election_max{2000};
  size_t max_batch = 64;                // entries per AppendEntries
  uint64_t compact_every = 1000;        // applied entries beyond the compaction point that trigger one
  uint64_t compact_keep = 100;          // recent entries kept (a briefly lagging peer needs no snapshot)
};

enum class RaftRole { kFollower, kCandidate, kLeader };

class RaftNode {
 public:
  RaftNode(RaftOptions options, RaftTransport* transport, RaftStorage* storage);
  ~RaftNode();
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  // Loads persistent state; a node with an empty log and `bootstrap` starts a new one-peer
  // pool. Then starts the threads.
  Status Start(bool bootstrap);
  void Stop();

  // Proposes a command. Fails at once with EAGAIN and the leader's address in `leader` when
  // this node is not the leader, with ENOTCONN when no leader can reach a majority; else
  // waits (up to `timeout`) until the entry is applied here and returns the state
  // machine's verdict.
  Status Propose(const mgmtpb::Command& command, std::chrono::milliseconds timeout, std::string* leader = nullptr,
                 uint64_t* index = nullptr);
  // Waits until entries up to `index` are applied here; false on timeout.
  bool WaitApplied(uint64_t index, std::chrono::milliseconds timeout);

  mgmtpb::VoteReply HandleRequestVote(const mgmtpb::VoteRequest& req);
  mgmtpb::AppendReply HandleAppendEntries(const mgmtpb::AppendRequest& req);

  // Forgets everything and waits to be brought into `pool_id` by its leader (peer probe).
  Status ResetForJoin(const std::string& pool_id);
  // Forgets everything and starts a new one-peer pool (after being detached).
  Status ResetStandalone();

  void AddObserver(std::function<void(const mgmtpb::ClusterState&)> fn);

  struct Snapshot {
    RaftRole role;
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snap_index;
    std::string leader_id;
    std::string leader_address;
    std::vector<mgmtpb::Peer> config;
  };
  Snapshot Info() const;
  mgmtpb::ClusterState State() const;
  // True if `uuid` answered this node (or, for the leader, sent to this node) recently.
  bool RecentlyHeard(const std::string& uuid) const;
  // Records a successful contact with a peer outside Raft (the liveness prober).
  void NoteContact(const std::string& uuid);
  const std::string& self_id() const { return options_.self_id; }
  std::string DumpState() const;

 private:
  struct PeerProgress {
    std::string uuid;
    std::string address;
    uint64_t next_index = 1;
    uint64_t match_index = 0;
    uint64_t sent_commit = 0;          // commit index last told to this peer
    bool vote_requested = false;
    bool stop = false;
    std::chrono::steady_clock::time_point last_sent{};
    std::chrono::steady_clock::time_point retry_after{};
    std::thread thread;
  };
  using Clock = std::chrono::steady_clock;

  void TickLoop();
  void ApplyLoop();
  void PeerLoop(PeerProgress* p);
  // Both return true when there is more to do for this peer right away.
  bool ReplicateTo(std::unique_lock<std::mutex>& lock, PeerProgress* p);
  void RequestVoteFrom(std::unique_lock<std::mutex>& lock, PeerProgress* p);

  // All below require mu_.
  void BecomeFollower(uint64_t term);
  void StartElection();
  void BecomeLeader();
  Status PersistTermVote();
  Status AppendLocked(std::vector<mgmtpb::LogEntry> entries);
  Status TruncateLocked(uint64_t from);
  void RecomputeConfig();
  bool InConfig(const std::string& uuid) const;
  size_t Majority() const;
  void AdvanceCommit();
  bool HasQuorumContact() const;
  void ResetElectionTimer();
  uint64_t LastIndex() const { return snap_index_ + log_.size(); }
  // The term of entry `index`: 0 for 0, beyond the log, or before the compaction point.
  uint64_t TermAt(uint64_t index) const {
    if (index == snap_index_) return snap_term_;
    return index < snap_index_ || index > LastIndex() ? 0 : log_[index - snap_index_ - 1].term();
  }
  const mgmtpb::LogEntry& Entry(uint64_t index) const { return log_[index - snap_index_ - 1]; }
  void MaybeCompactLocked();
  bool InstallSnapshotLocked(const mgmtpb::AppendRequest& req);
  Status WipeLocked();
  Status BootstrapLocked();
  std::string QuorumMessage() const;

  RaftOptions options_;
  RaftTransport* transport_;
  RaftStorage* storage_;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // peers, ticker, appliers, proposers all wait on it
  bool running_ = false;
  RaftRole role_ = RaftRole::kFollower;
  uint64_t term_ = 0;
  std::string voted_for_;
  std::vector<mgmtpb::LogEntry> log_;  // entries snap_index_+1 .. LastIndex()
  uint64_t snap_index_ = 0, snap_term_ = 0;
  bool publish_ = false;               // a snapshot was installed: observers must hear of it
  uint64_t commit_index_ = 0;
  uint64_t applied_ = 0;
  ClusterStateMachine sm_;
  std::string pool_id_;               // pool this node accepts messages for ("" = any, while joining)
  std::string leader_id_, leader_address_;
  std::set<std::string> votes_;
  std::vector<mgmtpb::Peer> config_;
  std::map<std::string, std::unique_ptr<PeerProgress>> peers_;
  std::vector<std::unique_ptr<PeerProgress>> retired_;  // threads to join outside the lock
  std::map<std::string, Clock::time_point> last_heard_;
  std::map<uint64_t, Status> results_;   // apply verdicts of entries a proposer waits for
  std::set<uint64_t> waiting_;
  Clock::time_point election_deadline_;
  Clock::time_point leader_lease_{};   // a follower ignores vote requests until then
  Clock::time_point leader_since_{};
  std::mt19937_64 rng_;
  std::vector<std::function<void(const mgmtpb::ClusterState&)>> observers_;
  uint64_t generation_ = 0;            // bumped by a wipe so stale in-flight replies are ignored

  std::thread tick_thread_;
  std::thread apply_thread_;
};

}  // namespace hafs::mgmtd
