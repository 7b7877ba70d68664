// Rebalancer: the background crawler behind `volume rebalance` and `volume remove-brick`
// (docs/rebalance.md). One crawler per volume, on the peer that hosts the volume's first
// brick (every peer computes the same choice from the replicated state). It builds a client
// graph in-process, as the self-heal daemon does, and walks the directory tree from the root:
// for each directory it creates the directory on subvolumes that lack it, writes the new
// layout (equal ranges over the subvolumes not being removed) to every subvolume, and unless
// `fix-layout` moves each file that is not where the new layout says (see MigrateFile for
// how a racing write is kept). Progress (files scanned/moved/bytes/failures, directories
// done) is saved in the state directory after every directory, so a restarted mgmtd resumes
// the same run where it stopped. Pause/resume/stop are replicated commands it follows.
//
// Ownership: one thread; the client graph of the volume being crawled.
// Thread-safety: public methods are safe from any thread.
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
#include <tuple>
#include <vector>

#include "common/gfid.h"
#include "common/status.h"
#include "proto/mgmt.pb.h"

namespace hafs::client {
class Graph;
class DistributeLayer;
struct Subvolume;
}  // namespace hafs::client

namespace hafs::mgmtd {

class Rebalancer {
 public:
  Rebalancer(std::string self_host, std::string state_dir);
  ~Rebalancer();
  void Start();
  void Stop();
  void Update(const mgmtpb::ClusterState& state);
  // This peer's progress for `volume` (status "not started" when it has none).
  mgmtpb::RebalanceNode Progress(const std::string& volume);
  std::string DumpState();
  // The peer host that crawls `v`: the host of its first brick.
  static std::string CrawlerHost(const mgmtpb::Volume& v);

 private:
  struct Run {
    mgmtpb::RebalanceNode node;
    std::set<std::string> done_dirs;   // gfids of directories finished (resume skips them)
    std::chrono::steady_clock::time_point resumed{};
    double elapsed_before = 0;          // seconds spent before this resume
    uint64_t bytes_total_estimate = 0;  // for the ETA
  };
  enum class Verdict { kContinue, kInterrupted };

  void Loop();
  void Crawl(const mgmtpb::Volume& v);
  Verdict Directory(const mgmtpb::Volume& v, client::Graph& g, Run& run, const Gfid& parent, const std::string& name,
                    const Gfid& dir, const std::string& path, std::vector<std::tuple<Gfid, std::string, Gfid, std::string>>* queue);
  // Moves `name` (gfid `gfid`) in `dir` from subvolume `from` to `to`; `bytes` moved.
  Status MigrateFile(client::Graph& g, const std::vector<client::Subvolume>& subs, size_t from, size_t to,
                     const Gfid& dir, const std::string& name, const Gfid& gfid, uint64_t* bytes, bool* skipped);
  bool Interrupted(const std::string& volume, const std::string& id);
  void Publish(const std::string& volume, const Run& run, bool save);
  void Load(const std::string& volume, Run* run);
  std::string FileOf(const std::string& volume) const;

  std::string self_host_;
  std::string state_dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  mgmtpb::ClusterState state_;
  std::map<std::string, mgmtpb::RebalanceNode> progress_;  // by volume, for readers
  std::thread thread_;
};

}  // namespace hafs::mgmtd
