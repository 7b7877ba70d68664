// ReplicateLayer: self-heal (docs/replication.md, "Heal"). Runs under the same locks as a
// change, so the counters it reads are settled, and subtracts exactly what it read.
#include <sys/stat.h>

#include "client-fuse/fan_out.h"
#include "client-fuse/replicate/changelog.h"
#include "client-fuse/replicate/replicate_layer.h"
#include "common/log.h"

namespace hafs::client {

namespace {
std::atomic<uint64_t> g_heal_owner{1ULL << 40};
Gfid GfidOf(const std::string& raw) { return Gfid::FromBytes(raw).value_or(Gfid()); }
constexpr size_t kChunk = 1 << 20;
constexpr int kMaxDepth = 64;
}  // namespace

std::vector<std::map<std::string, int64_t>> ReplicateLayer::PendingOf(const Gfid& gfid) {
  std::vector<std::map<std::string, int64_t>> out(n());
  auto up = UpChildren();
  auto res = FanOut<proto::AttrReply>(n(), up, [&](size_t i) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    r.set_want_pending(true);
    return children_[i]->Getattr(r);
  });
  for (size_t i : up)
    if (res[i]->ok()) out[i] = {res[i]->value().pending().begin(), res[i]->value().pending().end()};
  return out;
}

Status ReplicateLayer::Heal(const Gfid& gfid) {
  auto up = UpChildren();
  if (up.size() < 2) return Status::Ok();  // nothing to heal onto
  // Is it a directory? Ask any brick that has it.
  for (size_t i : up) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    auto a = children_[i]->Getattr(r).get();
    if (!a.ok()) continue;
    return S_ISDIR(a->attr().mode()) ? HealDirectory(gfid, up) : HealFile(gfid, up);
  }
  return Status(ENOENT, "nothing to heal");
}

Status ReplicateLayer::HealFile(const Gfid& gfid, const std::vector<size_t>& up, bool try_only) {
  uint64_t owner = g_heal_owner.fetch_add(1);
  auto call = [&](const char* domain, size_t i, proto::LockType type, bool blocking) {
    proto::InodelkRequest r;
    r.set_gfid(gfid.Bytes());
    r.set_domain(domain);
    r.set_type(type);
    r.set_owner(owner);
    r.set_blocking(blocking);
    return children_[i]->Inodelk(r, options_.lock_wait);
  };
  auto unlock_of = [&](const char* domain) {
    return [&, domain](const std::vector<size_t>& who) {
      FanOut<proto::ErrReply>(n(), who, [&](size_t i) { return call(domain, i, proto::UNLOCK, false); });
    };
  };
  auto lock = [&](const char* domain, const std::vector<size_t>& who, bool wait) {
    return LockInOrder(
        who, [&](size_t i, bool blocking) { return call(domain, i, proto::WRITE, blocking); }, unlock_of(domain),
        wait);
  };
  // try_only: if someone holds it, a transaction (or an eager lock) is in flight, so the
  // counters are not settled and there is nothing to decide now.
  auto locked = lock("data", up, !try_only).got;
  if (try_only && locked.size() < up.size()) {
    unlock_of("data")(locked);
    return Status::Ok();
  }
  auto locked_m = lock("metadata", locked, true).got;
  auto unlock = [&] {
    unlock_of("metadata")(locked_m);
    unlock_of("data")(locked);
  };
  auto attrs = FanOut<proto::AttrReply>(n(), locked_m, [&](size_t i) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    r.set_want_pending(true);
    return children_[i]->Getattr(r);
  });
  std::vector<bool> answered(n(), false);
  std::vector<std::map<std::string, int64_t>> counters(n());
  for (size_t i : locked_m) {
    if (!attrs[i]->ok()) continue;
    answered[i] = true;
    counters[i] = {attrs[i]->value().pending().begin(), attrs[i]->value().pending().end()};
  }
  bool split_d = false, split_m = false;
  auto acc_d = Accused(counters, answered, Kind::kData, &split_d);
  auto acc_m = Accused(counters, answered, Kind::kMetadata, &split_m);
  if (split_d || split_m) {
    unlock();
    HAFS_LOG_ERROR("split-brain on {}: bricks accuse each other ({}); not healing", gfid.ToString(),
                   split_d ? "data" : "metadata");
    return Status(EIO, "split-brain");
  }
  // Candidates: answering bricks nobody accuses. The first is the source, unless they all
  // accuse themselves for data (a client died with changes in flight, or a change was refused
  // for want of quorum on the bricks it reached): their copies may differ, so the biggest (then
  // newest) of them becomes the source of every other brick rather than trusting any one.
  std::vector<size_t> candidates;
  bool fool_candidates = true;
  const auto data_names = CounterNames(Kind::kData);
  for (size_t i = 0; i < n(); ++i) {
    if (!answered[i] || acc_d[i] || acc_m[i]) continue;
    candidates.push_back(i);
    fool_candidates = fool_candidates && IsFool(counters, data_names, i);
  }
  bool any_nonzero = false;
  for (size_t i = 0; i < n(); ++i)
    for (auto& [k, v] : counters[i]) any_nonzero = any_nonzero || (v != 0 && k.rfind("pending.", 0) == 0);
  if (!any_nonzero) {
    unlock();
    return Status::Ok();
  }
  int src = -1;
  std::vector<size_t> sinks;
  if (!candidates.empty() && !fool_candidates) {
    src = static_cast<int>(candidates.front());
    for (size_t i = 0; i < n(); ++i)
      if (answered[i] && (acc_d[i] || acc_m[i])) sinks.push_back(i);
  } else {
    // No candidate at all: data and metadata each accuse another brick.
    if (candidates.empty())
      for (size_t i = 0; i < n(); ++i)
        if (answered[i]) candidates.push_back(i);
    for (size_t i : candidates) {
      const auto& a = attrs[i]->value().attr();
      if (src < 0 || a.size() > attrs[src]->value().attr().size() ||
          (a.size() == attrs[src]->value().attr().size() && a.mtime_ns() > attrs[src]->value().attr().mtime_ns()))
        src = static_cast<int>(i);
    }
    for (size_t i = 0; i < n(); ++i)
      if (answered[i] && static_cast<int>(i) != src) sinks.push_back(i);
  }
  if (src < 0) {
    unlock();
    return Status::Ok();
  }
  const proto::Attr& sa = attrs[src]->value().attr();
  Status result = Status::Ok();
  for (size_t sink : sinks) {
    // Data: the sink is cut to zero and regrown, then only non-zero chunks are written, so
    // sparse files stay sparse.
    if (S_ISREG(sa.mode())) {
      proto::SetattrRequest t;
      t.set_gfid(gfid.Bytes());
      t.set_valid(proto::SetattrRequest::SIZE);
      t.set_size(0);
      auto r0 = children_[sink]->Setattr(t).get();
      t.set_size(sa.size());
      auto r1 = children_[sink]->Setattr(t).get();
      if (!r0.ok() || !r1.ok()) {
        result = r0.ok() ? r1.status() : r0.status();
        continue;
      }
      for (uint64_t off = 0; off < sa.size() && result.ok(); off += kChunk) {
        proto::ReadRequest rd;
        rd.set_gfid(gfid.Bytes());
        rd.set_offset(off);
        rd.set_size(static_cast<uint32_t>(std::min<uint64_t>(kChunk, sa.size() - off)));
        auto data = children_[src]->Read(rd).get();
        if (!data.ok()) {
          result = data.status();
          break;
        }
        const std::string& bytes = data->data();
        if (bytes.find_first_not_of('\0') == std::string::npos) continue;
        proto::WriteRequest wr;
        wr.set_gfid(gfid.Bytes());
        wr.set_offset(off);
        wr.set_data(bytes);
        auto w = children_[sink]->Write(wr).get();
        if (!w.ok()) result = w.status();
      }
    }
    // Metadata: owner, mode, times (last, since the data copy moved mtime).
    proto::SetattrRequest m;
    m.set_gfid(gfid.Bytes());
    m.set_valid(proto::SetattrRequest::MODE | proto::SetattrRequest::UID | proto::SetattrRequest::GID |
                proto::SetattrRequest::ATIME | proto::SetattrRequest::MTIME);
    m.set_mode(sa.mode());
    m.set_uid(sa.uid());
    m.set_gid(sa.gid());
    m.set_atime_ns(sa.atime_ns());
    m.set_mtime_ns(sa.mtime_ns());
    auto mr = children_[sink]->Setattr(m).get();
    if (!mr.ok() && result.ok()) result = mr.status();
    // User xattrs: make the sink's set equal to the source's.
    proto::GfidRequest lr;
    lr.set_gfid(gfid.Bytes());
    auto want = children_[src]->Listxattr(lr).get();
    auto have = children_[sink]->Listxattr(lr).get();
    if (want.ok() && have.ok()) {
      for (auto& name : have->names()) {
        if (std::find(want->names().begin(), want->names().end(), name) != want->names().end()) continue;
        proto::RemovexattrRequest rx;
        rx.set_gfid(gfid.Bytes());
        rx.set_name(name);
        (void)children_[sink]->Removexattr(rx).get();
      }
      for (auto& name : want->names()) {
        proto::GetxattrRequest g;
        g.set_gfid(gfid.Bytes());
        g.set_name(name);
        auto v = children_[src]->Getxattr(g).get();
        if (!v.ok()) continue;
        proto::SetxattrRequest sx;
        sx.set_gfid(gfid.Bytes());
        sx.set_name(name);
        sx.set_value(v->value());
        (void)children_[sink]->Setxattr(sx).get();
      }
    }
  }
  if (result.ok()) {
    // Subtract exactly what was read, for every answering brick about every answering brick:
    // accusations of bricks that did not answer stay.
    FanOut<proto::XattropReply>(n(), locked_m, [&](size_t i) {
      proto::XattropRequest x;
      x.set_gfid(gfid.Bytes());
      for (size_t j = 0; j < n(); ++j) {
        if (!answered[j]) continue;
        for (Kind k : {Kind::kData, Kind::kMetadata}) {
          auto it = counters[i].find(CounterName(k, j));
          if (it != counters[i].end() && it->second != 0) (*x.mutable_deltas())[it->first] = -it->second;
        }
      }
      return children_[i]->Xattrop(x);
    });
    heals_done_++;
    HAFS_LOG_INFO("healed {} from brick {} onto {} brick(s)", gfid.ToString(), options_.brick_ids[src], sinks.size());
  } else {
    HAFS_LOG_WARN("heal of {} failed: {}", gfid.ToString(), result.ToString());
  }
  {
    std::vector<bool> readable(n(), false);
    for (size_t i = 0; i < n(); ++i) readable[i] = answered[i] && (result.ok() || static_cast<int>(i) == src);
    RememberHealth(gfid, readable);
  }
  unlock();
  return result;
}

Status ReplicateLayer::RemoveTree(size_t child, const Gfid& dir, const std::string& name, const Gfid& gfid,
                                  bool is_dir, int depth) {
  if (depth > kMaxDepth) return Status(ELOOP, "directory tree too deep to heal");
  proto::NameRequest r;
  r.set_parent(dir.Bytes());
  r.set_name(name);
  if (!is_dir) {
    auto u = children_[child]->Unlink(r).get();
    return u.ok() || u.err() == ENOENT ? Status::Ok() : u.status();
  }
  auto list = children_[child]->ListDirectory(gfid);
  if (list.ok()) {
    for (auto& e : *list)
      (void)RemoveTree(child, gfid, e.name(), GfidOf(e.gfid()), S_ISDIR(e.attr().mode()), depth + 1);
  }
  auto d = children_[child]->Rmdir(r).get();
  return d.ok() || d.err() == ENOENT ? Status::Ok() : d.status();
}

Status ReplicateLayer::CopyEntry(size_t source, size_t sink, const Gfid& dir, const proto::DirEntry& e) {
  const proto::Attr& a = e.attr();
  proto::Caller who;
  who.set_uid(a.uid());
  who.set_gid(a.gid());
  Result<proto::EntryReply> r = Status(EIO, "");
  if (S_ISDIR(a.mode())) {
    proto::MkdirRequest m;
    m.set_parent(dir.Bytes());
    m.set_name(e.name());
    m.set_gfid(e.gfid());
    m.set_mode(a.mode() & 07777);
    *m.mutable_caller() = who;
    // Distribute's layout of the directory comes with it (it is not a user xattr, so the
    // metadata heal does not copy it).
    proto::GetxattrRequest lg;
    lg.set_gfid(e.gfid());
    lg.set_name("hafs.layout");
    if (auto layout = children_[source]->Getxattr(lg).get(); layout.ok()) (*m.mutable_xattrs())["hafs.layout"] = layout->value();
    r = children_[sink]->Mkdir(m).get();
    if (r.ok()) {
      // Its contents are missing on the sink: record that on the source, then heal it now.
      proto::XattropRequest x;
      x.set_gfid(e.gfid());
      (*x.mutable_deltas())[CounterName(Kind::kEntry, sink)] = 1;
      (void)children_[source]->Xattrop(x).get();
    }
  } else if (S_ISLNK(a.mode())) {
    proto::GfidRequest rl;
    rl.set_gfid(e.gfid());
    auto target = children_[source]->Readlink(rl).get();
    if (!target.ok()) return target.status();
    proto::SymlinkRequest s;
    s.set_parent(dir.Bytes());
    s.set_name(e.name());
    s.set_gfid(e.gfid());
    s.set_target(target->target());
    *s.mutable_caller() = who;
    r = children_[sink]->Symlink(s).get();
  } else {
    if (S_ISREG(a.mode())) {
      proto::CreateRequest c;
      c.set_parent(dir.Bytes());
      c.set_name(e.name());
      c.set_gfid(e.gfid());
      c.set_mode(a.mode() & 07777);
      c.set_exclusive(true);
      *c.mutable_caller() = who;
      r = children_[sink]->Create(c).get();
    } else {
      proto::MknodRequest m;
      m.set_parent(dir.Bytes());
      m.set_name(e.name());
      m.set_gfid(e.gfid());
      m.set_mode(a.mode());
      m.set_rdev(a.rdev());
      *m.mutable_caller() = who;
      r = children_[sink]->Mknod(m).get();
    }
    if (!r.ok() && r.err() == EEXIST) {
      // The gfid exists on the sink under another name: a hard link was made while it was away.
      proto::LinkRequest l;
      l.set_gfid(e.gfid());
      l.set_new_parent(dir.Bytes());
      l.set_new_name(e.name());
      r = children_[sink]->Link(l).get();
    }
    if (r.ok() && S_ISREG(a.mode())) {
      // Its data is missing on the sink: the source accuses it, and the new (empty) copy
      // accuses itself too, so that it can never be taken as a source — not even when the
      // source's own counters accuse itself (a client died writing it under an eager lock),
      // where a clean empty copy would otherwise win and truncate the others.
      proto::XattropRequest x;
      x.set_gfid(e.gfid());
      (*x.mutable_deltas())[CounterName(Kind::kData, sink)] = 1;
      (void)children_[source]->Xattrop(x).get();
      (void)children_[sink]->Xattrop(x).get();
    }
  }
  if (!r.ok()) return r.status();
  return Status::Ok();
}

Status ReplicateLayer::HealDirectory(const Gfid& gfid, const std::vector<size_t>& up, bool try_only) {
  // This client's own eager entry lock on the directory would be in the heal's way.
  FlushEagerEntry(gfid);
  uint64_t owner = g_heal_owner.fetch_add(1);
  auto call = [&](size_t i, proto::LockType type, bool blocking) {
    proto::EntrylkRequest r;
    r.set_parent(gfid.Bytes());
    r.set_domain("entry");
    r.set_name("");
    r.set_type(type);
    r.set_owner(owner);
    r.set_blocking(blocking);
    return children_[i]->Entrylk(r, options_.lock_wait);
  };
  auto unlock = [&](const std::vector<size_t>& who) {
    FanOut<proto::ErrReply>(n(), who, [&](size_t i) { return call(i, proto::UNLOCK, false); });
  };
  // The heal runs only with every up brick locked: two heals that each held part of the set
  // would each heal from a partial view and subtract only the counters they read; with bricks
  // that all accuse themselves that leaves bricks accusing each other (a false split-brain).
  // try_only: someone holds it (an entry change or an eager entry lock in flight), so there is
  // nothing to decide now.
  auto locked = LockInOrder(
                    up, [&](size_t i, bool blocking) { return call(i, proto::WRITE, blocking); }, unlock, !try_only,
                    /*all_or_none=*/true)
                    .got;
  if (locked.size() < up.size()) {
    unlock(locked);
    if (try_only) return Status::Ok();
    return Status(EAGAIN, "directory busy: not healed now");
  }
  auto attrs = FanOut<proto::AttrReply>(n(), locked, [&](size_t i) {
    proto::GfidRequest r;
    r.set_gfid(gfid.Bytes());
    r.set_want_pending(true);
    return children_[i]->Getattr(r);
  });
  std::vector<bool> answered(n(), false);
  std::vector<std::map<std::string, int64_t>> counters(n());
  for (size_t i : locked) {
    if (!attrs[i]->ok()) continue;
    answered[i] = true;
    counters[i] = {attrs[i]->value().pending().begin(), attrs[i]->value().pending().end()};
  }
  bool split = false;
  auto acc = Accused(counters, answered, Kind::kEntry, &split);
  if (split) {
    unlock(locked);
    HAFS_LOG_ERROR("entry split-brain on directory {}; not healing", gfid.ToString());
    return Status(EIO, "split-brain");
  }
  int src = -1;
  bool pending = false;
  for (size_t i = 0; i < n(); ++i) {
    if (answered[i] && !acc[i] && src < 0) src = static_cast<int>(i);
    for (auto& [k, v] : counters[i]) pending = pending || (v != 0 && k.rfind("pending.entry.", 0) == 0);
  }
  // Bricks that accuse themselves ("fools": a pre-op without its post-op) that no other brick
  // accuses: a client died inside an entry change (or with an eager entry lock), and no brick
  // knows which of them got how many of its changes; a brick that was away then may be the
  // only one not accusing itself. Never take one copy's listing as the truth there (it would
  // remove what the others created): merge, as AFR's conservative merge — every name some
  // brick has is created where it is missing, nothing is removed.
  bool mismatch = false;
  const bool merge = NeedsMerge(counters, answered, CounterNames(Kind::kEntry));
  if (!pending || (src < 0 && !merge)) {
    unlock(locked);
    return Status::Ok();
  }
  std::vector<size_t> sinks;
  for (size_t i = 0; i < n(); ++i)
    if (answered[i] && acc[i]) sinks.push_back(i);
  Status result = Status::Ok();
  std::vector<Gfid> subdirs;
  if (merge) {
    std::vector<std::optional<std::map<std::string, proto::DirEntry>>> lists(n());
    for (size_t i = 0; i < n() && result.ok(); ++i) {
      if (!answered[i]) continue;
      auto l = children_[i]->ListDirectory(gfid);
      if (!l.ok()) {
        result = l.status();
        break;
      }
      lists[i].emplace();
      for (auto& e : *l) (*lists[i])[e.name()] = e;
    }
    size_t created = 0;
    for (size_t i = 0; i < n() && result.ok(); ++i) {
      if (!lists[i]) continue;
      for (auto& [name, e] : *lists[i]) {
        for (size_t k = 0; k < n(); ++k) {
          if (k == i || !lists[k]) continue;
          auto h = lists[k]->find(name);
          if (h != lists[k]->end()) {
            if (h->second.gfid() != e.gfid()) {
              // Not merged: the name's own lookup reports the gfid split-brain; the counters stay.
              HAFS_LOG_ERROR("entry merge of {}: '{}' has two gfids; left as it is", gfid.ToString(), name);
              mismatch = true;
            }
            continue;
          }
          Status s = CopyEntry(i, k, gfid, e);
          if (!s.ok()) {
            result = s;
            continue;
          }
          (*lists[k])[name] = e;  // k has it now (the loop over i's list is not disturbed: k != i)
          ++created;
          Gfid child = GfidOf(e.gfid());
          if (std::find(subdirs.begin(), subdirs.end(), child) == subdirs.end())
            subdirs.push_back(child);
        }
      }
    }
    if (created > 0)
      HAFS_LOG_INFO("merged directory {} after an interrupted entry change: {} name(s) created", gfid.ToString(),
                    created);
    src = 0;
    while (src < static_cast<int>(n()) && !answered[src]) ++src;
  }
  auto want = merge ? Result<std::vector<proto::DirEntry>>(std::vector<proto::DirEntry>())
                    : children_[src]->ListDirectory(gfid);
  if (!want.ok()) result = want.status();
  for (size_t sink : sinks) {
    if (merge) break;
    if (!result.ok()) break;
    auto have = children_[sink]->ListDirectory(gfid);
    if (!have.ok()) {
      result = have.status();
      break;
    }
    std::map<std::string, const proto::DirEntry*> have_by_name, want_by_name;
    for (auto& e : *have) have_by_name[e.name()] = &e;
    for (auto& e : *want) want_by_name[e.name()] = &e;
    for (auto& [name, e] : have_by_name) {
      auto w = want_by_name.find(name);
      if (w == want_by_name.end() || w->second->gfid() != e->gfid()) {
        Status s = RemoveTree(sink, gfid, name, GfidOf(e->gfid()), S_ISDIR(e->attr().mode()), 0);
        if (!s.ok()) result = s;
      }
    }
    for (auto& [name, e] : want_by_name) {
      auto h = have_by_name.find(name);
      if (h != have_by_name.end() && h->second->gfid() == e->gfid()) continue;
      Status s = CopyEntry(src, sink, gfid, *e);
      if (!s.ok()) {
        result = s;
        continue;
      }
      Gfid child = GfidOf(e->gfid());
      if (std::find(subdirs.begin(), subdirs.end(), child) == subdirs.end()) subdirs.push_back(child);
    }
  }
  if (result.ok() && !mismatch) {
    FanOut<proto::XattropReply>(n(), locked, [&](size_t i) {
      proto::XattropRequest x;
      x.set_gfid(gfid.Bytes());
      for (size_t j = 0; j < n(); ++j) {
        if (!answered[j]) continue;
        auto it = counters[i].find(CounterName(Kind::kEntry, j));
        if (it != counters[i].end() && it->second != 0) (*x.mutable_deltas())[it->first] = -it->second;
      }
      return children_[i]->Xattrop(x);
    });
    heals_done_++;
    HAFS_LOG_INFO("healed directory {} from brick {} onto {} brick(s)", gfid.ToString(), options_.brick_ids[src],
                  sinks.size());
  }
  unlock(locked);
  // What was just created on the sinks is healed now too (outside this directory's lock).
  for (auto& child : subdirs) {
    Status s = Heal(child);
    if (!s.ok() && s.err() != ENOENT) result = s;
  }
  return result;
}

}  // namespace hafs::client
