// MgmtContext: what every RPC handler (ops/) and background duty (background/) of one
// hafs-mgmtd shares — its identity, the consensus node, channels to peers, the brick
// supervisor. Owned by MgmtServer; handlers borrow it. Thread-safety: the pointed-to objects
// are thread-safe; the fields themselves are set once before the server starts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "mgmtd/raft/grpc_transport.h"
#include "mgmtd/raft/raft_node.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::mgmtd {

class BrickSupervisor;
class SelfHealDaemon;
class Rebalancer;

// Wakes volfile watchers when the replicated state changes.
class StateChanges {
 public:
  void Notify(uint64_t version);
  // Waits until the state version differs from `seen` or `timeout` passes; returns the version.
  uint64_t WaitChange(uint64_t seen, std::chrono::milliseconds timeout);
  void Shutdown();
  bool shutting_down() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t version_ = 0;
  bool shutdown_ = false;
};

inline constexpr int kDefaultPort = 24007;

struct MgmtContext {
  std::string self_id;
  std::string self_address;   // HOST:PORT peers and clients use
  std::string self_host;      // HOST: the name of this node in brick specs
  RaftNode* raft = nullptr;
  PeerChannels* channels = nullptr;
  BrickSupervisor* supervisor = nullptr;
  SelfHealDaemon* heal = nullptr;
  Rebalancer* rebalance = nullptr;
  StateChanges* changes = nullptr;
  std::chrono::milliseconds commit_timeout{5000};
  std::chrono::milliseconds peer_deadline{3000};

  // Replicates a command through the leader (forwarding when this peer is not the leader)
  // and returns the state machine's verdict.
  Status Submit(const mgmtpb::Command& command) const;
  std::unique_ptr<mgmtpb::Mgmt::Stub> Stub(const std::string& address) const;
  // Before a read: waits (bounded) until this peer has applied everything the leader has
  // committed, so a read on any peer sees the changes made before it (Raft "read index",
  // thesis §6.4). Without a reachable leader the local state is served as it is.
  void SyncRead() const;
  // The pool member whose address or host is `name`.
  std::optional<mgmtpb::Peer> FindPeer(const std::string& name) const;
};

// Converts between Status and the wire Reply.
void FillReply(mgmtpb::Reply* reply, const Status& st);
Status FromReply(const mgmtpb::Reply& reply);
// "HOST" or "HOST:PORT" → "HOST:PORT" with the default mgmtd port.
std::string WithDefaultPort(const std::string& host);

}  // namespace hafs::mgmtd
