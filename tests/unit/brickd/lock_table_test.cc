#include "brickd/lock_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>
#include <thread>

namespace hafs::brick {
namespace {

using namespace std::chrono_literals;
const Gfid kG = Gfid::Random();
const LockOwner kA{"sess-a", 1}, kA2{"sess-a", 2}, kB{"sess-b", 1};

TEST(LockTable, ReadersShareWritersExclude) {
  LockTable t;
  EXPECT_EQ(t.Inodelk(kG, "data", LockKind::kRead, 0, 100, kA, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(kG, "data", LockKind::kRead, 50, 100, kB, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(kG, "data", LockKind::kWrite, 90, 10, kB, false, 0ms), EAGAIN);
  // Another owner in the same session is another owner.
  EXPECT_EQ(t.Inodelk(kG, "data", LockKind::kWrite, 0, 10, kA2, false, 0ms), EAGAIN);
  // Non-overlapping range and other domains are independent.
  EXPECT_EQ(t.Inodelk(kG, "data", LockKind::kWrite, 200, 10, kB, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(kG, "metadata", LockKind::kWrite, 0, 0, kB, false, 0ms), 0);
  EXPECT_EQ(t.HeldCount(), 4u);
}

TEST(LockTable, UnlockSplitsRanges) {
  LockTable t;
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 0, 1000, kA, false, 0ms), 0);
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kUnlock, 400, 200, kA, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 450, 100, kB, false, 0ms), 0);   // the hole
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 399, 1, kB, false, 0ms), EAGAIN);  // left piece
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 600, 1, kB, false, 0ms), EAGAIN);  // right piece
}

TEST(LockTable, ToEndOfFile) {
  LockTable t;
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 100, 0, kA, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kRead, UINT64_MAX - 5, 1, kB, false, 0ms), EAGAIN);
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kRead, 0, 100, kB, false, 0ms), 0);
}

TEST(LockTable, BlockingWaitsForReleaseAndTimesOut) {
  LockTable t;
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 0, 0, kA, false, 0ms), 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 0, 0, kB, true, 100ms), EAGAIN);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);

  std::atomic<int> got{-1};
  std::thread waiter([&] { got = t.Inodelk(kG, "d", LockKind::kWrite, 0, 0, kB, true, 5000ms); });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(got.load(), -1);
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kUnlock, 0, 0, kA, false, 0ms), 0);
  waiter.join();
  EXPECT_EQ(got.load(), 0);
}

TEST(LockTable, SessionReleaseDropsEverythingAndWakesWaiters) {
  LockTable t;
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 0, 10, kA, false, 0ms), 0);
  ASSERT_EQ(t.Inodelk(kG, "d", LockKind::kWrite, 20, 10, kA2, false, 0ms), 0);
  ASSERT_EQ(t.Entrylk(kG, "e", "x", LockKind::kWrite, kA, false, 0ms), 0);
  std::atomic<int> got{-1};
  std::thread waiter([&] { got = t.Entrylk(kG, "e", "x", LockKind::kWrite, kB, true, 5000ms); });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(t.ReleaseSession("sess-a"), 3u);
  waiter.join();
  EXPECT_EQ(got.load(), 0);
  EXPECT_EQ(t.HeldCount(), 1u);
}

TEST(LockTable, EntryLocksByNameAndWholeDirectory) {
  LockTable t;
  ASSERT_EQ(t.Entrylk(kG, "e", "a", LockKind::kWrite, kA, false, 0ms), 0);
  EXPECT_EQ(t.Entrylk(kG, "e", "b", LockKind::kWrite, kB, false, 0ms), 0);
  EXPECT_EQ(t.Entrylk(kG, "e", "a", LockKind::kRead, kB, false, 0ms), EAGAIN);
  EXPECT_EQ(t.Entrylk(kG, "e", "", LockKind::kRead, kB, false, 0ms), EAGAIN);  // whole dir vs "a"
  ASSERT_EQ(t.Entrylk(kG, "e", "a", LockKind::kUnlock, kA, false, 0ms), 0);
  EXPECT_EQ(t.Entrylk(kG, "e", "", LockKind::kRead, kA, false, 0ms), EAGAIN);  // still "b" by B
  EXPECT_EQ(t.Entrylk(kG, "e", "", LockKind::kRead, kB, false, 0ms), 0);       // own lock never conflicts
}

// A blocked inodelk tells the holder's session at once and again every 500 ms (the eager-lock
// release of docs/replication.md); non-blocking requests and the holder itself never do.
TEST(LockTable, BlockedWaiterTellsTheHolder) {
  LockTable t;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> told;
  t.SetContentionHook([&](const std::string& session, const Gfid&, const std::string& domain) {
    std::lock_guard lk(mu);
    told.emplace_back(session, domain);
  });
  Gfid g = Gfid::Random();
  LockOwner a{"sa", 1}, b{"sb", 2};
  ASSERT_EQ(t.Inodelk(g, "data", LockKind::kWrite, 0, 0, a, false, 0ms), 0);
  EXPECT_EQ(t.Inodelk(g, "data", LockKind::kWrite, 0, 0, b, false, 0ms), EAGAIN);
  EXPECT_EQ(t.Inodelk(g, "data", LockKind::kWrite, 0, 0, a, true, 100ms), 0);  // the holder re-locks
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(told.empty());
  }
  auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] { EXPECT_EQ(t.Inodelk(g, "data", LockKind::kWrite, 0, 0, b, true, 5000ms), 0); });
  std::this_thread::sleep_for(700ms);
  {
    std::lock_guard lk(mu);
    ASSERT_GE(told.size(), 2u);  // at once, and after 500 ms
    EXPECT_EQ(told[0], std::make_pair(std::string("sa"), std::string("data")));
  }
  ASSERT_EQ(t.Inodelk(g, "data", LockKind::kUnlock, 0, 0, a, false, 0ms), 0);
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms);
  // A lock on another range does not conflict, so it tells no one.
  std::lock_guard lk(mu);
  told.clear();
  EXPECT_EQ(t.Inodelk(g, "other", LockKind::kWrite, 0, 0, a, true, 100ms), 0);
  EXPECT_TRUE(told.empty());
}

// A blocked entrylk tells the holders the same way (the eager entry lock on a directory of
// docs/replication.md): a whole-directory request is told about a name lock and vice versa;
// a request for another name is not in the way and tells no one.
TEST(LockTable, BlockedEntrylkTellsTheHolder) {
  LockTable t;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> told;
  Gfid dir = Gfid::Random();
  t.SetContentionHook([&](const std::string& session, const Gfid& g, const std::string& domain) {
    std::lock_guard lk(mu);
    EXPECT_EQ(g, dir);
    told.emplace_back(session, domain);
  });
  LockOwner a{"sa", 1}, b{"sb", 2};
  ASSERT_EQ(t.Entrylk(dir, "entry", "", LockKind::kWrite, a, false, 0ms), 0);  // A: the whole directory
  EXPECT_EQ(t.Entrylk(dir, "entry", "x", LockKind::kWrite, b, false, 0ms), EAGAIN);
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(told.empty());  // non-blocking: nobody told
  }
  auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] { EXPECT_EQ(t.Entrylk(dir, "entry", "x", LockKind::kWrite, b, true, 5000ms), 0); });
  std::this_thread::sleep_for(700ms);
  {
    std::lock_guard lk(mu);
    ASSERT_GE(told.size(), 2u);  // at once, and after 500 ms
    EXPECT_EQ(told[0], std::make_pair(std::string("sa"), std::string("entry")));
  }
  ASSERT_EQ(t.Entrylk(dir, "entry", "", LockKind::kUnlock, a, false, 0ms), 0);
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms);
  {
    std::lock_guard lk(mu);
    told.clear();
  }
  // B holds "x": a whole-directory request waits for it and tells B; "y" is not in the way.
  EXPECT_EQ(t.Entrylk(dir, "entry", "y", LockKind::kWrite, a, true, 100ms), 0);
  ASSERT_EQ(t.Entrylk(dir, "entry", "y", LockKind::kUnlock, a, false, 0ms), 0);
  EXPECT_EQ(t.Entrylk(dir, "entry", "", LockKind::kWrite, a, true, 200ms), EAGAIN);
  std::lock_guard lk(mu);
  ASSERT_FALSE(told.empty());
  EXPECT_EQ(told[0], std::make_pair(std::string("sb"), std::string("entry")));
}

}  // namespace
}  // namespace hafs::brick
