// ProtocolLayer: the bottom of the client stack — the Layer interface over one brick's
// BrickClient. Adds the session to Open and turns Open into a FileRef that releases the
// brick handle when dropped.
// Thread-safety: as Layer. Owns its BrickClient.
#pragma once

#include <memory>
#include <vector>

#include "client-fuse/layer.h"
#include "client-fuse/protocol/brick_client.h"

namespace hafs::client {

class ProtocolLayer final : public Layer {
 public:
  explicit ProtocolLayer(BrickClient::Options options);
  BrickClient& client() { return *client_; }
  bool up() const { return client_->up(); }

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;

  // Replication primitives (not part of Layer: only replicate and heal use them).
  Future<proto::ErrReply> Inodelk(proto::InodelkRequest req, std::chrono::milliseconds wait);
  Future<proto::ErrReply> Entrylk(proto::EntrylkRequest req, std::chrono::milliseconds wait);
  Future<proto::XattropReply> Xattrop(proto::XattropRequest req);
  Future<proto::HealIndexReply> HealIndex(proto::HealIndexRequest req);
  // Every entry of a directory on this brick, with attributes (readdirplus, all pages), for
  // heal crawls and entry heal.
  Result<std::vector<proto::DirEntry>> ListDirectory(const Gfid& dir);

 private:
  std::unique_ptr<BrickClient> client_;
};

}  // namespace hafs::client
