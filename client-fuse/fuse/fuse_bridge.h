// FuseBridge: the libfuse low-level API on top of the client's layer stack. Runs under
// libfuse's multi-threaded loop with no global lock on the hot path: requests run in
// parallel on the loop's worker threads; the inode table is sharded.
//
// - FUSE node ids map to gfids (root = 1 = gfid 00…01) with the kernel's lookup counts.
// - Attributes and entries are cached by the kernel for attribute-timeout/entry-timeout
//   seconds; invalidations pushed by the bricks (another client changed a file) are passed
//   to the kernel at once by a notifier thread, so two mounts never serve stale content for
//   longer than the time an invalidation takes to arrive, bounded by the timeouts.
// - Open directories are read once at the first readdir and served from that snapshot, so
//   offsets are stable even across subvolumes.
// Thread-safety: all callbacks may run concurrently.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "client-fuse/fuse/dir_prefetch.h"
#include "client-fuse/graph.h"

namespace hafs::client {

class FuseBridge {
 public:
  struct Options {
    double attr_timeout = 1.0;
    double entry_timeout = 1.0;
    double negative_timeout = 0.0;
    bool read_only = false;
    uint32_t max_write = 1u << 20;
    // Quick read: a lookup asks for the content of a regular file up to this size, which the
    // content cache layer keeps (0 = off; HAFS_QUICK_READ=0; nothing without that layer).
    uint32_t quick_read_max = 64u << 10;
    // Answer a directory's getattr from the attributes its last entry change returned
    // (see ParentPut; HAFS_PARENT_ATTR=0 turns it off).
    bool parent_attr = true;
    // No-open (docs/client.md, "Serving files: no-open"): OPEN is answered ENOSYS once, after
    // which the kernel sends no OPEN and no RELEASE for regular files of this mount (fh = 0,
    // pages kept across opens). Mount option `no-open[=on|off]`, on by default for read-only
    // mounts (main.cc); HAFS_NO_OPEN=0 turns it off (and =1 on) whatever the mount.
    bool no_open = false;
    // FLUSH answered ENOSYS once: close() sends nothing either. Only where close has nothing
    // to report or wait for: read-only mounts (no write-behind error, no eager lock to let
    // go), and no-open with flush-behind (close answers at once anyway; a write error reaches
    // the next write or fsync, the eager lock goes after eager_idle or on contention).
    bool no_flush = false;
    // Flush-behind (mount option, docs/client.md "Write-behind"): close answers at once with
    // an error already latched (or 0) and leaves the file's pending writes in flight; the
    // release waits for them and lets the eager lock go.
    bool flush_behind = false;
    // Readdir prefetch (mount option readdir-prefetch=N, docs/client.md): threads that read
    // listed directories' subdirectories ahead of a walk; 0 = off.
    size_t readdir_prefetch = 0;
  };
  // Requests the kernel sent, by kind, and the time hafs-fuse took to answer them (debug
  // counters; getxattr "trusted.hafs.fuse-stats" on the mount's root answers them as text,
  // one "name count" a line: "create 1000" and "create-us 152000", the microseconds from the
  // request's arrival to the end of its callback, summed).
  enum Op { kLookup, kGetattr, kOpen, kRelease, kFlush, kRead, kWrite, kCreate, kOpendir, kReaddir, kReleasedir,
            kOther, kNumOps };
  class OpClock {
   public:
    OpClock(FuseBridge* b, Op op) : b_(b), op_(op), start_(std::chrono::steady_clock::now()) {}
    OpClock(const OpClock&) = delete;
    OpClock& operator=(const OpClock&) = delete;
    ~OpClock() {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_);
      b_->micros_[op_].fetch_add(static_cast<uint64_t>(us.count()), std::memory_order_relaxed);
    }

   private:
    FuseBridge* b_;
    Op op_;
    std::chrono::steady_clock::time_point start_;
  };
  // Counts a request; the clock it returns adds the request's time when it goes out of scope.
  [[nodiscard]] OpClock Time(Op op) {
    counts_[op].fetch_add(1, std::memory_order_relaxed);
    return OpClock(this, op);
  }
  std::string StatsText() const;
  FuseBridge(Graph& graph, Options options);
  ~FuseBridge();

  static const fuse_lowlevel_ops& Ops();
  // Must be called once the session exists, before the loop runs (for invalidations).
  void AttachSession(fuse_session* se);

  // Inode table.
  fuse_ino_t NodeFor(const Gfid& gfid, bool count_lookup);
  bool GfidFor(fuse_ino_t ino, Gfid* out) const;
  void Forget(fuse_ino_t ino, uint64_t nlookup);

  // Open files: counted here, and pinned on the bricks (Layer::Open) only when this client is
  // about to unlink or rename over one of its own open files, so that its data stays readable
  // until the last close (what NFS clients do by silly-rename) without an RPC on every open.
  void NoteOpen(const Gfid& gfid);
  void NoteRelease(const Gfid& gfid);
  // Under no-open the bridge cannot count opens: it pins every file it unlinks or renames
  // over that the kernel still holds (a node in the table) and lets go when the kernel
  // forgets the node — which it does at once for an unlinked file nobody has open, and after
  // the last close otherwise.
  void PinIfOpen(const Gfid& parent, const std::string& name);
  void DropForgetPin(const Gfid& gfid);

  // Drops the content cache's copy of a file this client is about to change (open for
  // writing, write, setattr, fallocate), at once, even while write-behind holds the change.
  void QuickDrop(const Gfid& gfid);

  // A directory's attributes as the bricks returned them with an entry change in it (the
  // kernel drops its cached ones after every create/mkdir/unlink and asks again at the next
  // permission check): answered from here within attr_timeout, dropped on setattr and on
  // invalidations from the bricks. With md-cache on, only unlink/rmdir parents are kept here
  // (new_entry = false): md-cache keeps the others itself.
  void ParentPut(const proto::Attr& a, bool new_entry);
  bool ParentGet(const Gfid& gfid, proto::Attr* out);
  void ParentDrop(const Gfid& gfid);

  Graph& graph() { return graph_; }
  const Options& options() const { return options_; }
  // The readdir prefetcher (nullptr when off).
  DirPrefetcher* dir_prefetch() { return dir_prefetch_.get(); }

 private:
  struct Node {
    Gfid gfid;
    uint64_t nlookup = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<fuse_ino_t, Node> by_ino;
    std::unordered_map<Gfid, fuse_ino_t, GfidHash> by_gfid;
  };
  Shard& ShardOfGfid(const Gfid& g) { return shards_[g.Hash() % shards_.size()]; }
  // Locks a gfid's shard and an ino's shard (one lock when they are the same) without
  // deadlocking: the shards serve both roles, so "gfid shard first" let two threads each
  // hold the shard the other wanted (a parallel `ls` of many directories hung hafs-fuse).
  static std::pair<std::unique_lock<std::mutex>, std::unique_lock<std::mutex>> LockBoth(Shard& gs, Shard& is);
  const Shard& ShardOfIno(fuse_ino_t ino) const { return shards_[ino % shards_.size()]; }
  Shard& ShardOfIno(fuse_ino_t ino) { return shards_[ino % shards_.size()]; }
  void NotifyLoop();

  Graph& graph_;
  Options options_;
  std::unique_ptr<DirPrefetcher> dir_prefetch_;  // stopped first in the destructor
  std::array<std::atomic<uint64_t>, kNumOps> counts_{};
  std::array<std::atomic<uint64_t>, kNumOps> micros_{};
  std::array<Shard, 64> shards_;
  std::atomic<uint64_t> next_ino_{2};
  std::mutex ino_alloc_mu_;

  struct OpenState {
    int count = 0;
    std::shared_ptr<FileRef> pin;
  };
  std::mutex open_mu_;
  std::unordered_map<Gfid, OpenState, GfidHash> open_;
  std::unordered_map<Gfid, std::shared_ptr<FileRef>, GfidHash> forget_pins_;  // no-open; under open_mu_

  struct ParentAttr {
    proto::Attr attr;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex parent_mu_;
  std::unordered_map<Gfid, ParentAttr, GfidHash> parent_attr_;

  fuse_session* se_ = nullptr;
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::deque<proto::Invalidate> notify_q_;
  bool stopping_ = false;
  std::thread notifier_;
};

}  // namespace hafs::client
