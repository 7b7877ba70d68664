// DirPrefetcher (client-fuse/fuse/dir_prefetch.h) with a fake listing function: each queued
// directory is listed once, by at most N threads at a time; a reader that comes first takes a
// queued directory off the queue, one that comes while it is listed waits for it; the queue
// is bounded; stopping drops the queue and waits for the listings in flight.
#include "client-fuse/fuse/dir_prefetch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace hafs::client {
namespace {

using namespace std::chrono_literals;

// A listing function whose calls are held until released, counted per directory.
struct FakeLister {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::map<Gfid, int> listed;
  int running = 0, most_running = 0;
  void operator()(const Gfid& g) {
    std::unique_lock lk(mu);
    running++;
    most_running = std::max(most_running, running);
    cv.notify_all();
    cv.wait(lk, [&] { return open; });
    listed[g]++;
    running--;
    cv.notify_all();
  }
  void Open() {
    std::lock_guard lk(mu);
    open = true;
    cv.notify_all();
  }
  bool WaitRunning(int n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, 5s, [&] { return running == n; });
  }
  size_t Listed() {
    std::lock_guard lk(mu);
    return listed.size();
  }
};

std::vector<Gfid> Dirs(int n) {
  std::vector<Gfid> v;
  for (int i = 0; i < n; i++) v.push_back(Gfid::Random());
  return v;
}

TEST(DirPrefetcher, ListsEachDirectoryOnceWithAtMostItsThreads) {
  FakeLister f;
  auto dirs = Dirs(20);
  {
    DirPrefetcher p(3, 100, [&](const Gfid& g) { f(g); });
    p.Enqueue(dirs);
    ASSERT_TRUE(f.WaitRunning(3));
    p.Enqueue(dirs);  // all queued or in flight already: nothing added
    EXPECT_EQ(p.stats().queued, 20u);
    f.Open();
    for (int i = 0; i < 500 && p.stats().listed < 20; i++) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(p.stats().listed, 20u);
  }
  EXPECT_EQ(f.Listed(), 20u);
  for (auto& [g, n] : f.listed) EXPECT_EQ(n, 1);
  EXPECT_EQ(f.most_running, 3);
}

TEST(DirPrefetcher, AReaderTakesAQueuedDirectoryOrWaitsForOneInFlight) {
  FakeLister f;
  auto dirs = Dirs(3);
  DirPrefetcher p(1, 100, [&](const Gfid& g) { f(g); });
  p.Enqueue(dirs);
  ASSERT_TRUE(f.WaitRunning(1));  // dirs[0] in flight, dirs[1] and dirs[2] queued
  p.Claim(dirs[2]);               // queued: taken off, returns at once
  EXPECT_EQ(p.stats().claimed, 1u);
  p.Claim(Gfid::Random());        // unknown: returns at once
  std::atomic<bool> back{false};
  std::thread reader([&] {
    p.Claim(dirs[0]);  // in flight: waits for it
    back = true;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(back.load()) << "a reader did not wait for the prefetch in flight";
  f.Open();
  reader.join();
  EXPECT_TRUE(back.load());
  EXPECT_EQ(p.stats().waited, 1u);
  for (int i = 0; i < 500 && p.stats().listed < 2; i++) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(p.stats().listed, 2u);  // dirs[0] and dirs[1]; dirs[2] was the reader's
  std::lock_guard lk(f.mu);
  EXPECT_EQ(f.listed.count(dirs[2]), 0u);
}

TEST(DirPrefetcher, TheQueueIsBoundedAndStoppingDropsIt) {
  FakeLister f;
  auto dirs = Dirs(10);
  std::thread opener;
  {
    DirPrefetcher p(1, 4, [&](const Gfid& g) { f(g); });
    p.Enqueue({dirs[0]});
    ASSERT_TRUE(f.WaitRunning(1));  // the one thread is busy
    p.Enqueue(std::vector<Gfid>(dirs.begin() + 1, dirs.end()));
    auto s = p.stats();
    EXPECT_EQ(s.queued, 5u);  // dirs[0] + 4 queued
    EXPECT_EQ(s.dropped, 5u);
    opener = std::thread([&] {
      std::this_thread::sleep_for(200ms);
      f.Open();
    });
  }  // stops: the 4 queued are dropped, dirs[0] in flight is waited for
  opener.join();
  EXPECT_EQ(f.Listed(), 1u);
}

}  // namespace
}  // namespace hafs::client
