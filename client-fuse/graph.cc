#include "client-fuse/graph.h"

#include <map>
#include <thread>

#include "common/log.h"

namespace hafs::client {

namespace {

std::unique_ptr<ProtocolLayer> MakeBrick(const Volfile& volfile, const BrickAddress& b, const std::string& client_name) {
  BrickClient::Options o;
  o.address = b;
  o.volume_id = volfile.id;
  o.client_name = client_name;
  o.ping_timeout = std::chrono::milliseconds(volfile.ping_timeout_ms());
  return std::make_unique<ProtocolLayer>(o);
}

std::unique_ptr<ReplicateLayer> MakeSet(const Volfile& volfile, const std::vector<ProtocolLayer*>& children,
                                        size_t first_brick) {
  ReplicateLayer::Options o;
  for (size_t k = 0; k < children.size(); ++k) o.brick_ids.push_back(static_cast<int>(first_brick + k));
  o.quorum_type = volfile.quorum_type();
  o.quorum_count = volfile.quorum_count();
  o.owner_name = volfile.name;
  return std::make_unique<ReplicateLayer>(children, o);
}

}  // namespace

std::vector<Subvolume> Graph::Subvolumes() const {
  std::vector<Subvolume> out;
  size_t r = static_cast<size_t>(volfile_.replica);
  for (size_t s = 0; s * r < bricks_.size(); ++s) {
    Subvolume sv;
    sv.layer = r == 1 ? static_cast<Layer*>(bricks_[s].get()) : static_cast<Layer*>(sets_[s].get());
    sv.id = volfile_.bricks[s * r].Name();
    for (size_t k = 0; k < r; ++k)
      for (const auto& gone : volfile_.removing)
        if (gone == volfile_.bricks[s * r + k].Name()) sv.active = false;
    out.push_back(sv);
  }
  return out;
}

Result<std::unique_ptr<Graph>> Graph::Build(const Volfile& volfile, const std::string& client_name,
                                            std::chrono::milliseconds connect_timeout, bool caches) {
  std::unique_ptr<Graph> g(new Graph());
  g->volfile_ = volfile;
  g->client_name_ = client_name;
  for (const auto& b : volfile.bricks) g->bricks_.push_back(MakeBrick(volfile, b, client_name));
  for (auto& b : g->bricks_) b->client().Start();

  int r = volfile.replica;
  if (r > 1) {
    for (size_t s = 0; s * r < g->bricks_.size(); ++s) {
      std::vector<ProtocolLayer*> children;
      for (int k = 0; k < r; ++k) children.push_back(g->bricks_[s * r + k].get());
      g->sets_.push_back(MakeSet(volfile, children, s * r));
    }
  }
  // Always a distribute layer on top (it passes straight through over one subvolume), so
  // that add-brick can give a mounted volume more subvolumes.
  g->distribute_ = std::make_unique<DistributeLayer>(g->Subvolumes());
  g->top_ = g->distribute_.get();
  // Metadata cache over distribute (caches/md_cache.h; HAFS_MD_CACHE=0: off).
  if (caches && MdCache::EnabledByEnv()) g->top_ = (g->md_cache_ = std::make_unique<MdCache>(*g->top_, MdCache::Options{})).get();

  // Content cache over md_cache (caches/content_cache.h; HAFS_CONTENT_CACHE=0: off).
  if (caches && ContentCache::EnabledByEnv()) g->top_ = (g->content_cache_ = std::make_unique<ContentCache>(*g->top_, ContentCache::Options{})).get();

  // Read-ahead below write-behind (caches/read_ahead.h; HAFS_READ_AHEAD=0: off).
  if (caches && ReadAhead::EnabledByEnv()) g->top_ = (g->read_ahead_ = std::make_unique<ReadAhead>(*g->top_, ReadAhead::Options{})).get();

  // Write-behind on top of the stack (see caches/write_behind.h; HAFS_WRITE_BEHIND=0: off).
  if (caches && WriteBehindLayer::EnabledByEnv()) g->top_ = (g->write_behind_ = std::make_unique<WriteBehindLayer>(*g->top_, WriteBehindLayer::Options{})).get();
  for (auto& b : g->bricks_) g->Hook(*b);  // after the caches exist: they get every push

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
  write_behind_.reset();  // sends its pending writes through the layers below
  // Read-ahead's prefetches in flight end before the lock is taken: a brick's thread that
  // would complete one may be delivering a push (which takes the lock) meanwhile.
  if (read_ahead_) read_ahead_->Shutdown();
  {
    std::lock_guard lk(invalidate_mu_);  // no push reaches the caches while they go
    invalidate_fns_.clear();
    read_ahead_.reset();
    content_cache_.reset();
    md_cache_.reset();
  }
  top_ = nullptr;
  distribute_.reset();
  sets_.clear();
  retired_sets_.clear();
  bricks_.clear();
  retired_bricks_.clear();
}

void Graph::OnInvalidate(std::function<void(const proto::Invalidate&)> fn) {
  std::lock_guard lk(invalidate_mu_);
  if (fn) invalidate_fns_.push_back(std::move(fn));
  else invalidate_fns_.clear();
}

void Graph::Hook(ProtocolLayer& brick) {
  brick.client().OnInvalidate([this](const proto::Invalidate& inv) { DeliverInvalidate(inv); });
  // Session lost or (re)established: pushes may have been missed meanwhile.
  brick.client().OnStateChange([this](bool) { DeliverInvalidate(proto::Invalidate()); });
}

void Graph::DeliverInvalidate(const proto::Invalidate& inv) {
  // Under the lock: a subscriber removed (OnInvalidate(nullptr)) gets nothing afterwards.
  std::lock_guard lk(invalidate_mu_);
  if (md_cache_) md_cache_->OnInvalidate(inv);
  if (content_cache_) content_cache_->OnInvalidate(inv);
  if (read_ahead_) read_ahead_->OnInvalidate(inv);
  for (auto& fn : invalidate_fns_) fn(inv);
}

Status Graph::Apply(const Volfile& next) {
  if (next.id != volfile_.id) return Status(EINVAL, "the volfile is for another volume");
  if (next.replica != volfile_.replica) {
    HAFS_LOG_WARN("volume {} changed its replica count; remount to use it", next.name);
    return Status(EOPNOTSUPP, "a replica count change needs a remount");
  }
  bool same_bricks = next.bricks.size() == volfile_.bricks.size();
  for (size_t i = 0; same_bricks && i < next.bricks.size(); ++i)
    same_bricks = next.bricks[i].Name() == volfile_.bricks[i].Name();
  if (same_bricks) {
    for (size_t i = 0; i < next.bricks.size(); ++i) bricks_[i]->client().SetAddress(next.bricks[i]);
    bool removing_changed = next.removing != volfile_.removing;
    volfile_ = next;
    if (removing_changed) distribute_->SetSubvolumes(Subvolumes());
    if (removing_changed) DeliverInvalidate(proto::Invalidate());  // placement changes
    return Status::Ok();
  }
  // Bricks added or removed: keep the layers of bricks (and whole replica sets) that stay.
  std::map<std::string, std::unique_ptr<ProtocolLayer>> old;
  for (size_t i = 0; i < bricks_.size(); ++i) old[volfile_.bricks[i].Name()] = std::move(bricks_[i]);
  std::vector<std::unique_ptr<ProtocolLayer>> bricks;
  std::vector<ProtocolLayer*> fresh;
  for (const auto& b : next.bricks) {
    auto it = old.find(b.Name());
    if (it != old.end() && it->second) {
      it->second->client().SetAddress(b);
      bricks.push_back(std::move(it->second));
      old.erase(it);
    } else {
      bricks.push_back(MakeBrick(next, b, client_name_));
      Hook(*bricks.back());
      bricks.back()->client().Start();
      fresh.push_back(bricks.back().get());
    }
  }
  // New bricks get a moment to connect, so the first files placed on them do not fail.
  for (auto* b : fresh) b->client().WaitUp(std::chrono::milliseconds(3000));
  size_t r = static_cast<size_t>(next.replica);
  std::vector<std::unique_ptr<ReplicateLayer>> sets;
  if (r > 1) {
    // A set is kept when its bricks are the same in the same order.
    std::map<std::string, std::unique_ptr<ReplicateLayer>> by_bricks;
    for (size_t s = 0; s < sets_.size(); ++s) {
      std::string key;
      for (size_t k = 0; k < r; ++k) key += volfile_.bricks[s * r + k].Name() + "|";
      by_bricks[key] = std::move(sets_[s]);
    }
    for (size_t s = 0; s * r < bricks.size(); ++s) {
      std::string key;
      std::vector<ProtocolLayer*> children;
      for (size_t k = 0; k < r; ++k) {
        key += next.bricks[s * r + k].Name() + "|";
        children.push_back(bricks[s * r + k].get());
      }
      auto it = by_bricks.find(key);
      if (it != by_bricks.end() && it->second) {
        sets.push_back(std::move(it->second));
        by_bricks.erase(it);
      } else {
        sets.push_back(MakeSet(next, children, s * r));
      }
    }
    for (auto& [k, set] : by_bricks)
      if (set) retired_sets_.push_back(std::move(set));
  }
  for (auto& [name, b] : old)
    if (b) retired_bricks_.push_back(std::move(b));
  HAFS_LOG_INFO("volume {}: bricks {} -> {}; subvolumes follow without a remount", next.name, volfile_.bricks.size(),
                next.bricks.size());
  bricks_ = std::move(bricks);
  sets_ = std::move(sets);
  volfile_ = next;
  distribute_->SetSubvolumes(Subvolumes());
  DeliverInvalidate(proto::Invalidate());  // caches: the volume's layout changed
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
