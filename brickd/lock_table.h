// LockTable: the inode (byte-range) and entry locks that the replicate layer takes on a
// brick. Locks belong to a session (one client connection) and an owner inside it; two
// requests with the same session and owner never conflict. All locks of a session go away
// together when the session ends or its lease expires (ReleaseSession), so a dead client
// cannot wedge a file.
//
// Thread-safety: every method may be called from any thread. Blocking requests wait on a
// condition variable with a deadline; they are woken by any release. A blocked inodelk or
// entrylk tells the holders (ContentionHook).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/gfid.h"

namespace hafs::brick {

enum class LockKind { kUnlock = 0, kRead = 1, kWrite = 2 };

struct LockOwner {
  std::string session;
  uint64_t owner = 0;
  bool operator==(const LockOwner& o) const { return session == o.session && owner == o.owner; }
};

class LockTable {
 public:
  static constexpr uint64_t kToEnd = UINT64_MAX;

  // Locks/unlocks [start, start+length) (length 0 = to the end of file) in `domain` of `gfid`.
  // Returns 0, EAGAIN (conflict, non-blocking or deadline passed) or EINVAL.
  int Inodelk(const Gfid& gfid, const std::string& domain, LockKind kind, uint64_t start, uint64_t length,
              const LockOwner& who, bool blocking, std::chrono::milliseconds timeout);
  // Locks/unlocks entry `name` (empty = the whole directory) of directory `parent` in `domain`.
  int Entrylk(const Gfid& parent, const std::string& domain, const std::string& name, LockKind kind,
              const LockOwner& who, bool blocking, std::chrono::milliseconds timeout);

  // Called (without the table's lock held) with the session of every holder that a blocking
  // inodelk or entrylk waits for (for an entrylk: gfid = the parent, domain = its domain), when it starts waiting and every 500 ms after, so that a holder that
  // keeps locks eagerly can give them up (SessionRegistry pushes LockContended).
  using ContentionHook = std::function<void(const std::string& holder_session, const Gfid& gfid,
                                            const std::string& domain)>;
  void SetContentionHook(ContentionHook hook);

  // Drops every lock the session holds; returns how many.
  size_t ReleaseSession(const std::string& session);
  size_t HeldCount() const;
  // One line per held lock, for state dumps.
  std::vector<std::string> Describe() const;

 private:
  struct RangeLock {
    LockOwner who;
    LockKind kind;
    uint64_t start, end;  // [start, end)
  };
  struct EntryLock {
    LockOwner who;
    LockKind kind;
    std::string name;
  };
  using Key = std::pair<Gfid, std::string>;

  static std::vector<LockOwner> RangeHolders(const std::vector<RangeLock>& held, const RangeLock& want);
  static std::vector<LockOwner> EntryHolders(const std::vector<EntryLock>& held, const EntryLock& want);
  static void RemoveRange(std::vector<RangeLock>& held, const LockOwner& who, uint64_t start, uint64_t end);
  // Waits with mu_ held (through `lk`) until holders_in_way() is empty: 0, or EAGAIN when not
  // blocking or past the deadline. Tells the holders in the way (contention_hook_) at once,
  // every 500 ms, and when the lock changed hands.
  int WaitUntilFree(std::unique_lock<std::mutex>& lk, const Gfid& gfid, const std::string& domain, bool blocking,
                    std::chrono::milliseconds timeout, const std::function<std::vector<LockOwner>()>& holders_in_way);

  mutable std::mutex mu_;
  std::condition_variable released_;
  ContentionHook contention_hook_;  // guarded by mu_; copied before calling
  std::map<Key, std::vector<RangeLock>> inode_locks_;
  std::map<Key, std::vector<EntryLock>> entry_locks_;
};

}  // namespace hafs::brick
