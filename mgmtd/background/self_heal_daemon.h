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
// `volume heal NAME full` (TriggerFull) adds a full crawl: every directory of every replica
// set this node crawls (the set's first brick that is up is the crawler's) is listed on
// each up brick and the replicas are compared entry by entry — existence, gfid, type, and
// for files size, mode, owner (not mtime: each brick stamps its own). What differs without
// a record in the counters (a file removed on a brick behind hafs's back, a truncated copy)
// is recorded as pending against the stale replicas (the source: for entries the replica
// holding every entry; for a file the size a strict majority of replicas agree on, else the
// biggest copy, then the latest mtime) and healed at once through the same
// ReplicateLayer::Heal; entries whose counters already say pending are left to it (and to
// the index crawl that follows).
// Entries whose gfid or type differ between replicas, or a directory where no replica holds
// every entry, are counted as failed and logged, never guessed at.
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
  // Runs a full crawl of `volume` (see above) on this node, then an index crawl.
  void TriggerFull(const std::string& volume);
  // Fills the shd_* fields of this node's bricks of `volume`.
  void FillProgress(const std::string& volume, mgmtpb::BrickProcess* brick);
  std::string DumpState();

 private:
  struct Progress {
    uint64_t healed = 0, failed = 0, split_brain = 0, queued = 0;
    double rate = 0;
    std::string state = "idle";
  };
  struct FullProgress {
    std::string state;   // running | done | failed: why
    uint64_t crawled = 0, healed = 0, failed = 0;
    double eta_s = 0;
    std::chrono::steady_clock::time_point started{}, ended{};
  };
  struct VolumeRun {
    std::unique_ptr<client::Graph> graph;
    std::string graph_key;                     // bricks+ports the graph was built for
    std::chrono::steady_clock::time_point next_crawl{};
    std::map<std::string, Progress> bricks;    // by path
  };

  void Loop();
  void Crawl(const mgmtpb::Volume& v, VolumeRun& run);
  void FullCrawl(const mgmtpb::Volume& v, VolumeRun& run);
  bool Running();

  std::string self_host_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  mgmtpb::ClusterState state_;
  std::set<std::string> triggered_;
  std::set<std::string> full_triggered_;
  std::map<std::string, std::map<std::string, FullProgress>> full_;  // volume → crawler brick path
  bool trigger_all_ = false;
  std::map<std::string, VolumeRun> runs_;      // by volume name; touched by the crawl thread
  std::map<std::string, std::map<std::string, Progress>> progress_;  // copy for readers
  std::thread thread_;
};

}  // namespace hafs::mgmtd
