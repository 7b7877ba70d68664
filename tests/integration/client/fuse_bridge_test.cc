// The FUSE bridge's inode table, from many threads at once, over a real graph (one brick).
#include "client-fuse/fuse/fuse_bridge.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "client-fuse/graph.h"
#include "client-fuse/volfile.h"
#include "tests/support/brickd_process.h"

namespace hafs::client {
namespace {

using namespace std::chrono_literals;

// Every NodeFor locks the shard of the gfid and the shard of the ino; the shards serve both
// roles, so locking "gfid shard first" let two threads each hold the shard the other wanted:
// a parallel `ls` of many directories hung hafs-fuse for good (2026-12-04). Eight threads
// map new gfids and forget half of them; all must finish (a deadlock ends the test at once).
TEST(FuseBridge, TheInodeTableDoesNotDeadlockUnderManyThreads) {
  testing::BrickdProcess brick;
  auto vf = Volfile::Parse(fmt::format(
      R"({{"name":"t","id":"{}","type":"replicate","replica":1,"bricks":[{{"host":"127.0.0.1","port":{},"path":"{}"}}]}})",
      testing::kVolumeId, brick.port(), brick.dir()));
  ASSERT_TRUE(vf.ok()) << vf.status().ToString();
  auto graph = Graph::Build(*vf, "bridge-test", 5s);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  FuseBridge bridge(**graph, FuseBridge::Options());

  constexpr int kThreads = 8, kEach = 20000;
  std::atomic<int> finished{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        Gfid g = Gfid::Random();
        fuse_ino_t ino = bridge.NodeFor(g, true);
        Gfid back;
        if (bridge.NodeFor(g, false) != ino || !bridge.GfidFor(ino, &back) || back != g) ++wrong;
        if (i % 2 == 0) {
          bridge.Forget(ino, 1);
          if (bridge.GfidFor(ino, &back)) ++wrong;  // forgotten: gone
        }
      }
      ++finished;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (finished.load() < kThreads && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  if (finished.load() < kThreads) {
    // Deadlocked threads can be neither joined nor stopped: fail now rather than hang.
    std::fprintf(stderr, "FAIL: %d of %d threads still inside the inode table after 20 s: deadlock\n",
                 kThreads - finished.load(), kThreads);
    std::fflush(stderr);
    brick.Kill();  // no destructor runs after _Exit: the brick and its directory go now
    std::error_code ec;
    std::filesystem::remove_all(brick.dir(), ec);
    std::_Exit(1);
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace hafs::client
