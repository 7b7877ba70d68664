#include "client-fuse/caches/read_ahead.h"

#include <algorithm>
#include <cstdlib>

#include "common/log.h"
#include "common/thread_name.h"

namespace hafs::client {

namespace {
constexpr size_t kChunkOverhead = 128;  // bookkeeping charged per chunk
}

ReadAhead::ReadAhead(Layer& below, Options options) : ForwardingLayer(below), options_(options) {
  if (options_.chunk == 0) options_.chunk = 1u << 20;
  if (options_.threads < 1) options_.threads = 1;
  if (options_.max_streams < 1) options_.max_streams = 1;
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ReadAhead::~ReadAhead() {
  Shutdown();
  HAFS_LOG_INFO("read-ahead: {} reads from prefetched chunks, {} sent down, {} chunks prefetched ({} failed, "
                "{} discarded, {} read by the reader), {} waits for a chunk in flight, {} drops, at most {} in flight, "
                "{} answered without a copy",
                stats_.hits, stats_.misses, stats_.prefetches, stats_.prefetch_errors, stats_.discarded, stats_.stolen,
                stats_.waited, stats_.drops, stats_.max_in_flight, moved_.load());
}

void ReadAhead::Shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [g, c] : queue_)
      if (c->state == Chunk::kQueued) c->state = Chunk::kFailed;  // a reader waiting reads itself
    queue_.clear();
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  for (auto& t : workers_) t.join();
  std::lock_guard lk(mu_);
  workers_.clear();
  for (auto& [g, s] : streams_) DropChunksLocked(s);
}

bool ReadAhead::EnabledByEnv() {
  const char* env = std::getenv("HAFS_READ_AHEAD");
  return !(env && std::string(env) == "0");
}

void ReadAhead::SetWindow(size_t window) {
  if (window == 0) return;
  std::lock_guard lk(mu_);
  options_.window = window;
}

ReadAhead::Stats ReadAhead::stats() const {
  std::lock_guard lk(mu_);
  Stats s = stats_;
  s.bytes = bytes_;
  return s;
}

size_t ReadAhead::ChunksOf(const Gfid& gfid) const {
  std::lock_guard lk(mu_);
  auto it = streams_.find(gfid);
  return it == streams_.end() ? 0 : it->second.chunks.size();
}

// ---- streams and chunks (under mu_) ----

ReadAhead::Stream& ReadAhead::StreamLocked(const Gfid& g) {
  auto it = streams_.find(g);
  if (it != streams_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  lru_.push_front(g);
  Stream& s = streams_[g];
  s.lru = lru_.begin();
  while (streams_.size() > options_.max_streams) {
    Gfid old = lru_.back();
    auto o = streams_.find(old);
    DropChunksLocked(o->second);
    lru_.pop_back();
    streams_.erase(o);
  }
  return s;
}

void ReadAhead::EraseChunkLocked(Stream& s, std::map<uint64_t, ChunkPtr>::iterator it) {
  Chunk& c = *it->second;
  c.dropped = true;
  bytes_ -= c.cost;
  c.cost = 0;
  s.chunks.erase(it);
}

void ReadAhead::DropChunksLocked(Stream& s) {
  bool any = !s.chunks.empty();
  while (!s.chunks.empty()) EraseChunkLocked(s, s.chunks.begin());
  s.eof_chunk = UINT64_MAX;
  s.eof_at = UINT64_MAX;
  s.have_attr = false;
  if (any) {
    ++stats_.drops;
    done_cv_.notify_all();  // readers waiting on a dropped chunk read synchronously
  }
}

bool ReadAhead::MakeRoomLocked(const Gfid& keep, size_t need) {
  while (bytes_ + need > options_.max_bytes) {
    bool freed = false;
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
      if (*it == keep) continue;
      auto s = streams_.find(*it);
      if (s == streams_.end() || s->second.chunks.empty()) continue;
      DropChunksLocked(s->second);
      freed = true;
      break;
    }
    if (!freed) return false;
  }
  return true;
}

void ReadAhead::ScheduleLocked(const Gfid& g, Stream& s, uint64_t from) {
  const uint64_t c = options_.chunk;
  from = std::max(from, s.next);  // a reader that got here late: not behind the stream's front
  if (s.window < c || from >= s.eof_at) return;
  uint64_t first = from / c, last = (from + s.window - 1) / c;
  int queued = 0;
  for (uint64_t i = first; i <= last && i <= s.eof_chunk && i * c < s.eof_at; ++i) {
    if (s.chunks.count(i)) continue;
    if (!MakeRoomLocked(g, c + kChunkOverhead)) break;
    auto chunk = std::make_shared<Chunk>();
    chunk->index = i;
    chunk->cost = c + kChunkOverhead;  // until its data is known
    chunk->born = Clock::now();
    bytes_ += chunk->cost;
    s.chunks.emplace(i, chunk);
    queue_.emplace_back(g, std::move(chunk));
    ++queued;
  }
  for (int k = 0; k < queued; ++k) work_cv_.notify_one();
}

void ReadAhead::RunChunk(const Gfid& g, const ChunkPtr& c) {
  proto::ReadRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(c->index * options_.chunk);
  r.set_size(static_cast<uint32_t>(options_.chunk));
  auto res = below_.Read(std::move(r)).get();
  std::lock_guard lk(mu_);
  --in_flight_;
  auto s = streams_.find(g);
  if (!res.ok()) {
    // Not cached: the read that wants this range goes down itself (and fails over there).
    ++stats_.prefetch_errors;
    c->state = Chunk::kFailed;
    if (!c->dropped && s != streams_.end()) {
      auto it = s->second.chunks.find(c->index);
      if (it != s->second.chunks.end() && it->second == c) EraseChunkLocked(s->second, it);
    }
  } else {
    ++stats_.prefetches;
    c->data = std::move(*res->mutable_data());
    c->state = Chunk::kReady;
    if (c->dropped || s == streams_.end()) {
      ++stats_.discarded;
      c->data = std::string();
    } else {
      bytes_ -= c->cost;
      c->cost = c->data.size() + kChunkOverhead;
      bytes_ += c->cost;
      if (c->data.size() < options_.chunk) {
        // The file ends in this chunk: what was prefetched after it is of no use.
        Stream& st = s->second;
        st.eof_chunk = std::min(st.eof_chunk, c->index);
        st.eof_at = std::min<uint64_t>(st.eof_at, c->index * options_.chunk + c->data.size());
        while (!st.chunks.empty() && std::prev(st.chunks.end())->first > st.eof_chunk)
          EraseChunkLocked(st, std::prev(st.chunks.end()));
      }
    }
  }
  done_cv_.notify_all();
}

void ReadAhead::WorkerLoop() {
  NameThisThread("read-ahead");
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [g, c] = std::move(queue_.front());
    queue_.pop_front();
    if (c->state != Chunk::kQueued || c->dropped) continue;
    c->state = Chunk::kRunning;
    stats_.max_in_flight = std::max(stats_.max_in_flight, ++in_flight_);
    lk.unlock();
    RunChunk(g, c);
    lk.lock();
  }
}

// ---- reads ----

Result<proto::ReadReply> ReadAhead::DoRead(const proto::ReadRequest& req) {
  auto gopt = Gfid::FromBytes(req.gfid());
  if (!gopt || req.size() == 0) return below_.Read(req).get();
  const Gfid g = *gopt;
  const uint64_t csize = options_.chunk;
  const uint64_t off = req.offset(), end = off + req.size();
  const uint64_t first = off / csize, last = (end - 1) / csize;
  std::vector<ChunkPtr> need;
  std::unique_lock lk(mu_);
  if (options_.window < csize || stopping_) {
    lk.unlock();
    return below_.Read(req).get();
  }
  Stream& s = StreamLocked(g);
  auto now = Clock::now();
  bool covered = true;
  for (uint64_t i = first; i <= last && i <= s.eof_chunk; ++i) {
    auto it = s.chunks.find(i);
    if (it == s.chunks.end()) {
      covered = false;
      break;
    }
    if (now - it->second->born > options_.max_age) {
      // Too old to trust. A reader this slow needs a smaller window: the stream's is halved,
      // and only the old chunks go (dropping them all would refetch the window every max_age).
      for (auto c = s.chunks.begin(); c != s.chunks.end();)
        if (now - c->second->born > options_.max_age) EraseChunkLocked(s, c++);
        else ++c;
      s.cap = std::max<size_t>(csize, std::min(s.cap, s.window) / 2);
      ++stats_.drops;
      done_cv_.notify_all();
      covered = false;
      break;
    }
    need.push_back(it->second);
  }
  if (!covered) need.clear();
  bool hit = !need.empty();
  // A stream starts with a read exactly where the previous one ended; once prefetching, a
  // read near its position (the kernel's reads slightly out of order) keeps it going.
  bool exact = s.seq > 0 && off == s.next;
  bool near = s.seq >= 2 && off + 2 * csize >= s.next && off <= s.next + 2 * csize;
  if (exact || (s.seq > 0 && hit)) {
    ++s.seq;
    size_t grown = s.seq <= 2 ? 4 * csize : std::max<size_t>(s.window, csize) * 2;
    s.window = std::min({options_.window, s.cap, grown});
    s.next = std::max(s.next, end);
  } else if (near) {
    s.next = std::max(s.next, end);
  } else {
    DropChunksLocked(s);  // a random read: no read-ahead
    s.seq = 1;
    s.window = 0;
    s.cap = SIZE_MAX;
    s.next = end;
  }
  // Chunks behind the reader are done with (one is kept for reads slightly out of order).
  while (!s.chunks.empty() && s.chunks.begin()->first + 1 < first) EraseChunkLocked(s, s.chunks.begin());
  // The next chunks are queued once the chunks of this read (or its own read below) have
  // shown whether the file ends there: nothing is prefetched past an end seen (a small file
  // read in two pieces is no stream to prefetch).

  if (hit) {
    bool ok = true;
    for (auto& c : need) {
      if (c->state == Chunk::kQueued && !c->dropped) {  // not started: read it here
        c->state = Chunk::kRunning;
        ++stats_.stolen;
        stats_.max_in_flight = std::max(stats_.max_in_flight, ++in_flight_);
        lk.unlock();
        RunChunk(g, c);
        lk.lock();
      }
      if (c->state == Chunk::kRunning && !c->dropped) ++stats_.waited;
      done_cv_.wait(lk, [&] { return c->dropped || c->state == Chunk::kReady || c->state == Chunk::kFailed; });
      if (c->dropped || c->state != Chunk::kReady) {
        ok = false;
        break;
      }
      if (c->data.size() < csize) break;  // EOF in this chunk
    }
    if (auto st = streams_.find(g); st != streams_.end() && st->second.seq >= 2 && !stopping_)
      ScheduleLocked(g, st->second, end);
    if (ok) {
      // Under the lock: which bytes of which chunk. A chunk the read takes whole and nobody
      // else holds is moved out (and forgotten) rather than copied; the others are copied
      // after the lock is released (a ready chunk's data does not change).
      struct Piece {
        ChunkPtr c;
        uint64_t from = 0, to = 0;
        std::string owned;
        bool moved = false;
      };
      std::vector<Piece> pieces;
      bool eof = false;
      auto sit = streams_.find(g);  // (the stream may have been forgotten while we waited)
      for (auto& c : need) {
        if (c->dropped) {  // dropped after we waited: the range is not served partially
          ok = false;
          break;
        }
        uint64_t start = c->index * csize;
        Piece p;
        p.from = std::max(off, start) - start;
        p.to = std::min<uint64_t>(end - start, c->data.size());
        size_t dsize = c->data.size();
        bool sole = c.use_count() == 2;  // `need` and the stream: no other reader has it
        if (p.from == 0 && p.to == dsize && dsize > 0 && sole && sit != streams_.end()) {
          auto it = sit->second.chunks.find(c->index);
          if (it != sit->second.chunks.end() && it->second == c) {
            p.owned = std::move(c->data);
            p.moved = true;
            EraseChunkLocked(sit->second, it);
          }
        }
        p.c = c;
        pieces.push_back(std::move(p));
        if (dsize < csize) {
          eof = true;
          break;
        }
      }
      if (ok) {
        ++stats_.hits;
        lk.unlock();
        proto::ReadReply rep;
        rep.set_eof(eof);
        if (pieces.size() == 1 && pieces[0].moved) {
          ++moved_;  // (relaxed counter; reported at unmount)
          rep.set_data(std::move(pieces[0].owned));
          return rep;
        }
        std::string* out = rep.mutable_data();
        out->reserve(req.size());
        for (auto& p : pieces) {
          const std::string& d = p.moved ? p.owned : p.c->data;
          uint64_t from = p.moved ? 0 : p.from, to = p.moved ? d.size() : p.to;
          if (from < to) out->append(d, from, to - from);
        }
        return rep;
      }
    }
  }
  ++stats_.misses;
  lk.unlock();
  auto r = below_.Read(req).get();
  if (!r.ok()) return r;
  lk.lock();
  auto it = streams_.find(g);
  if (it != streams_.end()) {
    Stream& st = it->second;
    if (r->data().size() < req.size()) st.eof_at = std::min<uint64_t>(st.eof_at, off + r->data().size());
    if (st.seq >= 2 && !stopping_) ScheduleLocked(g, st, end);
  }
  return r;
}

Future<proto::ReadReply> ReadAhead::Read(proto::ReadRequest req) {
  return Deferred([this, req = std::move(req)]() { return DoRead(req); });
}

// ---- coherence ----

void ReadAhead::Drop(const Gfid& gfid) {
  std::lock_guard lk(mu_);
  auto it = streams_.find(gfid);
  if (it != streams_.end()) DropChunksLocked(it->second);
}

void ReadAhead::DropAll() {
  std::lock_guard lk(mu_);
  for (auto& [g, s] : streams_) DropChunksLocked(s);
}

void ReadAhead::OnInvalidate(const proto::Invalidate& inv) {
  if (IsDropAll(inv)) return DropAll();
  if (auto g = Gfid::FromBytes(inv.gfid())) Drop(*g);
}

void ReadAhead::Observe(const proto::Attr& a) {
  auto g = Gfid::FromBytes(a.gfid());
  if (!g) return;
  std::lock_guard lk(mu_);
  auto it = streams_.find(*g);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  if (s.have_attr && (s.size != a.size() || s.mtime_ns != a.mtime_ns())) DropChunksLocked(s);
  s.have_attr = true;
  s.size = a.size();
  s.mtime_ns = a.mtime_ns();
}

template <typename Rep>
Future<Rep> ReadAhead::Changing(const Gfid& g, Future<Rep> f) {
  Drop(g);
  return Deferred([this, g, f = std::move(f)]() mutable -> Result<Rep> {
    auto r = f.get();
    Drop(g);  // a prefetch that raced with the change is not kept
    return r;
  });
}

Future<proto::WriteReply> ReadAhead::Write(proto::WriteRequest req) {
  auto g = Gfid::FromBytes(req.gfid());
  if (!g) return below_.Write(std::move(req));
  return Changing<proto::WriteReply>(*g, below_.Write(std::move(req)));
}

Future<proto::AttrReply> ReadAhead::Setattr(proto::SetattrRequest req) {
  auto g = Gfid::FromBytes(req.gfid());
  if (!g) return below_.Setattr(std::move(req));
  return Changing<proto::AttrReply>(*g, below_.Setattr(std::move(req)));
}

Future<proto::AttrReply> ReadAhead::Fallocate(proto::FallocateRequest req) {
  auto g = Gfid::FromBytes(req.gfid());
  if (!g) return below_.Fallocate(std::move(req));
  return Changing<proto::AttrReply>(*g, below_.Fallocate(std::move(req)));
}

Future<proto::EntryReply> ReadAhead::Lookup(proto::EntryRequest req) {
  return Deferred([this, f = below_.Lookup(std::move(req))]() mutable -> Result<proto::EntryReply> {
    auto r = f.get();
    if (r.ok() && r->has_attr()) Observe(r->attr());
    return r;
  });
}

Future<proto::AttrReply> ReadAhead::Getattr(proto::GfidRequest req) {
  return Deferred([this, f = below_.Getattr(std::move(req))]() mutable -> Result<proto::AttrReply> {
    auto r = f.get();
    if (r.ok() && r->has_attr()) Observe(r->attr());
    return r;
  });
}

}  // namespace hafs::client
