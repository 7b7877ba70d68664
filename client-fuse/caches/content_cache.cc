#include "client-fuse/caches/content_cache.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include "common/log.h"

namespace hafs::client {

namespace {
Gfid GfidOf(const std::string& raw) { return Gfid::FromBytes(raw).value_or(Gfid()); }
constexpr size_t kEntryOverhead = 160;      // map + list + name bookkeeping per entry
constexpr size_t kMaxTombstones = 100000;  // then one "everything dropped" epoch instead
}  // namespace

ContentCache::ContentCache(Layer& below, Options options) : ForwardingLayer(below), options_(std::move(options)) {
  options_.write_through = options_.write_through && WriteThroughByEnv();
}

ContentCache::~ContentCache() {
  HAFS_LOG_INFO("content-cache: {} reads from memory, {} sent down, {} lookups answered with content, {} contents "
                "stored ({} from own writes), {} dropped, {} evicted, {} write-throughs ended",
                stats_.hits, stats_.misses, stats_.attached, stats_.fills, stats_.written, stats_.drops,
                stats_.evictions, stats_.wt_aborted);
}

bool ContentCache::WriteThroughByEnv() {
  const char* env = std::getenv("HAFS_CC_WRITE_THROUGH");
  return !(env && std::string(env) == "0");
}

bool ContentCache::EnabledByEnv() {
  const char* env = std::getenv("HAFS_CONTENT_CACHE");
  return !(env && std::string(env) == "0");
}

void ContentCache::SetLimits(uint32_t max_file, size_t max_bytes, std::chrono::milliseconds timeout) {
  std::lock_guard lk(mu_);
  options_.max_file = max_file;
  options_.max_bytes = max_bytes;
  options_.timeout = timeout;
  EvictLocked();
}

uint64_t ContentCache::Epoch() const {
  std::lock_guard lk(mu_);
  return epoch_;
}

bool ContentCache::DroppedSinceLocked(const Gfid& g, uint64_t start) const {
  if (all_epoch_ > start) return true;
  auto t = tomb_.find(g);
  return t != tomb_.end() && t->second > start;
}

void ContentCache::EraseLocked(std::unordered_map<Gfid, Entry, GfidHash>::iterator it, bool count_drop) {
  Entry& e = it->second;
  if (!e.name_key.empty()) {
    auto n = names_.find(e.name_key);
    if (n != names_.end() && n->second == it->first) names_.erase(n);
  }
  if (count_drop && e.data) ++stats_.drops;
  bytes_ -= e.cost;
  lru_.erase(e.lru);
  map_.erase(it);
}

void ContentCache::ForgetBuildLocked(const Gfid& g, const char* why) {
  auto b = building_.find(g);
  if (b == building_.end()) return;
  HAFS_LOG_DEBUG("content-cache: write-through of {} ended: {}", g.ToString(), why);
  building_bytes_ -= b->second.data->size();
  building_.erase(b);
  ++stats_.wt_aborted;
}

void ContentCache::DropLocked(const Gfid& g) {
  ForgetBuildLocked(g, "changed or invalidated");
  DropContentLocked(g);
}

void ContentCache::DropContentLocked(const Gfid& g) {
  ++epoch_;
  if (tomb_.size() >= kMaxTombstones) {
    tomb_.clear();
    all_epoch_ = epoch_;
  } else {
    tomb_[g] = epoch_;
  }
  auto it = map_.find(g);
  if (it != map_.end()) EraseLocked(it, true);
}

void ContentCache::DropNameLocked(const std::string& key) {
  auto n = names_.find(key);
  if (n == names_.end()) return;
  Gfid g = n->second;
  names_.erase(n);
  DropLocked(g);
}

void ContentCache::Drop(const Gfid& gfid) {
  std::lock_guard lk(mu_);
  DropContentLocked(gfid);
}

void ContentCache::DropAll() {
  std::lock_guard lk(mu_);
  ++epoch_;
  all_epoch_ = epoch_;
  tomb_.clear();
  for (auto& [g, e] : map_)
    if (e.data) ++stats_.drops;
  map_.clear();
  lru_.clear();
  names_.clear();
  read_dirs_.clear();
  bytes_ = 0;
  stats_.wt_aborted += building_.size();
  building_.clear();
  building_bytes_ = 0;
}

void ContentCache::OnInvalidate(const proto::Invalidate& inv) {
  if (IsDropAll(inv)) return DropAll();
  std::lock_guard lk(mu_);
  if (auto g = Gfid::FromBytes(inv.gfid())) DropLocked(*g);
  if (!inv.parent().empty()) DropNameLocked(NameKey(inv.parent(), inv.name()));
}

void ContentCache::EvictLocked() {
  while (bytes_ > options_.max_bytes && !lru_.empty()) {
    auto it = map_.find(lru_.back());
    if (it->second.data) ++stats_.evictions;
    EraseLocked(it, false);
  }
}

void ContentCache::Observe(const proto::Attr& a, const std::string* name_key, uint64_t start) {
  auto g = Gfid::FromBytes(a.gfid());
  if (!g || g->IsNull()) return;
  std::lock_guard lk(mu_);
  auto it = map_.find(*g);
  bool small = S_ISREG(a.mode()) && a.size() <= options_.max_file;
  if (it != map_.end()) {
    if (Same(it->second, a)) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      if (name_key && it->second.name_key != *name_key && !name_key->empty()) {
        if (!it->second.name_key.empty()) {
          auto n = names_.find(it->second.name_key);
          if (n != names_.end() && n->second == *g) names_.erase(n);
        }
        it->second.name_key = *name_key;
        names_[*name_key] = *g;
      }
      return;
    }
    EraseLocked(it, true);  // changed behind our back: its content is stale
    ForgetBuildLocked(*g, "attributes seen differ");
  }
  if (!small || DroppedSinceLocked(*g, start)) return;
  Entry e;
  e.mode = a.mode();
  e.size = a.size();
  e.mtime_ns = a.mtime_ns();
  e.ctime_ns = a.ctime_ns();
  e.expires = Now() + options_.timeout;
  if (name_key) e.name_key = *name_key;
  e.cost = kEntryOverhead + e.name_key.size();
  lru_.push_front(*g);
  e.lru = lru_.begin();
  bytes_ += e.cost;
  if (!e.name_key.empty()) names_[e.name_key] = *g;
  map_.emplace(*g, std::move(e));
  EvictLocked();
}

void ContentCache::Fill(const Gfid& g, const proto::Attr* a, std::string data, const std::string* name_key,
                        uint64_t start) {
  if (data.size() > options_.max_file || data.size() + kEntryOverhead > options_.max_bytes) return;
  if (a && (!S_ISREG(a->mode()) || a->size() != data.size())) return;
  std::lock_guard lk(mu_);
  if (DroppedSinceLocked(g, start)) return;  // changed while it was being read
  auto it = map_.find(g);
  if (a) {
    if (it != map_.end() && !Same(it->second, *a)) ForgetBuildLocked(g, "a lookup brought other content");  // changed since written
    StoreLocked(g, *a, std::make_shared<const std::string>(std::move(data)), name_key);
    return;
  }
  if (it == map_.end() || it->second.size != data.size()) return;  // a read: only with attributes seen for exactly this size
  proto::Attr seen;
  seen.set_mode(it->second.mode);
  seen.set_size(it->second.size);
  seen.set_mtime_ns(it->second.mtime_ns);
  seen.set_ctime_ns(it->second.ctime_ns);
  StoreLocked(g, seen, std::make_shared<const std::string>(std::move(data)), name_key);
}

void ContentCache::StoreLocked(const Gfid& g, const proto::Attr& a, std::shared_ptr<const std::string> data,
                               const std::string* name_key) {
  if (data->size() > options_.max_file || data->size() + kEntryOverhead > options_.max_bytes) return;
  auto it = map_.find(g);
  if (it != map_.end() && !Same(it->second, a)) {
    EraseLocked(it, true);
    it = map_.end();
  }
  if (it == map_.end()) {
    Entry e;
    e.mode = a.mode();
    e.size = a.size();
    e.mtime_ns = a.mtime_ns();
    e.ctime_ns = a.ctime_ns();
    lru_.push_front(g);
    e.lru = lru_.begin();
    e.cost = kEntryOverhead;
    bytes_ += e.cost;
    it = map_.emplace(g, std::move(e)).first;
  }
  Entry& e = it->second;
  bytes_ -= e.cost;
  if (name_key && !name_key->empty() && e.name_key != *name_key) {
    if (!e.name_key.empty()) {
      auto n = names_.find(e.name_key);
      if (n != names_.end() && n->second == g) names_.erase(n);
    }
    e.name_key = *name_key;
    names_[e.name_key] = g;
  }
  e.data = std::move(data);
  e.expires = Now() + options_.timeout;
  e.cost = kEntryOverhead + e.name_key.size() + e.data->size();
  bytes_ += e.cost;
  lru_.splice(lru_.begin(), lru_, e.lru);
  ++stats_.fills;
  EvictLocked();
}

std::shared_ptr<const std::string> ContentCache::Get(const Gfid& g, proto::Attr* attr_out) {
  std::lock_guard lk(mu_);
  auto it = map_.find(g);
  if (it == map_.end()) return nullptr;
  if (it->second.expires <= Now()) {
    EraseLocked(it, false);
    return nullptr;
  }
  if (!it->second.data) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  if (attr_out) {
    attr_out->set_size(it->second.size);
    attr_out->set_mtime_ns(it->second.mtime_ns);
    attr_out->set_ctime_ns(it->second.ctime_ns);
    attr_out->set_mode(it->second.mode);
  }
  return it->second.data;
}

bool ContentCache::Has(const Gfid& gfid) const {
  std::lock_guard lk(mu_);
  auto it = map_.find(gfid);
  return it != map_.end() && it->second.data != nullptr;
}

ContentCache::Stats ContentCache::stats() const {
  std::lock_guard lk(mu_);
  Stats s = stats_;
  s.bytes = bytes_;
  s.entries = map_.size();
  return s;
}

// ---- operations ----

Future<proto::EntryReply> ContentCache::Lookup(proto::EntryRequest req) {
  const uint32_t want = std::min(req.want_data(), options_.max_file);
  std::string key = NameKey(req.parent(), req.name());
  uint64_t start;
  bool have = false;
  {
    std::lock_guard lk(mu_);
    start = epoch_;
    if (want > 0) {
      auto n = names_.find(key);
      if (n != names_.end()) {
        auto it = map_.find(n->second);
        have = it != map_.end() && it->second.data && it->second.expires > Now();
      }
    }
  }
  bool ask = want > 0 && !have;
  if (ask && options_.only_where_read) {
    std::lock_guard lk(mu_);
    auto d = read_dirs_.find(req.parent());
    ask = d != read_dirs_.end() && d->second > Now();
  }
  // The content is here: the brick need not read it again (the reply's attributes decide).
  req.set_want_data(ask ? want : 0);
  auto below = below_.Lookup(std::move(req));
  return Deferred([this, below = std::move(below), key = std::move(key), want, start]() mutable
                  -> Result<proto::EntryReply> {
    auto r = below.get();
    if (!r.ok()) {
      if (r.err() == ENOENT) {
        std::lock_guard lk(mu_);
        DropNameLocked(key);
      }
      return r;
    }
    const proto::Attr& a = r->attr();
    Gfid g = GfidOf(a.gfid());
    if (r->has_data()) {
      Fill(g, &a, r->data(), &key, start);
      Observe(a, &key, start);
      return r;
    }
    Observe(a, &key, start);  // drops the content if the attributes changed
    if (want > 0 && S_ISREG(a.mode())) {
      proto::Attr cached;
      if (auto data = Get(g, &cached);
          data && cached.size() == a.size() && cached.mtime_ns() == a.mtime_ns() &&
          cached.ctime_ns() == a.ctime_ns()) {
        r->set_has_data(true);
        r->set_data(*data);
        std::lock_guard lk(mu_);
        ++stats_.attached;
      }
    }
    return r;
  });
}

Future<proto::ReadReply> ContentCache::Read(proto::ReadRequest req) {
  Gfid g = GfidOf(req.gfid());
  if (auto data = Get(g, nullptr)) {
    proto::ReadReply rep;
    uint64_t off = req.offset();
    if (off < data->size()) rep.set_data(data->substr(static_cast<size_t>(off), req.size()));
    rep.set_eof(off + req.size() >= data->size());
    {
      std::lock_guard lk(mu_);
      ++stats_.hits;
    }
    return Ready<proto::ReadReply>(std::move(rep));
  }
  uint64_t start;
  bool whole = false;  // a small file whose attributes are known: read all of it at once
  {
    std::lock_guard lk(mu_);
    ++stats_.misses;
    start = epoch_;
    auto it = map_.find(g);
    if (it != map_.end() && it->second.name_key.size() > Gfid::kSize) {
      // Files are read in this directory: its next lookups bring small files' content.
      if (read_dirs_.size() >= 10000) read_dirs_.clear();
      read_dirs_[it->second.name_key.substr(0, Gfid::kSize)] = Now() + options_.timeout;
    }
    whole = it != map_.end() && it->second.expires > Now() && S_ISREG(it->second.mode) &&
            it->second.size <= options_.max_file && req.offset() + req.size() <= options_.max_file;
  }
  if (!whole) {
    // Not known: the read goes down as asked; if it covers the file, keep it (the attributes
    // must have been seen by then, else Fill refuses).
    auto below = below_.Read(req);
    return Deferred([this, below = std::move(below), g, req, start]() mutable -> Result<proto::ReadReply> {
      auto r = below.get();
      if (r.ok() && req.offset() == 0 && (r->data().size() < req.size() || r->eof()))
        Fill(g, nullptr, r->data(), nullptr, start);
      return r;
    });
  }
  proto::ReadRequest all;
  all.set_gfid(req.gfid());
  all.set_offset(0);
  all.set_size(options_.max_file);
  auto below = below_.Read(all);
  return Deferred([this, below = std::move(below), g, req, start]() mutable -> Result<proto::ReadReply> {
    auto r = below.get();
    if (!r.ok()) return r;
    const std::string& d = r->data();
    if (d.size() >= options_.max_file && !r->eof()) {
      // It has grown beyond the limit since its attributes were seen: read as asked.
      return below_.Read(req).get();
    }
    proto::ReadReply rep;
    uint64_t off = req.offset();
    if (off < d.size()) rep.set_data(d.substr(static_cast<size_t>(off), req.size()));
    rep.set_eof(off + req.size() >= d.size());
    Fill(g, nullptr, std::move(*r->mutable_data()), nullptr, start);
    return rep;
  });
}

// Fallocate changes the content: dropped before (no reader of this mount gets the old
// content once the change started) and after (a fill that raced with it); it ends the
// file's write-through.
Future<proto::AttrReply> ContentCache::Fallocate(proto::FallocateRequest req) {
  Gfid g = GfidOf(req.gfid());
  {
    std::lock_guard lk(mu_);
    DropLocked(g);
  }
  auto below = below_.Fallocate(std::move(req));
  return Deferred([this, below = std::move(below), g]() mutable -> Result<proto::AttrReply> {
    auto r = below.get();
    std::lock_guard lk(mu_);
    DropLocked(g);
    return r;
  });
}

// ---- write-through ----

void ContentCache::StartBuildLocked(const Gfid& g, const proto::Attr& a, const std::string& name_key) {
  ForgetBuildLocked(g, "created or truncated again");
  if (building_.size() >= 100000) {  // bound the bookkeeping: files still being written keep theirs
    for (auto it = building_.begin(); it != building_.end();)
      it = it->second.inflight == 0 ? (building_bytes_ -= it->second.data->size(), building_.erase(it)) : std::next(it);
  }
  Building& b = building_[g];
  b.id = next_build_++;
  b.data = std::make_shared<const std::string>();
  b.have_attr = true;
  b.attr = a;
  b.name_key = name_key;
  b.expires = Now() + options_.timeout;
  StoreLocked(g, a, b.data, name_key.empty() ? nullptr : &name_key);  // an empty file, as read
}

Future<proto::EntryReply> ContentCache::Create(proto::CreateRequest req) {
  std::string key = NameKey(req.parent(), req.name());
  uint64_t start;
  {
    std::lock_guard lk(mu_);
    DropNameLocked(key);
    start = epoch_;
  }
  auto below = below_.Create(std::move(req));
  return Deferred([this, below = std::move(below), start, key = std::move(key)]() mutable -> Result<proto::EntryReply> {
    auto r = below.get();
    if (!r.ok()) return r;
    const proto::Attr& a = r->attr();
    Observe(a, nullptr, start);
    Gfid g = GfidOf(a.gfid());
    if (options_.write_through && !g.IsNull() && S_ISREG(a.mode()) && a.size() == 0) {
      std::lock_guard lk(mu_);
      if (!DroppedSinceLocked(g, start)) StartBuildLocked(g, a, key);
    }
    return r;
  });
}

namespace {
bool Later(const proto::Attr& a, const proto::Attr& b) {  // a is a later state of the file than b
  if (a.ctime_ns() != b.ctime_ns()) return a.ctime_ns() > b.ctime_ns();
  if (a.mtime_ns() != b.mtime_ns()) return a.mtime_ns() > b.mtime_ns();
  return a.size() > b.size();
}
bool Overlaps(const std::map<uint64_t, std::string>& m, uint64_t off, uint64_t len) {
  auto it = m.lower_bound(off);
  if (it != m.end() && it->first < off + len) return true;
  if (it != m.begin()) {
    --it;
    if (it->first + it->second.size() > off) return true;
  }
  return false;
}
}  // namespace

// A setattr that leaves the size alone (times, mode, owner: cp -p, tar, rsync's fchmod right
// after its create) does not change the content: the cached content stays, under the reply's
// attributes, and a write-through goes on (the reply's attributes count as its latest). One
// that sets the size changes it: dropped before and after; truncated to 0, a new
// write-through starts.
Future<proto::AttrReply> ContentCache::Setattr(proto::SetattrRequest req) {
  Gfid g = GfidOf(req.gfid());
  const bool sized = req.valid() & proto::SetattrRequest::SIZE;
  const bool truncate0 = sized && req.size() == 0;
  uint64_t start;
  {
    std::lock_guard lk(mu_);
    if (sized) DropLocked(g);
    start = epoch_;
  }
  auto below = below_.Setattr(std::move(req));
  return Deferred([this, below = std::move(below), g, sized, truncate0, start]() mutable -> Result<proto::AttrReply> {
    auto r = below.get();
    std::lock_guard lk(mu_);
    // Dropped (invalidated, changed) while the setattr ran: nothing is kept or started.
    const bool fresh = !DroppedSinceLocked(g, start);
    if (!sized && r.ok() && fresh && GfidOf(r->attr().gfid()) == g) {
      if (!KeepLocked(g, r->attr(), nullptr)) DropContentLocked(g);
      auto b = building_.find(g);
      if (b != building_.end() && (!b->second.have_attr || Later(r->attr(), b->second.attr))) {
        b->second.attr = r->attr();
        b->second.have_attr = true;
      }
      return r;
    }
    DropLocked(g);
    if (r.ok() && truncate0 && fresh && options_.write_through && !g.IsNull() && S_ISREG(r->attr().mode()) &&
        r->attr().size() == 0 && GfidOf(r->attr().gfid()) == g)
      StartBuildLocked(g, r->attr(), std::string());
    return r;
  });
}

bool ContentCache::KeepLocked(const Gfid& g, const proto::Attr& a, const std::string* name_key) {
  auto it = map_.find(g);
  if (it == map_.end() || !it->second.data || !S_ISREG(a.mode()) || it->second.size != a.size()) return false;
  Entry& e = it->second;
  e.mode = a.mode();
  e.mtime_ns = a.mtime_ns();
  e.ctime_ns = a.ctime_ns();
  if (name_key) {
    if (!e.name_key.empty()) {
      auto n = names_.find(e.name_key);
      if (n != names_.end() && n->second == g) names_.erase(n);
    }
    e.name_key = *name_key;
    names_[*name_key] = g;
  }
  return true;
}

Future<proto::WriteReply> ContentCache::Write(proto::WriteRequest req) {
  Gfid g = GfidOf(req.gfid());
  const uint64_t off = req.offset(), len = req.data().size();
  uint64_t id = 0;  // the write-through this write continues (0: none)
  uint64_t ticket = 0;
  bool wait = false;
  {
    std::lock_guard lk(mu_);
    DropContentLocked(g);
    auto b = building_.find(g);
    if (b != building_.end()) {
      Building& w = b->second;
      bool ok = options_.write_through && !req.append() && len > 0 && off + len <= options_.max_file &&
                off >= w.data->size() && w.expires > Now() && !Overlaps(w.flying, off, len) &&
                !Overlaps(w.done, off, len);
      if (ok) {
        id = w.id;
        ticket = w.tickets++;
        wait = ticket != w.served;
        ++w.inflight;
        w.flying[off] = req.data();
      } else {
        ForgetBuildLocked(g, "write not continuing it");
      }
    }
  }
  if (!wait) {
    auto below = below_.Write(std::move(req));
    return Deferred([this, below = std::move(below), g, id, off, len]() mutable -> Result<proto::WriteReply> {
      return WriteDone(g, id, off, len, below.get());
    });
  }
  // Another write of the file is in flight (write-behind sends non-overlapping writes at once):
  // this one goes down after it is answered, so that the bricks, and md_cache's attributes,
  // see the small file's writes one after the other (md_cache keeps no attributes from writes
  // that overlapped in time: the next lookup would ask a brick, whose times may differ by a
  // tick from the ones kept here). Bounded: after 2 s it goes anyway and the write-through ends.
  return Deferred([this, req = std::move(req), g, id, ticket, off, len]() mutable -> Result<proto::WriteReply> {
    {
      std::unique_lock lk(mu_);
      bool turn = cv_.wait_for(lk, std::chrono::seconds(2), [&] {
        auto b = building_.find(g);
        return b == building_.end() || b->second.id != id || b->second.served >= ticket;
      });
      if (!turn) ForgetBuildLocked(g, "an earlier write was not answered in time");
    }
    return WriteDone(g, id, off, len, below_.Write(std::move(req)).get());
  });
}

Result<proto::WriteReply> ContentCache::WriteDone(const Gfid& g, uint64_t id, uint64_t off, uint64_t len,
                                                  Result<proto::WriteReply> r) {
  std::lock_guard lk(mu_);
  DropContentLocked(g);
  auto b = building_.find(g);
  if (b != building_.end() && b->second.id != id) {
    // A write that is not part of the file's current write-through (sent before it started,
    // e.g. before a truncate to 0): the bytes on the bricks are not what it holds.
    ForgetBuildLocked(g, "another write of the file landed");
    b = building_.end();
  }
  if (id == 0) return r;
  cv_.notify_all();  // the next write of the file may go
  if (b == building_.end()) return r;  // ended meanwhile
  Building& w = b->second;
  --w.inflight;
  ++w.served;
  auto seg = w.flying.extract(off);
  if (!r.ok() || r->written() != len || seg.empty() || !r->has_attr() || GfidOf(r->attr().gfid()) != g) {
    ForgetBuildLocked(g, "write failed, short or without attributes");
    return r;
  }
  if (!w.have_attr || Later(r->attr(), w.attr)) {
    w.attr = r->attr();
    w.have_attr = true;
  }
  w.done.insert(std::move(seg));
  if (!w.done.empty() && w.done.begin()->first == w.data->size()) {
    std::string d = *w.data;
    while (!w.done.empty() && w.done.begin()->first == d.size()) {
      d += w.done.begin()->second;
      w.done.erase(w.done.begin());
    }
    building_bytes_ += d.size() - w.data->size();
    w.data = std::make_shared<const std::string>(std::move(d));
  }
  w.expires = Now() + options_.timeout;
  if (w.inflight > 0) return r;  // the content is stored once no write of it is in flight
  if (!w.done.empty() || !S_ISREG(w.attr.mode()) || w.attr.size() != w.data->size()) {
    HAFS_LOG_DEBUG("content-cache: {}: {} bytes written from 0, {} pieces past a hole, attributes say {} bytes",
                   g.ToString(), w.data->size(), w.done.size(), w.attr.size());
    ForgetBuildLocked(g, "a hole, or the attributes are not of what was written");
    return r;
  }
  auto data = w.data;
  const proto::Attr attr = w.attr;
  const std::string name_key = w.name_key;
  StoreLocked(g, attr, std::move(data), name_key.empty() ? nullptr : &name_key);
  ++stats_.written;
  if (building_bytes_ > options_.max_bytes / 4) {  // drop the settled ones' bookkeeping
    for (auto it = building_.begin(); it != building_.end() && building_bytes_ > options_.max_bytes / 8;)
      it = it->second.inflight == 0 ? (building_bytes_ -= it->second.data->size(), building_.erase(it)) : std::next(it);
  }
  return r;
}

Future<proto::AttrReply> ContentCache::Getattr(proto::GfidRequest req) {
  uint64_t start = Epoch();
  auto below = below_.Getattr(std::move(req));
  return Deferred([this, below = std::move(below), start]() mutable -> Result<proto::AttrReply> {
    auto r = below.get();
    if (r.ok()) Observe(r->attr(), nullptr, start);
    return r;
  });
}

// New entries: the name now means another inode.
#define HAFS_CC_NEW_ENTRY(Method, Req, parent_field, name_field)                               \
  Future<proto::EntryReply> ContentCache::Method(proto::Req req) {                             \
    std::string key = NameKey(req.parent_field(), req.name_field());                           \
    {                                                                                          \
      std::lock_guard lk(mu_);                                                                 \
      DropNameLocked(key);                                                                     \
    }                                                                                          \
    uint64_t start = Epoch();                                                                  \
    auto below = below_.Method(std::move(req));                                                \
    return Deferred([this, below = std::move(below), start]() mutable -> Result<proto::EntryReply> { \
      auto r = below.get();                                                                    \
      if (r.ok()) Observe(r->attr(), nullptr, start);                                          \
      return r;                                                                                \
    });                                                                                        \
  }

HAFS_CC_NEW_ENTRY(Mkdir, MkdirRequest, parent, name)
HAFS_CC_NEW_ENTRY(Mknod, MknodRequest, parent, name)
HAFS_CC_NEW_ENTRY(Symlink, SymlinkRequest, parent, name)
HAFS_CC_NEW_ENTRY(Link, LinkRequest, new_parent, new_name)

// Removed entries: the inode behind the name is dropped (an unlinked file's last name gone;
// one of several hard links gone changes its ctime anyway).
#define HAFS_CC_REMOVE(Method)                                                                 \
  Future<proto::EntryReply> ContentCache::Method(proto::NameRequest req) {                     \
    std::string key = NameKey(req.parent(), req.name());                                       \
    {                                                                                          \
      std::lock_guard lk(mu_);                                                                 \
      DropNameLocked(key);                                                                     \
    }                                                                                          \
    auto below = below_.Method(std::move(req));                                                \
    return Deferred([this, below = std::move(below), key]() mutable -> Result<proto::EntryReply> { \
      auto r = below.get();                                                                    \
      std::lock_guard lk(mu_);                                                                 \
      DropNameLocked(key);                                                                     \
      if (r.ok())                                                                              \
        if (auto g = Gfid::FromBytes(r->attr().gfid()); g && !g->IsNull()) DropLocked(*g);     \
      return r;                                                                                \
    });                                                                                        \
  }

HAFS_CC_REMOVE(Unlink)
HAFS_CC_REMOVE(Rmdir)

// A rename changes names, not content: what the target name meant is dropped (before and
// after), and the moved file's cached content stays, under its new name and the reply's
// attributes (a file written under a temporary name and renamed into place is still kept).
Future<proto::RenameReply> ContentCache::Rename(proto::RenameRequest req) {
  std::string from = NameKey(req.old_parent(), req.old_name());
  std::string to = NameKey(req.new_parent(), req.new_name());
  uint64_t start;
  {
    std::lock_guard lk(mu_);
    DropNameLocked(to);
    names_.erase(from);
    start = epoch_;
  }
  auto below = below_.Rename(std::move(req));
  return Deferred([this, below = std::move(below), from, to, start]() mutable -> Result<proto::RenameReply> {
    auto r = below.get();
    std::lock_guard lk(mu_);
    DropNameLocked(to);
    names_.erase(from);
    if (r.ok()) {
      if (auto g = Gfid::FromBytes(r->replaced_gfid()); g && !g->IsNull()) DropLocked(*g);
      if (auto g = Gfid::FromBytes(r->attr().gfid()); g && !g->IsNull()) {
        ForgetBuildLocked(*g, "renamed");
        if (DroppedSinceLocked(*g, start) || !KeepLocked(*g, r->attr(), &to)) DropLocked(*g);
      }
    }
    return r;
  });
}

Future<proto::ReaddirReply> ContentCache::Readdir(proto::ReaddirRequest req) {
  auto below = below_.Readdir(std::move(req));
  return Deferred([this, below = std::move(below)]() mutable -> Result<proto::ReaddirReply> {
    auto r = below.get();
    if (!r.ok()) return r;
    // The listing may come from another brick than the lookups (other times): only a size
    // that differs tells for sure that the content changed.
    std::lock_guard lk(mu_);
    if (map_.empty()) return r;
    for (const auto& e : r->entries()) {
      if (!e.has_attr() || e.attr().mode() == 0) continue;
      auto g = Gfid::FromBytes(e.gfid());
      if (!g) continue;
      auto it = map_.find(*g);
      if (it != map_.end() && (it->second.size != e.attr().size() || !S_ISREG(e.attr().mode()))) {
        EraseLocked(it, true);
        ForgetBuildLocked(*g, "a listing shows another size");
      }
    }
    return r;
  });
}

}  // namespace hafs::client
