#include "client-fuse/volfile_source.h"

#include <grpcpp/grpcpp.h>

#include "common/log.h"
#include "common/thread_name.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::client {

std::string MgmtEndpoint(const std::string& server) {
  // HOST, HOST:PORT, [v6]:PORT
  if (server.empty()) return server;
  if (server.front() == '[') return server.find("]:") != std::string::npos ? server : server + ":" + std::to_string(kDefaultMgmtPort);
  return server.find(':') != std::string::npos ? server : server + ":" + std::to_string(kDefaultMgmtPort);
}

Result<Volfile> FetchVolfile(const std::vector<std::string>& servers, const std::string& volume,
                             std::chrono::milliseconds timeout_per_server) {
  std::string errors;
  for (const auto& s : servers) {
    auto ep = MgmtEndpoint(s);
    auto stub = mgmtpb::Mgmt::NewStub(grpc::CreateChannel(ep, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_per_server);
    ctx.set_wait_for_ready(true);  // ride over a daemon that is just starting, within the deadline
    mgmtpb::VolfileRequest req;
    req.set_name(volume);
    mgmtpb::VolfileReply rep;
    auto st = stub->GetVolfile(&ctx, req, &rep);
    if (!st.ok()) {
      errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", ep, st.error_message());
      continue;
    }
    if (!rep.reply().ok()) {
      // The server answered: its refusal (unknown volume, not started) is the answer.
      return Status(rep.reply().err() ? rep.reply().err() : ENOENT,
                    fmt::format("{}: {}", ep, rep.reply().message()));
    }
    return Volfile::Parse(rep.json());
  }
  return Status(ENOTCONN, "no volfile server answered: " + errors);
}

VolfileWatcher::VolfileWatcher(std::vector<std::string> servers, std::string volume,
                               std::function<void(const Volfile&)> on_change)
    : servers_(std::move(servers)), volume_(std::move(volume)), on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { Loop(); });
}

VolfileWatcher::~VolfileWatcher() {
  stopping_ = true;
  {
    std::lock_guard lk(mu_);
    if (ctx_) ctx_->TryCancel();
  }
  thread_.join();
}

void VolfileWatcher::Loop() {
  NameThisThread("volfile-watch");
  size_t next = 0;
  uint64_t seen = 0;
  while (!stopping_) {
    auto ep = MgmtEndpoint(servers_[next % servers_.size()]);
    auto stub = mgmtpb::Mgmt::NewStub(grpc::CreateChannel(ep, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      ctx_ = &ctx;
    }
    mgmtpb::VolfileRequest req;
    req.set_name(volume_);
    auto stream = stub->WatchVolfile(&ctx, req);
    mgmtpb::VolfileReply rep;
    while (stream->Read(&rep)) {
      if (!rep.reply().ok() || rep.version() == seen) continue;
      seen = rep.version();
      auto v = Volfile::Parse(rep.json());
      if (v.ok()) on_change_(*v);
      else HAFS_LOG_WARN("volfile from {} rejected: {}", ep, v.status().ToString());
    }
    {
      std::lock_guard lk(mu_);
      ctx_ = nullptr;
    }
    stream->Finish();
    if (stopping_) return;
    ++next;  // try the next server (backup-volfile-servers)
    for (int i = 0; i < 20 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace hafs::client
