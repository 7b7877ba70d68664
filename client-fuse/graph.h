// Graph: builds the client's layer stack for a volume from its volfile —
// protocol (one per brick) → replicate (one per replica set) → distribute (over the sets) —
// and owns it. The top layer is what the FUSE bridge talks to.
// Thread-safety: build and destroy from one thread; the layers themselves are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "client-fuse/caches/content_cache.h"
#include "client-fuse/caches/md_cache.h"
#include "client-fuse/caches/read_ahead.h"
#include "client-fuse/caches/write_behind.h"
#include "client-fuse/distribute/distribute_layer.h"
#include "client-fuse/layer.h"
#include "client-fuse/protocol/protocol_layer.h"
#include "client-fuse/replicate/replicate_layer.h"
#include "client-fuse/volfile.h"

namespace hafs::client {

class Graph {
 public:
  // Connects to every brick and waits up to `connect_timeout` until every replica set has at
  // least one brick up; otherwise fails with ENOTCONN naming each unreachable brick and why.
  // `caches`: the performance layers (write-behind, read-ahead, content and metadata caches)
  // for a FUSE mount; mgmtd's graphs (self-heal, split-brain, rebalance) must see the bricks
  // as they are, so they go without.
  static Result<std::unique_ptr<Graph>> Build(const Volfile& volfile, const std::string& client_name,
                                              std::chrono::milliseconds connect_timeout,
                                              bool caches = false);
  ~Graph();

  Layer& top() { return *top_; }
  const Volfile& volfile() const { return volfile_; }
  // Cache invalidations from any brick; every subscriber gets each one (nullptr removes them
  // all). An Invalidate with neither gfid nor parent means "drop everything": the graph
  // delivers one itself whenever a brick session is lost or (re)established (pushes may have
  // been missed) and when the volume's bricks change. Subscribers run under a lock and must not
  // call back into the graph.
  void OnInvalidate(std::function<void(const proto::Invalidate&)> fn);
  // Follows a new version of the volfile without a remount: bricks that moved (new ports) are
  // reconnected; bricks added or removed (add-brick, remove-brick commit) change the
  // distribute layer's subvolumes, keeping the layers of the sets that stay (open files go
  // on). A different replica count needs a remount, which is logged and reported.
  Status Apply(const Volfile& next);
  DistributeLayer& distribute() { return *distribute_; }
  // The write-behind layer, or null when off (HAFS_WRITE_BEHIND=0): close/fsync flush it.
  WriteBehindLayer* write_behind() { return write_behind_.get(); }
  // The metadata cache, or null when off (HAFS_MD_CACHE=0).
  MdCache* md_cache() { return md_cache_.get(); }
  // The content cache, or null when off (HAFS_CONTENT_CACHE=0).
  ContentCache* content_cache() { return content_cache_.get(); }
  // Read-ahead (caches/read_ahead.h), or null when off (HAFS_READ_AHEAD=0).
  ReadAhead* read_ahead() { return read_ahead_.get(); }
  std::vector<ReplicateLayer*> replica_sets();
  std::vector<ProtocolLayer*> bricks();

 private:
  Graph() = default;
  // The distribute layer's subvolumes for the current bricks_/sets_ and volfile_.
  std::vector<Subvolume> Subvolumes() const;
  Volfile volfile_;
  std::string client_name_;
  // Routes a brick's invalidations and session changes to invalidate_fns_.
  void Hook(ProtocolLayer& brick);
  void DeliverInvalidate(const proto::Invalidate& inv);
  std::mutex invalidate_mu_;
  std::vector<std::function<void(const proto::Invalidate&)>> invalidate_fns_;
  // Layers of bricks and sets that left the volume: kept until unmount, because operations
  // that started before the change may still use them.
  std::vector<std::unique_ptr<ProtocolLayer>> retired_bricks_;
  std::vector<std::unique_ptr<ReplicateLayer>> retired_sets_;
  std::vector<std::unique_ptr<ProtocolLayer>> bricks_;
  std::vector<std::unique_ptr<ReplicateLayer>> sets_;
  std::unique_ptr<DistributeLayer> distribute_;
  Layer* top_ = nullptr;
  std::unique_ptr<MdCache> md_cache_;  // wraps distribute_ (caches/md_cache.h)
  std::unique_ptr<ContentCache> content_cache_;  // wraps md_cache_ (caches/content_cache.h)
  std::unique_ptr<ReadAhead> read_ahead_;  // wraps content_cache_ (caches/read_ahead.h)
  std::unique_ptr<WriteBehindLayer> write_behind_;  // wraps the layer below it (top_)
};

}  // namespace hafs::client
