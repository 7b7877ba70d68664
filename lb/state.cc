#include "lb/state.h"

#include <time.h>

#include "common/log.h"

namespace hafs::lb {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t WallSeconds() { return static_cast<int64_t>(time(nullptr)); }

void Histogram::Observe(int64_t us) {
  double s = static_cast<double>(us) / 1e6;
  int i = 0;
  while (i < kBuckets && s > kBoundsSec[i]) ++i;
  bucket[i].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
}

void Counters::SessionStart() { (void)SessionStartBelow(0); }

bool Counters::SessionStartBelow(int64_t limit) {
  int64_t cur = cur_sess.load(std::memory_order_relaxed);
  do {
    if (limit > 0 && cur >= limit) return false;
  } while (!cur_sess.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed));
  ++cur;
  tot_sess.fetch_add(1, std::memory_order_relaxed);
  int64_t mx = max_sess.load(std::memory_order_relaxed);
  while (cur > mx && !max_sess.compare_exchange_weak(mx, cur, std::memory_order_relaxed)) {
  }
  return true;
}

void Counters::CountStatus(int status) {
  int cls = status / 100;
  resp[(cls >= 1 && cls <= 5) ? cls - 1 : 5].fetch_add(1, std::memory_order_relaxed);
}

const char* AdminStateName(AdminState s) {
  switch (s) {
    case AdminState::kReady: return "READY";
    case AdminState::kDrain: return "DRAIN";
    case AdminState::kMaint: return "MAINT";
  }
  return "?";
}

bool ServerState::SetUp(bool up_now, const std::string& reason) {
  bool was = up.exchange(up_now);
  if (was == up_now) return false;
  last_change.store(WallSeconds());
  if (up_now) {
    HAFS_LOG_WARN("Server {}/{} is UP, reason: {}", backend, name, reason);
  } else {
    HAFS_LOG_WARN("Server {}/{} is DOWN, reason: {}", backend, name, reason);
  }
  return true;
}

std::string ServerState::LastCheck() {
  std::lock_guard lk(mu);
  return last_check;
}

std::shared_ptr<ServerState> StateRegistry::Server(const std::string& backend, const std::string& name, int weight,
                                                   bool initially_maint) {
  std::lock_guard lk(mu_);
  auto& slot = servers_[backend + "/" + name];
  if (!slot) {
    slot = std::make_shared<ServerState>();
    slot->backend = backend;
    slot->name = name;
    slot->weight = weight;
    slot->last_change = WallSeconds();
    if (initially_maint) slot->admin = static_cast<int>(AdminState::kMaint);
  }
  return slot;
}

std::shared_ptr<ProxyState> StateRegistry::Frontend(const std::string& name) {
  std::lock_guard lk(mu_);
  auto& slot = frontends_[name];
  if (!slot) slot = std::make_shared<ProxyState>(), slot->name = name;
  return slot;
}

std::shared_ptr<ProxyState> StateRegistry::Backend(const std::string& name) {
  std::lock_guard lk(mu_);
  auto& slot = backends_[name];
  if (!slot) slot = std::make_shared<ProxyState>(), slot->name = name;
  return slot;
}

void StateRegistry::ForgetServer(const std::string& backend, const std::string& name) {
  std::lock_guard lk(mu_);
  servers_.erase(backend + "/" + name);
}

}  // namespace hafs::lb
