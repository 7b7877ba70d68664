// Threads kept for the per-entry look-ups of readdir pages (docs/brickd.md, "Cold directory
// listings"). A page used to start and join its helper threads itself; each new thread also
// set up its own working directory (EntryPath) and allocator cache, for one page's work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hafs::brick {

class LookupPool {
 public:
  // `threads` helpers (0: every ParallelFor runs on its caller alone).
  explicit LookupPool(size_t threads);
  ~LookupPool();
  LookupPool(const LookupPool&) = delete;
  LookupPool& operator=(const LookupPool&) = delete;

  // Runs fn(i) for every i in [0, n) on the calling thread and up to `helpers` of the pool's
  // threads (fewer if they are busy with other callers' pages); returns when every call has
  // returned. Callers may run at once; fn must not throw.
  void ParallelFor(size_t n, size_t helpers, const std::function<void(size_t)>& fn);

 private:
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};
    size_t wanted = 0;   // helpers still to join (under mu_)
    size_t running = 0;  // helpers inside Run (under mu_)
  };
  static void Run(Job& job);
  void Work();

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job*> jobs_;  // jobs that still want helpers
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hafs::brick
