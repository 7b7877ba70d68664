#include "client-fuse/fuse/dir_prefetch.h"

#include <algorithm>

#include "common/thread_name.h"

namespace hafs::client {

DirPrefetcher::DirPrefetcher(size_t threads, size_t max_queued, std::function<void(const Gfid&)> list)
    : list_(std::move(list)), max_queued_(max_queued) {
  for (size_t i = 0; i < std::max<size_t>(threads, 1); i++) threads_.emplace_back([this] { Work(); });
}

DirPrefetcher::~DirPrefetcher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    queue_.clear();
    queued_.clear();
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void DirPrefetcher::Enqueue(const std::vector<Gfid>& dirs) {
  size_t added = 0;
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    for (const Gfid& g : dirs) {
      if (queued_.count(g) || in_flight_.count(g)) continue;
      if (queue_.size() >= max_queued_) {
        stats_.dropped++;
        continue;
      }
      queue_.push_back(g);
      queued_.insert(g);
      stats_.queued++;
      added++;
    }
  }
  if (added == 1) work_cv_.notify_one();
  if (added > 1) work_cv_.notify_all();
}

void DirPrefetcher::Claim(const Gfid& g) {
  std::unique_lock lk(mu_);
  if (queued_.erase(g)) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), g));
    stats_.claimed++;
    return;
  }
  if (!in_flight_.count(g)) return;
  stats_.waited++;
  done_cv_.wait(lk, [&] { return stop_ || !in_flight_.count(g); });
}

DirPrefetcher::Stats DirPrefetcher::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void DirPrefetcher::Work() {
  NameThisThread("dir-prefetch");
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Gfid g = queue_.front();
    queue_.pop_front();
    queued_.erase(g);
    in_flight_.insert(g);
    lk.unlock();
    list_(g);
    lk.lock();
    in_flight_.erase(g);
    stats_.listed++;
    done_cv_.notify_all();
  }
}

}  // namespace hafs::client
