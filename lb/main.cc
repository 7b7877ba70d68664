// hafs-lb: L4/L7 load balancer reading a HAProxy-compatible configuration.
//   hafs-lb -f FILE            run (SIGHUP reloads FILE, SIGTERM/SIGINT stop)
//   hafs-lb -c -f FILE         check FILE and exit (0: valid, 1: the error, with file:line)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "common/cli.h"
#include "common/log.h"
#include "lb/config.h"
#include "lb/lb.h"

int main(int argc, char** argv) {
  CLI::App app{"hafs-lb: load balancer with a HAProxy-compatible configuration"};
  std::string file, level = "info", pidfile;
  bool check = false;
  app.add_option("-f", file, "configuration file")->required();
  app.add_flag("-c", check, "check the configuration and exit");
  app.add_option("-p", pidfile, "write the process id to this file");
  app.add_option("--log-level", level, "trace|debug|info|warn|error");
  if (auto done = hafs::ParseCommandLine(app, argc, argv, 1)) return *done;  // as HAProxy: 1 (docs/lb.md)
  hafs::log::Init("hafs-lb", level);

  auto cfg = hafs::lb::LoadConfigFile(file);
  if (!cfg.ok()) {
    std::fprintf(stderr, "[ALERT] %s\n", cfg.status().message().c_str());
    return 1;
  }
  if (check) {
    std::printf("Configuration file is valid\n");
    return 0;
  }

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto lb = hafs::lb::Lb::Create(std::move(*cfg));
  if (!lb.ok()) {
    HAFS_LOG_ERROR("cannot start: {}", lb.status().message());
    return 1;
  }
  hafs::Status st = (*lb)->Start();
  if (!st.ok()) {
    HAFS_LOG_ERROR("cannot start: {}", st.message());
    return 1;
  }
  if (!pidfile.empty()) std::ofstream(pidfile) << getpid() << "\n";
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto next = hafs::lb::LoadConfigFile(file);
      if (!next.ok()) {
        HAFS_LOG_ERROR("reload refused, keeping the running configuration: {}", next.status().message());
        continue;
      }
      st = (*lb)->Reload(std::move(*next));
      if (!st.ok()) HAFS_LOG_ERROR("reload failed, keeping the running configuration: {}", st.message());
      continue;
    }
    if (sig == SIGUSR1) {
      std::fputs((*lb)->Command("show stat").c_str(), stderr);
      continue;
    }
    HAFS_LOG_INFO("signal {}: stopping", sig);
    break;
  }
  (*lb)->Stop();
  if (!pidfile.empty()) unlink(pidfile.c_str());
  return 0;
}
