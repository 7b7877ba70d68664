// DirPrefetcher: the mount option readdir-prefetch=N (docs/client.md, "Readdir prefetch").
// Once a directory has been listed, its subdirectories' listings are read in the background
// by N threads, so that a walk of the tree (find, du, rsync, a backup) finds each listing in
// the metadata cache instead of waiting for the bricks directory after directory. A listing
// the walk asks for while its prefetch is in flight waits for that prefetch rather than
// reading it a second time.
//
// What a prefetch reads goes through the whole layer stack, so coherence is md-cache's, as
// for any listing; the prefetcher only warms it. The queue is bounded (a huge directory of
// directories does not queue every one) and a directory is not queued twice while it waits.
//
// Thread-safety: every method may be called from any thread at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/gfid.h"

namespace hafs::client {

class DirPrefetcher {
 public:
  // `list(g)` reads directory g's whole listing (errors ignored). `threads` ≥ 1.
  DirPrefetcher(size_t threads, size_t max_queued, std::function<void(const Gfid&)> list);
  // Drops what is queued and waits for the listings in flight.
  ~DirPrefetcher();
  DirPrefetcher(const DirPrefetcher&) = delete;
  DirPrefetcher& operator=(const DirPrefetcher&) = delete;

  // Queues the directories (in order) that are neither queued nor in flight; those past
  // `max_queued` are left out.
  void Enqueue(const std::vector<Gfid>& dirs);
  // If g is queued, takes it off the queue (the caller reads it itself, now); if it is in
  // flight, waits until it is done (its listing is then in the cache).
  void Claim(const Gfid& g);

  struct Stats {
    uint64_t queued = 0;
    uint64_t listed = 0;     // prefetches done
    uint64_t claimed = 0;    // taken off the queue by a reader that came first
    uint64_t waited = 0;     // readers that waited for a prefetch in flight
    uint64_t dropped = 0;    // left out because the queue was full
  };
  Stats stats() const;

 private:
  void Work();

  std::function<void(const Gfid&)> list_;
  size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Gfid> queue_;
  std::unordered_set<Gfid, GfidHash> queued_, in_flight_;
  bool stop_ = false;
  Stats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace hafs::client
