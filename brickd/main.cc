// hafs-brickd: serves one brick (an export directory) over gRPC. See docs/brickd.md.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <iostream>

#include <CLI/CLI.hpp>

#include "brickd/brick_server.h"
#include "common/cli.h"
#include "common/gfid.h"
#include "common/log.h"
#include "common/mutex_debug.h"
#include "common/shutdown.h"

namespace {
hafs::brick::BrickServer* g_server = nullptr;
void DumpState() {
  if (g_server) HAFS_LOG_INFO("state dump:\n{}", g_server->DumpState());
}
}  // namespace

int main(int argc, char** argv) {
  hafs::TurnOffMutexDeadlockDetection();
  // Write payloads (up to --max-io-kib) are allocated and freed per call. glibc would give
  // each its own mmap, or return freed heap to the kernel, and a fresh page fault and zeroed
  // page per 4 KiB follow (~500 faults per MiB written): keep them in the heap instead.
  // MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in the environment still win. Only
  // glibc's malloc reads these: the normal build links jemalloc (docs/client.md, "The allocator").
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{"hafs-brickd: serves one hafs brick over gRPC"};
  hafs::brick::BrickServerOptions o;
  std::string log_level = "info", log_file;
  size_t max_io_kib = 4096;
  size_t direct_write_kib = 128;
  unsigned lease_ms = 10000;
  app.add_option("--brick-path", o.brick_path, "brick directory (must exist)")->required();
  app.add_option("--volume-id", o.volume_id, "UUID of the volume the brick belongs to")->required();
  app.add_option("--brick-id", o.brick_id, "index of the brick in the volume")->default_val(0);
  app.add_option("--listen", o.listen, "ADDR:PORT to serve on; port 0 picks a free port")->default_val("127.0.0.1:0");
  app.add_option("--read-port", o.read_port,
                 "TCP port of the read channel on the --listen address (reads and every other unary call "
                 "without gRPC); 0 picks a free port, -1: none (clients use gRPC for everything)")
      ->default_val(0)->check(CLI::Range(-1, 65535));
  app.add_option("--max-io-kib", max_io_kib, "largest read or write per call, KiB")->default_val(4096)
      ->check(CLI::Range(64, 65536));
  app.add_option("--direct-write-kib", direct_write_kib,
                 "writes this large or larger (4 KiB-aligned) bypass the page cache (O_DIRECT); 0: never")
      ->default_val(128)->check(CLI::Range(0, 65536));
  app.add_option("--max-lease-ms", lease_ms, "longest client lease; locks of a silent client die after it")
      ->default_val(10000)->check(CLI::Range(200, 600000));
  app.add_option("--auth-allow", o.auth.allow,
                 "client addresses served: comma list of addresses, CIDR prefixes, globs (auth.allow)")
      ->default_val("*");
  app.add_option("--auth-reject", o.auth.reject, "client addresses refused; wins over --auth-allow (auth.reject)");
  app.add_option("--auth-file", o.auth_file,
                 "file with allow=LIST, reject=LIST, internal-key=KEY lines; replaces the two flags, re-read on SIGHUP");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->default_val("info");
  app.add_option("--log-file", log_file, "log to this file instead of stderr");
  if (auto done = hafs::ParseCommandLine(app, argc, argv, 2)) return *done;  // bad arguments: 2 (docs/brickd.md)

  if (!hafs::log::Init("hafs-brickd", log_level, log_file)) {
    std::cerr << "hafs-brickd: bad --log-level or --log-file\n";
    return 2;
  }
  if (!hafs::Gfid::Parse(o.volume_id)) {
    std::cerr << "hafs-brickd: --volume-id must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)\n";
    return 2;
  }
  o.max_io = max_io_kib * 1024;
  o.direct_write_min = direct_write_kib * 1024;
  o.max_lease = std::chrono::milliseconds(lease_ms);
  // The brick applies exactly the modes clients ask for, and keeps many fds cached.
  ::umask(0);
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  hafs::shutdown::Install();
  // SIGHUP re-reads --auth-file; blocked here (before any thread) and taken by one thread.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);

  auto server = hafs::brick::BrickServer::Start(o);
  if (!server.ok()) {
    HAFS_LOG_ERROR("cannot start: {}", server.status().ToString());
    std::cerr << "hafs-brickd: " << server.status().ToString() << "\n";
    return 1;
  }
  g_server = server->get();
  HAFS_LOG_INFO("brick {} of volume {} serving {} on {} (read channel: {})", o.brick_id, o.volume_id, o.brick_path,
                (*server)->address(), (*server)->read_port() ? "port " + std::to_string((*server)->read_port()) : "none");
  // Supervisors (mgmtd, tests) learn the port from this line.
  std::printf("listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);

  std::atomic<bool> stopping{false};
  std::thread reloader([&] {
    for (;;) {
      int s = 0;
      if (sigwait(&hup, &s) != 0) continue;
      if (stopping) return;
      if (o.auth_file.empty()) {
        HAFS_LOG_INFO("SIGHUP: no --auth-file, nothing to reload");
        continue;
      }
      if (auto st = (*server)->ReloadAuth(); !st.ok())
        HAFS_LOG_ERROR("SIGHUP: keeping the previous auth rules: {}", st.ToString());
    }
  });

  int sig = hafs::shutdown::Wait(DumpState);
  stopping = true;
  pthread_kill(reloader.native_handle(), SIGHUP);
  reloader.join();
  HAFS_LOG_INFO("signal {}: shutting down", sig);
  (*server)->Shutdown();
  g_server = nullptr;
  server->reset();
  HAFS_LOG_INFO("stopped");
  return 0;
}
