// Test helper: a pool of real hafs-mgmtd processes on 127.0.0.2, .3, .4 … (one loopback
// address per "node", so brick hosts differ as on real nodes), each with its own state
// directory, driven through the real `hafs` CLI. Every process is stopped by PID and the
// temp directory removed when the object goes away, whatever the test's outcome.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hafs::testing {

struct CliResult {
  int code = -1;
  std::string out;   // stdout and stderr together (RunToCompletion merges them)
};

class MgmtdCluster {
 public:
  explicit MgmtdCluster(int nodes);
  ~MgmtdCluster();

  int size() const { return static_cast<int>(nodes_.size()); }
  const std::string& host(int i) const { return nodes_[i].host; }
  std::string address(int i) const { return nodes_[i].host + ":" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  pid_t pid(int i) const { return nodes_[i].pid; }

  void Start(int i);
  void Kill(int i);             // SIGKILL
  int Stop(int i);              // SIGTERM, returns exit status
  // `hafs --remote-host NODE ARGS...`
  CliResult Cli(int i, const std::vector<std::string>& args, int timeout_ms = 30000);
  // Parses `hafs --json …` output; null json on failure.
  nlohmann::json Json(int i, const std::vector<std::string>& args);
  // Probes every other node from node 0 and waits until all see the full pool.
  void FormPool();
  std::string Log(int i) const;

 private:
  struct Node {
    std::string host;
    pid_t pid = -1;
  };
  std::string dir_;
  int port_ = 0;
  std::vector<Node> nodes_;
};

// Polls `pred` until it holds or `limit` passes.
bool Within(std::chrono::milliseconds limit, const std::function<bool()>& pred);

}  // namespace hafs::testing
