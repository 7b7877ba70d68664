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

  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override;
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override;
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override;
  Future<proto::EntryReply> Mkdir(proto::MkdirRequest req) override;
  Future<proto::EntryReply> Create(proto::CreateRequest req) override;
  Future<proto::EntryReply> Mknod(proto::MknodRequest req) override;
  Future<proto::EntryReply> Symlink(proto::SymlinkRequest req) override;
  Future<proto::ReadlinkReply> Readlink(proto::GfidRequest req) override;
  Future<proto::EntryReply> Link(proto::LinkRequest req) override;
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override;
  Future<proto::EntryReply> Rmdir(proto::NameRequest req) override;
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override;
  // Returns the whole merged directory in one reply (eof set); the FUSE bridge keeps it per
  // open directory handle, which makes offsets stable across subvolumes.
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override;
  Future<proto::ReadReply> Read(proto::ReadRequest req) override;
  Future<proto::WriteReply> Write(proto::WriteRequest req) override;
  Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) override;
  Future<proto::ErrReply> Fsync(proto::FsyncRequest req) override;
  Future<proto::StatfsReply> Statfs(proto::GfidRequest req) override;
  Future<proto::ErrReply> Setxattr(proto::SetxattrRequest req) override;
  Future<proto::XattrReply> Getxattr(proto::GetxattrRequest req) override;
  Future<proto::ListxattrReply> Listxattr(proto::GfidRequest req) override;
  Future<proto::ErrReply> Removexattr(proto::RemovexattrRequest req) override;
  Future<proto::ErrReply> Access(proto::AccessRequest req) override;
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
