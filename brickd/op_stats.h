// OpStats: per-operation counters and latency histograms of a brick, for `volume status`,
// the Stats RPC and (later) Prometheus. Lock-free: relaxed atomics, any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace hafs::brick {

enum class Op : int {
  kLookup, kGetattr, kSetattr, kMkdir, kCreate, kMknod, kSymlink, kReadlink, kLink, kUnlink, kRmdir, kRename,
  kOpendir, kReaddir, kOpen, kRelease, kRead, kWrite, kTruncate, kFallocate, kFsync, kStatfs, kSetxattr,
  kGetxattr, kListxattr, kRemovexattr, kAccess, kInodelk, kEntrylk, kXattrop, kHealIndex, kPing, kReleaseLocks, kCount
};

std::string_view OpName(Op op);

class OpStats {
 public:
  // Upper bounds of the latency buckets in microseconds; the last bucket is unbounded.
  static constexpr std::array<uint64_t, 15> kBoundsUs = {10,    20,    50,     100,    200,    500,    1000,  2000,
                                                         5000, 10000, 20000, 50000, 100000, 500000, 1000000};
  static constexpr size_t kBuckets = kBoundsUs.size() + 1;

  struct Counters {
    std::atomic<uint64_t> count{0}, errors{0}, total_us{0};
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
  };

  void Record(Op op, uint64_t us, bool error) {
    auto& c = ops_[static_cast<int>(op)];
    c.count.fetch_add(1, std::memory_order_relaxed);
    if (error) c.errors.fetch_add(1, std::memory_order_relaxed);
    c.total_us.fetch_add(us, std::memory_order_relaxed);
    size_t b = 0;
    while (b < kBoundsUs.size() && us > kBoundsUs[b]) ++b;
    c.buckets[b].fetch_add(1, std::memory_order_relaxed);
  }
  const Counters& Get(Op op) const { return ops_[static_cast<int>(op)]; }

 private:
  std::array<Counters, static_cast<int>(Op::kCount)> ops_;
};

}  // namespace hafs::brick
