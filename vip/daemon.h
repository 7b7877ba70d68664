// Daemon: runs every vrrp_instance of a Config on one event-loop thread. It feeds packets, timers,
// tracker verdicts and sync-group moves into each instance's VrrpFsm and carries out the actions
// (adverts on the raw socket, VIP add/remove over netlink, gratuitous ARP, notify scripts, the
// notify FIFO), serves the status socket, and on SIGTERM resigns mastership (priority 0) and
// removes its VIPs before exiting.
// Ownership: owns its sockets, child processes and instances.
// Thread-safety: Run() on one thread; nothing else may touch the object while it runs.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "vip/config.h"

namespace hafs::vip {

struct DaemonOptions {
  std::string status_socket = "/run/hafs-vipd.sock";
};

class Daemon {
 public:
  virtual ~Daemon() = default;
  // Opens sockets and checks interfaces; fails (naming the instance) if anything is missing.
  static Result<std::unique_ptr<Daemon>> Create(Config cfg, DaemonOptions opts);
  // Blocks SIGTERM/SIGINT/SIGCHLD/SIGUSR1 itself; returns after a clean shutdown.
  virtual Status Run() = 0;
};

}  // namespace hafs::vip
