// Brick RPC benchmark on loopback: a real hafs-brickd process, a real gRPC channel, and the
// same operations done directly on the local disk in the same run. Prints ops/s or MB/s for
// both and the ratio (hafs / local). Not run by CI.
//
//   hafs-bench-brick [--dir /var/tmp] [--files 5000] [--threads 1] [--mib 256]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include <CLI/CLI.hpp>

#include "tests/support/brickd_process.h"

using namespace hafs;
using Clock = std::chrono::steady_clock;

namespace {

// Runs fn(thread, i) for i in [0, n) split over `threads` threads; returns seconds.
double Timed(int threads, int n, const std::function<void(int, int)>& fn) {
  auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < n; i += threads) fn(t, i);
    });
  }
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat.
double CpuSeconds(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Brick CPU used between construction and Per(): divided by calls (us per call) or MiB.
class BrickCpu {
 public:
  explicit BrickCpu(pid_t pid) : pid_(pid), start_(CpuSeconds(pid)) {}
  double Per(double units, double scale) const { return (CpuSeconds(pid_) - start_) * scale / units; }

 private:
  pid_t pid_;
  double start_;
};

void Row(const char* what, const char* unit, double hafs, double local) {
  std::printf("%-28s %12.0f %12.0f %8.2f   %s\n", what, hafs, local, local > 0 ? hafs / local : 0.0, unit);
}
void CpuRow(const char* what, double value, const char* unit) { std::printf("  brick CPU, %-20s %10.1f %s\n", what, value, unit); }

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark step failed: %s\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"brick RPC benchmark: hafs-brickd over loopback gRPC vs the local disk"};
  std::string base = "/var/tmp";
  int files = 5000, threads = 1, mib = 256;
  app.add_option("--dir", base, "where to put the brick and the local-disk files");
  app.add_option("--files", files, "small files per workload")->check(CLI::Range(10, 1000000));
  app.add_option("--threads", threads, "concurrent callers")->check(CLI::Range(1, 64));
  app.add_option("--mib", mib, "size of the sequential file in MiB")->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);

  std::string local = base + "/hafs-bench-local-" + std::to_string(getpid());
  std::string brickdir = base + "/hafs-bench-brick-" + std::to_string(getpid());
  std::filesystem::create_directories(local);
  std::filesystem::create_directories(brickdir);
  int rc = 0;
  {
    testing::BrickdProcess brick(brickdir);
    std::vector<std::unique_ptr<proto::Brick::Stub>> stubs;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int t = 0; t < threads; ++t) {
      channels.push_back(brick.NewChannel());
      stubs.push_back(proto::Brick::NewStub(channels.back()));
    }
    std::vector<Gfid> gfids(files);
    for (auto& g : gfids) g = Gfid::Random();
    const std::string block(4096, 'x');
    const Gfid root = Gfid::Root();

    std::printf("brick benchmark: %d files, %d thread(s), %d MiB sequential; brick on %s\n", files, threads, mib,
                base.c_str());
    std::printf("%-28s %12s %12s %8s\n", "workload", "hafs", "local", "ratio");

    BrickCpu cpu_create(brick.pid());
    double th = Timed(threads, files, [&](int t, int i) {
      proto::CreateRequest c;
      c.set_parent(root.Bytes());
      c.set_name("f" + std::to_string(i));
      c.set_gfid(gfids[i].Bytes());
      c.set_mode(0644);
      c.set_exclusive(true);
      proto::EntryReply er;
      grpc::ClientContext c1;
      Check(stubs[t]->Create(&c1, c, &er).ok() && er.err() == 0, "create");
      proto::WriteRequest w;
      w.set_gfid(gfids[i].Bytes());
      w.set_data(block);
      proto::WriteReply wr;
      grpc::ClientContext c2;
      Check(stubs[t]->Write(&c2, w, &wr).ok() && wr.err() == 0, "write");
    });
    double tl = Timed(threads, files, [&](int, int i) {
      std::string p = local + "/f" + std::to_string(i);
      int fd = ::open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      Check(fd >= 0 && ::write(fd, block.data(), block.size()) == 4096, "local create");
      ::close(fd);
    });
    double create_cpu = cpu_create.Per(2.0 * files, 1e6);
    Row("4 KiB creates", "files/s", files / th, files / tl);
    CpuRow("create + write", create_cpu, "us per call (2 calls per file)");

    BrickCpu cpu_lookup(brick.pid());
    th = Timed(threads, files, [&](int t, int i) {
      proto::EntryRequest l;
      l.set_parent(root.Bytes());
      l.set_name("f" + std::to_string(i));
      proto::EntryReply er;
      grpc::ClientContext c;
      Check(stubs[t]->Lookup(&c, l, &er).ok() && er.err() == 0, "lookup");
    });
    tl = Timed(threads, files, [&](int, int i) {
      struct stat st;
      Check(::stat((local + "/f" + std::to_string(i)).c_str(), &st) == 0, "local stat");
    });
    double lookup_cpu = cpu_lookup.Per(files, 1e6);
    Row("lookups (stat)", "ops/s", files / th, files / tl);
    CpuRow("lookup", lookup_cpu, "us per call");

    th = Timed(threads, files, [&](int t, int i) {
      proto::ReadRequest r;
      r.set_gfid(gfids[i].Bytes());
      r.set_size(4096);
      proto::ReadReply rr;
      grpc::ClientContext c;
      Check(stubs[t]->Read(&c, r, &rr).ok() && rr.data().size() == 4096, "read");
    });
    tl = Timed(threads, files, [&](int, int i) {
      char buf[4096];
      int fd = ::open((local + "/f" + std::to_string(i)).c_str(), O_RDONLY);
      Check(fd >= 0 && ::read(fd, buf, sizeof buf) == 4096, "local read");
      ::close(fd);
    });
    Row("4 KiB reads", "files/s", files / th, files / tl);

    // Sequential: one file, 1 MiB per call, each thread its own region.
    const std::string mb(1 << 20, 'y');
    Gfid big = Gfid::Random();
    {
      proto::CreateRequest c;
      c.set_parent(root.Bytes());
      c.set_name("big");
      c.set_gfid(big.Bytes());
      c.set_mode(0644);
      proto::EntryReply er;
      grpc::ClientContext ctx;
      Check(stubs[0]->Create(&ctx, c, &er).ok() && er.err() == 0, "create big");
    }
    BrickCpu cpu_write(brick.pid());
    th = Timed(threads, mib, [&](int t, int i) {
      proto::WriteRequest w;
      w.set_gfid(big.Bytes());
      w.set_offset(static_cast<uint64_t>(i) << 20);
      w.set_data(mb);
      proto::WriteReply wr;
      grpc::ClientContext c;
      Check(stubs[t]->Write(&c, w, &wr).ok() && wr.written() == mb.size(), "write 1 MiB");
    });
    double write_cpu_nosync = cpu_write.Per(mib, 1e3);
    {
      proto::FsyncRequest f;
      f.set_gfid(big.Bytes());
      proto::ErrReply er;
      grpc::ClientContext c;
      auto s = Clock::now();
      Check(stubs[0]->Fsync(&c, f, &er).ok(), "fsync");
      th += std::chrono::duration<double>(Clock::now() - s).count();
    }
    double write_cpu = cpu_write.Per(mib, 1e3);
    int lfd = ::open((local + "/big").c_str(), O_CREAT | O_RDWR, 0644);
    tl = Timed(threads, mib, [&](int, int i) {
      Check(::pwrite(lfd, mb.data(), mb.size(), static_cast<off_t>(i) << 20) == (1 << 20), "local write");
    });
    {
      auto s = Clock::now();
      ::fsync(lfd);
      tl += std::chrono::duration<double>(Clock::now() - s).count();
    }
    Row("1 MiB writes (+fsync)", "MB/s", mib * 1.048576 / th, mib * 1.048576 / tl);
    CpuRow("1 MiB writes", write_cpu_nosync, "ms per MiB (before the fsync)");
    CpuRow("1 MiB writes + fsync", write_cpu, "ms per MiB (incl. the final fsync)");

    BrickCpu cpu_read(brick.pid());
    th = Timed(threads, mib, [&](int t, int i) {
      proto::ReadRequest r;
      r.set_gfid(big.Bytes());
      r.set_offset(static_cast<uint64_t>(i) << 20);
      r.set_size(1 << 20);
      proto::ReadReply rr;
      grpc::ClientContext c;
      Check(stubs[t]->Read(&c, r, &rr).ok() && rr.data().size() == mb.size(), "read 1 MiB");
    });
    double read_cpu = cpu_read.Per(mib, 1e3);
    std::vector<std::string> bufs(threads, std::string(1 << 20, '\0'));
    tl = Timed(threads, mib, [&](int t, int i) {
      Check(::pread(lfd, bufs[t].data(), 1 << 20, static_cast<off_t>(i) << 20) == (1 << 20), "local read");
    });
    ::close(lfd);
    Row("1 MiB reads (page cache)", "MB/s", mib * 1.048576 / th, mib * 1.048576 / tl);
    CpuRow("1 MiB reads", read_cpu, "ms per MiB");
    std::printf("(ratio = hafs / local; both sides warm in the page cache; the brick adds one gRPC round trip per op)\n");
  }
  std::filesystem::remove_all(local);
  std::filesystem::remove_all(brickdir);
  return rc;
}
