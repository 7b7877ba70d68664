// ForwardingLayer: the base of the client's cache layers (write_behind, read_ahead,
// content_cache, md_cache). It forwards every Layer operation unchanged to the layer below,
// so a cache overrides only the operations it handles, and it gives every cache the same
// invalidation entry point (OnInvalidate) that the graph calls for a brick's push.
// Thread-safety: as Layer; the layer below must outlive this one.
#pragma once

#include <memory>
#include <utility>

#include "client-fuse/layer.h"

namespace hafs::client {

class ForwardingLayer : public Layer {
 public:
  explicit ForwardingLayer(Layer& below) : below_(below) {}

#define HAFS_FORWARD_OP(Method, Req, Rep) \
  Future<proto::Rep> Method(proto::Req req) override { return below_.Method(std::move(req)); }
  HAFS_LAYER_OPS(HAFS_FORWARD_OP)
#undef HAFS_FORWARD_OP
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override { return below_.Open(gfid); }

  // A brick's push: the gfid (and/or the entry parent+name) changed elsewhere. Neither gfid
  // nor parent means "drop everything" (a session was lost or re-established, the layout
  // changed): DropAll(). The default keeps nothing, so drops nothing.
  virtual void OnInvalidate(const proto::Invalidate& inv) {
    if (inv.gfid().empty() && inv.parent().empty()) DropAll();
  }
  virtual void DropAll() {}

 protected:
  static bool IsDropAll(const proto::Invalidate& inv) { return inv.gfid().empty() && inv.parent().empty(); }
  Layer& below_;
};

}  // namespace hafs::client
