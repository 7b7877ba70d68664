#include "client-fuse/distribute/distribute_layer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <unordered_set>

#include "client-fuse/fan_out.h"
#include "common/log.h"

namespace hafs::client {

using namespace std::chrono_literals;

namespace {
Gfid GfidOf(const std::string& raw) { return Gfid::FromBytes(raw).value_or(Gfid()); }

std::vector<size_t> AllBut(size_t n, size_t first) {
  std::vector<size_t> v;
  for (size_t i = 0; i < n; ++i)
    if (i != first) v.push_back(i);
  return v;
}
std::vector<size_t> All(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}
bool Migrating(const proto::Attr& a) { return a.mode() == kMigratingMode; }
constexpr auto kLayoutTtl = 1s;
constexpr auto kMigrationWait = 60s;  // longest a change waits for a file to finish migrating
}  // namespace

int DistributeLayer::Topology::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i].id == id) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> DistributeLayer::Topology::ActiveIds() const {
  std::vector<std::string> ids;
  for (const auto& v : s)
    if (v.active) ids.push_back(v.id);
  if (ids.empty())
    for (const auto& v : s) ids.push_back(v.id);
  return ids;
}

DistributeLayer::DistributeLayer(std::vector<Subvolume> subvolumes) { SetSubvolumes(std::move(subvolumes)); }

DistributeLayer::DistributeLayer(std::vector<Layer*> subvolumes) {
  std::vector<Subvolume> s;
  for (size_t i = 0; i < subvolumes.size(); ++i) s.push_back({subvolumes[i], std::to_string(i), true});
  SetSubvolumes(std::move(s));
}

WorkPool* DistributeLayer::Pool(const Topology& t) {
  static const bool on = [] {  // HAFS_FANOUT_POOL=0: one subvolume after another, as before
    const char* v = std::getenv("HAFS_FANOUT_POOL");
    return !(v && std::string_view(v) == "0");
  }();
  if (!on || t.n() < 2 || !t.lazy) return nullptr;
  // Enough for a few FUSE threads' fan-outs at once; a caller that finds them busy waits for
  // the rest itself (slower, never stuck).
  std::call_once(pool_once_, [&] { pool_ = std::make_unique<WorkPool>(8, "fan-out"); });
  return pool_.get();
}

void DistributeLayer::SetSubvolumes(std::vector<Subvolume> subvolumes) {
  auto t = std::make_shared<Topology>();
  t->s = std::move(subvolumes);
  t->lazy = std::any_of(t->s.begin(), t->s.end(), [](const Subvolume& v) { return v.layer->LazyCalls(); });
  std::lock_guard lk(mu_);
  t->gen = topo_ ? topo_->gen + 1 : 1;
  topo_ = std::move(t);
  where_.clear();
  layouts_.clear();
}

std::vector<Subvolume> DistributeLayer::subvolumes() const { return topo()->s; }

DistributeLayer::Topo DistributeLayer::topo() const {
  std::lock_guard lk(mu_);
  return topo_;
}

void DistributeLayer::Remember(const Topology& t, const Gfid& gfid, int subvol) {
  std::lock_guard lk(mu_);
  if (t.gen != topo_->gen) return;
  if (where_.size() > 1000000) where_.clear();  // a cache: misses are answered by asking
  where_[gfid] = {t.gen, subvol};
}

void DistributeLayer::Forget(const Gfid& gfid) {
  std::lock_guard lk(mu_);
  where_.erase(gfid);
}

Layout DistributeLayer::LayoutFor(const Topology& t, const Gfid& dir) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lk(mu_);
    auto it = layouts_.find(dir);
    if (it != layouts_.end() && it->second.gen == t.gen && now - it->second.fetched < kLayoutTtl)
      return it->second.layout;
  }
  Layout layout;
  bool found = false;
  if (t.n() > 1) {
    // Every subvolume holds the whole layout; the first that answers decides.
    for (size_t i = 0; i < t.n() && !found; ++i) {
      proto::GetxattrRequest r;
      r.set_gfid(dir.Bytes());
      r.set_name("hafs.layout");
      auto rep = t.s[i].layer->Getxattr(r).get();
      if (!rep.ok()) continue;
      auto parsed = Layout::Parse(rep->value());
      if (parsed.ok()) {
        layout = std::move(parsed).value();
        found = true;
      }
    }
  }
  if (!found) layout = Layout::Equal(t.ActiveIds());
  std::lock_guard lk(mu_);
  if (layouts_.size() > 100000) layouts_.clear();
  layouts_[dir] = {t.gen, now, layout};
  return layout;
}

Layout DistributeLayer::DirLayout(const Gfid& dir) { return LayoutFor(*topo(), dir); }

void DistributeLayer::ForgetLayout(const Gfid& dir) {
  std::lock_guard lk(mu_);
  layouts_.erase(dir);
}

size_t DistributeLayer::Hashed(const Topology& t, const Gfid& parent, std::string_view name) {
  if (t.n() == 1) return 0;
  int i = t.IndexOf(LayoutFor(t, parent).Pick(name));
  if (i >= 0 && t.s[i].active) return static_cast<size_t>(i);
  // A hole (a subvolume that left, or a layout from elsewhere) or a subvolume being removed
  // (its directory not re-laid-out yet): the equal split of today's active subvolumes.
  auto ids = t.ActiveIds();
  uint64_t k = ids.size();
  i = t.IndexOf(ids[(static_cast<uint64_t>(NameHash(name)) * k) >> 32]);
  return i < 0 ? 0 : static_cast<size_t>(i);
}

size_t DistributeLayer::HashedSubvolume(const Gfid& parent, std::string_view name) {
  return Hashed(*topo(), parent, name);
}

Result<int> DistributeLayer::Locate(const Topology& t, const Gfid& gfid, const std::set<int>& exclude) {
  if (gfid.IsRoot()) return kAll;
  if (exclude.empty()) {
    std::lock_guard lk(mu_);
    auto it = where_.find(gfid);
    if (it != where_.end() && it->second.gen == t.gen) return it->second.subvol;
  }
  if (t.n() == 1) return 0;
  auto res = FanOut<proto::AttrReply>(t.n(), All(t.n()), [&](size_t i) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    return t.s[i].layer->Getattr(r);
  }, Pool(t));
  // A copy still being made by rebalance is used only when nothing else has the gfid.
  int fallback = -1;
  for (size_t i = 0; i < t.n(); ++i) {
    if (!res[i]->ok() || exclude.count(static_cast<int>(i))) continue;
    const auto& a = res[i]->value().attr();
    if (S_ISDIR(a.mode())) {
      Remember(t, gfid, kAll);
      return kAll;
    }
    if (Migrating(a)) {
      if (fallback < 0) fallback = static_cast<int>(i);
      continue;
    }
    Remember(t, gfid, static_cast<int>(i));
    return static_cast<int>(i);
  }
  if (fallback >= 0) return fallback;
  return Status(ENOENT, "gfid not found on any subvolume");
}

template <typename Rep, typename Call>
Result<Rep> DistributeLayer::OnFile(const Topology& t, const Gfid& gfid, Call call) {
  std::set<int> exclude;
  auto deadline = std::chrono::steady_clock::now() + kMigrationWait;
  auto pause = 2ms;
  for (;;) {
    auto where = Locate(t, gfid, exclude);
    if (!where.ok()) return where.status();
    Result<Rep> r = call(*where);
    if (r.ok() || t.n() == 1 || *where == kAll) return r;
    if (r.err() == EBUSY && std::chrono::steady_clock::now() < deadline) {
      // Frozen by a migration: it ends in a moment (moved: ESTALE next time; aborted: OK).
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
      continue;
    }
    if (r.err() == EROFS) {
      // A replica set refuses a change when its bricks refused the lock; if that is because
      // the file has moved away (getattr: ESTALE), follow it like an ESTALE.
      proto::GfidRequest g;
      g.set_gfid(gfid.Bytes());
      auto here = t.s[*where].layer->Getattr(g).get();
      if (here.ok() || (here.err() != ESTALE && here.err() != ENOENT)) return r;
    } else if (r.err() != ESTALE && r.err() != ENOENT) {
      return r;
    }
    // Moved away (or never here): look everywhere else.
    Forget(gfid);
    exclude.insert(*where);
    auto elsewhere = Locate(t, gfid, exclude);
    if (!elsewhere.ok()) return r.err() == ESTALE ? Result<Rep>(Status(ENOENT, "file moved and not found")) : r;
  }
}

Result<std::pair<size_t, proto::EntryReply>> DistributeLayer::FindEntry(const Topology& t, const Gfid& parent,
                                                                        const std::string& name, uint32_t want_data) {
  proto::EntryRequest req;
  req.set_parent(parent.Bytes());
  req.set_name(name);
  req.set_want_data(want_data);  // quick read (a lookup that left it out never brought content)
  size_t hashed = Hashed(t, parent, name);
  auto r = t.s[hashed].layer->Lookup(req).get();
  if (r.ok() && !Migrating(r->attr())) return std::make_pair(hashed, std::move(r).value());
  if (!r.ok() && (r.err() != ENOENT || t.n() == 1)) return r.status();
  // Renamed across subvolumes, placed by an older layout or being migrated: ask everyone.
  auto others = AllBut(t.n(), hashed);
  auto res = FanOut<proto::EntryReply>(t.n(), others, [&](size_t i) { return t.s[i].layer->Lookup(req); }, Pool(t));
  for (size_t i : others)
    if (res[i]->ok() && !Migrating(res[i]->value().attr())) return std::make_pair(i, std::move(res[i]->value()));
  if (r.ok()) return std::make_pair(hashed, std::move(r).value());
  for (size_t i : others)
    if (res[i]->ok()) return std::make_pair(i, std::move(res[i]->value()));
  return r.status();
}

Future<proto::EntryReply> DistributeLayer::Lookup(proto::EntryRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Lookup(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {
    auto r = FindEntry(*t, GfidOf(req.parent()), req.name(), req.want_data());
    if (!r.ok()) return r.status();
    auto& [sub, rep] = *r;
    if (Migrating(rep.attr())) {  // a copy being made by rebalance: its content may be partial
      rep.clear_data();
      rep.set_has_data(false);
    }
    Remember(*t, GfidOf(rep.attr().gfid()), S_ISDIR(rep.attr().mode()) ? kAll : static_cast<int>(sub));
    return std::move(rep);
  });
}

// Reads of an inode go where it lives (directories: the first subvolume).
#define HAFS_BY_GFID_READ(Method, Req, Rep)                                                        \
  Future<proto::Rep> DistributeLayer::Method(proto::Req req) {                                     \
    auto t = topo();                                                                               \
    if (t->n() == 1) return t->s[0].layer->Method(std::move(req));                                 \
    return Deferred([this, t, req = std::move(req)]() -> Result<proto::Rep> {                      \
      return OnFile<proto::Rep>(*t, GfidOf(req.gfid()),                                            \
                                [&](int where) { return t->s[where == kAll ? 0 : where].layer->Method(req).get(); }); \
    });                                                                                            \
  }

HAFS_BY_GFID_READ(Getattr, GfidRequest, AttrReply)
HAFS_BY_GFID_READ(Readlink, GfidRequest, ReadlinkReply)
HAFS_BY_GFID_READ(Read, ReadRequest, ReadReply)
HAFS_BY_GFID_READ(Getxattr, GetxattrRequest, XattrReply)
HAFS_BY_GFID_READ(Listxattr, GfidRequest, ListxattrReply)
HAFS_BY_GFID_READ(Access, AccessRequest, ErrReply)

// Changes of an inode go where it lives; for directories, to every subvolume (the first
// one's answer is returned, so a failure there fails the call).
#define HAFS_BY_GFID_WRITE(Method, Req, Rep)                                                       \
  Future<proto::Rep> DistributeLayer::Method(proto::Req req) {                                     \
    auto t = topo();                                                                               \
    if (t->n() == 1) return t->s[0].layer->Method(std::move(req));                                 \
    return Deferred([this, t, req = std::move(req)]() -> Result<proto::Rep> {                      \
      return OnFile<proto::Rep>(*t, GfidOf(req.gfid()), [&](int where) -> Result<proto::Rep> {     \
        if (where != kAll) return t->s[where].layer->Method(req).get();                            \
        auto res = FanOut<proto::Rep>(t->n(), All(t->n()), [&](size_t i) { return t->s[i].layer->Method(req); }, Pool(*t)); \
        return std::move(*res[0]);                                                                 \
      });                                                                                          \
    });                                                                                            \
  }

HAFS_BY_GFID_WRITE(Setattr, SetattrRequest, AttrReply)
HAFS_BY_GFID_WRITE(Write, WriteRequest, WriteReply)
HAFS_BY_GFID_WRITE(Fallocate, FallocateRequest, AttrReply)
HAFS_BY_GFID_WRITE(Fsync, FsyncRequest, ErrReply)
HAFS_BY_GFID_WRITE(Setxattr, SetxattrRequest, ErrReply)
HAFS_BY_GFID_WRITE(Removexattr, RemovexattrRequest, ErrReply)

// A new entry goes to the subvolume its name hashes to; if that one does not have the parent
// directory yet (added, and this directory not fixed by rebalance yet), to the first that has.
template <typename Rep, typename Call>
Result<Rep> DistributeLayer::Placed(const Topology& t, const Gfid& parent, const std::string& name, Call call) {
  size_t sub = Hashed(t, parent, name);
  Result<Rep> r = call(sub);
  if (r.ok() || r.err() != ENOENT) return r;
  for (size_t i = 0; i < t.n(); ++i) {
    if (i == sub) continue;
    Result<Rep> o = call(i);
    if (o.ok() || o.err() != ENOENT) return o;
  }
  return r;
}

#define HAFS_HASHED_CREATE(Method, Req)                                                            \
  Future<proto::EntryReply> DistributeLayer::Method(proto::Req req) {                              \
    auto t = topo();                                                                               \
    if (t->n() == 1) return t->s[0].layer->Method(std::move(req));                                 \
    return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {              \
      return Placed<proto::EntryReply>(*t, GfidOf(req.parent()), req.name(), [&](size_t sub) {     \
        auto r = t->s[sub].layer->Method(req).get();                                               \
        if (r.ok()) Remember(*t, GfidOf(r->attr().gfid()), static_cast<int>(sub));                 \
        return r;                                                                                  \
      });                                                                                          \
    });                                                                                            \
  }

HAFS_HASHED_CREATE(Mknod, MknodRequest)
HAFS_HASHED_CREATE(Symlink, SymlinkRequest)

Future<proto::EntryReply> DistributeLayer::Create(proto::CreateRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Create(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {
    // The name may live on another subvolume (renamed there): creating it here would make two
    // — unless the metadata cache above knows the whole directory and the name is not in it.
    Result<std::pair<size_t, proto::EntryReply>> existing = Status(ENOENT, "known absent");
    if (!req.known_absent()) existing = FindEntry(*t, GfidOf(req.parent()), req.name());
    if (existing.ok()) {
      if (req.exclusive()) return Status(EEXIST, "exists");
      if (S_ISDIR(existing->second.attr().mode())) return Status(EISDIR, "is a directory");
      size_t sub = existing->first;
      return OnFile<proto::EntryReply>(*t, GfidOf(existing->second.attr().gfid()), [&](int where) {
        auto r = t->s[where == kAll ? sub : where].layer->Create(req).get();
        if (r.ok()) Remember(*t, GfidOf(r->attr().gfid()), where);
        return r;
      });
    }
    return Placed<proto::EntryReply>(*t, GfidOf(req.parent()), req.name(), [&](size_t sub) {
      auto r = t->s[sub].layer->Create(req).get();
      if (r.ok()) Remember(*t, GfidOf(r->attr().gfid()), static_cast<int>(sub));
      return r;
    });
  });
}

Future<proto::EntryReply> DistributeLayer::Mkdir(proto::MkdirRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Mkdir(std::move(req));
  return Deferred([this, t, req = std::move(req)]() mutable -> Result<proto::EntryReply> {
    // The name's subvolume by the equal split decides (EEXIST, EACCES …); the others follow.
    // If it lacks the parent (a new subvolume not fixed yet), the first that has it decides.
    // Each mkdir carries the layout the directory will have if every active subvolume makes
    // it (the usual case), so no setxattr round trip follows.
    size_t n = t->n();
    const std::string planned = Layout::Equal(t->ActiveIds()).Encode();
    (*req.mutable_xattrs())["hafs.layout"] = planned;
    size_t first = (static_cast<uint64_t>(NameHash(req.name())) * n) >> 32;
    auto r = t->s[first].layer->Mkdir(req).get();
    for (size_t i = 0; !r.ok() && r.err() == ENOENT && i < n; ++i) {
      if (i == first) continue;
      auto o = t->s[i].layer->Mkdir(req).get();
      if (o.ok() || o.err() != ENOENT) {
        first = i;
        r = std::move(o);
      }
    }
    if (!r.ok()) return r;
    auto others = AllBut(n, first);
    auto res = FanOut<proto::EntryReply>(n, others, [&](size_t i) { return t->s[i].layer->Mkdir(req); }, Pool(*t));
    std::vector<std::string> have;
    std::vector<size_t> unset;  // subvolumes whose copy does not hold the planned layout
    for (size_t i = 0; i < n; ++i) {
      bool ok = i == first || res[i]->ok() || res[i]->err() == EEXIST;
      if (!ok) HAFS_LOG_WARN("mkdir {} on subvolume {}: {}", req.name(), i, res[i]->status().ToString());
      if (ok && t->s[i].active) have.push_back(t->s[i].id);
      const Result<proto::EntryReply>& ri = i == first ? r : *res[i];
      if (!ri.ok() || !ri->xattrs_set()) unset.push_back(i);
    }
    // The new directory's layout: equal ranges over the active subvolumes that have it. Where
    // that is not the planned one (a subvolume failed), or a copy did not take it (it existed
    // already, an older brick), it is set the old way.
    Gfid gfid = GfidOf(r->attr().gfid());
    Layout layout = Layout::Equal(have.empty() ? t->ActiveIds() : have);
    proto::SetxattrRequest x;
    x.set_gfid(gfid.Bytes());
    x.set_name("hafs.layout");
    x.set_value(layout.Encode());
    if (x.value() != planned) unset = All(n);
    auto xs = FanOut<proto::ErrReply>(n, unset, [&](size_t i) { return t->s[i].layer->Setxattr(x); }, Pool(*t));
    for (size_t i : unset)
      if (!xs[i]->ok()) HAFS_LOG_WARN("layout of {} on subvolume {}: {}", req.name(), i, xs[i]->status().ToString());
    {
      std::lock_guard lk(mu_);
      layouts_[gfid] = {t->gen, std::chrono::steady_clock::now(), layout};
    }
    Remember(*t, gfid, kAll);
    return r;
  });
}

Future<proto::EntryReply> DistributeLayer::Rmdir(proto::NameRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Rmdir(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {
    // Non-deciding copies first: if one is not empty, nothing is removed from the deciding
    // one, and the directory stays visible.
    size_t n = t->n();
    size_t hashed = (static_cast<uint64_t>(NameHash(req.name())) * n) >> 32;
    auto others = AllBut(n, hashed);
    auto res = FanOut<proto::EntryReply>(n, others, [&](size_t i) { return t->s[i].layer->Rmdir(req); }, Pool(*t));
    for (size_t i : others) {
      if (!res[i]->ok() && res[i]->err() != ENOENT) {
        // Put back what was removed so the directory stays whole.
        for (size_t j : others) {
          if (!res[j]->ok()) continue;
          proto::MkdirRequest m;
          m.set_parent(req.parent());
          m.set_name(req.name());
          m.set_gfid(res[j]->value().attr().gfid());
          m.set_mode(res[j]->value().attr().mode() & 07777);
          m.mutable_caller()->set_uid(res[j]->value().attr().uid());
          m.mutable_caller()->set_gid(res[j]->value().attr().gid());
          (void)t->s[j].layer->Mkdir(m).get();
        }
        return res[i]->status();
      }
    }
    auto r = t->s[hashed].layer->Rmdir(req).get();
    if (!r.ok() && r.err() == ENOENT) {
      // Not on the deciding one (it joined later): succeed if another copy went.
      for (size_t i : others)
        if (res[i]->ok()) return std::move(*res[i]);
    }
    return r;
  });
}

Future<proto::EntryReply> DistributeLayer::Unlink(proto::NameRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Unlink(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {
    auto where = FindEntry(*t, GfidOf(req.parent()), req.name());
    if (!where.ok()) return where.status();
    return t->s[where->first].layer->Unlink(req).get();
  });
}

Future<proto::EntryReply> DistributeLayer::Link(proto::LinkRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Link(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::EntryReply> {
    // A hard link must live with its inode, whatever the new name hashes to.
    auto where = Locate(*t, GfidOf(req.gfid()));
    if (!where.ok()) return where.status();
    if (*where == kAll) return Status(EPERM, "hard links to directories are not allowed");
    return t->s[*where].layer->Link(req).get();
  });
}

Future<proto::RenameReply> DistributeLayer::Rename(proto::RenameRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Rename(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::RenameReply> {
    size_t n = t->n();
    auto src = FindEntry(*t, GfidOf(req.old_parent()), req.old_name());
    if (!src.ok()) return src.status();
    bool is_dir = S_ISDIR(src->second.attr().mode());
    if (is_dir) {
      // Directories are everywhere: rename everywhere, the deciding one of the old name first.
      size_t first = (static_cast<uint64_t>(NameHash(req.old_name())) * n) >> 32;
      auto r = t->s[first].layer->Rename(req).get();
      if (!r.ok() && r.err() == ENOENT) {
        first = src->first;
        r = t->s[first].layer->Rename(req).get();
      }
      if (!r.ok()) return r;
      auto others = AllBut(n, first);
      auto res = FanOut<proto::RenameReply>(n, others, [&](size_t i) { return t->s[i].layer->Rename(req); }, Pool(*t));
      for (size_t i : others)
        if (!res[i]->ok()) HAFS_LOG_WARN("rename of directory on subvolume {}: {}", i, res[i]->status().ToString());
      return r;
    }
    // A file stays on its subvolume; a different file already at the target name elsewhere
    // is replaced, as rename(2) promises.
    auto dst = FindEntry(*t, GfidOf(req.new_parent()), req.new_name());
    if (dst.ok() && dst->first != src->first) {
      if (req.flags() & RENAME_NOREPLACE) return Status(EEXIST, "target exists");
      if (S_ISDIR(dst->second.attr().mode())) return Status(EISDIR, "target is a directory");
      proto::NameRequest u;
      u.set_parent(req.new_parent());
      u.set_name(req.new_name());
      auto ur = t->s[dst->first].layer->Unlink(u).get();
      if (!ur.ok()) return ur.status();
    }
    return t->s[src->first].layer->Rename(req).get();
  });
}

Future<proto::ReaddirReply> DistributeLayer::Readdir(proto::ReaddirRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Readdir(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::ReaddirReply> {
    // Every subvolume's listing is read page by page, and the next pages of all subvolumes
    // still being read go out together: the subvolumes list in parallel, so a directory costs
    // its slowest subvolume's pages, not the sum of all of them (a cold listing is the bricks'
    // disk and inode work). The merge below keeps subvolume order.
    size_t n = t->n();
    std::vector<std::vector<proto::DirEntry>> lists(n);
    std::vector<uint64_t> cookies(n, 0);
    std::vector<size_t> reading = All(n);
    bool any = false;
    Status first_error;
    for (int page = 0; page < 1000000 && !reading.empty(); ++page) {
      auto res = FanOut<proto::ReaddirReply>(n, reading, [&](size_t i) {
        proto::ReaddirRequest r = req;
        r.set_cookie(cookies[i]);
        r.set_max_entries(1024);
        return t->s[i].layer->Readdir(std::move(r));
      }, Pool(*t));
      std::vector<size_t> more;
      for (size_t i : reading) {
        auto& rep = *res[i];
        if (!rep.ok()) {
          // A subvolume added after this directory was made may not have it yet.
          if (first_error.ok()) first_error = rep.status();
          if (rep.err() != ENOENT) HAFS_LOG_WARN("readdir on subvolume {}: {}", i, rep.status().ToString());
          continue;
        }
        any = true;
        for (auto& e : *rep->mutable_entries()) {
          cookies[i] = e.next_cookie();
          lists[i].push_back(std::move(e));
        }
        if (!rep->eof() && !rep->entries().empty()) more.push_back(i);
      }
      reading = std::move(more);
    }
    if (!any) return first_error;
    proto::ReaddirReply out;
    std::unordered_set<std::string> seen;
    for (auto& list : lists) {
      for (auto& e : list) {
        if (std::string_view(e.name()).starts_with(kMigrationTempPrefix)) continue;
        // Directories appear on every subvolume, a migrating file briefly on two: list once.
        if (!seen.insert(e.name()).second) continue;
        Gfid g = GfidOf(e.gfid());
        if (!g.IsNull() && e.type() == 4 /* DT_DIR */) Remember(*t, g, kAll);
        *out.add_entries() = std::move(e);
      }
    }
    for (int k = 0; k < out.entries_size(); ++k) out.mutable_entries(k)->set_next_cookie(k + 1);
    out.set_eof(true);
    return out;
  });
}

Future<proto::StatfsReply> DistributeLayer::Statfs(proto::GfidRequest req) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Statfs(std::move(req));
  return Deferred([this, t, req = std::move(req)]() -> Result<proto::StatfsReply> {
    size_t n = t->n();
    auto res = FanOut<proto::StatfsReply>(n, All(n), [&](size_t i) { return t->s[i].layer->Statfs(req); }, Pool(*t));
    proto::StatfsReply sum;
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      if (!res[i]->ok()) continue;
      const auto& s = res[i]->value();
      if (!any) sum = s;
      else {
        // Sum in units of the first subvolume's fragment size.
        double k = sum.frsize() ? static_cast<double>(s.frsize()) / sum.frsize() : 1.0;
        sum.set_blocks(sum.blocks() + static_cast<uint64_t>(s.blocks() * k));
        sum.set_bfree(sum.bfree() + static_cast<uint64_t>(s.bfree() * k));
        sum.set_bavail(sum.bavail() + static_cast<uint64_t>(s.bavail() * k));
        sum.set_files(sum.files() + s.files());
        sum.set_ffree(sum.ffree() + s.ffree());
      }
      any = true;
    }
    if (!any) return res[0]->status();
    return sum;
  });
}

Future<std::shared_ptr<FileRef>> DistributeLayer::Open(Gfid gfid) {
  auto t = topo();
  if (t->n() == 1) return t->s[0].layer->Open(gfid);
  return Deferred([this, t, gfid]() -> Result<std::shared_ptr<FileRef>> {
    return OnFile<std::shared_ptr<FileRef>>(*t, gfid, [&](int where) {
      return t->s[where == kAll ? 0 : where].layer->Open(gfid).get();
    });
  });
}

}  // namespace hafs::client
