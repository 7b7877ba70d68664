// ReplicateLayer: one replica set (N bricks holding the same data), client-driven like
// Gluster AFR but never silently split-brained. The rules are in docs/replication.md:
//
//  change:  lock on every up brick → pre-op (+1 pending for every brick) → the operation on
//           every brick → post-op (−1 for every brick that succeeded) → unlock. A brick that
//           was down or failed stays accused by the others. Without quorum (majority by
//           default) nothing is changed and the caller gets EROFS.
//  read:    from one up brick that nobody accuses (spread by gfid over the healthy ones);
//           fails over to another on ENOTCONN. Reads work without quorum (degraded, read-only).
//  heal:    on lookup, when the counters show accused bricks, the entry/data/metadata is
//           copied from a source to the sinks under the same locks before the lookup answers;
//           mutual accusation is split-brain and answers EIO, never a silent choice.
//  eager:   data changes (write, truncate, fallocate) keep the lock and the pre-op after the
//           first one ("eager lock", as Gluster AFR): later changes on the inode go out
//           alone, one round trip each, with no pre-op/post-op of their own (the changelog
//           updates of a stream are folded into one). The delayed post-op + unlock is sent
//           when the changes stop for `eager_idle`, on flush/fsync, when another owner
//           waits for the lock (the brick pushes LockContended), or after close, gathered with
//           other closes' releases into one ReleaseLocks call per brick. Changes whose byte ranges
//           overlap are serialised; others share the lock from any number of threads.
//  eager entry: the same for entry changes (create, mkdir, mknod, symlink, link, unlink,
//           rmdir, rename inside one directory): the first one takes the directory's whole
//           entry lock (entrylk, empty name) with its pre-op and keeps both; later ones in that
//           directory go out alone. Released after `eager_idle`, on fsync(dir), on unmount, or
//           when another owner waits (LockContended, domain "entry"). Changes of the same
//           name are serialised. Entry changes spanning two directories use the full
//           transaction (after releasing this client's eager locks on both).
//
// Thread-safety: as Layer. The children are owned elsewhere and must outlive this layer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <unordered_map>
#include <vector>

#include "client-fuse/layer.h"
#include "client-fuse/protocol/protocol_layer.h"

namespace hafs::client {

class ReplicateLayer final : public Layer {
 public:
  struct Options {
    std::vector<int> brick_ids;        // volume-wide index of each child (docs/replication.md)
    std::string quorum_type = "auto";  // auto | fixed | none
    int quorum_count = 0;              // with fixed
    std::chrono::milliseconds lock_wait{10000};
    std::string owner_name = "hafs";   // for logs
    bool eager_lock = true;            // keep data locks across changes (see above)
    std::chrono::milliseconds eager_idle{1000};  // release an eager lock this long after the last change
    bool create_lock = true;           // a create takes the new file's eager data lock with it
    bool close_release_async = true;   // close hands the release to the releaser thread (see CloseEager)
    // Releases queued by close wait this long to go out together: one ReleaseLocks call per
    // brick for all of them (0: each at once, one inodelk per brick each).
    std::chrono::milliseconds close_gather{20};
    bool eager_entry = true;           // keep a directory's entry lock across entry changes (see above)
  };
  ReplicateLayer(std::vector<ProtocolLayer*> children, Options options);
  // Releases every eager lock (post-op + unlock) before returning.
  ~ReplicateLayer() override;

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;
  bool LazyCalls() const override { return true; }  // every call is Deferred

  // Heals one gfid (a file's data+metadata, or a directory's entries and metadata) if its
  // counters say a brick is behind. OK if nothing was to do; EIO on split-brain.
  Status Heal(const Gfid& gfid);
  // Counters of the bricks that answered, by child (empty map = clean), for heal info/tests.
  std::vector<std::map<std::string, int64_t>> PendingOf(const Gfid& gfid);
  size_t heals_done() const { return heals_done_.load(); }
  // Ends this layer's eager lock on gfid if it holds one: waits for the changes in flight,
  // then sends the delayed post-op with the unlock. No-op otherwise. (flush, fsync, tests)
  void FlushEager(const Gfid& gfid);
  // close() of a file: ends the eager lock on gfid without waiting for it. The releaser
  // thread sends the post-op + unlock while close returns (one round trip less per written
  // file), gathered for `close_gather` with other closes' releases into one ReleaseLocks call
  // per brick. Until it is sent, a new change of the file takes the lock back (no release, no
  // new lock) and another owner's wait sends it at once. With close_release_async off
  // (HAFS_CLOSE_RELEASE_SYNC=1) as FlushEager.
  void CloseEager(const Gfid& gfid);
  // Ends this layer's eager entry lock on directory `dir` if it holds one (waits for the
  // changes in flight, then sends the delayed post-op with the unlock). fsync(dir), tests.
  void FlushEagerEntry(const Gfid& dir);
  struct EagerStats {
    size_t acquired = 0;   // eager locks taken
    size_t folded = 0;     // changes that rode on an eager lock taken by an earlier one
    size_t contended = 0;  // releases asked for by another lock owner
    size_t held = 0;       // held right now
    size_t with_create = 0;  // eager locks that came with the file's create
    size_t closed = 0;     // releases handed to the releaser thread by close
    size_t close_batched = 0;  // of those, sent in a ReleaseLocks batch
    size_t close_batches = 0;  // ReleaseLocks rounds (one call per brick each)
    size_t reopened = 0;   // closed locks taken back by a new change before their release
    size_t entry_acquired = 0;   // eager entry locks taken
    size_t entry_folded = 0;     // entry changes that rode on an eager entry lock
    size_t entry_contended = 0;  // eager entry locks released because another owner waited
    size_t entry_held = 0;       // held right now
  };
  EagerStats eager_stats() const;

  enum class Kind { kData, kMetadata, kEntry };

 private:
  friend class Transaction;
  size_t n() const { return children_.size(); }
  std::vector<size_t> UpChildren() const;
  bool HasQuorum(const std::vector<size_t>& ok) const;
  std::string CounterName(Kind kind, size_t child) const;
  // CounterName(kind, j) for every child j, as changelog.h's functions take them.
  std::vector<std::string> CounterNames(Kind kind) const;
  // Children that the counters say are behind (accused) for `kind`; sets *split on mutual
  // accusation. counters[i] empty means the child did not answer.
  std::vector<bool> Accused(const std::vector<std::map<std::string, int64_t>>& counters,
                            const std::vector<bool>& answered, Kind kind, bool* split) const;
  bool AllDataFools(const std::vector<std::map<std::string, int64_t>>& counters,
                    const std::vector<bool>& answered) const;
  // The child to read gfid from (healthy, spread by gfid + `spread`), skipping `tried`.
  int ReadChild(const Gfid& gfid, const std::vector<bool>& tried, uint64_t spread = 0) const;
  void RememberHealth(const Gfid& gfid, const std::vector<bool>& readable);

  template <typename Rep>
  Result<Rep> ReadFromHealthy(const Gfid& gfid, const std::function<Future<Rep>(ProtocolLayer*)>& call,
                              uint64_t spread = 0);
  // The change, sent with a TxnTail (post-op and unlock ride on it).
  template <typename Rep>
  using TxnCall = std::function<Future<Rep>(ProtocolLayer*, const proto::TxnTail&)>;

  // Every lock of a change or a heal is taken this way, so that no two owners can each hold
  // a part of the bricks and wait for the rest (each would wait out lock_wait): all of `up`
  // at once without waiting (the usual case: nobody else holds it); if one is busy, `let_go`
  // of what was got and — with `wait` — queue brick by brick in a fixed order (as Gluster
  // AFR). Waiting makes the brick tell the holder (LockContended), so an eager holder lets
  // go at once. `lock(i, blocking)` locks brick i; `all_or_none` stops queueing at the first
  // brick that fails (a heal needs every up brick).
  struct Locked {
    std::vector<size_t> got;                                   // bricks locked, in order
    std::vector<std::optional<Result<proto::ErrReply>>> res;   // by child: the last answer
  };
  Locked LockInOrder(const std::vector<size_t>& up, const std::function<Future<proto::ErrReply>(size_t, bool)>& lock,
                     const std::function<void(const std::vector<size_t>&)>& let_go, bool wait,
                     bool all_or_none = false);
  template <typename Rep>
  Result<Rep> InodeTxn(const Gfid& gfid, Kind kind, const TxnCall<Rep>& call);
  template <typename Rep>
  Result<Rep> EntryTxn(const std::vector<std::pair<Gfid, std::string>>& entries, const TxnCall<Rep>& call);
  // Counter deltas by child.
  using Deltas = std::vector<std::pair<size_t, int>>;
  // After the operation: settles counters and locks where the tail did not run. `pre_op`:
  // the deltas the pre-op added on every brick of `part` (a brick that failed the change
  // with an answer takes exactly them back).
  template <typename Rep>
  Result<Rep> Conclude(const std::string& what, const std::vector<size_t>& part,
                       std::vector<std::optional<Result<Rep>>>& res, const std::vector<Gfid>& counter_gfids,
                       Kind kind, const Deltas& pre_op,
                       const std::function<void(const std::vector<size_t>&)>& unlock);
  // The pre-op of a change of `kind` on the bricks `asked`: +1 for every brick, and for data
  // and metadata 1 more for each brick not asked (down). Should the client die before the
  // post-op, the bricks that took it then count more for the absent brick than for themselves,
  // so they know it is behind; with +1 it would be a sane brick nobody accuses, and heal's
  // source over their acknowledged writes. (Entries have the conservative merge instead.)
  Deltas PreOp(Kind kind, const std::vector<size_t>& asked) const;
  // A lock asked of `asked` was got on `part` only: the bricks of `part` add what makes their
  // pre-op PreOp(kind, part) (one more round trip, then only).
  void PreOpMissed(const Gfid& target, Kind kind, const std::vector<size_t>& asked, const std::vector<size_t>& part);
  // `deltas` added to the counters of `kind` of every gfid in `gfids`, on the bricks `on`
  // (one xattrop each, in parallel per gfid).
  void AddCounters(const std::vector<size_t>& on, const std::vector<Gfid>& gfids, Kind kind, const Deltas& deltas);

  // ---- eager locking (replicate_layer.cc) ----
  struct Eager {
    enum class State { kAcquiring, kHeld, kReleasing };
    State state = State::kAcquiring;
    uint64_t owner = 0;
    std::vector<size_t> part;              // bricks locked with the pre-op applied
    std::vector<std::string> sessions;     // per child: the brick session holding the lock
    std::vector<bool> bad;                 // per child: a change failed there (stays accused)
    std::vector<bool> refused;             // per child: applied a change refused for want of quorum
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // byte ranges of the changes in flight
    std::vector<std::string> names;        // entry lock: names of the changes in flight
    bool want_release = false;             // asked (contention, quorum lost, close): no new users
    bool close_only = false;               // asked by close alone: a new change may take it back
    bool claimed = false;                  // a thread is releasing it
    std::chrono::steady_clock::time_point last_use;
  };
  static constexpr uint64_t kWholeFile = UINT64_MAX;
  static constexpr size_t kMaxReleaseBatch = 128;  // closes' releases per ReleaseLocks call
  // A data change [start, end) under the eager lock of gfid (taken if not held).
  template <typename Rep>
  Result<Rep> DataTxn(const Gfid& gfid, uint64_t start, uint64_t end, const TxnCall<Rep>& call);
  // Takes the eager lock of `kind` (kData: the file's data lock; kEntry: the directory's
  // entry lock) with its pre-op, on a quorum of bricks; and releases it with the post-op.
  Status AcquireEager(Kind kind, const Gfid& target, Eager& e);
  // AcquireEager for the thread that put `e` (kAcquiring) into the table, with the
  // bookkeeping: out of the table again on failure, else held, counted, and queued for
  // release if another owner asked for it meanwhile.
  Status TakeEager(Kind kind, const Gfid& target, const std::shared_ptr<Eager>& e);
  void ReleaseEager(Kind kind, const Gfid& target);
  // The bricks of e's lock whose changes all succeeded, under the session that took it: they
  // get the post-op.
  std::vector<size_t> Settled(const Eager& e) const;
  // Counter deltas (by child) of the post-op that rides on brick i's unlock when e is released
  // (none unless i is in `settled`).
  Deltas PostOpOn(const Eager& e, size_t i, const std::vector<size_t>& settled) const;
  // Marks e (under eager_mu_) for release at once: contention, lost quorum.
  void WantReleaseNow(Kind kind, const Gfid& target, Eager& e);
  // Claims (under eager_mu_) the closed locks queued longest, up to a batch, and sends their
  // releases (unlocked): one ReleaseLocks per brick.
  std::vector<std::pair<Gfid, std::shared_ptr<Eager>>> ClaimClosed();
  void ReleaseClosed(const std::vector<std::pair<Gfid, std::shared_ptr<Eager>>>& batch);
  // An eager lock request (InodelkRequest for kData, EntrylkRequest for kEntry) with `deltas`
  // on the counters: the pre-op on a lock, the post-op on an unlock.
  template <typename Req>
  void FillEagerLock(Req& r, Kind kind, const Gfid& target, uint64_t owner, proto::LockType type, bool blocking,
                     const Deltas& deltas) const;
  Future<proto::ErrReply> EagerLockCall(Kind kind, const Gfid& target, size_t i, uint64_t owner, proto::LockType type,
                                        bool blocking, const Deltas& deltas);
  // Marks (under eager_mu_) a change under e that reached only `good`, fewer than a quorum: it
  // is refused, and no later change can succeed under this lock.
  void Refused(Kind kind, const Gfid& target, Eager& e, const std::vector<size_t>& good);
  void MarkBad(const Gfid& gfid, const std::vector<size_t>& failed);
  // An entry change of names in directory `dir` under this client's eager entry lock.
  template <typename Rep>
  Result<Rep> EagerEntryTxn(const Gfid& dir, const std::vector<std::string>& names, const TxnCall<Rep>& call);
  bool HoldsEagerEntry(const Gfid& dir) const;
  void OnContended(const proto::LockContended& c);
  void ReleaserLoop();

  // try_only: give up (OK) if another owner holds the data lock instead of waiting for it.
  Status HealFile(const Gfid& gfid, const std::vector<size_t>& up, bool try_only = false);
  Status HealDirectory(const Gfid& gfid, const std::vector<size_t>& up, bool try_only = false);
  Status CopyEntry(size_t source, size_t sink, const Gfid& dir, const proto::DirEntry& e);
  Status RemoveTree(size_t child, const Gfid& dir, const std::string& name, const Gfid& gfid, bool is_dir, int depth);

  std::vector<ProtocolLayer*> children_;
  Options options_;
  uint64_t lock_owner_;
  std::atomic<size_t> heals_done_{0};

  mutable std::mutex health_mu_;
  std::unordered_map<Gfid, std::vector<bool>, GfidHash> readable_;  // per gfid: which children may be read

  mutable std::mutex eager_mu_;
  std::condition_variable eager_cv_;     // an eager lock changed state / a change finished
  std::condition_variable releaser_cv_;  // work for the releaser thread
  std::unordered_map<Gfid, std::shared_ptr<Eager>, GfidHash> eager_;
  std::deque<Gfid> release_q_;           // releases asked for by contention
  std::deque<std::pair<Gfid, std::chrono::steady_clock::time_point>> close_q_;  // releases asked by close, when
  std::unordered_map<Gfid, std::shared_ptr<Eager>, GfidHash> eager_entry_;  // by directory
  std::deque<Gfid> release_entry_q_;     // entry lock releases asked for
  bool stopping_ = false;
  EagerStats stats_;
  std::thread releaser_;
};

}  // namespace hafs::client
