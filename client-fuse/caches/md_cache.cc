#include "client-fuse/caches/md_cache.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace hafs::client {

namespace {

Gfid G(const std::string& raw) {
  auto g = Gfid::FromBytes(raw);
  return g ? *g : Gfid();
}

bool Cacheable(const std::string& name) { return !name.empty() && name != "." && name != ".."; }

}  // namespace

bool MdCache::EnabledByEnv() {
  const char* env = std::getenv("HAFS_MD_CACHE");
  return !(env && std::string(env) == "0");
}

MdCache::MdCache(Layer& lower, Options options)
    : ForwardingLayer(lower), options_(std::move(options)), timeout_ms_(options_.timeout.count()) {}

int64_t MdCache::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void MdCache::SetTimeout(std::chrono::milliseconds timeout) {
  timeout_ms_ = timeout.count();
  if (timeout.count() <= 0) DropAll();
}

MdCache::Stats MdCache::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

size_t MdCache::items() const {
  std::lock_guard lk(mu_);
  return attrs_.size() + entries_.size() + dirs_.size() + dir_items_;
}

// ---- state helpers (mu_ held) ----

void MdCache::PutAttr(const proto::Attr& a, int64_t now) {
  Gfid g = G(a.gfid());
  if (g.IsNull()) return;
  auto& e = attrs_[g];
  e.attr = a;
  e.t = now;
}

void MdCache::DropAttr(const Gfid& g) {
  if (!g.IsNull()) attrs_.erase(g);
}

void MdCache::DropEntry(const Gfid& parent, const std::string& name) { entries_.erase(EntryKey{parent, name}); }

void MdCache::DropDir(const Gfid& dir) {
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  dir_items_ -= it->second.names.size() + it->second.page_items;
  dirs_.erase(it);
}

void MdCache::DirChanged(const Gfid& dir, const std::string* added, const std::string* removed) {
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  DirEnt& d = it->second;
  d.fill = Fill();
  dir_items_ -= d.page_items;
  d.pages.clear();
  d.page_items = 0;
  d.listed = false;
  if (!d.complete) return;
  if (added && d.names.insert(*added).second) ++dir_items_;
  if (removed && d.names.erase(*removed)) --dir_items_;
}

void MdCache::ClearLocked() {
  attrs_.clear();
  no_caps_.clear();
  ++xattr_epoch_;
  entries_.clear();
  dirs_.clear();
  dir_items_ = 0;
  ++stats_.drops_all;
  Changed();
}

void MdCache::SweepExpiredLocked(int64_t now) {
  if (now - last_sweep_ < timeout_ms_.load() / 8) return;
  last_sweep_ = now;
  ++stats_.sweeps;
  std::erase_if(attrs_, [&](const auto& kv) { return !Fresh(kv.second.t, now); });
  std::erase_if(entries_, [&](const auto& kv) { return !Fresh(kv.second.t, now); });
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (!Fresh(it->second.t, now) && !it->second.fill.active) {
      dir_items_ -= it->second.names.size() + it->second.page_items;
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
}

void MdCache::CapCheck() {
  if (ItemsLocked() <= options_.max_items) return;
  SweepExpiredLocked(Now());
  size_t n = ItemsLocked();
  if (n > options_.max_items) {
    HAFS_LOG_DEBUG("md-cache: {} items, over the cap of {}: cleared", n, options_.max_items);
    ClearLocked();
  }
}

void MdCache::DropAll() {
  std::lock_guard lk(mu_);
  ClearLocked();
}

void MdCache::OnInvalidate(const proto::Invalidate& inv) {
  Gfid g = G(inv.gfid());
  Gfid p = G(inv.parent());
  std::lock_guard lk(mu_);
  if (g.IsNull() && p.IsNull()) {
    ClearLocked();
    return;
  }
  Changed();
  ++xattr_epoch_;
  no_caps_.erase(g);
  // Without its attributes no entry pointing at g hits, and no listing holding g is served.
  DropAttr(g);
  if (!p.IsNull()) {
    DropEntry(p, inv.name());
    DropAttr(p);
    DropDir(p);
    if (!g.IsNull()) DropDir(g);  // g may be a directory that was removed or moved
  }
}

// ---- reads ----

Future<proto::EntryReply> MdCache::Lookup(proto::EntryRequest req) {
  Gfid parent = G(req.parent());
  if (!enabled() || req.want_pending() || parent.IsNull() || !Cacheable(req.name()))
    return below_.Lookup(std::move(req));
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    int64_t now = Now();
    auto it = entries_.find(EntryKey{parent, req.name()});
    if (it != entries_.end() && Fresh(it->second.t, now)) {
      auto at = attrs_.find(it->second.gfid);
      if (at != attrs_.end() && Fresh(at->second.t, now)) {
        ++stats_.hits;
        proto::EntryReply rep;
        *rep.mutable_attr() = at->second.attr;
        return Ready<proto::EntryReply>(std::move(rep));
      }
    }
    auto d = dirs_.find(parent);
    if (d != dirs_.end() && d->second.complete && Fresh(d->second.t, now) && !d->second.names.count(req.name())) {
      ++stats_.negative_hits;
      return Ready<proto::EntryReply>(Status(ENOENT, "lookup: no such entry (md-cache: complete directory)"));
    }
    ++stats_.misses;
    e0 = epoch_;
  }
  std::string name = req.name();
  return Deferred([this, f = below_.Lookup(std::move(req)), parent, name, e0]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    if (!r.ok()) {
      // Only a complete directory's ENOENT is ever answered locally; nothing else is kept.
      DropEntry(parent, name);
      return r;
    }
    Gfid g = G(r->attr().gfid());
    if (epoch_ == e0 && !g.IsNull()) {
      int64_t now = Now();
      PutAttr(r->attr(), now);
      entries_[EntryKey{parent, name}] = EntryEnt{g, now};
      CapCheck();
    }
    return r;
  });
}

Future<proto::AttrReply> MdCache::Getattr(proto::GfidRequest req) {
  Gfid g = G(req.gfid());
  if (!enabled() || req.want_pending() || g.IsNull()) return below_.Getattr(std::move(req));
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    auto at = attrs_.find(g);
    if (at != attrs_.end() && Fresh(at->second.t, Now())) {
      ++stats_.hits;
      proto::AttrReply rep;
      *rep.mutable_attr() = at->second.attr;
      return Ready<proto::AttrReply>(std::move(rep));
    }
    ++stats_.misses;
    e0 = epoch_;
  }
  return Deferred([this, f = below_.Getattr(std::move(req)), g, e0]() mutable -> Result<proto::AttrReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    if (!r.ok()) {
      DropAttr(g);
      return r;
    }
    if (epoch_ == e0 && G(r->attr().gfid()) == g) {
      PutAttr(r->attr(), Now());
      CapCheck();
    }
    return r;
  });
}

Future<proto::ReaddirReply> MdCache::Readdir(proto::ReaddirRequest req) {
  Gfid dir = G(req.gfid());
  if (!enabled() || !req.plus() || dir.IsNull()) return below_.Readdir(std::move(req));
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    int64_t now = Now();
    auto it = dirs_.find(dir);
    if (it != dirs_.end() && it->second.listed && Fresh(it->second.t, now) &&
        it->second.max_entries == req.max_entries()) {
      auto p = it->second.pages.find(req.cookie());
      if (p != it->second.pages.end()) {
        // Each entry with the attributes known now; one that is not known (changed since)
        // makes the page stale.
        proto::ReaddirReply rep = p->second;
        bool ok = true;
        for (auto& e : *rep.mutable_entries()) {
          Gfid g = G(e.gfid());
          if (g.IsNull()) continue;
          auto at = attrs_.find(g);
          if (at == attrs_.end() || !Fresh(at->second.t, now)) {
            ok = false;
            break;
          }
          *e.mutable_attr() = at->second.attr;
        }
        if (ok) {
          ++stats_.listing_hits;
          return Ready<proto::ReaddirReply>(std::move(rep));
        }
        dir_items_ -= it->second.page_items;
        it->second.pages.clear();
        it->second.page_items = 0;
        it->second.listed = false;
      }
    }
    ++stats_.misses;
    e0 = epoch_;
  }
  uint64_t cookie = req.cookie();
  uint32_t max_entries = req.max_entries();
  return Deferred([this, f = below_.Readdir(std::move(req)), dir, cookie, max_entries,
                   e0]() mutable -> Result<proto::ReaddirReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    if (!r.ok()) {
      DropDir(dir);
      return r;
    }
    if (epoch_ != e0) {
      if (auto it = dirs_.find(dir); it != dirs_.end()) it->second.fill = Fill();
      return r;
    }
    int64_t now = Now();
    DirEnt& d = dirs_[dir];
    if (cookie == 0) {
      d.fill = Fill();
      d.fill.active = true;
      d.fill.max_entries = max_entries;
    }
    if (!d.fill.active || d.fill.next_cookie != cookie || d.fill.max_entries != max_entries) return r;
    // No room for the page's entries and attributes: expired items go first.
    if (ItemsLocked() + 2 * static_cast<size_t>(r->entries_size()) > options_.max_items) SweepExpiredLocked(now);
    for (const auto& e : r->entries()) {
      d.fill.names.insert(e.name());
      d.fill.next_cookie = e.next_cookie();
      Gfid g = G(e.gfid());
      if (g.IsNull() || e.attr().mode() == 0 || G(e.attr().gfid()) != g || !Cacheable(e.name())) continue;
      // A listing bigger than the cache keeps what fits, rather than clearing everything.
      if (ItemsLocked() + 2 > options_.max_items) continue;
      PutAttr(e.attr(), now);
      entries_[EntryKey{dir, e.name()}] = EntryEnt{g, now};
    }
    d.fill.pages[cookie] = *r;
    const bool last = r->eof() || r->entries().empty();
    // Room for the listing's names and pages (2 per entry) in place of what the directory
    // holds now; expired items are made room for first. A listing that still does not fit is
    // not kept (served by the bricks), rather than clearing what is cached: one `find` over a
    // tree bigger than the cap used to empty the cache every time it filled up.
    auto fits = [&] {
      return ItemsLocked() - (d.names.size() + d.page_items) + 2 * d.fill.names.size() <= options_.max_items;
    };
    bool keep = last && 2 * d.fill.names.size() <= options_.max_items / 4;
    if (keep && !fits()) {
      SweepExpiredLocked(now);
      keep = fits();
    }
    if (last && !keep) {
      ++stats_.listings_not_kept;
      d.fill = Fill();  // too big to keep its names and listing: served by the bricks
      if (!d.complete && !d.listed) dirs_.erase(dir);  // it holds nothing: not an item either
    } else if (last) {
      dir_items_ -= d.names.size() + d.page_items;
      d.names = std::move(d.fill.names);
      d.pages = std::move(d.fill.pages);
      d.page_items = 0;
      for (auto& [c, p] : d.pages) d.page_items += static_cast<size_t>(p.entries_size());
      d.max_entries = max_entries;
      d.complete = true;
      d.listed = true;
      d.t = now;
      dir_items_ += d.names.size() + d.page_items;
      d.fill = Fill();
    }
    CapCheck();
    return r;
  });
}

// ---- changes ----

Future<proto::EntryReply> MdCache::NewEntry(Future<proto::EntryReply> f, Gfid parent, std::string name, bool is_dir) {
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    e0 = epoch_;
  }
  return Deferred([this, f = std::move(f), parent, name, is_dir, e0]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    bool clean = epoch_ == e0;
    Changed();
    DropEntry(parent, name);
    DropAttr(parent);
    if (!r.ok()) {
      // EEXIST (or a partial failure): what this client believed about the directory is wrong.
      DropDir(parent);
      return r;
    }
    Gfid g = G(r->attr().gfid());
    DropAttr(g);
    DirChanged(parent, &name, nullptr);  // the name exists now: safe whatever raced
    if (clean && !g.IsNull()) {
      int64_t now = Now();
      PutAttr(r->attr(), now);
      if (Cacheable(name)) entries_[EntryKey{parent, name}] = EntryEnt{g, now};
      if (r->has_parent_attr() && G(r->parent_attr().gfid()) == parent) PutAttr(r->parent_attr(), now);
      if (is_dir) {
        // A directory this client just made: complete and empty.
        DropDir(g);
        DirEnt& d = dirs_[g];
        d.complete = true;
        d.t = now;
      }
      CapCheck();
    }
    proto::EntryReply out = std::move(*r);
    return out;
  });
}

Future<proto::EntryReply> MdCache::Mkdir(proto::MkdirRequest req) {
  if (!enabled()) return below_.Mkdir(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  return NewEntry(below_.Mkdir(std::move(req)), parent, std::move(name), true);
}

Future<proto::EntryReply> MdCache::Create(proto::CreateRequest req) {
  if (!enabled()) return below_.Create(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  {
    // Tell distribute the name is nowhere (it would look on every subvolume first).
    std::lock_guard lk(mu_);
    auto d = dirs_.find(parent);
    if (d != dirs_.end() && d->second.complete && Fresh(d->second.t, Now()) && !d->second.names.count(name))
      req.set_known_absent(true);
  }
  bool fresh_file = req.exclusive();
  uint64_t xe0 = 0;
  {
    std::lock_guard lk(mu_);
    xe0 = xattr_epoch_;
  }
  auto f = NewEntry(below_.Create(std::move(req)), parent, std::move(name), false);
  if (!fresh_file) return f;
  // A file this create made (O_EXCL) has no xattrs: its first write(2) need not ask the bricks
  // for security.capability — answered as the bricks answered it before on this mount.
  return Deferred([this, f = std::move(f), xe0]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    if (!r.ok()) return r;
    Gfid g = G(r->attr().gfid());
    std::lock_guard lk(mu_);
    if (absent_caps_err_ != 0 && xattr_epoch_ == xe0 && !g.IsNull()) {
      if (no_caps_.size() >= options_.max_items) no_caps_.clear();
      no_caps_[g] = NoCaps{absent_caps_err_, Now()};
    }
    return r;
  });
}

Future<proto::EntryReply> MdCache::Mknod(proto::MknodRequest req) {
  if (!enabled()) return below_.Mknod(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  return NewEntry(below_.Mknod(std::move(req)), parent, std::move(name), false);
}

Future<proto::EntryReply> MdCache::Symlink(proto::SymlinkRequest req) {
  if (!enabled()) return below_.Symlink(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  return NewEntry(below_.Symlink(std::move(req)), parent, std::move(name), false);
}

Future<proto::EntryReply> MdCache::Link(proto::LinkRequest req) {
  if (!enabled()) return below_.Link(std::move(req));
  Gfid parent = G(req.new_parent());
  std::string name = req.new_name();
  Gfid g = G(req.gfid());
  {
    std::lock_guard lk(mu_);
    Changed();
    DropAttr(g);  // nlink changes
  }
  return NewEntry(below_.Link(std::move(req)), parent, std::move(name), false);
}

namespace {
template <typename Rep>
Gfid ReplyGfid(const Result<Rep>& r) {
  if (!r.ok()) return Gfid();
  return G(r->attr().gfid());
}
}  // namespace

Future<proto::EntryReply> MdCache::Unlink(proto::NameRequest req) {
  if (!enabled()) return below_.Unlink(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  return Deferred([this, f = below_.Unlink(std::move(req)), parent, name]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    Changed();
    if (auto it = entries_.find(EntryKey{parent, name}); it != entries_.end()) DropAttr(it->second.gfid);
    DropAttr(ReplyGfid(r));
    DropEntry(parent, name);
    DropAttr(parent);
    if (r.ok()) DirChanged(parent, nullptr, &name);
    else DropDir(parent);
    return r;
  });
}

Future<proto::EntryReply> MdCache::Rmdir(proto::NameRequest req) {
  if (!enabled()) return below_.Rmdir(std::move(req));
  Gfid parent = G(req.parent());
  std::string name = req.name();
  return Deferred([this, f = below_.Rmdir(std::move(req)), parent, name]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    Changed();
    if (auto it = entries_.find(EntryKey{parent, name}); it != entries_.end()) {
      DropAttr(it->second.gfid);
      DropDir(it->second.gfid);
    }
    Gfid g = ReplyGfid(r);
    DropAttr(g);
    if (!g.IsNull()) DropDir(g);
    DropEntry(parent, name);
    DropAttr(parent);
    if (r.ok()) DirChanged(parent, nullptr, &name);
    else DropDir(parent);
    return r;
  });
}

Future<proto::RenameReply> MdCache::Rename(proto::RenameRequest req) {
  if (!enabled()) return below_.Rename(std::move(req));
  Gfid op = G(req.old_parent()), np = G(req.new_parent());
  std::string on = req.old_name(), nn = req.new_name();
  bool exchange = (req.flags() & 2) != 0;
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    e0 = epoch_;
  }
  return Deferred([this, f = below_.Rename(std::move(req)), op, np, on, nn, exchange,
                   e0]() mutable -> Result<proto::RenameReply> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    bool clean = epoch_ == e0;
    Changed();
    for (const auto& key : {EntryKey{op, on}, EntryKey{np, nn}}) {
      if (auto it = entries_.find(key); it != entries_.end()) DropAttr(it->second.gfid);
      entries_.erase(key);
    }
    DropAttr(op);
    DropAttr(np);
    DropAttr(ReplyGfid(r));
    if (r.ok()) {
      Gfid replaced = G(r->replaced_gfid());
      DropAttr(replaced);
      if (!replaced.IsNull()) DropDir(replaced);
      if (exchange) {
        DirChanged(op, &on, nullptr);
        DirChanged(np, &nn, nullptr);
      } else {
        DirChanged(op, nullptr, &on);
        DirChanged(np, &nn, nullptr);
        // The moved inode under its new name, with the reply's attributes (nothing else
        // changed meanwhile): a file renamed into place is known without asking a brick.
        Gfid g = ReplyGfid(r);
        if (clean && !g.IsNull() && r->attr().mode() != 0) {
          int64_t now = Now();
          PutAttr(r->attr(), now);
          if (Cacheable(nn)) entries_[EntryKey{np, nn}] = EntryEnt{g, now};
          CapCheck();
        }
      }
    } else {
      DropDir(op);
      DropDir(np);
    }
    return r;
  });
}

template <typename Rep>
Future<Rep> MdCache::AttrChange(Future<Rep> f, Gfid gfid) {
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    e0 = epoch_;
  }
  return Deferred([this, f = std::move(f), gfid, e0]() mutable -> Result<Rep> {
    auto r = f.get();
    std::lock_guard lk(mu_);
    bool clean = epoch_ == e0;
    Changed();
    DropAttr(gfid);
    if (r.ok() && clean && r->has_attr() && G(r->attr().gfid()) == gfid && r->attr().mode() != 0) {
      PutAttr(r->attr(), Now());
      CapCheck();
    }
    return r;
  });
}

Future<proto::AttrReply> MdCache::Setattr(proto::SetattrRequest req) {
  if (!enabled()) return below_.Setattr(std::move(req));
  Gfid g = G(req.gfid());
  return AttrChange(below_.Setattr(std::move(req)), g);
}

Future<proto::AttrReply> MdCache::Fallocate(proto::FallocateRequest req) {
  if (!enabled()) return below_.Fallocate(std::move(req));
  Gfid g = G(req.gfid());
  return AttrChange(below_.Fallocate(std::move(req)), g);
}

Future<proto::WriteReply> MdCache::Write(proto::WriteRequest req) {
  if (!enabled()) return below_.Write(std::move(req));
  Gfid g = G(req.gfid());
  return AttrChange(below_.Write(std::move(req)), g);
}

Future<proto::ErrReply> MdCache::Setxattr(proto::SetxattrRequest req) {
  if (!enabled()) return below_.Setxattr(std::move(req));
  Gfid g = G(req.gfid());
  XattrChanged(g);
  return Deferred([this, f = below_.Setxattr(std::move(req)), g]() mutable -> Result<proto::ErrReply> {
    auto r = f.get();
    XattrChanged(g);
    std::lock_guard lk(mu_);
    Changed();
    DropAttr(g);  // ctime
    return r;
  });
}

Future<proto::ErrReply> MdCache::Removexattr(proto::RemovexattrRequest req) {
  if (!enabled()) return below_.Removexattr(std::move(req));
  Gfid g = G(req.gfid());
  XattrChanged(g);
  return Deferred([this, f = below_.Removexattr(std::move(req)), g]() mutable -> Result<proto::ErrReply> {
    auto r = f.get();
    XattrChanged(g);
    std::lock_guard lk(mu_);
    Changed();
    DropAttr(g);
    return r;
  });
}

void MdCache::XattrChanged(const Gfid& g) {
  std::lock_guard lk(mu_);
  ++xattr_epoch_;
  no_caps_.erase(g);
}

// Only the absence of security.capability is kept: without it every write(2) would cost a
// round trip first (the kernel asks to know whether the write must strip a capability).
Future<proto::XattrReply> MdCache::Getxattr(proto::GetxattrRequest req) {
  static const std::string kCapability = "security.capability";
  Gfid g = G(req.gfid());
  if (!enabled() || g.IsNull() || req.name() != kCapability) return below_.Getxattr(std::move(req));
  uint64_t e0;
  {
    std::lock_guard lk(mu_);
    auto it = no_caps_.find(g);
    if (it != no_caps_.end() && Fresh(it->second.t, Now())) {
      ++stats_.xattr_hits;
      return Ready<proto::XattrReply>(ErrnoStatus(it->second.err));
    }
    e0 = xattr_epoch_;
  }
  return Deferred([this, f = below_.Getxattr(std::move(req)), g, e0]() mutable -> Result<proto::XattrReply> {
    auto r = f.get();
    // ENODATA: the file has none; EOPNOTSUPP: the bricks keep no security.* names at all.
    int err = r.ok() ? r->err() : r.err();
    std::lock_guard lk(mu_);
    if (err == ENODATA || err == EOPNOTSUPP) absent_caps_err_ = err;
    if ((err == ENODATA || err == EOPNOTSUPP) && xattr_epoch_ == e0) {
      if (no_caps_.size() >= options_.max_items) no_caps_.clear();
      no_caps_[g] = NoCaps{err, Now()};
    }
    return r;
  });
}

// ---- passed through ----

}  // namespace hafs::client
