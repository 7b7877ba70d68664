#include "client-fuse/graph.h"

#include <thread>

#include "common/log.h"

namespace hafs::client {

Result<std::unique_ptr<Graph>> Graph::Build(const Volfile& volfile, const std::string& client_name,
                                            std::chrono::milliseconds connect_timeout) {
  std::unique_ptr<Graph> g(new Graph());
  g->volfile_ = volfile;
  for (const auto& b : volfile.bricks) {
    BrickClient::Options o;
    o.address = b;
    o.volume_id = volfile.id;
    o.client_name = client_name;
    o.ping_timeout = std::chrono::milliseconds(volfile.ping_timeout_ms());
    g->bricks_.push_back(std::make_unique<ProtocolLayer>(o));
  }
  for (auto& b : g->bricks_) b->client().Start();

  std::vector<Layer*> subvols;
  int r = volfile.replica;
  for (size_t s = 0; s * r < g->bricks_.size(); ++s) {
    if (r == 1) {
      subvols.push_back(g->bricks_[s].get());
      continue;
    }
    std::vector<ProtocolLayer*> children;
    ReplicateLayer::Options o;
    for (int k = 0; k < r; ++k) {
      children.push_back(g->bricks_[s * r + k].get());
      o.brick_ids.push_back(static_cast<int>(s * r + k));
    }
    o.quorum_type = volfile.quorum_type();
    o.quorum_count = volfile.quorum_count();
    o.owner_name = volfile.name;
    g->sets_.push_back(std::make_unique<ReplicateLayer>(children, o));
    subvols.push_back(g->sets_.back().get());
  }
  if (subvols.size() == 1) {
    g->top_ = subvols[0];
  } else {
    g->distribute_ = std::make_unique<DistributeLayer>(subvols);
    g->top_ = g->distribute_.get();
  }

  // Every replica set needs one brick up to mount; a set with none gives a clear error.
  auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  for (;;) {
    std::string missing;
    for (size_t s = 0; s * r < g->bricks_.size(); ++s) {
      bool any = false;
      for (int k = 0; k < r; ++k) any = any || g->bricks_[s * r + k]->up();
      if (any) continue;
      for (int k = 0; k < r; ++k) {
        auto& c = g->bricks_[s * r + k]->client();
        std::string why = c.last_error();
        missing += fmt::format("{}{} ({})", missing.empty() ? "" : ", ", c.address().Endpoint(),
                               why.empty() ? "no answer" : why);
      }
    }
    if (missing.empty()) break;
    if (std::chrono::steady_clock::now() > deadline)
      return Status(ENOTCONN, fmt::format("volume {}: no brick reachable in a replica set: {}", volfile.name, missing));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Give the other bricks a moment so the first writes see the whole set.
  for (auto& b : g->bricks_) b->client().WaitUp(std::chrono::milliseconds(300));
  return g;
}

Graph::~Graph() {
  top_ = nullptr;
  distribute_.reset();
  sets_.clear();
  bricks_.clear();
}

void Graph::OnInvalidate(std::function<void(const proto::Invalidate&)> fn) {
  for (auto& b : bricks_) b->client().OnInvalidate(fn);
}

Status Graph::Apply(const Volfile& next) {
  if (next.id != volfile_.id) return Status(EINVAL, "the volfile is for another volume");
  bool same_shape = next.type == volfile_.type && next.replica == volfile_.replica &&
                    next.bricks.size() == volfile_.bricks.size();
  for (size_t i = 0; same_shape && i < next.bricks.size(); ++i)
    same_shape = next.bricks[i].host == volfile_.bricks[i].host && next.bricks[i].path == volfile_.bricks[i].path;
  if (!same_shape) {
    HAFS_LOG_WARN("volume {} changed its bricks or type; remount to use the new layout", next.name);
    return Status(EOPNOTSUPP, "layout changes need a remount");
  }
  for (size_t i = 0; i < next.bricks.size(); ++i) bricks_[i]->client().SetAddress(next.bricks[i]);
  volfile_ = next;
  return Status::Ok();
}

std::vector<ReplicateLayer*> Graph::replica_sets() {
  std::vector<ReplicateLayer*> v;
  for (auto& s : sets_) v.push_back(s.get());
  return v;
}

std::vector<ProtocolLayer*> Graph::bricks() {
  std::vector<ProtocolLayer*> v;
  for (auto& b : bricks_) v.push_back(b.get());
  return v;
}

}  // namespace hafs::client
