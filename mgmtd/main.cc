// hafs-mgmtd: the management daemon of one storage node (pool, volumes, bricks, volfiles).
// See docs/mgmtd.md.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/cli.h"
#include "common/log.h"
#include "common/mutex_debug.h"
#include "common/shutdown.h"
#include "mgmtd/server.h"

namespace {
hafs::mgmtd::MgmtServer* g_server = nullptr;
void DumpState() {
  if (g_server) HAFS_LOG_INFO("state dump:\n{}", g_server->DumpState());
}

std::string DefaultBrickd() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto sibling = self.parent_path() / "hafs-brickd";
    if (std::filesystem::exists(sibling)) return sibling;
  }
  return "/usr/sbin/hafs-brickd";
}
}  // namespace

int main(int argc, char** argv) {
  hafs::TurnOffMutexDeadlockDetection();
  CLI::App app{"hafs-mgmtd: management daemon of a hafs storage node"};
  hafs::mgmtd::MgmtServerOptions o;
  std::string log_level = "info", log_file;
  unsigned election_ms = 1000, heartbeat_ms = 100;
  app.add_option("--state-dir", o.state_dir, "where the pool's state lives (RocksDB, brick logs)")
      ->default_val("/var/lib/hafs/mgmtd");
  app.add_option("--listen", o.listen, "ADDR:PORT to serve the CLI, clients and peers on")
      ->default_val("0.0.0.0:24007");
  app.add_option("--advertise", o.advertise,
                 "HOST:PORT peers and clients reach this node at; HOST is the name its bricks use "
                 "(default: the --listen address, or the hostname if that is a wildcard)");
  app.add_option("--metrics-listen", o.metrics_listen,
                 "ADDR:PORT of the Prometheus /metrics endpoint (default: the --listen address, port + 1; "
                 "'none' to disable)");
  app.add_option("--brickd", o.brickd_path, "hafs-brickd binary (default: beside this binary)");
  app.add_option("--election-timeout-ms", election_ms, "Raft election timeout (randomized in [t, 2t])")
      ->default_val(1000)->check(CLI::Range(100, 60000));
  app.add_option("--heartbeat-ms", heartbeat_ms, "Raft heartbeat interval")->default_val(100)->check(CLI::Range(10, 10000));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->default_val("info");
  app.add_option("--log-file", log_file, "log to this file instead of stderr");
  if (auto done = hafs::ParseCommandLine(app, argc, argv, 2)) return *done;  // bad arguments: 2 (docs/mgmtd.md)

  if (!hafs::log::Init("hafs-mgmtd", log_level, log_file)) {
    std::cerr << "hafs-mgmtd: bad --log-level or --log-file\n";
    return 2;
  }
  if (o.brickd_path.empty()) o.brickd_path = DefaultBrickd();
  if (heartbeat_ms * 3 > election_ms) {
    std::cerr << "hafs-mgmtd: --heartbeat-ms must be at most a third of --election-timeout-ms\n";
    return 2;
  }
  o.election_timeout = std::chrono::milliseconds(election_ms);
  o.heartbeat = std::chrono::milliseconds(heartbeat_ms);
  hafs::shutdown::Install();

  auto server = hafs::mgmtd::MgmtServer::Start(o);
  if (!server.ok()) {
    HAFS_LOG_ERROR("cannot start: {}", server.status().ToString());
    std::cerr << "hafs-mgmtd: " << server.status().ToString() << "\n";
    return 1;
  }
  g_server = server->get();
  std::printf("listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  int sig = hafs::shutdown::Wait(DumpState);
  HAFS_LOG_INFO("signal {}: shutting down", sig);
  (*server)->Shutdown();
  g_server = nullptr;
  server->reset();
  HAFS_LOG_INFO("stopped");
  return 0;
}
