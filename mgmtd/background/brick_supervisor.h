// BrickSupervisor: runs the hafs-brickd processes of this node's bricks for every started
// volume. A brick is started with `--listen HOST:PORT` (port 0 the first time; afterwards
// the port it had, so clients find it again), its port is learned from the `listening on`
// line and published through the replicated state (SetBrickPort), a brick that dies is
// restarted with exponential backoff (0.5 s doubling to 30 s, reset after a minute of good
// health) and a log line, and bricks of stopped or deleted volumes are stopped (SIGTERM,
// SIGKILL after 5 s). Bricks are children of mgmtd and die with it (PR_SET_PDEATHSIG, SIGKILL).
// auth.allow/auth.reject and the pool's internal key reach a brick through its --auth-file
// (LOG_DIR/<name>.auth, mode 0600); a change rewrites the file and sends SIGHUP, so the new
// rules apply at once without restarting the brick. The same internal key is installed for
// this process's own brick clients (client::SetInternalKey).
//
// Ownership: owns the child processes and one supervision thread. Thread-safety: all public
// methods are safe from any thread; Update() only records the wanted state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "proto/brick.pb.h"
#include "proto/mgmt.pb.h"

namespace hafs::mgmtd {

class BrickSupervisor {
 public:
  struct Options {
    std::string brickd_path;
    std::string self_host;          // bricks with this host are ours
    std::string log_dir;            // brick logs: LOG_DIR/<volume>-<path with / as ->.log
    std::chrono::milliseconds backoff_min{500};
    std::chrono::milliseconds backoff_max{30000};
    std::chrono::milliseconds start_timeout{10000};
  };
  using Submit = std::function<Status(const mgmtpb::Command&)>;

  BrickSupervisor(Options options, Submit submit);
  ~BrickSupervisor();
  void Start();
  // Stops every brick and the thread.
  void Stop();
  // Records the latest replicated state; the thread reconciles.
  void Update(const mgmtpb::ClusterState& state);
  // This node's bricks of `volume` (all volumes if empty), with the counters of the online ones.
  std::vector<mgmtpb::BrickProcess> Local(const std::string& volume);
  struct BrickStats {
    mgmtpb::BrickProcess process;
    proto::StatsReply stats;   // the brick's own counters (empty when offline)
  };
  std::vector<BrickStats> LocalWithStats(const std::string& volume);
  std::string DumpState();

 private:
  struct Wanted {
    std::string volume, volume_id, path, log_level;
    std::string auth;                // content of the brick's auth file
    int index = 0;
    int port = 0;                    // port in the replicated state
  };
  struct Proc {
    Wanted want;
    pid_t pid = 0;
    int out_fd = -1;
    std::string out;
    int port = 0;                    // learned from the brick
    bool running = false;            // "listening on" seen
    std::chrono::steady_clock::time_point next_publish{};
    bool fixed_port_failed = false;
    uint32_t restarts = 0;
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point started{}, next_start{};
    std::string last_exit;
  };

  void Loop();
  void Reconcile(std::unique_lock<std::mutex>& lock);
  void Spawn(Proc& p);
  void Reap(Proc& p);
  void ReadOutput(Proc& p);
  void Terminate(Proc& p);
  std::string AuthFile(const Proc& p) const;
  bool WriteAuth(const Proc& p);
  static std::string Key(const std::string& volume, const std::string& path) { return volume + "\n" + path; }

  Options options_;
  Submit submit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  bool have_state_ = false;
  mgmtpb::ClusterState state_;
  std::map<std::string, Proc> procs_;
  std::thread thread_;
};

}  // namespace hafs::mgmtd
