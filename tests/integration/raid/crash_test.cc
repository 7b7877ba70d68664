// Write hole: a process writing to the array is killed with SIGKILL in the middle of
// random concurrent writes. The next assemble must resync exactly the dirty bitmap
// regions, after which no stripe's parity disagrees with its data (checked by the engine
// and independently from the member files) and every acknowledged write is present.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "raid/array.h"
#include "raid/md_format.h"
#include "../../unit/raid/test_util.h"

namespace hafs::raid {
namespace {

using testing::MdImage;
using testing::TempDir;

constexpr uint64_t MiB = 1024 * 1024;
constexpr int kThreads = 4;

struct Rec {
  uint8_t acked;  // 0 issued, 1 acknowledged
  uint8_t thread;
  uint64_t id, off, len;
};

uint64_t Pattern(uint64_t id, uint64_t word) { return (id * 0x9e3779b97f4a7c15ULL) ^ (word * 0xff51afd7ed558ccdULL); }

void Fill(std::vector<uint8_t>& buf, uint64_t id, uint64_t off, uint64_t len) {
  buf.resize(len);
  for (uint64_t i = 0; i < len; i += 8) {
    const uint64_t v = Pattern(id, (off + i) / 8);
    std::memcpy(&buf[i], &v, 8);
  }
}

[[noreturn]] void ChildWriter(const std::vector<std::string>& devs, int fd, uint32_t seed) {
  auto a = Array::Assemble(devs);
  if (!a.ok()) _exit(3);
  Array* arr = a->get();
  const uint64_t region = arr->Size() / kThreads;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([=] {
      std::mt19937_64 rng(seed * 100 + uint32_t(t));
      std::vector<uint8_t> buf;
      for (uint64_t id = uint64_t(t) << 40;; ++id) {
        const uint64_t len = 4096 * (1 + rng() % 48);
        const uint64_t off = uint64_t(t) * region + (rng() % ((region - len) / 4096)) * 4096;
        Fill(buf, id, off, len);
        Rec r{0, uint8_t(t), id, off, len};
        if (write(fd, &r, sizeof(r)) != sizeof(r)) _exit(4);
        if (!arr->Write(off, len, buf.data()).ok()) _exit(5);
        r.acked = 1;
        if (write(fd, &r, sizeof(r)) != sizeof(r)) _exit(4);
      }
    });
  }
  for (auto& t : ts) t.join();
  _exit(0);
}

TEST(Crash, KillNineDuringRandomWritesResyncsDirtyRegionsAndKeepsAckedWrites) {
  for (uint32_t round = 1; round <= 3; ++round) {
    TempDir d;
    std::vector<std::string> devs;
    for (int i = 0; i < 3; ++i) devs.push_back(d.File("m" + std::to_string(i), 24 * MiB));
    {
      CreateOptions o;
      o.raid_devices = 3;
      o.chunk_bytes = 64 * 1024;
      o.bitmap_chunk_bytes = 1 * MiB;  // 23 regions, so resync works region by region
      auto a = Array::Create(o, devs);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
    }
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(p[0]);
      ChildWriter(devs, p[1], round);
    }
    close(p[1]);
    // Drain records while the child writes; SIGKILL it after a random while.
    std::vector<Rec> recs;
    const auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(400 + 300 * round);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    bool killed = false;
    while (true) {
      Rec r;
      ssize_t n = read(p[0], &r, sizeof(r));
      if (n == sizeof(r)) {
        recs.push_back(r);
        continue;
      }
      if (n == 0) break;  // child gone and pipe drained
      if (!killed && std::chrono::steady_clock::now() >= kill_at) {
        kill(child, SIGKILL);
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    close(p[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early, status " << status;
    size_t acked = 0;
    for (auto& r : recs) acked += r.acked;
    ASSERT_GT(acked, 20u) << "too few writes before the kill";

    // The crash left the array active with dirty bitmap regions.
    {
      auto raw = testing::ReadAll(devs[0]);
      auto sb = DecodeSuperblock(&raw[4096], 4096);
      ASSERT_TRUE(sb.ok());
      EXPECT_NE(sb->resync_offset, kMaxSector) << "superblock should say active after a crash";
    }
    const uint64_t torn_before = MdImage::Load(devs).ParityMismatches();
    auto a = Array::Assemble(devs);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ((*a)->GetStatus().dirty_bitmap_bits, 0u) << "resync should have cleared every dirty region";
    auto c = (*a)->Check(false);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->mismatch_sectors, 0u) << "round " << round << ": parity mismatch after resync";

    // Model: per 4 KiB block, the last acknowledged write, or the one in flight after it.
    std::vector<uint8_t> img((*a)->Size());
    ASSERT_TRUE((*a)->Read(0, img.size(), img.data()).ok());
    struct Want {
      uint64_t acked_id = UINT64_MAX;
      uint64_t inflight_id = UINT64_MAX;
    };
    std::map<uint64_t, Want> want;
    std::map<uint64_t, Rec> pending;  // id -> issued, not yet acknowledged
    for (auto& r : recs) {
      if (!r.acked) {
        pending[r.id] = r;
        continue;
      }
      pending.erase(r.id);
      for (uint64_t b = r.off / 4096; b < (r.off + r.len) / 4096; ++b) want[b] = {r.id, UINT64_MAX};
    }
    for (auto& [id, r] : pending) {
      for (uint64_t b = r.off / 4096; b < (r.off + r.len) / 4096; ++b) want[b].inflight_id = id;
    }
    uint64_t checked = 0, bad = 0;
    std::vector<uint8_t> exp;
    for (auto& [b, w] : want) {
      if (w.acked_id == UINT64_MAX) continue;
      Fill(exp, w.acked_id, b * 4096, 4096);
      bool ok = std::memcmp(exp.data(), &img[b * 4096], 4096) == 0;
      if (!ok && w.inflight_id != UINT64_MAX) {
        Fill(exp, w.inflight_id, b * 4096, 4096);
        ok = std::memcmp(exp.data(), &img[b * 4096], 4096) == 0;
      }
      ++checked;
      bad += !ok;
    }
    EXPECT_EQ(bad, 0u) << "round " << round << ": acknowledged blocks lost";
    a->reset();
    EXPECT_EQ(MdImage::Load(devs).ParityMismatches(), 0u);
    std::printf("round %u: %zu acked writes, %zu in flight at SIGKILL, %lu torn stripes before resync, "
                "%lu blocks verified\n",
                round, acked, pending.size(), (unsigned long)torn_before, (unsigned long)checked);
  }
}

}  // namespace
}  // namespace hafs::raid
