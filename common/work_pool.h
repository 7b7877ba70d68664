// WorkPool: threads kept to help callers run a loop in parallel (ParallelFor). The caller
// always works too, and takes the pool's threads only if they are free, so a busy pool makes a
// loop slower, never stuck. Used by the bricks for readdir's per-entry look-ups (docs/brickd.md,
// "Cold directory listings": a page used to start and join its own threads) and by the
// client's distribute layer to wait on several replica sets at once (docs/client.md).
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hafs {

class WorkPool {
 public:
  // `threads` helpers named `thread_name` (0: every ParallelFor runs on its caller alone).
  WorkPool(size_t threads, std::string thread_name);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Runs fn(i) for every i in [0, n) on the calling thread and up to `helpers` of the pool's
  // threads (fewer if they are busy with other callers' loops); returns when every call has
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
  void Work(const std::string& name);

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job*> jobs_;  // jobs that still want helpers
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hafs
