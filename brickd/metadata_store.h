// MetadataStore: the brick's RocksDB under <brick>/.hafs/db. It holds what the plain
// filesystem cannot: the directory index (every directory's gfid with its parent and name,
// since directories are resolved by walking up to the root; files and symlinks need no
// record, their gfid link in the objects folder is their index), the pending
// changelog counters that replication keeps per gfid ("xattrop"), the heal index (gfids
// whose counters are not all zero), and the brick's identity (volume id, brick id).
//
// Thread-safety: all methods are safe to call concurrently. Xattrop is atomic per gfid
// (a striped mutex + one RocksDB write batch), so concurrent callers never lose a delta.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <optional>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "common/gfid.h"
#include "common/status.h"

namespace hafs::brick {

struct DirRecord {
  Gfid parent;
  std::string name;
};

class MetadataStore {
 public:
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& path);
  ~MetadataStore();

  std::optional<std::string> GetMeta(const std::string& key) const;
  Status PutMeta(const std::string& key, const std::string& value);

  Status PutDir(const Gfid& gfid, const DirRecord& rec);
  // Forgets a gfid: its record, its counters and its heal-index entry.
  Status Forget(const Gfid& gfid);
  // Forgets it if `exists` says it is gone, asked under the gfid's stripe; true if forgotten.
  // (Counters of a gfid the brick no longer has can never be healed: bricks before 2026-12-05
  // could keep some, from an eager lock's release that came after the file's unlink.)
  bool ForgetIfGone(const Gfid& gfid, const std::function<bool()>& exists);
  // Calls fn for every directory record (used once at start to build the in-memory map).
  Status ForEachDir(const std::function<void(const Gfid&, const DirRecord&)>& fn) const;

  // Adds the deltas atomically; counters that reach 0 are deleted. Returns all counters after.
  // With `exists`, only if it holds while the gfid's stripe is held, else ENOENT: Forget takes
  // the stripe too, after the object is gone, so a change that loses the race to an unlink
  // leaves no counters (and no heal-index entry) for a gfid that no longer exists.
  Result<std::map<std::string, int64_t>> Xattrop(const Gfid& gfid, const std::map<std::string, int64_t>& deltas,
                                                 const std::function<bool()>& exists = {});
  std::map<std::string, int64_t> Counters(const Gfid& gfid) const;

  // A file moved away by rebalance: its counters go, and later changelog updates for it
  // (a delayed post-op of a client that wrote before the move) are ignored until Revive.
  void Retire(const Gfid& gfid);
  void Revive(const Gfid& gfid);

  // Gfids with non-zero counters, in order, after `start_after` (null gfid = from the start).
  std::vector<Gfid> HealIndex(const Gfid& start_after, size_t limit, bool* complete) const;
  uint64_t HealPending() const { return heal_pending_.load(); }

 private:
  explicit MetadataStore(rocksdb::DB* db) : db_(db) {}
  std::mutex& StripeFor(const Gfid& g) { return stripes_[g.Hash() % stripes_.size()]; }
  // Forget's work; the caller holds the gfid's stripe.
  Status ForgetLocked(const Gfid& gfid);
  // Xattrop's work; the caller holds the gfid's stripe.
  Result<std::map<std::string, int64_t>> ApplyLocked(const Gfid& gfid, const std::map<std::string, int64_t>& deltas);

  std::unique_ptr<rocksdb::DB> db_;
  std::array<std::mutex, 64> stripes_;
  std::atomic<uint64_t> heal_pending_{0};
  mutable std::mutex retired_mu_;
  std::unordered_set<Gfid, GfidHash> retired_;
  std::atomic<bool> any_retired_{false};
};

}  // namespace hafs::brick
