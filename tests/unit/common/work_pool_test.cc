// WorkPool: helper threads shared by every caller of ParallelFor.
#include "common/work_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace hafs {
namespace {

// Several callers at once, pages of every size: each index runs exactly once per call, every
// call returns only when its work is done, and the work is spread over more than one thread.
TEST(WorkPool, EveryIndexRunsOnceAndCallsReturnWhenDone) {
  WorkPool pool(7, "test-pool");
  std::atomic<int> wrong{0};
  std::mutex seen_mu;
  std::set<std::thread::id> seen;
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 200; ++round) {
        size_t n = static_cast<size_t>((round * 37 + c * 11) % 1100);
        std::vector<std::atomic<int>> hits(n);
        pool.ParallelFor(n, 7, [&](size_t i) {
          hits[i].fetch_add(1);
          std::lock_guard lk(seen_mu);
          seen.insert(std::this_thread::get_id());
        });
        for (auto& h : hits)
          if (h.load() != 1) wrong++;
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(seen.size(), 4u);  // the callers and at least one helper
}

TEST(WorkPool, NoHelpersRunsEverythingOnTheCaller) {
  for (size_t threads : {0, 3}) {
    WorkPool pool(threads, "test-pool");
    std::set<std::thread::id> seen;
    pool.ParallelFor(500, 0, [&](size_t) { seen.insert(std::this_thread::get_id()); });
    EXPECT_EQ(seen, std::set<std::thread::id>{std::this_thread::get_id()}) << threads;
    int calls = 0;
    pool.ParallelFor(0, 3, [&](size_t) { calls++; });
    EXPECT_EQ(calls, 0);
  }
}

}  // namespace
}  // namespace hafs
