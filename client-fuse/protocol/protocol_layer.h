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

  // A write whose payload `data` is shared, not copied, by several calls (replicate sends one
  // write to every brick of its set): req.data is ignored; the request is serialised without
  // it and `data` goes on the wire as its own slice (field 3), referenced until gRPC has sent
  // it. Write(req) takes the same path. HAFS_SHARED_WRITE=0: the payload is copied into each
  // request and serialised by gRPC, as before (for comparison).
  Future<proto::WriteReply> WriteShared(proto::WriteRequest req, std::shared_ptr<const std::string> data);
  static bool shared_write();

  // Replication primitives (not part of Layer: only replicate and heal use them).
  Future<proto::ErrReply> Inodelk(proto::InodelkRequest req, std::chrono::milliseconds wait);
  Future<proto::ErrReply> Entrylk(proto::EntrylkRequest req, std::chrono::milliseconds wait);
  Future<proto::XattropReply> Xattrop(proto::XattropRequest req);
  // Several UNLOCKs (with their post-ops) in one call, under this brick's session.
  Future<proto::ReleaseLocksReply> ReleaseLocks(proto::ReleaseLocksRequest req);
  Future<proto::HealIndexReply> HealIndex(proto::HealIndexRequest req);
  // Every entry of a directory on this brick, with attributes (readdirplus, all pages), for
  // heal crawls and entry heal.
  Result<std::vector<proto::DirEntry>> ListDirectory(const Gfid& dir);

 private:
  std::unique_ptr<BrickClient> client_;
};

}  // namespace hafs::client
