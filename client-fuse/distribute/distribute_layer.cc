#include "client-fuse/distribute/distribute_layer.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <set>

#include "client-fuse/fan_out.h"
#include "common/log.h"

namespace hafs::client {

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
}  // namespace

DistributeLayer::DistributeLayer(std::vector<Layer*> subvolumes) : subvols_(std::move(subvolumes)) {}

uint32_t DistributeLayer::NameHash(std::string_view name) { return XXH32(name.data(), name.size(), 0); }

size_t DistributeLayer::HashedSubvolume(std::string_view name) const {
  return static_cast<size_t>((static_cast<uint64_t>(NameHash(name)) * n()) >> 32);
}

void DistributeLayer::Remember(const Gfid& gfid, int subvol) {
  std::lock_guard lk(mu_);
  if (where_.size() > 1000000) where_.clear();  // a cache: misses are answered by asking
  where_[gfid] = subvol;
}

Result<int> DistributeLayer::Locate(const Gfid& gfid) {
  if (gfid.IsRoot()) return kAll;
  {
    std::lock_guard lk(mu_);
    auto it = where_.find(gfid);
    if (it != where_.end()) return it->second;
  }
  auto res = FanOut<proto::AttrReply>(n(), All(n()), [&](size_t i) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    return subvols_[i]->Getattr(r);
  });
  for (size_t i = 0; i < n(); ++i) {
    if (res[i]->ok()) {
      int where = S_ISDIR(res[i]->value().attr().mode()) ? kAll : static_cast<int>(i);
      Remember(gfid, where);
      return where;
    }
  }
  return Status(ENOENT, "gfid not found on any subvolume");
}

Result<std::pair<size_t, proto::EntryReply>> DistributeLayer::FindEntry(const Gfid& parent, const std::string& name) {
  proto::EntryRequest req;
  req.set_parent(parent.Bytes());
  req.set_name(name);
  size_t hashed = HashedSubvolume(name);
  auto r = subvols_[hashed]->Lookup(req).get();
  if (r.ok()) return std::make_pair(hashed, std::move(r).value());
  if (r.err() != ENOENT || n() == 1) return r.status();
  // Renamed across subvolumes (or placed by an older layout): ask everyone else.
  auto others = AllBut(n(), hashed);
  auto res = FanOut<proto::EntryReply>(n(), others, [&](size_t i) { return subvols_[i]->Lookup(req); });
  for (size_t i : others)
    if (res[i]->ok()) return std::make_pair(i, std::move(res[i]->value()));
  return r.status();
}

Future<proto::EntryReply> DistributeLayer::Lookup(proto::EntryRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    auto r = FindEntry(GfidOf(req.parent()), req.name());
    if (!r.ok()) return r.status();
    auto& [sub, rep] = *r;
    Remember(GfidOf(rep.attr().gfid()), S_ISDIR(rep.attr().mode()) ? kAll : static_cast<int>(sub));
    return std::move(rep);
  });
}

// Reads of an inode go where it lives (directories: the first subvolume).
#define HAFS_BY_GFID_READ(Method, Req, Rep)                                   \
  Future<proto::Rep> DistributeLayer::Method(proto::Req req) {                \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {    \
      auto where = Locate(GfidOf(req.gfid()));                                \
      if (!where.ok()) return where.status();                                 \
      return ReadTarget(*where)->Method(req).get();                           \
    });                                                                       \
  }

HAFS_BY_GFID_READ(Getattr, GfidRequest, AttrReply)
HAFS_BY_GFID_READ(Readlink, GfidRequest, ReadlinkReply)
HAFS_BY_GFID_READ(Read, ReadRequest, ReadReply)
HAFS_BY_GFID_READ(Getxattr, GetxattrRequest, XattrReply)
HAFS_BY_GFID_READ(Listxattr, GfidRequest, ListxattrReply)
HAFS_BY_GFID_READ(Access, AccessRequest, ErrReply)

// Changes of an inode go where it lives; for directories, to every subvolume (the first
// one's answer is returned, so a failure there fails the call).
#define HAFS_BY_GFID_WRITE(Method, Req, Rep)                                                      \
  Future<proto::Rep> DistributeLayer::Method(proto::Req req) {                                    \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {                        \
      auto where = Locate(GfidOf(req.gfid()));                                                    \
      if (!where.ok()) return where.status();                                                     \
      if (*where != kAll) return subvols_[*where]->Method(req).get();                             \
      auto res = FanOut<proto::Rep>(n(), All(n()), [&](size_t i) { return subvols_[i]->Method(req); }); \
      return std::move(*res[0]);                                                                  \
    });                                                                                           \
  }

HAFS_BY_GFID_WRITE(Setattr, SetattrRequest, AttrReply)
HAFS_BY_GFID_WRITE(Write, WriteRequest, WriteReply)
HAFS_BY_GFID_WRITE(Fallocate, FallocateRequest, AttrReply)
HAFS_BY_GFID_WRITE(Fsync, FsyncRequest, ErrReply)
HAFS_BY_GFID_WRITE(Setxattr, SetxattrRequest, ErrReply)
HAFS_BY_GFID_WRITE(Removexattr, RemovexattrRequest, ErrReply)

// New non-directories go to the subvolume their name hashes to.
#define HAFS_HASHED_CREATE(Method, Req)                                                   \
  Future<proto::EntryReply> DistributeLayer::Method(proto::Req req) {                     \
    return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {         \
      size_t sub = HashedSubvolume(req.name());                                           \
      auto r = subvols_[sub]->Method(req).get();                                          \
      if (r.ok()) Remember(GfidOf(r->attr().gfid()), static_cast<int>(sub));              \
      return r;                                                                           \
    });                                                                                   \
  }

HAFS_HASHED_CREATE(Mknod, MknodRequest)
HAFS_HASHED_CREATE(Symlink, SymlinkRequest)

Future<proto::EntryReply> DistributeLayer::Create(proto::CreateRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    size_t sub = HashedSubvolume(req.name());
    if (n() > 1) {
      // The name may live on another subvolume (renamed there): creating it here would make two.
      auto existing = FindEntry(GfidOf(req.parent()), req.name());
      if (existing.ok()) {
        if (req.exclusive()) return Status(EEXIST, "exists");
        if (S_ISDIR(existing->second.attr().mode())) return Status(EISDIR, "is a directory");
        sub = existing->first;
      }
    }
    auto r = subvols_[sub]->Create(req).get();
    if (r.ok()) Remember(GfidOf(r->attr().gfid()), static_cast<int>(sub));
    return r;
  });
}

Future<proto::EntryReply> DistributeLayer::Mkdir(proto::MkdirRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    // The hashed subvolume decides (EEXIST, EACCES …); the others follow.
    size_t hashed = HashedSubvolume(req.name());
    auto r = subvols_[hashed]->Mkdir(req).get();
    if (!r.ok()) return r;
    auto others = AllBut(n(), hashed);
    auto res = FanOut<proto::EntryReply>(n(), others, [&](size_t i) { return subvols_[i]->Mkdir(req); });
    for (size_t i : others)
      if (!res[i]->ok() && res[i]->err() != EEXIST)
        HAFS_LOG_WARN("mkdir {} on subvolume {}: {}", req.name(), i, res[i]->status().ToString());
    Remember(GfidOf(r->attr().gfid()), kAll);
    return r;
  });
}

Future<proto::EntryReply> DistributeLayer::Rmdir(proto::NameRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    // Non-hashed copies first: if one is not empty, nothing is removed from the hashed one,
    // and the directory stays visible.
    size_t hashed = HashedSubvolume(req.name());
    auto others = AllBut(n(), hashed);
    auto res = FanOut<proto::EntryReply>(n(), others, [&](size_t i) { return subvols_[i]->Rmdir(req); });
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
          (void)subvols_[j]->Mkdir(m).get();
        }
        return res[i]->status();
      }
    }
    return subvols_[hashed]->Rmdir(req).get();
  });
}

Future<proto::EntryReply> DistributeLayer::Unlink(proto::NameRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    auto where = FindEntry(GfidOf(req.parent()), req.name());
    if (!where.ok()) return where.status();
    return subvols_[where->first]->Unlink(req).get();
  });
}

Future<proto::EntryReply> DistributeLayer::Link(proto::LinkRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    // A hard link must live with its inode, whatever the new name hashes to.
    auto where = Locate(GfidOf(req.gfid()));
    if (!where.ok()) return where.status();
    if (*where == kAll) return Status(EPERM, "hard links to directories are not allowed");
    return subvols_[*where]->Link(req).get();
  });
}

Future<proto::RenameReply> DistributeLayer::Rename(proto::RenameRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::RenameReply> {
    auto src = FindEntry(GfidOf(req.old_parent()), req.old_name());
    if (!src.ok()) return src.status();
    bool is_dir = S_ISDIR(src->second.attr().mode());
    if (is_dir) {
      // Directories are everywhere: rename everywhere, the hashed one of the old name first.
      size_t first = HashedSubvolume(req.old_name());
      auto r = subvols_[first]->Rename(req).get();
      if (!r.ok()) return r;
      auto others = AllBut(n(), first);
      auto res = FanOut<proto::RenameReply>(n(), others, [&](size_t i) { return subvols_[i]->Rename(req); });
      for (size_t i : others)
        if (!res[i]->ok()) HAFS_LOG_WARN("rename of directory on subvolume {}: {}", i, res[i]->status().ToString());
      return r;
    }
    // A file stays on its subvolume; a different file already at the target name elsewhere
    // is replaced, as rename(2) promises.
    auto dst = FindEntry(GfidOf(req.new_parent()), req.new_name());
    if (dst.ok() && dst->first != src->first) {
      if (req.flags() & RENAME_NOREPLACE) return Status(EEXIST, "target exists");
      if (S_ISDIR(dst->second.attr().mode())) return Status(EISDIR, "target is a directory");
      proto::NameRequest u;
      u.set_parent(req.new_parent());
      u.set_name(req.new_name());
      auto ur = subvols_[dst->first]->Unlink(u).get();
      if (!ur.ok()) return ur.status();
    }
    return subvols_[src->first]->Rename(req).get();
  });
}

Future<proto::ReaddirReply> DistributeLayer::Readdir(proto::ReaddirRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::ReaddirReply> {
    proto::ReaddirReply out;
    std::set<std::string> seen;
    for (size_t i = 0; i < n(); ++i) {
      uint64_t cookie = 0;
      for (int page = 0; page < 1000000; ++page) {
        proto::ReaddirRequest r = req;
        r.set_cookie(cookie);
        r.set_max_entries(1024);
        auto rep = subvols_[i]->Readdir(r).get();
        if (!rep.ok()) {
          if (i == 0) return rep.status();
          HAFS_LOG_WARN("readdir on subvolume {}: {}", i, rep.status().ToString());
          break;
        }
        for (auto& e : *rep->mutable_entries()) {
          cookie = e.next_cookie();
          // Directories appear on every subvolume: list each name once.
          if (!seen.insert(e.name()).second) continue;
          Gfid g = GfidOf(e.gfid());
          if (!g.IsNull()) Remember(g, e.type() == 4 /* DT_DIR */ ? kAll : static_cast<int>(i));
          *out.add_entries() = std::move(e);
        }
        if (rep->eof() || rep->entries().empty()) break;
      }
    }
    for (int k = 0; k < out.entries_size(); ++k) out.mutable_entries(k)->set_next_cookie(k + 1);
    out.set_eof(true);
    return out;
  });
}

Future<proto::StatfsReply> DistributeLayer::Statfs(proto::GfidRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::StatfsReply> {
    auto res = FanOut<proto::StatfsReply>(n(), All(n()), [&](size_t i) { return subvols_[i]->Statfs(req); });
    proto::StatfsReply sum;
    bool any = false;
    for (size_t i = 0; i < n(); ++i) {
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
  return Deferred([this, gfid]() -> Result<std::shared_ptr<FileRef>> {
    auto where = Locate(gfid);
    if (!where.ok()) return where.status();
    return ReadTarget(*where)->Open(gfid).get();
  });
}

}  // namespace hafs::client
