#include "mgmtd/server.h"

#include <unistd.h>

#include <filesystem>

#include "common/gfid.h"
#include "common/log.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd {

Result<std::unique_ptr<MgmtServer>> MgmtServer::Start(const MgmtServerOptions& options) {
  std::unique_ptr<MgmtServer> s(new MgmtServer());
  s->options_ = options;
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) return Status(EIO, fmt::format("cannot create state directory {}: {}", options.state_dir, ec.message()));
  HAFS_ASSIGN_OR_RETURN(storage, RocksRaftStorage::Open(options.state_dir + "/db"));
  s->storage_ = std::move(storage);

  auto uuid = s->storage_->GetMeta("uuid");
  if (!uuid) {
    uuid = Gfid::Random().ToString();
    HAFS_RETURN_IF_ERROR(s->storage_->PutMeta("uuid", *uuid));
  }
  std::string advertise = options.advertise;
  if (advertise.empty()) {
    std::string host = HostOf(options.listen);
    if (host == "0.0.0.0" || host == "::" || host.empty()) {
      char name[256] = {};
      ::gethostname(name, sizeof name - 1);
      host = name;
    }
    advertise = host + options.listen.substr(options.listen.rfind(':'));
  }
  if (advertise.find(':') == std::string::npos)
    return Status(EINVAL, "--advertise must be HOST:PORT");
  if (auto old = s->storage_->GetMeta("address"); old && *old != advertise)
    HAFS_LOG_WARN("this peer was known as {} and now advertises {}; peers still use the old address", *old, advertise);
  HAFS_RETURN_IF_ERROR(s->storage_->PutMeta("address", advertise));

  auto& ctx = s->ctx_;
  ctx.self_id = *uuid;
  ctx.self_address = advertise;
  ctx.self_host = HostOf(advertise);
  ctx.channels = &s->channels_;
  ctx.changes = &s->changes_;

  s->transport_ = std::make_unique<GrpcRaftTransport>(&s->channels_, std::chrono::milliseconds(500));
  RaftOptions ro;
  ro.self_id = ctx.self_id;
  ro.self_address = advertise;
  ro.heartbeat = options.heartbeat;
  ro.election_min = options.election_timeout;
  ro.election_max = options.election_timeout * 2;
  s->raft_ = std::make_unique<RaftNode>(ro, s->transport_.get(), s->storage_.get());
  ctx.raft = s->raft_.get();

  BrickSupervisor::Options so;
  so.brickd_path = options.brickd_path;
  so.self_host = ctx.self_host;
  so.log_dir = options.state_dir + "/logs";
  MgmtContext* cp = &s->ctx_;
  s->supervisor_ = std::make_unique<BrickSupervisor>(so, [cp](const mgmtpb::Command& c) { return cp->Submit(c); });
  ctx.supervisor = s->supervisor_.get();
  s->prober_ = std::make_unique<PeerProber>(&s->ctx_);
  s->heal_ = std::make_unique<SelfHealDaemon>(ctx.self_host);
  ctx.heal = s->heal_.get();
  s->rebalance_ = std::make_unique<Rebalancer>(ctx.self_host, options.state_dir);
  ctx.rebalance = s->rebalance_.get();

  MgmtServer* raw = s.get();
  s->mgmt_service_ = std::make_unique<MgmtService>(&s->ctx_, [raw] { return raw->DumpState(); });
  s->raft_service_ = std::make_unique<RaftService>(s->raft_.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials());
  builder.RegisterService(s->mgmt_service_.get());
  builder.RegisterService(s->raft_service_.get());
  // Two mgmtd must never share a port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  s->server_ = builder.BuildAndStart();
  if (!s->server_) return Status(EADDRINUSE, fmt::format("cannot listen on {}", options.listen));

  BrickSupervisor* sup = s->supervisor_.get();
  StateChanges* changes = &s->changes_;
  SelfHealDaemon* heal = s->heal_.get();
  Rebalancer* rebal = s->rebalance_.get();
  s->raft_->AddObserver([sup, changes, heal, rebal](const mgmtpb::ClusterState& st) {
    sup->Update(st);
    heal->Update(st);
    rebal->Update(st);
    changes->Notify(st.version());
  });
  HAFS_RETURN_IF_ERROR(s->raft_->Start(/*bootstrap=*/true));
  s->supervisor_->Update(s->raft_->State());
  s->changes_.Notify(s->raft_->State().version());
  s->heal_->Update(s->raft_->State());
  s->supervisor_->Start();
  s->heal_->Start();
  s->rebalance_->Update(s->raft_->State());
  s->rebalance_->Start();
  s->prober_->Start();
  if (options.metrics_listen != "none") {
    std::string ml = options.metrics_listen;
    if (ml.empty()) {
      int port = std::atoi(options.listen.substr(options.listen.rfind(':') + 1).c_str());
      ml = HostOf(options.listen) + ":" + std::to_string(port + 1);
    }
    const MgmtContext* cp2 = &s->ctx_;
    s->metrics_ = std::make_unique<MetricsServer>([cp2] { return RenderMetrics(*cp2); });
    if (Status st = s->metrics_->Start(ml); !st.ok()) {
      HAFS_LOG_WARN("no /metrics endpoint: {}", st.ToString());
      s->metrics_.reset();
    } else {
      HAFS_LOG_INFO("Prometheus metrics on http://{}/metrics", ml);
    }
  }
  HAFS_LOG_INFO("hafs-mgmtd {} serving on {} (advertised as {}), state in {}", ctx.self_id, options.listen, advertise,
                options.state_dir);
  return s;
}

MgmtServer::~MgmtServer() { Shutdown(); }

void MgmtServer::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  changes_.Shutdown();
  if (metrics_) metrics_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (prober_) prober_->Stop();
  if (heal_) heal_->Stop();
  if (rebalance_) rebalance_->Stop();
  if (supervisor_) supervisor_->Stop();
  if (raft_) raft_->Stop();
  if (server_) server_->Wait();
}

std::string MgmtServer::DumpState() const {
  std::string out = "hafs-mgmtd " + ctx_.self_id + " at " + ctx_.self_address + "\n";
  if (raft_) out += raft_->DumpState();
  if (supervisor_) out += supervisor_->DumpState();
  if (heal_) out += heal_->DumpState();
  if (rebalance_) out += rebalance_->DumpState();
  return out;
}

}  // namespace hafs::mgmtd
