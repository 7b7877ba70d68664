// ProtocolLayer: the bottom of the client stack — the Layer interface over one brick's
// BrickClient. Adds the session to Open and turns Open into a FileRef that releases the
// brick handle when dropped.
// Thread-safety: as Layer. Owns its BrickClient.
#pragma once

#include <memory>

#include "client-fuse/layer.h"
#include "client-fuse/protocol/brick_client.h"

namespace hafs::client {

class ProtocolLayer final : public Layer {
 public:
  explicit ProtocolLayer(BrickClient::Options options);
  BrickClient& client() { return *client_; }
  bool up() const { return client_->up(); }

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

  // Replication primitives (not part of Layer: only replicate and heal use them).
  Future<proto::ErrReply> Inodelk(proto::InodelkRequest req, std::chrono::milliseconds wait);
  Future<proto::ErrReply> Entrylk(proto::EntrylkRequest req, std::chrono::milliseconds wait);
  Future<proto::XattropReply> Xattrop(proto::XattropRequest req);
  Future<proto::HealIndexReply> HealIndex(proto::HealIndexRequest req);

 private:
  std::unique_ptr<BrickClient> client_;
};

}  // namespace hafs::client
