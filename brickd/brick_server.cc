#include "brickd/brick_server.h"

#include <algorithm>
#include <cstdlib>

#include "common/log.h"

namespace hafs::brick {
namespace {

// An integer from the environment, or `def` (benchmarks switch the tuning off or vary it).
long EnvInt(const char* name, long def) {
  const char* e = std::getenv(name);
  if (!e || !*e) return def;
  char* end = nullptr;
  long v = std::strtol(e, &end, 10);
  return (end && *end == 0) ? v : def;
}

}  // namespace

Result<std::unique_ptr<BrickServer>> BrickServer::Start(const BrickServerOptions& o) {
  std::unique_ptr<BrickServer> b(new BrickServer());
  auto colon = o.listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == o.listen.size())
    return Status(EINVAL, fmt::format("--listen {}: expected ADDR:PORT", o.listen));
  b->auth_file_ = o.auth_file;
  if (!o.auth_file.empty()) {
    if (Status st = b->ReloadAuth(); !st.ok()) return st;
  } else {
    auto policy = AuthPolicy::Make(o.auth);
    if (!policy.ok()) return policy.status();
    b->auth_.Set(*policy);
  }
  Storage::Options so_storage{o.brick_path, o.volume_id, o.brick_id};
  // HAFS_BRICK_DIRECT_WRITE_KIB overrides --direct-write-kib, for before/after measurements.
  so_storage.direct_write_min = static_cast<size_t>(EnvInt("HAFS_BRICK_DIRECT_WRITE_KIB",
                                                           static_cast<long>(o.direct_write_min / 1024))) * 1024;
  // HAFS_BRICK_READDIR_THREADS: how many threads look up a readdir page (1 = one at a time).
  so_storage.readdir_threads = static_cast<size_t>(std::max(1L, EnvInt("HAFS_BRICK_READDIR_THREADS", 8)));
  auto storage = Storage::Open(so_storage);
  if (!storage.ok()) return storage.status();
  b->storage_ = std::move(storage).value();
  b->locks_ = std::make_unique<LockTable>();
  b->sessions_ = std::make_unique<SessionRegistry>(*b->locks_, *b->storage_, o.max_lease);
  b->stats_ = std::make_unique<OpStats>();
  BrickService::Options so;
  so.brick_id = o.brick_id;
  so.max_io = o.max_io;
  so.auth = &b->auth_;
  so.read_port = &b->read_port_;
  b->service_ = std::make_unique<BrickService>(*b->storage_, *b->locks_, *b->sessions_, *b->stats_, so);

  // The read channel first: the first session's welcome already names its port.
  if (o.read_port >= 0) {
    ReadChannel::Options ro;
    ro.host = o.listen.substr(0, colon);
    ro.port = o.read_port;
    ro.max_frame = o.max_io + (1 << 20);  // as gRPC's message limit below
    BrickService* service = b->service_.get();
    const AuthGate* gate = &b->auth_;
    auto channel = ReadChannel::Start(
        ro,
        [service](std::string_view gfid, uint64_t offset, uint32_t size, std::string* data, bool* eof) {
          return service->ReadFromChannel(gfid, offset, size, data, eof);
        },
        [gate](const std::string& peer) { return gate->Check(peer, {}).ok(); },
        [service](uint32_t method, const ReadChannel::Caller& caller, std::string_view payload, std::string* out) {
          return service->ServeChannelCall(method, caller, payload, out);
        });
    if (!channel.ok()) return channel.status();
    b->read_channel_ = std::move(channel).value();
    b->read_port_ = b->read_channel_->port();
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen, grpc::InsecureServerCredentials(), &b->port_);
  builder.RegisterService(b->service_.get());
  // Room for a maximal write plus framing; anything larger is refused by gRPC itself.
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_io + (1 << 20)));
  builder.SetMaxSendMessageSize(static_cast<int>(o.max_io + (1 << 20)));
  // Clients ping often to notice a dead brick quickly (network.ping-timeout); allow it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 200);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // CPU per call (docs/brickd.md "CPU per call and per MiB"). HAFS_BRICK_TUNE=0 keeps gRPC's
  // defaults, for before/after measurements; the HAFS_BRICK_* knobs below vary one setting.
  if (EnvInt("HAFS_BRICK_TUNE", 1) != 0) {
    // gRPC's sync server keeps at most 2 idle polling threads by default: with more calls in
    // flight than that, a thread is created for a call and exits after it (a pthread_create
    // and a new stack per call). Keep enough pollers for a mount's usual concurrency.
    long min_pollers = EnvInt("HAFS_BRICK_MIN_POLLERS", 2);
    long max_pollers = EnvInt("HAFS_BRICK_MAX_POLLERS", 32);
    if (max_pollers > 0 && min_pollers > max_pollers) min_pollers = max_pollers;
    if (min_pollers > 0) builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, min_pollers);
    if (max_pollers > 0) builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, max_pollers);
    // A write arrives in as few HTTP/2 frames as possible and without waiting for window
    // updates: the flow-control window (lookahead) holds a maximal write.
    long frame = EnvInt("HAFS_BRICK_MAX_FRAME", 0);
    long window = EnvInt("HAFS_BRICK_WINDOW", static_cast<long>(o.max_io + (1 << 20)));
    long chunk = EnvInt("HAFS_BRICK_READ_CHUNK", 0);
    if (frame > 0) builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, static_cast<int>(frame));
    if (window > 0) builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, static_cast<int>(window));
    if (chunk > 0) {
      builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, static_cast<int>(chunk));
      builder.AddChannelArgument(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, static_cast<int>(chunk));
    }
  }
  b->server_ = builder.BuildAndStart();
  if (!b->server_ || b->port_ == 0) return Status(EADDRINUSE, fmt::format("cannot listen on {}", o.listen));
  b->address_ = o.listen.substr(0, colon) + ":" + std::to_string(b->port_);
  return b;
}

Status BrickServer::ReloadAuth() {
  if (auth_file_.empty()) return Status(EINVAL, "no --auth-file to reload");
  auto rules = AuthPolicy::ReadFile(auth_file_);
  if (!rules.ok()) return rules.status();
  auto policy = AuthPolicy::Make(*rules);
  if (!policy.ok()) return Status(policy.status().err(), auth_file_ + ": " + policy.status().message());
  auth_.Set(*policy);
  HAFS_LOG_INFO("auth: allow '{}' reject '{}'{}", (*rules).allow, (*rules).reject,
                (*rules).internal_key.empty() ? "" : " (pool-internal clients always served)");
  return Status::Ok();
}

std::string BrickServer::DumpState() const {
  const auto& r = auth_.Get()->rules();
  return fmt::format("auth: allow '{}' reject '{}'\n{}", r.allow, r.reject, service_->DumpState());
}

void BrickServer::Shutdown() {
  read_port_ = 0;
  read_channel_.reset();
  if (!server_) return;
  // In-flight calls get a short grace; blocked lock waits are cut off by the deadline.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

BrickServer::~BrickServer() { Shutdown(); }

}  // namespace hafs::brick
