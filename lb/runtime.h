// Runtime: one immutable snapshot of the configuration wired to live state
// (StateRegistry) and listening sockets, plus server selection (balance algorithms).
//
// A reload, or an admin command that changes the server set, builds a new Runtime
// and publishes it; connections keep the snapshot they started with through a
// shared_ptr, so an old snapshot lives until its last connection ends.
// Thread-safety: immutable after Build(); Pick() may be called from any thread
// (it only touches atomics and the backend's pick mutex).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lb/config.h"
#include "lb/state.h"

namespace hafs::lb {

struct ServerRt {
  const ServerConf* conf = nullptr;
  std::shared_ptr<ServerState> st;
  // Eligible for new traffic (not counting exclusions).
  bool Usable() const;
  // Counts a session on this server if it is below its maxconn, checked and counted in one
  // atomic step. false: the server is full.
  bool Reserve() const;
};

// Calls choose() until the server it returns takes a session slot (ServerRt::Reserve); every
// session starts on a server this way. Between choose()'s maxconn check and the count, another
// worker may take the server's last slot: it then looks full and the next choice differs.
// `held`: a server whose slot the caller holds already (a retry there counts nothing).
// nullptr when choose() finds nothing, or after a few servers filled up under it.
template <typename F>
const ServerRt* ChooseReserved(F choose, const ServerRt* held = nullptr) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const ServerRt* s = choose();
    if (!s) return nullptr;
    if (s == held || s->Reserve()) return s;
  }
  return nullptr;
}

struct PickInput {
  uint64_t source_hash = 0;   // balance source
  std::string_view uri;       // balance uri
  const ServerRt* exclude = nullptr;  // the server that just failed (redispatch)
};

struct BackendRt {
  const ProxyConf* conf = nullptr;
  std::shared_ptr<ProxyState> st;
  std::vector<ServerRt> servers;

  // Chooses a server per the balance algorithm; backups only when no active server is
  // usable. nullptr when nothing can serve.
  const ServerRt* Pick(const PickInput& in) const;
  // True when a server could serve but every such server is at its maxconn (queue then).
  bool Saturated() const;
  const ServerRt* FindByCookie(std::string_view value) const;
  const ServerRt* FindByName(std::string_view name) const;
};

struct FrontendRt {
  const ProxyConf* conf = nullptr;
  std::shared_ptr<ProxyState> st;
  const BackendRt* backend = nullptr;  // may be null for a stats-only listen section
  std::vector<int> listen_fds;         // owned by the Lb's listener table
};

struct Runtime {
  Config cfg;
  std::vector<std::unique_ptr<BackendRt>> backends;
  std::vector<FrontendRt> frontends;
  uint64_t generation = 0;

  const BackendRt* FindBackend(std::string_view name) const;
};

// Wires cfg to state; `listen_fd_for` returns the listening fd of a bind address.
template <typename F>
std::shared_ptr<Runtime> BuildRuntime(Config cfg, StateRegistry& reg, uint64_t generation, F listen_fd_for);

uint64_t HashBytes(std::string_view s);

// ---- implementation of the template ----
std::shared_ptr<Runtime> BuildRuntimeState(Config cfg, StateRegistry& reg, uint64_t generation);

template <typename F>
std::shared_ptr<Runtime> BuildRuntime(Config cfg, StateRegistry& reg, uint64_t generation, F listen_fd_for) {
  auto rt = BuildRuntimeState(std::move(cfg), reg, generation);
  for (auto& fe : rt->frontends)
    for (const auto& b : fe.conf->binds) fe.listen_fds.push_back(listen_fd_for(b));
  return rt;
}

}  // namespace hafs::lb
