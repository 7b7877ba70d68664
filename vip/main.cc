// hafs-vipd: VRRP (v2/v3) virtual-IP manager reading a keepalived-compatible configuration.
//   hafs-vipd -f /etc/hafs/vipd.conf        run in the foreground (logs to stderr)
//   hafs-vipd -t -f FILE                     check FILE and exit (0 = valid)
//   hafs-vipd --status [-S SOCKET]           print the running daemon's state as JSON
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "common/cli.h"
#include "common/log.h"
#include "vip/config.h"
#include "vip/daemon.h"
#include "vip/status.h"

int main(int argc, char** argv) {
  CLI::App app{"hafs-vipd: VRRP v2/v3 virtual IP manager (keepalived-compatible config)"};
  std::string config = "/etc/hafs/vipd.conf";
  std::string level = "info";
  std::string log_file;
  bool check_only = false;
  bool status = false;
  hafs::vip::DaemonOptions opts;
  app.add_option("-f,--use-file", config, "configuration file (keepalived syntax subset)");
  app.add_flag("-t,--config-test", check_only, "check the configuration and exit");
  app.add_flag("--status", status, "print the running daemon's status (JSON) and exit");
  app.add_option("-S,--status-socket", opts.status_socket, "Unix socket serving the status")->capture_default_str();
  app.add_option("-l,--log-level", level, "trace|debug|info|warn|error")->capture_default_str();
  app.add_option("--log-file", log_file, "log to this file instead of stderr");
  if (auto done = hafs::ParseCommandLine(app, argc, argv, 1)) return *done;  // as a bad config: 1 (docs/vip.md)

  if (status) {
    auto s = hafs::vip::QueryStatus(opts.status_socket);
    if (!s.ok()) {
      std::fprintf(stderr, "hafs-vipd: %s\n", s.status().ToString().c_str());
      return 1;
    }
    std::fputs(s->c_str(), stdout);
    return 0;
  }
  auto cfg = hafs::vip::LoadConfigFile(config);
  if (!cfg.ok()) {
    std::fprintf(stderr, "hafs-vipd: %s\n", cfg.status().ToString().c_str());
    return 1;
  }
  for (const auto& w : cfg->warnings) std::fprintf(stderr, "hafs-vipd: warning: %s\n", w.c_str());
  if (check_only) {
    std::printf("hafs-vipd: %s: configuration OK (%zu instance(s), %zu sync group(s), %zu script(s))\n", config.c_str(),
                cfg->instances.size(), cfg->groups.size(), cfg->scripts.size());
    return 0;
  }
  hafs::log::Init("hafs-vipd", level, log_file);
  auto daemon = hafs::vip::Daemon::Create(std::move(*cfg), opts);
  if (!daemon.ok()) {
    HAFS_LOG_ERROR("{}", daemon.status().ToString());
    return 1;
  }
  hafs::Status st = (*daemon)->Run();
  if (!st.ok()) {
    HAFS_LOG_ERROR("{}", st.ToString());
    return 1;
  }
  return 0;
}
