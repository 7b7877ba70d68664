// ReadAhead: prefetches a sequential read stream in parallel (issue 3, "read-ahead for
// sequential reads"). See docs/client.md, "Read-ahead".
//
// Stack position: below write_behind, above content_cache (or whatever is below).
//
// - A stream per gfid: a read is "sequential" when it starts exactly where the previous one
//   of the gfid ended or lands on prefetched data; once a stream prefetches, a read within two
//   chunks of its position (the kernel's reads slightly out of order) keeps it going (random
//   4 KiB reads never start one by chance). From the second sequential
//   read on, the chunks (Options::chunk, 1 MiB, aligned) covering [end of read, end + window)
//   are read from the layer below IN PARALLEL by the layer's own threads (the layers below
//   are deferred futures: the threads call .get()). The window starts at 4 chunks and doubles
//   with each sequential read up to Options::window (mount option read-ahead-window). With the
//   replicate layer spreading 1 MiB chunks of a file over its healthy bricks, a window is
//   read from every brick at once.
// - A read covered by prefetched chunks is answered from them (waiting for chunks in
//   flight; a chunk still queued is read by the reader itself). Chunks behind the reader
//   are freed. A read elsewhere (random) drops the stream's chunks and prefetches nothing.
// - EOF: a chunk shorter than `chunk` ends the file; nothing is prefetched past it and a
//   read reaching it is short, as the brick's own read would be.
// - Errors are never cached: a failed prefetch is forgotten and the read that wanted it is
//   sent down synchronously (and gets the lower layer's failover or error).
// - Coherence: a gfid's chunks are dropped on this client's write/setattr/fallocate of it
//   (before it is sent down and again after it returns, so a prefetch that raced with it is
//   not kept), on an Invalidate of the gfid or "drop everything", when a lookup/getattr
//   shows a different size or mtime than before, and after Options::max_age (which also halves
//   the stream's window: a reader that slow does not need it whole). A prefetch that
//   completes after its chunk was dropped is discarded; a reader waiting on a dropped chunk
//   reads synchronously.
// - Memory: chunks (queued, in flight, ready) take at most Options::max_bytes over all
//   streams; the least recently used other streams lose theirs first; no room: no prefetch.
// Thread-safety: every method may be called from any thread concurrently. The layer below
// must outlive this one; the destructor waits for the prefetches in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client-fuse/caches/forwarding_layer.h"

namespace hafs::client {

class ReadAhead final : public ForwardingLayer {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    size_t window = 8u << 20;       // most bytes prefetched ahead of a stream (read-ahead-window)
    size_t chunk = 1u << 20;        // prefetch unit (aligned)
    size_t max_bytes = 64u << 20;   // all chunks of all streams
    int threads = 16;               // prefetches in flight at once (all streams)
    size_t max_streams = 1024;      // gfids remembered (least recently used forgotten)
    std::chrono::milliseconds max_age{10000};  // a chunk older than this is not served
  };
  struct Stats {
    uint64_t hits = 0;            // reads answered from prefetched chunks
    uint64_t misses = 0;          // reads sent down synchronously
    uint64_t prefetches = 0;      // chunks read ahead (completed)
    uint64_t prefetch_errors = 0; // of those, failed (not cached)
    uint64_t stolen = 0;          // queued chunks a reader read itself
    uint64_t waited = 0;          // reads that waited for a chunk in flight
    uint64_t drops = 0;           // streams' chunks dropped (change, invalidation, random read)
    uint64_t discarded = 0;       // prefetches completed after their chunk was dropped
    size_t max_in_flight = 0;     // most prefetches running at once
    size_t bytes = 0;             // now
  };

  ReadAhead(Layer& below, Options options);
  ~ReadAhead() override;
  // Stops prefetching and waits for the prefetches in flight (the destructor does it too);
  // afterwards reads pass through and invalidations are still taken.
  void Shutdown();
  // False when HAFS_READ_AHEAD=0 (the layer is left out of the stack).
  static bool EnabledByEnv();
  // The mount option read-ahead-window (0: keep); a window below one chunk switches
  // prefetching off (reads pass through).
  void SetWindow(size_t window);

  // The operations it handles; the others pass through (ForwardingLayer).
  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override;
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override;
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override;
  Future<proto::ReadReply> Read(proto::ReadRequest req) override;
  Future<proto::WriteReply> Write(proto::WriteRequest req) override;
  Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) override;

  // A brick's push (or the graph's "drop everything"): drops the gfid's chunks.
  void OnInvalidate(const proto::Invalidate& inv) override;
  void Drop(const Gfid& gfid);
  void DropAll() override;
  Stats stats() const;
  // Chunks (queued, in flight or ready) held for gfid (tests).
  size_t ChunksOf(const Gfid& gfid) const;

 private:
  struct Chunk {
    enum State { kQueued, kRunning, kReady, kFailed };
    State state = kQueued;
    uint64_t index = 0;
    bool dropped = false;  // no longer in its stream: its data must not be served
    size_t cost = 0;       // bytes charged to bytes_ while in the stream
    std::string data;
    Clock::time_point born;
  };
  using ChunkPtr = std::shared_ptr<Chunk>;
  struct Stream {
    uint64_t next = 0;      // end of the last read
    int seq = 0;            // sequential reads in a row (0: new)
    size_t window = 0;      // current window (bytes)
    size_t cap = SIZE_MAX;  // halved each time a chunk aged before it was read (slow reader)
    uint64_t eof_chunk = UINT64_MAX;  // index of a short chunk seen (the file ends there)
    uint64_t eof_at = UINT64_MAX;     // where a short read showed the file ends (no prefetch past)
    std::map<uint64_t, ChunkPtr> chunks;
    bool have_attr = false;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::list<Gfid>::iterator lru;
  };
  using StreamMap = std::unordered_map<Gfid, Stream, GfidHash>;

  Stream& StreamLocked(const Gfid& g);
  void DropChunksLocked(Stream& s);
  void EraseChunkLocked(Stream& s, std::map<uint64_t, ChunkPtr>::iterator it);
  // Frees chunks of other streams (least recently used first) until `need` more bytes fit.
  bool MakeRoomLocked(const Gfid& keep, size_t need);
  void ScheduleLocked(const Gfid& g, Stream& s, uint64_t from);
  // Reads the chunk from below (on a worker or the reader that took it) and completes it.
  void RunChunk(const Gfid& g, const ChunkPtr& c);
  void WorkerLoop();
  void Observe(const proto::Attr& a);
  Result<proto::ReadReply> DoRead(const proto::ReadRequest& req);
  // Drops gfid's chunks now and again when `f` completes.
  template <typename Rep>
  Future<Rep> Changing(const Gfid& g, Future<Rep> f);

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a chunk queued / stopping
  std::condition_variable done_cv_;  // a chunk completed or dropped
  StreamMap streams_;
  std::list<Gfid> lru_;  // front: most recently used
  std::deque<std::pair<Gfid, ChunkPtr>> queue_;
  size_t bytes_ = 0;
  size_t in_flight_ = 0;
  std::atomic<uint64_t> moved_{0};  // reads answered with a chunk's own buffer
  bool stopping_ = false;
  Stats stats_;
  std::vector<std::thread> workers_;
};

}  // namespace hafs::client
