// MgmtServer: one whole hafs-mgmtd — state store, Raft node, gRPC server (Mgmt + Raft on one
// port), brick supervisor, peer prober — so main.cc stays thin and tests can host one
// in-process. Ownership: owns everything it starts. Thread-safety: Start/Shutdown from one
// thread; DumpState from any.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/status.h"
#include "mgmtd/background/brick_supervisor.h"
#include "mgmtd/background/peer_prober.h"
#include "mgmtd/background/rebalancer.h"
#include "mgmtd/background/self_heal_daemon.h"
#include "mgmtd/context.h"
#include "mgmtd/metrics.h"
#include "mgmtd/mgmt_service.h"
#include "mgmtd/raft/grpc_transport.h"
#include "mgmtd/raft/raft_node.h"
#include "mgmtd/raft/raft_storage.h"

namespace hafs::mgmtd {

struct MgmtServerOptions {
  std::string state_dir = "/var/lib/hafs/mgmtd";
  std::string listen = "0.0.0.0:24007";   // ADDR:PORT to bind (a fixed port: peers remember it)
  std::string advertise;                  // HOST:PORT peers and clients use; default from listen
  std::string brickd_path;                // hafs-brickd binary
  std::string metrics_listen;             // ADDR:PORT of /metrics; "" = listen host, port + 1; "none" = off
  std::chrono::milliseconds heartbeat{100};
  std::chrono::milliseconds election_timeout{1000};  // randomized in [t, 2t]
};

class MgmtServer {
 public:
  static Result<std::unique_ptr<MgmtServer>> Start(const MgmtServerOptions& options);
  ~MgmtServer();
  void Shutdown();
  std::string DumpState() const;
  const std::string& address() const { return ctx_.self_address; }

 private:
  MgmtServer() = default;
  MgmtServerOptions options_;
  std::unique_ptr<RocksRaftStorage> storage_;
  PeerChannels channels_;
  StateChanges changes_;
  std::unique_ptr<GrpcRaftTransport> transport_;
  std::unique_ptr<RaftNode> raft_;
  std::unique_ptr<BrickSupervisor> supervisor_;
  std::unique_ptr<PeerProber> prober_;
  std::unique_ptr<SelfHealDaemon> heal_;
  std::unique_ptr<Rebalancer> rebalance_;
  MgmtContext ctx_;
  std::unique_ptr<MgmtService> mgmt_service_;
  std::unique_ptr<RaftService> raft_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsServer> metrics_;
  bool stopped_ = false;
};

}  // namespace hafs::mgmtd
