// Where a mount's volfile comes from: a file, or hafs-mgmtd (`GetVolfile`, port 24007 by
// default) with backup servers tried in order, and a watch stream that reports new versions
// (`WatchVolfile`) so the client can follow changes without a remount.
// Thread-safety: FetchVolfile is stateless; a VolfileWatcher runs one thread of its own.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client-fuse/volfile.h"

namespace grpc {
class ClientContext;
}

namespace hafs::client {

inline constexpr int kDefaultMgmtPort = 24007;

// "HOST" or "HOST:PORT" → "HOST:PORT".
std::string MgmtEndpoint(const std::string& server);

// Asks each server in turn; the first that answers decides. Errors name every server tried.
Result<Volfile> FetchVolfile(const std::vector<std::string>& servers, const std::string& volume,
                             std::chrono::milliseconds timeout_per_server);

class VolfileWatcher {
 public:
  VolfileWatcher(std::vector<std::string> servers, std::string volume,
                 std::function<void(const Volfile&)> on_change);
  ~VolfileWatcher();

 private:
  void Loop();
  std::vector<std::string> servers_;
  std::string volume_;
  std::function<void(const Volfile&)> on_change_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread thread_;
};

}  // namespace hafs::client
