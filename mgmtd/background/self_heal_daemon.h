// SelfHealDaemon: the background heal of one node (glustershd's job). For every started
// replicated volume with cluster.self-heal-daemon on, it crawls the heal index of this
// node's bricks (HealIndex RPC: the cost is what is pending, never the volume's size) and
// heals each pending gfid through the client's replicate layer (ReplicateLayer::Heal, the
// shared rules of docs/replication.md: same locks as a write, subtract exactly what was
// read), several entries in parallel (cluster.shd-max-threads), throttled
// (cluster.shd-max-heal-rate), paused by `volume heal NAME disable`. It crawls every
// cluster.heal-timeout seconds, after every change of the volume, and on `volume heal NAME`.
// Progress (healed, failed, split-brain, queued, rate) per brick for `heal info`/`status`.
//
// Ownership: owns one crawl thread, the worker threads of a crawl, and one client graph per
// volume. Thread-safety: public methods are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "proto/mgmt.pb.h"

namespace hafs::client {
class Graph;
}

namespace hafs::mgmtd {

class SelfHealDaemon {
 public:
  explicit SelfHealDaemon(std::string self_host);
  ~SelfHealDaemon();
  void Start();
  void Stop();
  void Update(const mgmtpb::ClusterState& state);
  // Crawls `volume` now (all volumes if empty).
  void Trigger(const std::string& volume);
  // Fills the shd_* fields of this node's bricks of `volume`.
  void FillProgress(const std::string& volume, mgmtpb::BrickProcess* brick);
  std::string DumpState();

 private:
  struct Progress {
    uint64_t healed = 0, failed = 0, split_brain = 0, queued = 0;
    double rate = 0;
    std::string state = "idle";
  };
  struct VolumeRun {
    std::unique_ptr<client::Graph> graph;
    std::string graph_key;                     // bricks+ports the graph was built for
    std::chrono::steady_clock::time_point next_crawl{};
    std::map<std::string, Progress> bricks;    // by path
  };

  void Loop();
  void Crawl(const mgmtpb::Volume& v, VolumeRun& run);

  std::string self_host_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  mgmtpb::ClusterState state_;
  std::set<std::string> triggered_;
  bool trigger_all_ = false;
  std::map<std::string, VolumeRun> runs_;      // by volume name; touched by the crawl thread
  std::map<std::string, std::map<std::string, Progress>> progress_;  // copy for readers
  std::thread thread_;
};

}  // namespace hafs::mgmtd
