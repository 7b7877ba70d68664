#include "common/work_pool.h"

#include <algorithm>
#include <system_error>

#include "common/thread_name.h"

namespace hafs {

WorkPool::WorkPool(size_t threads, std::string thread_name) {
  for (size_t t = 0; t < threads; ++t) {
    try {
      threads_.emplace_back([this, thread_name] { Work(thread_name); });
    } catch (const std::system_error&) {
      break;  // fewer helpers; the callers still do all the work
    }
  }
}

WorkPool::~WorkPool() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkPool::Run(Job& job) {
  for (size_t i; (i = job.next.fetch_add(1)) < job.n;) (*job.fn)(i);
}

void WorkPool::Work(const std::string& name) {
  NameThisThread(name);
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job* job = jobs_.front();
    if (--job->wanted == 0) jobs_.pop_front();
    ++job->running;
    lk.unlock();
    Run(*job);
    lk.lock();
    if (--job->running == 0) done_cv_.notify_all();
  }
}

void WorkPool::ParallelFor(size_t n, size_t helpers, const std::function<void(size_t)>& fn) {
  Job job;
  job.fn = &fn;
  job.n = n;
  job.wanted = n == 0 ? 0 : std::min({helpers, threads_.size(), n - 1});
  if (job.wanted == 0) return Run(job);
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(&job);
  }
  work_cv_.notify_all();
  Run(job);
  std::unique_lock lk(mu_);
  // No helper joins from here on (the job lives on this stack); wait for those inside.
  if (auto it = std::find(jobs_.begin(), jobs_.end(), &job); it != jobs_.end()) jobs_.erase(it);
  done_cv_.wait(lk, [&] { return job.running == 0; });
}

}  // namespace hafs
