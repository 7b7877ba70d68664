// Child processes of hafs-vipd: vrrp_script health checks (rise/fall hysteresis) and notify
// scripts (run in order, one at a time per queue, each with a deadline). Commands run through
// /bin/sh -c in their own process group, so a timeout kills the whole tree.
// Ownership: ProcessTable owns its children and kills them in KillAll().
// Thread-safety: none; the daemon's loop thread drives everything.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <string>

#include "common/status.h"
#include "vip/config.h"
#include "vip/fsm.h"

namespace hafs::vip {

class ProcessTable {
 public:
  // exit_code: the child's exit status, or -1 if it timed out or died of a signal.
  using Done = std::function<void(int exit_code)>;

  Result<pid_t> Spawn(const std::string& command, TimePoint deadline, Done done);
  // Collects finished children (call on SIGCHLD and on every loop turn).
  void Reap();
  // SIGKILLs the process group of every child past its deadline.
  void KillOverdue(TimePoint now);
  TimePoint NextDeadline() const;
  // Kills every child and waits (bounded) for them; used at shutdown.
  void KillAll();
  size_t running() const { return children_.size(); }

 private:
  struct Child {
    TimePoint deadline;
    Done done;
    bool killed = false;
  };
  std::map<pid_t, Child> children_;
};

// One vrrp_script: runs every `interval`; `fall` consecutive failures make it fail, `rise`
// consecutive successes make it pass again. Starts passing (keepalived's default without init_fail).
class TrackScript {
 public:
  explicit TrackScript(ScriptConfig cfg) : cfg_(std::move(cfg)) {}
  // Spawns the check if due. The verdict is updated when the child is reaped (ProcessTable::Reap).
  void Tick(TimePoint now, ProcessTable& procs);
  bool passing() const { return passing_; }
  // True once after the passing/failing verdict flipped.
  bool TakeChanged() {
    bool c = changed_;
    changed_ = false;
    return c;
  }
  const ScriptConfig& config() const { return cfg_; }
  TimePoint next_run() const { return running_ ? TimePoint::max() : next_run_; }

 private:
  ScriptConfig cfg_;
  bool passing_ = true;
  bool running_ = false;
  bool changed_ = false;
  int ok_streak_ = 0;
  int fail_streak_ = 0;
  TimePoint next_run_{};
};

// Notify commands of one instance or group: strictly in order, never two at once.
class NotifyQueue {
 public:
  void Push(std::string command) { queue_.push_back(std::move(command)); }
  void Pump(TimePoint now, std::chrono::milliseconds timeout, ProcessTable& procs);
  bool idle() const { return queue_.empty() && !running_; }

 private:
  std::deque<std::string> queue_;
  bool running_ = false;
};

}  // namespace hafs::vip
