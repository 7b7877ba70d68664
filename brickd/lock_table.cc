#include "brickd/lock_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

namespace hafs::brick {

// The owners of held locks that conflict with `want` (empty: it can be granted).
std::vector<LockOwner> LockTable::RangeHolders(const std::vector<RangeLock>& held, const RangeLock& want) {
  std::vector<LockOwner> in_way;
  for (const auto& h : held) {
    if (h.who == want.who) continue;
    bool overlap = h.start < want.end && want.start < h.end;
    if (overlap && (h.kind == LockKind::kWrite || want.kind == LockKind::kWrite)) in_way.push_back(h.who);
  }
  return in_way;
}

std::vector<LockOwner> LockTable::EntryHolders(const std::vector<EntryLock>& held, const EntryLock& want) {
  std::vector<LockOwner> in_way;
  for (const auto& h : held) {
    if (h.who == want.who) continue;
    bool same = h.name.empty() || want.name.empty() || h.name == want.name;
    if (same && (h.kind == LockKind::kWrite || want.kind == LockKind::kWrite)) in_way.push_back(h.who);
  }
  return in_way;
}

int LockTable::WaitUntilFree(std::unique_lock<std::mutex>& lk, const Gfid& gfid, const std::string& domain,
                             bool blocking, std::chrono::milliseconds timeout,
                             const std::function<std::vector<LockOwner>()>& holders_in_way) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  auto next_notice = Clock::time_point::min();
  std::vector<LockOwner> told;  // holders told so far in this round
  for (;;) {
    std::vector<LockOwner> in_way = holders_in_way();
    if (in_way.empty()) return 0;
    if (!blocking) return EAGAIN;
    auto now = Clock::now();
    if (now >= deadline) return EAGAIN;
    // The holders in the way are told at once, then every 500 ms, and at once when the lock
    // changed hands (a holder not told yet), so that a client keeping the lock eagerly lets it go.
    bool someone_new = false;
    for (const auto& o : in_way) someone_new = someone_new || std::find(told.begin(), told.end(), o) == told.end();
    if ((now >= next_notice || someone_new) && contention_hook_) {
      std::vector<std::string> sessions;
      for (const auto& o : in_way)
        if (std::find(sessions.begin(), sessions.end(), o.session) == sessions.end()) sessions.push_back(o.session);
      told = std::move(in_way);
      auto hook = contention_hook_;
      next_notice = now + std::chrono::milliseconds(500);
      // Outside the lock: the hook takes other locks.
      lk.unlock();
      for (const auto& s : sessions) hook(s, gfid, domain);
      lk.lock();
      continue;
    }
    released_.wait_until(lk, next_notice == Clock::time_point::min() ? deadline : std::min(deadline, next_notice));
  }
}

// Removes the owner's coverage of [start, end), splitting locks that straddle the edges.
void LockTable::RemoveRange(std::vector<RangeLock>& held, const LockOwner& who, uint64_t start, uint64_t end) {
  std::vector<RangeLock> out;
  out.reserve(held.size() + 1);
  for (auto& h : held) {
    if (!(h.who == who) || h.end <= start || end <= h.start) {
      out.push_back(std::move(h));
      continue;
    }
    if (h.start < start) out.push_back(RangeLock{h.who, h.kind, h.start, start});
    if (end < h.end) out.push_back(RangeLock{h.who, h.kind, end, h.end});
  }
  held.swap(out);
}

int LockTable::Inodelk(const Gfid& gfid, const std::string& domain, LockKind kind, uint64_t start, uint64_t length,
                       const LockOwner& who, bool blocking, std::chrono::milliseconds timeout) {
  uint64_t end = (length == 0 || start + length < start) ? kToEnd : start + length;
  if (start >= end) return EINVAL;
  Key key{gfid, domain};
  std::unique_lock lk(mu_);
  if (kind == LockKind::kUnlock) {
    auto it = inode_locks_.find(key);
    if (it != inode_locks_.end()) {
      RemoveRange(it->second, who, start, end);
      if (it->second.empty()) inode_locks_.erase(it);
    }
    released_.notify_all();
    return 0;
  }
  RangeLock want{who, kind, start, end};
  int err = WaitUntilFree(lk, gfid, domain, blocking, timeout, [&] {
    auto it = inode_locks_.find(key);
    return it == inode_locks_.end() ? std::vector<LockOwner>() : RangeHolders(it->second, want);
  });
  if (err != 0) return err;
  auto& held = inode_locks_[key];
  // Re-locking by the same owner replaces its old coverage of the range (POSIX semantics).
  RemoveRange(held, who, start, end);
  held.push_back(want);
  // A downgrade may unblock readers; a new holder must be told by those still waiting.
  if (kind == LockKind::kRead || contention_hook_) released_.notify_all();
  return 0;
}

void LockTable::SetContentionHook(ContentionHook hook) {
  std::lock_guard lk(mu_);
  contention_hook_ = std::move(hook);
}

int LockTable::Entrylk(const Gfid& parent, const std::string& domain, const std::string& name, LockKind kind,
                       const LockOwner& who, bool blocking, std::chrono::milliseconds timeout) {
  Key key{parent, domain};
  std::unique_lock lk(mu_);
  if (kind == LockKind::kUnlock) {
    auto it = entry_locks_.find(key);
    if (it != entry_locks_.end()) {
      auto& v = it->second;
      v.erase(std::remove_if(v.begin(), v.end(), [&](const EntryLock& e) { return e.who == who && e.name == name; }),
              v.end());
      if (v.empty()) entry_locks_.erase(it);
    }
    released_.notify_all();
    return 0;
  }
  EntryLock want{who, kind, name};
  int err = WaitUntilFree(lk, parent, domain, blocking, timeout, [&] {
    auto it = entry_locks_.find(key);
    return it == entry_locks_.end() ? std::vector<LockOwner>() : EntryHolders(it->second, want);
  });
  if (err != 0) return err;
  auto& v = entry_locks_[key];
  v.erase(std::remove_if(v.begin(), v.end(), [&](const EntryLock& e) { return e.who == who && e.name == name; }),
          v.end());
  v.push_back(want);
  // A new holder must be told by those still waiting (as for inodelk).
  if (contention_hook_) released_.notify_all();
  return 0;
}

size_t LockTable::ReleaseSession(const std::string& session) {
  size_t dropped = 0;
  std::lock_guard lk(mu_);
  for (auto it = inode_locks_.begin(); it != inode_locks_.end();) {
    auto& v = it->second;
    size_t before = v.size();
    v.erase(std::remove_if(v.begin(), v.end(), [&](const RangeLock& l) { return l.who.session == session; }), v.end());
    dropped += before - v.size();
    it = v.empty() ? inode_locks_.erase(it) : std::next(it);
  }
  for (auto it = entry_locks_.begin(); it != entry_locks_.end();) {
    auto& v = it->second;
    size_t before = v.size();
    v.erase(std::remove_if(v.begin(), v.end(), [&](const EntryLock& l) { return l.who.session == session; }), v.end());
    dropped += before - v.size();
    it = v.empty() ? entry_locks_.erase(it) : std::next(it);
  }
  released_.notify_all();
  return dropped;
}

size_t LockTable::HeldCount() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& [k, v] : inode_locks_) n += v.size();
  for (auto& [k, v] : entry_locks_) n += v.size();
  return n;
}

std::vector<std::string> LockTable::Describe() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  auto kind = [](LockKind k) { return k == LockKind::kWrite ? "write" : "read"; };
  for (auto& [k, v] : inode_locks_)
    for (auto& l : v)
      out.push_back(fmt::format("inodelk gfid={} domain={} {} [{}, {}) session={} owner={}", k.first.ToString(),
                                k.second, kind(l.kind), l.start, l.end == kToEnd ? std::string("EOF") : std::to_string(l.end),
                                l.who.session, l.who.owner));
  for (auto& [k, v] : entry_locks_)
    for (auto& l : v)
      out.push_back(fmt::format("entrylk parent={} domain={} name='{}' {} session={} owner={}", k.first.ToString(),
                                k.second, l.name, kind(l.kind), l.who.session, l.who.owner));
  return out;
}

}  // namespace hafs::brick
