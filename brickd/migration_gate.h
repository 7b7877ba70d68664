// MigrationGate: how a brick keeps a racing write from being lost while rebalance moves a
// file to another subvolume (docs/rebalance.md). The migrator, through the reserved xattr
// `hafs.migrate`, first *freezes* the file on the source brick (changes are refused with
// EBUSY, which the client's distribute layer retries; the freeze waits for changes already in
// progress to finish, and it expires by itself so a migrator that dies cannot wedge a file),
// copies what is left, then marks the file *gone* (getattr, reads and changes by gfid answer
// ESTALE, so a client that still holds the old location looks the file up again and finds
// the copy, and no changelog pre-op can mark it) and finally unlinks the source name.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/gfid.h"

namespace hafs::brick {

class MigrationGate {
 public:
  using Clock = std::chrono::steady_clock;

  // Held by an operation for as long as it changes (or reads) a file, so a freeze can wait
  // for it. err() is 0 when the operation may go on.
  class Pass {
   public:
    explicit Pass(std::shared_mutex& mu) : lock_(mu) {}
    int err() const { return err_; }

   private:
    friend class MigrationGate;
    std::shared_lock<std::shared_mutex> lock_;
    int err_ = 0;
  };

  // A change of `gfid`: EBUSY while frozen, ESTALE once gone.
  Pass Change(const Gfid& gfid) { return Check(gfid, true); }
  // A read of `gfid`: ESTALE once gone.
  Pass Access(const Gfid& gfid) { return Check(gfid, false); }

  // Freezes `gfid` for `ttl` (waits for changes in progress to finish first).
  void Freeze(const Gfid& gfid, std::chrono::milliseconds ttl) {
    std::unique_lock lk(mu_);
    frozen_[gfid] = Clock::now() + ttl;
    active_ = true;
  }
  void Thaw(const Gfid& gfid) {
    std::unique_lock lk(mu_);
    frozen_.erase(gfid);
  }
  // Marks `gfid` as moved away; refused (ETIMEDOUT) when the freeze has expired, because then
  // a change may have landed here after the migrator's last copy.
  int MarkGone(const Gfid& gfid) {
    std::unique_lock lk(mu_);
    auto it = frozen_.find(gfid);
    if (it == frozen_.end() || it->second < Clock::now()) return ETIMEDOUT;
    frozen_.erase(it);
    if (gone_.insert(gfid).second) order_.push_back(gfid);
    while (order_.size() > kMaxGone) {
      gone_.erase(order_.front());
      order_.pop_front();
    }
    active_ = true;
    return 0;
  }
  // A new file with this gfid (the migration of a file back here) is live again.
  void Revive(const Gfid& gfid) {
    if (!active_) return;
    std::unique_lock lk(mu_);
    gone_.erase(gfid);
  }

 private:
  static constexpr size_t kMaxGone = 1u << 20;

  Pass Check(const Gfid& gfid, bool change) {
    Pass p(mu_);
    if (!active_.load(std::memory_order_acquire)) return p;
    if (gone_.count(gfid)) {
      p.err_ = ESTALE;
    } else if (change) {
      auto it = frozen_.find(gfid);
      if (it != frozen_.end() && it->second >= Clock::now()) p.err_ = EBUSY;
    }
    return p;
  }

  std::shared_mutex mu_;
  std::atomic<bool> active_{false};
  std::unordered_map<Gfid, Clock::time_point, GfidHash> frozen_;
  std::unordered_set<Gfid, GfidHash> gone_;
  std::deque<Gfid> order_;
};

}  // namespace hafs::brick
