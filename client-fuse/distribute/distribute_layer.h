// DistributeLayer: spreads files over subvolumes (replica sets or single bricks) by a hash
// of the file name (xxHash32, split into equal 32-bit ranges in subvolume order — the same
// layout for every directory until rebalance arrives with the management daemon).
// Directories exist on every subvolume with the same gfid; readdir merges them; a file
// renamed to a name that hashes elsewhere stays where it is and is found by a lookup on
// every subvolume when the hashed one does not have it; statfs is the sum.
// Thread-safety: as Layer. Children must outlive it.
#pragma once

#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client-fuse/layer.h"

namespace hafs::client {

class DistributeLayer final : public Layer {
 public:
  explicit DistributeLayer(std::vector<Layer*> subvolumes);

  // The subvolume a name hashes to.
  size_t HashedSubvolume(std::string_view name) const;
  static uint32_t NameHash(std::string_view name);

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;

 private:
  static constexpr int kAll = -1;  // directories live on every subvolume
  size_t n() const { return subvols_.size(); }
  void Remember(const Gfid& gfid, int subvol);
  // Where a gfid lives (asks every subvolume on a miss); kAll for directories.
  Result<int> Locate(const Gfid& gfid);
  // Which subvolume holds `name` in `parent` (hashed first, then everywhere).
  Result<std::pair<size_t, proto::EntryReply>> FindEntry(const Gfid& parent, const std::string& name);
  Layer* ReadTarget(int where) const { return subvols_[where == kAll ? 0 : where]; }

  std::vector<Layer*> subvols_;
  std::mutex mu_;
  std::unordered_map<Gfid, int, GfidHash> where_;
};

}  // namespace hafs::client
