// Lb: the hafs-lb process. Owns the listening sockets, the worker event loops, the
// health checker, the stats socket and the live state; publishes Runtime snapshots.
//
// Reload(): the new configuration is parsed by the caller; listeners whose address
// is unchanged are kept (the very same fd), so no connection is refused during a
// reload, and established connections finish on the snapshot they started with.
// Thread-safety: all public methods may be called from any thread; Reload() and
// admin commands serialize on an internal mutex.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "lb/config.h"
#include "lb/runtime.h"
#include "lb/state.h"

namespace hafs::lb {

class Worker;
class HealthChecker;
class AdminSocket;

class Lb {
 public:
  // Binds every listener of cfg (fails if one cannot be bound).
  static Result<std::unique_ptr<Lb>> Create(Config cfg);
  ~Lb();

  Status Start();
  void Stop();
  Status Reload(Config cfg);

  std::shared_ptr<Runtime> Current();
  // The event loops (fixed once started).
  const std::vector<Worker*>& Workers() const { return worker_ptrs_; }
  StateRegistry& registry() { return registry_; }

  // Executes one stats-socket command line ("show stat", "disable server b/s", ...)
  // and returns its textual answer.
  std::string Command(const std::string& line);
  // Admin action from the stats page: action is ready|drain|maint|enable|disable.
  Status ServerAction(const std::string& backend, const std::string& server, const std::string& action);

 private:
  Lb() = default;
  Status OpenListeners(const Config& cfg);
  void CloseUnusedListeners(const Config& cfg);
  Status Publish(Config cfg);  // builds and publishes a Runtime; requires mu_
  Status SetWeight(const std::string& backend, const std::string& server, int weight);
  Status AddServer(const std::string& backend, const std::string& server, const std::vector<std::string>& words);
  Status DelServer(const std::string& backend, const std::string& server);
  Result<std::shared_ptr<ServerState>> FindServer(const std::string& spec, std::string* backend, std::string* server);

  std::mutex mu_;  // reload / admin edits
  std::mutex rt_mu_;
  std::shared_ptr<Runtime> rt_;
  uint64_t generation_ = 0;
  StateRegistry registry_;
  std::map<std::string, int> listeners_;  // bind text -> fd
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*> worker_ptrs_;
  std::unique_ptr<HealthChecker> checker_;
  std::unique_ptr<AdminSocket> admin_;
  bool started_ = false;
};

}  // namespace hafs::lb
