// DistributeLayer: spreads files over subvolumes (replica sets or single bricks) by xxHash32
// of the file name and the parent directory's layout (client-fuse/distribute/layout.h): each
// directory carries its hash ranges in the reserved brick xattr `hafs.layout`, written by
// mkdir and rewritten by rebalance (docs/rebalance.md). A directory without one (volumes from
// before layouts, or the root before its first rebalance) uses equal ranges over today's
// subvolumes. Directories exist on every subvolume with the same gfid; readdir merges them;
// a name not on its hashed subvolume (renamed, placed by an older layout, being migrated) is
// looked up on every subvolume; statfs is the sum.
//
// The subvolume list can change under a live mount (add-brick, remove-brick): SetSubvolumes
// swaps it atomically; operations in flight finish on the list they started with.
// Rebalance moves a file with the brick's migration gate (brickd/migration_gate.h): a change
// refused with EBUSY is retried, ESTALE/ENOENT from where a gfid used to be makes the layer
// look for it on every other subvolume and retry there.
// Thread-safety: as Layer. Children must outlive it (the graph keeps retired ones).
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client-fuse/distribute/layout.h"
#include "client-fuse/layer.h"
#include "common/work_pool.h"

namespace hafs::client {

struct Subvolume {
  Layer* layer = nullptr;
  std::string id;        // its first brick, host:/path
  bool active = true;    // false while being removed: new directories give it no range
};

// Names rebalance gives a file while it copies it (hidden from readdir).
inline constexpr std::string_view kMigrationTempPrefix = ".hafs-migrate.";
// The mode of a file that is still being copied by rebalance (like Gluster's linkto files).
inline constexpr uint32_t kMigratingMode = 0100000 | 01000;

class DistributeLayer final : public Layer {
 public:
  explicit DistributeLayer(std::vector<Subvolume> subvolumes);
  explicit DistributeLayer(std::vector<Layer*> subvolumes);  // ids "0", "1", … (tests)

  void SetSubvolumes(std::vector<Subvolume> subvolumes);
  std::vector<Subvolume> subvolumes() const;
  // The layout of directory `dir` (read from the bricks, cached for a second).
  Layout DirLayout(const Gfid& dir);
  void ForgetLayout(const Gfid& dir);
  // The subvolume a name in `parent` hashes to.
  size_t HashedSubvolume(const Gfid& parent, std::string_view name);
  static uint32_t NameHash(std::string_view name) { return Layout::NameHash(name); }

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;

 private:
  struct Topology {
    std::vector<Subvolume> s;
    uint64_t gen = 0;
    bool lazy = false;  // a subvolume's calls run only when waited for (Layer::LazyCalls)
    size_t n() const { return s.size(); }
    int IndexOf(const std::string& id) const;
    std::vector<std::string> ActiveIds() const;
  };
  using Topo = std::shared_ptr<const Topology>;
  static constexpr int kAll = -1;  // directories live on every subvolume

  Topo topo() const;
  void Remember(const Topology& t, const Gfid& gfid, int subvol);
  void Forget(const Gfid& gfid);
  // Where a gfid lives (asks every subvolume on a miss, skipping `exclude`); kAll for directories.
  Result<int> Locate(const Topology& t, const Gfid& gfid, const std::set<int>& exclude = {});
  // Which subvolume holds `name` in `parent` (hashed first, then everywhere).
  Result<std::pair<size_t, proto::EntryReply>> FindEntry(const Topology& t, const Gfid& parent, const std::string& name,
                                                         uint32_t want_data = 0);
  size_t Hashed(const Topology& t, const Gfid& parent, std::string_view name);
  Layout LayoutFor(const Topology& t, const Gfid& dir);
  // Runs `call` on the subvolume holding file `gfid`, following a migration (EBUSY: wait and
  // retry; ESTALE/ENOENT: look elsewhere).
  template <typename Rep, typename Call>
  Result<Rep> OnFile(const Topology& t, const Gfid& gfid, Call call);
  template <typename Rep, typename Call>
  Result<Rep> Placed(const Topology& t, const Gfid& parent, const std::string& name, Call call);

  // The threads that wait for several subvolumes at once when they are replica sets (their
  // calls run on the waiting thread: Layer::LazyCalls); nullptr when they are bricks.
  WorkPool* Pool(const Topology& t);

  std::once_flag pool_once_;
  std::unique_ptr<WorkPool> pool_;
  mutable std::mutex mu_;
  Topo topo_;
  struct Where {
    uint64_t gen;
    int subvol;
  };
  std::unordered_map<Gfid, Where, GfidHash> where_;
  struct CachedLayout {
    uint64_t gen;
    std::chrono::steady_clock::time_point fetched;
    Layout layout;
  };
  std::unordered_map<Gfid, CachedLayout, GfidHash> layouts_;
};

}  // namespace hafs::client
