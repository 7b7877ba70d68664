// raid_bench: hafs-raid throughput beside the raw throughput of its member files,
// measured in the same run on the same files (docs/raid.md "Benchmark").
//
//   raid_bench [--dir D] [--members N] [--size-mib S] [--chunk-kib C] [--seconds T]
//              [--rounds R] [--streams K] [DEV... SPARE]
//
// Sequential write/read (healthy, degraded), 4 KiB random read/write IOPS and rebuild,
// each printed with the raw figure and the ratio against the target. Page
// cache is dropped before every read phase and writes end with fdatasync, for the
// raw and the array measurements alike, so both go through the same kernel path.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "raid/array.h"
#include "raid/parity.h"

using namespace hafs::raid;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

double Secs(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void DropCaches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    if (write(fd, "3\n", 2) != 2) std::perror("drop_caches");
    close(fd);
  }
}

// Raw sequential rate over all members at once (one thread per member), bytes/s aggregate.
double RawSeq(const std::vector<std::string>& devs, uint64_t off, uint64_t bytes, bool write) {
  if (!write) DropCaches();
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (const auto& d : devs) {
    ts.emplace_back([&, d] {
      int fd = open(d.c_str(), O_RDWR);
      auto buf = AllocAligned(MiB);
      std::memset(buf.get(), 0x5a, MiB);
      for (uint64_t p = 0; p < bytes; p += MiB) {
        ssize_t n = write ? pwrite(fd, buf.get(), MiB, off_t(off + p)) : pread(fd, buf.get(), MiB, off_t(off + p));
        if (n != ssize_t(MiB)) std::perror("raw io");
      }
      if (write) fdatasync(fd);
      close(fd);
    });
  }
  for (auto& t : ts) t.join();
  return double(bytes * devs.size()) / Secs(t0);
}

// The disk work of a rebuild without the engine: read n-1 members and write one, all at
// once, sequentially. Returns bytes per member per second.
double RawRebuildLike(const std::vector<std::string>& readers, const std::string& writer, uint64_t off,
                      uint64_t bytes) {
  DropCaches();
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  auto run = [&](std::string d, bool write) {
    int fd = open(d.c_str(), O_RDWR);
    auto buf = AllocAligned(MiB);
    std::memset(buf.get(), 0x33, MiB);
    for (uint64_t p = 0; p < bytes; p += MiB) {
      ssize_t n = write ? pwrite(fd, buf.get(), MiB, off_t(off + p)) : pread(fd, buf.get(), MiB, off_t(off + p));
      if (n != ssize_t(MiB)) std::perror("raw rebuild io");
    }
    if (write) fdatasync(fd);
    close(fd);
  };
  for (const auto& d : readers) ts.emplace_back(run, d, false);
  ts.emplace_back(run, writer, true);
  for (auto& t : ts) t.join();
  return double(bytes) / Secs(t0);
}

double RawRandom(const std::vector<std::string>& devs, uint64_t off, uint64_t span, bool write, double secs, int qd) {
  std::vector<int> fds;
  for (const auto& d : devs) fds.push_back(open(d.c_str(), O_RDWR));
  if (!write) DropCaches();
  std::atomic<uint64_t> ops{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int q = 0; q < qd; ++q) {
    ts.emplace_back([&, q] {
      std::mt19937_64 rng(uint64_t(q) + 1);
      auto buf = AllocAligned(4096);
      std::memset(buf.get(), 1, 4096);
      while (Secs(t0) < secs) {
        int fd = fds[rng() % fds.size()];
        off_t o = off_t(off + (rng() % (span / 4096)) * 4096);
        ssize_t n = write ? pwrite(fd, buf.get(), 4096, o) : pread(fd, buf.get(), 4096, o);
        if (n != 4096) std::perror("raw random");
        ++ops;
      }
    });
  }
  for (auto& t : ts) t.join();
  const double rate = double(ops) / Secs(t0);
  for (int fd : fds) close(fd);
  return rate;
}

double ArraySeq(Array& a, bool write, uint64_t io) {
  if (!write) DropCaches();
  auto buf = AllocAligned(io);
  for (uint64_t i = 0; i < io; ++i) buf[i] = uint8_t(i * 7);
  auto t0 = Clock::now();
  // Two streams over the two halves: keeps members busy while parity is computed.
  std::vector<std::thread> ts;
  const int streams = getenv("RAID_BENCH_STREAMS") ? std::atoi(getenv("RAID_BENCH_STREAMS")) : 2;
  const uint64_t part = a.Size() / uint64_t(streams) / io * io;
  for (int s = 0; s < streams; ++s) {
    ts.emplace_back([&, s] {
      auto local = AllocAligned(io);
      std::memcpy(local.get(), buf.get(), io);
      for (uint64_t p = 0; p + io <= part; p += io) {
        hafs::Status st = write ? a.Write(uint64_t(s) * part + p, io, local.get())
                                : a.Read(uint64_t(s) * part + p, io, local.get());
        if (!st.ok()) std::fprintf(stderr, "array io: %s\n", st.ToString().c_str());
      }
    });
  }
  for (auto& t : ts) t.join();
  if (write) (void)a.Flush();
  return double(part * uint64_t(streams)) / Secs(t0);
}

double ArrayRandom(Array& a, bool write, double secs, int qd) {
  if (!write) DropCaches();
  std::atomic<uint64_t> ops{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int q = 0; q < qd; ++q) {
    ts.emplace_back([&, q] {
      std::mt19937_64 rng(uint64_t(q) + 7);
      auto buf = AllocAligned(4096);
      std::memset(buf.get(), 2, 4096);
      while (Secs(t0) < secs) {
        uint64_t o = (rng() % (a.Size() / 4096)) * 4096;
        hafs::Status st = write ? a.Write(o, 4096, buf.get()) : a.Read(o, 4096, buf.get());
        if (!st.ok()) std::fprintf(stderr, "array random: %s\n", st.ToString().c_str());
        ++ops;
      }
    });
  }
  for (auto& t : ts) t.join();
  return double(ops) / Secs(t0);
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Row(const char* what, double array, const char* unit, double raw, double target_ratio, const char* target) {
  const double ratio = raw > 0 ? array / raw : 0;
  std::printf("%-34s %10.1f %-5s raw %10.1f %-5s ratio %5.2f  target %s %s\n", what, array, unit, raw, unit, ratio,
              target, target_ratio > 0 ? (ratio >= target_ratio ? "(met)" : "(NOT met)") : "");
}

}  // namespace

int main(int argc, char** argv) {
  hafs::log::Init("raid_bench", "warn");
  std::string dir = "/var/tmp/hafs-raid-bench";
  int n = 4;
  uint64_t size_mib = 256, chunk_kib = 512;
  double secs = 5;
  int rounds = 3;
  std::vector<std::string> devs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--dir") dir = next();
    else if (a == "--members") n = std::atoi(next().c_str());
    else if (a == "--size-mib") size_mib = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--chunk-kib") chunk_kib = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--seconds") secs = std::atof(next().c_str());
    else if (a == "--rounds") rounds = std::max(1, std::atoi(next().c_str()));
    else if (a == "--streams") setenv("RAID_BENCH_STREAMS", next().c_str(), 1);
    else devs.push_back(a);
  }
  bool own_files = devs.empty();
  if (own_files) {
    std::filesystem::create_directories(dir);
    for (int i = 0; i <= n; ++i) {  // n members + one blank for the rebuild
      std::string p = dir + "/m" + std::to_string(i) + ".img";
      int fd = open(p.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
      if (fd < 0 || fallocate(fd, 0, 0, off_t(size_mib * MiB)) != 0) {
        std::perror(p.c_str());
        return 1;
      }
      close(fd);
      devs.push_back(p);
    }
  }
  n = int(devs.size()) - 1;
  const std::string spare = devs.back();
  devs.pop_back();
  std::printf("hafs-raid bench: %d members of %lu MiB, chunk %lu KiB, in %s\n", n, (unsigned long)size_mib,
              (unsigned long)chunk_kib, own_files ? dir.c_str() : "given devices");

  CreateOptions o;
  o.raid_devices = n;
  o.chunk_bytes = chunk_kib * 1024;
  o.assume_clean = true;  // the benchmark writes every stripe first
  auto arr = Array::Create(o, devs, true);
  if (!arr.ok()) {
    std::fprintf(stderr, "create: %s\n", arr.status().ToString().c_str());
    return 1;
  }
  Array& a = **arr;
  const uint64_t doff = a.geometry().data_offset, mbytes = a.geometry().member_bytes;
  const uint64_t stripe = o.chunk_bytes * uint64_t(n - 1);
  const uint64_t io = stripe * 4;  // full stripes

  // Raw and array runs alternate, `rounds` times each, and the medians are compared: the
  // machine's noise (other jobs, host caching) hits both sides alike.
  (void)RawSeq(devs, doff, mbytes, true);  // warm-up: allocates the extents for both sides
  std::vector<double> rw_v, aw_v, rr_v, ar_v;
  for (int r = 0; r < rounds; ++r) {
    rw_v.push_back(RawSeq(devs, doff, mbytes, true));
    aw_v.push_back(ArraySeq(a, true, io));
    rr_v.push_back(RawSeq(devs, doff, mbytes, false));
    ar_v.push_back(ArraySeq(a, false, io));
  }
  const double raw_w = Median(rw_v), arr_w = Median(aw_v), raw_r = Median(rr_v), arr_r = Median(ar_v);
  Row("seq write MB/s (full stripes)", arr_w / 1e6, "MB/s", raw_w * (n - 1) / n / 1e6, 0.9, ">= 0.90 of (n-1)/n raw");
  Row("seq read MB/s (healthy)", arr_r / 1e6, "MB/s", raw_r / 1e6, 0.9, ">= 0.90 of raw");
  const double rr_raw = RawRandom(devs, doff, mbytes, false, secs, 8);
  const double rr = ArrayRandom(a, false, secs, 8);
  Row("4K random read IOPS (8 threads)", rr, "IOPS", rr_raw, 0, "(none)");
  const double rw_raw = RawRandom(devs, doff, mbytes, true, secs, 8);
  const double rw = ArrayRandom(a, true, secs, 8);
  Row("4K random write IOPS (8 threads)", rw, "IOPS", rw_raw, 0, "(none; RAID5 costs 4 I/Os)");
  (void)a.Flush();
  arr->reset();

  {
    hafs::raid::AssembleOptions ro;
    ro.readonly = true;
    std::vector<std::string> some(devs.begin() + 1, devs.end());
    auto deg = Array::Assemble(some, ro);
    if (!deg.ok()) {
      std::fprintf(stderr, "degraded assemble: %s\n", deg.status().ToString().c_str());
      return 1;
    }
    std::vector<double> v;
    for (int r = 0; r < rounds; ++r) v.push_back(ArraySeq(**deg, false, io));
    const double d_r = Median(v);
    Row("seq read MB/s (degraded)", d_r / 1e6, "MB/s", arr_r / 1e6, 0.7, ">= 0.70 of healthy (raw col = healthy)");
  }
  {
    auto again = Array::Assemble(devs);
    if (!again.ok()) return 1;
    (void)(*again)->Fail(devs[0]);
    (void)(*again)->Remove(devs[0]);
    std::vector<std::string> readers(devs.begin() + 1, devs.end());
    const double raw_rb = RawRebuildLike(readers, spare, doff, mbytes);
    DropCaches();
    const double cpu0 = CpuSeconds();
    auto t0 = Clock::now();
    if (!(*again)->Add(spare).ok() || !(*again)->WaitRebuild(3600 * 1000)) return 1;
    const double wall = Secs(t0);
    const double rb = double(mbytes) / wall;
    Row("rebuild MB/s (per member)", rb / 1e6, "MB/s", raw_rb / 1e6, 0,
        "disk-bound (raw = read n-1 + write 1 at once)");
    std::printf("%-34s %10.0f %%   of one core while rebuilding (XOR + submission); the rest is I/O wait\n",
                "rebuild CPU", 100.0 * (CpuSeconds() - cpu0) / wall);
  }
  if (own_files) std::filesystem::remove_all(dir);
  return 0;
}
