// Live state of hafs-lb that outlives a configuration: counters, health and admin
// state of every server, frontend and backend, keyed by name in a StateRegistry.
// A reload or a runtime `add server` builds a new Runtime but fetches the same
// state objects, so counters and up/down state survive where the name still exists.
// Thread-safety: counters are relaxed atomics written by any event loop; the
// text fields behind `mu` are written by the health checker and admin commands.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hafs::lb {

int64_t NowMs();       // monotonic
int64_t NowUs();       // monotonic
int64_t WallSeconds();  // for "last change" displays

// Latency histogram for Prometheus (cumulative buckets are computed when rendering).
struct Histogram {
  static constexpr int kBuckets = 12;
  static constexpr double kBoundsSec[kBuckets] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  std::atomic<uint64_t> bucket[kBuckets + 1] = {};  // last: +Inf
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_us{0};
  void Observe(int64_t us);
};

struct Counters {
  std::atomic<int64_t> cur_sess{0};
  std::atomic<int64_t> max_sess{0};
  std::atomic<uint64_t> tot_sess{0};
  std::atomic<uint64_t> bytes_in{0};   // from clients
  std::atomic<uint64_t> bytes_out{0};  // to clients
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> resp[6] = {};  // 1xx..5xx, other
  std::atomic<uint64_t> req_errors{0};
  std::atomic<uint64_t> conn_errors{0};
  std::atomic<uint64_t> resp_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> redispatches{0};
  Histogram latency;

  void SessionStart();
  // SessionStart only if fewer than `limit` sessions are open (0: no limit), in one atomic
  // step: two workers cannot both take a server's last slot.
  bool SessionStartBelow(int64_t limit);
  void SessionEnd() { cur_sess.fetch_sub(1, std::memory_order_relaxed); }
  void CountStatus(int status);
};

enum class AdminState : int { kReady = 0, kDrain = 1, kMaint = 2 };
const char* AdminStateName(AdminState s);

struct ServerState {
  std::string backend, name;
  Counters c;
  std::atomic<bool> up{true};  // operational state from checks / passive observation
  std::atomic<int> admin{static_cast<int>(AdminState::kReady)};
  std::atomic<int> weight{1};
  std::atomic<int> passive_failures{0};   // consecutive connection failures seen by traffic
  std::atomic<bool> want_fast_check{false};
  std::atomic<int64_t> last_change{0};  // wall seconds
  std::atomic<uint64_t> check_ok{0}, check_fail{0};
  int64_t swrr_current = 0;  // smooth weighted round-robin, guarded by the backend's mutex

  std::mutex mu;
  std::string last_check;  // e.g. "L7OK 200 in 1ms"

  AdminState Admin() const { return static_cast<AdminState>(admin.load(std::memory_order_relaxed)); }
  // Sets the operational state, logging the transition; returns true if it changed.
  bool SetUp(bool up_now, const std::string& reason);
  std::string LastCheck();
};

struct ProxyState {
  std::string name;
  Counters c;
  std::mutex pick_mu;  // smooth weighted round-robin bookkeeping
  std::atomic<uint64_t> rr{0};
};

class StateRegistry {
 public:
  std::shared_ptr<ServerState> Server(const std::string& backend, const std::string& name, int weight, bool initially_maint);
  std::shared_ptr<ProxyState> Frontend(const std::string& name);
  std::shared_ptr<ProxyState> Backend(const std::string& name);
  void ForgetServer(const std::string& backend, const std::string& name);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ServerState>> servers_;
  std::map<std::string, std::shared_ptr<ProxyState>> frontends_, backends_;
};

}  // namespace hafs::lb
