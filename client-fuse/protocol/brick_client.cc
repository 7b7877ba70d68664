#include "client-fuse/protocol/brick_client.h"

#include <cstdlib>
#include <vector>

#include "common/gfid.h"
#include "common/log.h"
#include "common/mutex_debug.h"
#include "common/thread_name.h"

namespace hafs::client {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kSessionHeader = "hafs-session";
constexpr const char* kInternalKeyHeader = "hafs-internal";

std::mutex g_key_mu;
std::string g_internal_key;
std::atomic<bool> g_have_key{false};  // the FUSE client never has one: no lock on its calls

}  // namespace

void SetInternalKey(const std::string& key) {
  std::lock_guard lk(g_key_mu);
  g_internal_key = key;
  g_have_key = !key.empty();
}

void AddInternalKey(grpc::ClientContext* ctx) {
  if (!g_have_key.load(std::memory_order_relaxed)) return;
  std::lock_guard lk(g_key_mu);
  if (!g_internal_key.empty()) ctx->AddMetadata(kInternalKeyHeader, g_internal_key);
}

Status FromGrpc(const grpc::Status& st, std::string_view what) {
  int err;
  switch (st.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::FAILED_PRECONDITION:  // our session is gone on the brick
      err = ENOTCONN;
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      err = EINVAL;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      err = E2BIG;
      break;
    case grpc::StatusCode::PERMISSION_DENIED:  // auth.allow / auth.reject
      err = EACCES;
      break;
    default:
      err = EIO;
  }
  return Status(err, fmt::format("{}: {} ({})", what, st.error_message(), static_cast<int>(st.error_code())));
}

namespace {
bool ReadChannelWanted() {
  static const bool on = [] {
    const char* env = std::getenv("HAFS_READ_CHANNEL");
    return !(env && std::string(env) == "0");
  }();
  return on;
}

bool CallChannelWanted() {
  static const bool on = [] {
    const char* env = std::getenv("HAFS_CALL_CHANNEL");
    return !(env && std::string(env) == "0");
  }();
  return on;
}

std::string InternalKey() {
  if (!g_have_key.load(std::memory_order_relaxed)) return "";
  std::lock_guard lk(g_key_mu);
  return g_internal_key;
}
}  // namespace

std::unique_ptr<ReadChannelClient::Call> BrickClient::StartChannelRead(const proto::ReadRequest& req) {
  if (!up_.load()) return nullptr;
  // A firewall that drops the port costs the first read of a session this much, once.
  return read_channel_.Send(req, std::min<std::chrono::milliseconds>(options_.ping_timeout, std::chrono::milliseconds(1000)));
}

std::optional<Result<proto::ReadReply>> BrickClient::FinishChannelRead(std::unique_ptr<ReadChannelClient::Call> call) {
  auto out = read_channel_.Receive(std::move(call));
  if (!out.transport) return std::move(out.reply);
  if (out.refused) read_channel_.Disable(out.reply.status().message());
  if (!up_.load()) return Result<proto::ReadReply>(DownStatus());  // MarkDown cut it short
  HAFS_LOG_DEBUG("brick {}: {}; repeating the read over gRPC", options_.address.Name(), out.reply.status().message());
  return std::nullopt;
}

std::unique_ptr<ReadChannelClient::Call> BrickClient::StartChannelCall(uint32_t method,
                                                                      std::initializer_list<std::string_view> payload) {
  if (!up_.load()) return nullptr;
  return read_channel_.SendCall(method, payload,
                                std::min<std::chrono::milliseconds>(options_.ping_timeout, std::chrono::milliseconds(1000)));
}

std::optional<ReadChannelClient::CallOutcome> BrickClient::FinishChannelCall(std::unique_ptr<ReadChannelClient::Call> call,
                                                                            std::chrono::milliseconds extra) {
  auto out = read_channel_.ReceiveCall(std::move(call), extra);
  if (!out.transport) return out;
  if (out.not_served) {
    if (out.code == 7) read_channel_.Disable(out.bytes);  // the address is refused: gRPC, with the key
    return std::nullopt;                                  // not carried out: send it over gRPC
  }
  if (!up_.load()) out.bytes = DownStatus().message();  // MarkDown cut it short
  return out;  // may or may not have been carried out: ENOTCONN, as a gRPC call cut off
}

bool BrickClient::inline_calls() {
  static const bool on = [] {
    const char* env = std::getenv("HAFS_INLINE_CALLS");
    return !(env && std::string(env) == "0");
  }();
  return on;
}

BrickClient::BrickClient(Options options) : options_(std::move(options)) {
  // Any process with a brick client (hafs-fuse, tools, tests; bricks and mgmtd do it in main).
  hafs::TurnOffMutexDeadlockDetection();
  std::lock_guard lk(mu_);
  Connect();
}

void BrickClient::SetAddress(const BrickAddress& address) {
  {
    std::lock_guard lk(mu_);
    if (address.Endpoint() == options_.address.Endpoint()) return;
    HAFS_LOG_INFO("brick {} moved from {} to {}", address.Name(), options_.address.Endpoint(), address.Endpoint());
    options_.address.port = address.port;  // host and path name the brick and never change
    Connect();
  }
  MarkDown("moved to " + address.Endpoint());
}

void BrickClient::Connect() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  // Reconnect quickly after a brick restart (gRPC's default backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  int ka = static_cast<int>(std::max<int64_t>(options_.ping_timeout.count() / 2, 200));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ka);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ka);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each brick gets its own connection even when two bricks share an address family/host.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  channel_ = grpc::CreateCustomChannel(options_.address.Endpoint(), grpc::InsecureChannelCredentials(), args);
  stub_ = proto::Brick::NewStub(channel_);
  // The session stream gets a connection of its own: the thread blocked on it then polls only
  // that socket (with gRPC's poll engine, see hafs-fuse's main), so a reply to a call wakes the
  // thread waiting for it directly instead of the session thread, which would wake it.
  session_channel_ = grpc::CreateCustomChannel(options_.address.Endpoint(), grpc::InsecureChannelCredentials(), args);
  session_stub_ = proto::Brick::NewStub(session_channel_);
}

BrickClient::~BrickClient() {
  stopping_ = true;
  {
    std::lock_guard lk(mu_);
    if (session_ctx_) session_ctx_->TryCancel();
    for (auto* c : in_flight_) c->TryCancel();
  }
  read_channel_.Abort();
  cv_.notify_all();
  {
    // Asynchronous calls hold `this` until their callback ran: wait for them (bounded).
    std::unique_lock lk(mu_);
    drained_.wait_for(lk, std::chrono::seconds(5), [&] { return in_flight_.empty(); });
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (session_thread_.joinable()) session_thread_.join();
}

void BrickClient::Start() {
  if (session_thread_.joinable()) return;
  last_heard_ms_ = NowMs();
  session_thread_ = std::thread([this] { SessionLoop(); });
  heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
}

bool BrickClient::WaitUp(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return up_.load() || stopping_.load(); }) && up_.load();
}

std::string BrickClient::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

std::string BrickClient::session_id() const {
  std::lock_guard lk(mu_);
  return session_id_;
}

void BrickClient::OnLockContended(const void* listener, std::function<void(const proto::LockContended&)> fn) {
  std::lock_guard lk(mu_);
  if (fn) on_contended_[listener] = std::move(fn);
  else on_contended_.erase(listener);
}

void BrickClient::OnInvalidate(std::function<void(const proto::Invalidate&)> fn) {
  std::lock_guard lk(mu_);
  on_invalidate_ = std::move(fn);
}

void BrickClient::OnStateChange(std::function<void(bool)> fn) {
  std::lock_guard lk(mu_);
  on_state_ = std::move(fn);
}

void BrickClient::Register(grpc::ClientContext* ctx) {
  std::lock_guard lk(mu_);
  in_flight_.insert(ctx);
}

void BrickClient::Unregister(grpc::ClientContext* ctx) {
  {
    std::lock_guard lk(mu_);
    in_flight_.erase(ctx);
  }
  // Only the destructor waits for calls to end; waking the heartbeat thread after every call
  // cost each call a context switch.
  if (stopping_.load()) drained_.notify_all();
}

BrickClient::InFlight::InFlight(BrickClient* c, grpc::ClientContext* ctx) : c_(c), ctx_(ctx) { c_->Register(ctx_); }

BrickClient::InFlight::~InFlight() { c_->Unregister(ctx_); }

void BrickClient::Prepare(grpc::ClientContext* ctx, std::chrono::milliseconds extra) {
  // Liveness is the heartbeat's job (MarkDown cancels calls in flight); the deadline only
  // bounds a live brick that never answers one call.
  ctx->set_deadline(std::chrono::system_clock::now() + std::max(options_.call_timeout, options_.ping_timeout) + extra);
  AddInternalKey(ctx);
  std::lock_guard lk(mu_);
  if (!session_id_.empty()) ctx->AddMetadata(kSessionHeader, session_id_);
}

void BrickClient::SetUp(bool up) {
  std::function<void(bool)> cb;
  {
    std::lock_guard lk(mu_);
    if (up_.exchange(up) == up) return;
    if (up) last_error_.clear();
    cb = on_state_;
  }
  cv_.notify_all();
  if (up) {
    HAFS_LOG_INFO("brick {} is up (session {})", options_.address.Name(), session_id());
  }
  if (cb) cb(up);
}

void BrickClient::MarkDown(const std::string& why) {
  bool was_up;
  {
    std::lock_guard lk(mu_);
    last_error_ = why;
    if (session_ctx_) session_ctx_->TryCancel();
    // Calls in flight to a dead brick fail now rather than at their deadline.
    for (auto* c : in_flight_) c->TryCancel();
    was_up = up_.load();
  }
  read_channel_.Abort();
  if (was_up) HAFS_LOG_WARN("brick {} is down: {}", options_.address.Name(), why);
  SetUp(false);
}

void BrickClient::SessionLoop() {
  NameThisThread("brick-session");
  int backoff_ms = 100;
  while (!stopping_) {
    grpc::ClientContext ctx;
    std::string id = Gfid::Random().ToString();
    last_heard_ms_ = NowMs();
    AddInternalKey(&ctx);
    // One snapshot of both connections (SetAddress may replace them meanwhile).
    std::shared_ptr<proto::Brick::Stub> stub, session_stub;
    std::shared_ptr<grpc::Channel> channel, session_channel;
    {
      std::lock_guard lk(mu_);
      stub = stub_;
      session_stub = session_stub_;
      channel = channel_;
      session_channel = session_channel_;
    }
    auto stream = session_stub->Session(&ctx);
    {
      std::lock_guard lk(mu_);
      session_ctx_ = &ctx;
      session_id_ = id;
    }
    {
      std::lock_guard wl(write_mu_);
      session_stream_ = stream.get();
    }
    proto::SessionMessage hello;
    hello.mutable_hello()->set_session_id(id);
    hello.mutable_hello()->set_client_name(options_.client_name);
    // The brick frees our locks if it hears nothing for this long.
    hello.mutable_hello()->set_lease_ms(static_cast<uint32_t>(std::max<int64_t>(options_.ping_timeout.count(), 200)));
    bool ok;
    {
      std::lock_guard wl(write_mu_);
      ok = stream->Write(hello);
    }
    proto::SessionEvent ev;
    std::string denied;  // why the brick refused this client (auth.allow / auth.reject)
    if (ok && !stream->Read(&ev)) {
      // The stream ended before the welcome. A brick that is up but refuses this client's
      // address (the connection is READY) says so to every call; ask with a ping (the
      // stream's own status is lost to the cancel below). A brick that is down is not asked.
      if (session_channel->GetState(false) == GRPC_CHANNEL_READY) {
        grpc::ClientContext pctx;
        pctx.set_deadline(std::chrono::system_clock::now() +
                          std::min<std::chrono::milliseconds>(options_.ping_timeout, std::chrono::milliseconds(500)));
        AddInternalKey(&pctx);
        proto::PingRequest preq;
        proto::PingReply prep;
        grpc::Status ps = stub->Ping(&pctx, preq, &prep);
        if (ps.error_code() == grpc::StatusCode::PERMISSION_DENIED) denied = ps.error_message();
      }
    } else if (ok && ev.has_welcome()) {
      last_heard_ms_ = NowMs();
      if (ev.welcome().volume_id() != options_.volume_id) {
        MarkDown(fmt::format("brick serves volume {}, not {}", ev.welcome().volume_id(), options_.volume_id));
        ctx.TryCancel();
      } else if (!channel->WaitForConnected(std::chrono::system_clock::now() + options_.ping_timeout)) {
        // Calls go over the other connection: the brick is up for them once it is connected.
        MarkDown("no connection for calls");
        ctx.TryCancel();
      } else {
        read_channel_.Reset(address().host, ReadChannelWanted() ? static_cast<int>(ev.welcome().read_port()) : 0,
                            std::max(options_.call_timeout, options_.ping_timeout),
                            CallChannelWanted() && ev.welcome().channel_calls(), session_id(), InternalKey());
        SetUp(true);
        backoff_ms = 100;
        while (stream->Read(&ev)) {
          last_heard_ms_ = NowMs();
          if (ev.has_invalidate()) {
            std::function<void(const proto::Invalidate&)> cb;
            {
              std::lock_guard lk(mu_);
              cb = on_invalidate_;
            }
            if (cb) cb(ev.invalidate());
          } else if (ev.has_contended()) {
            std::vector<std::function<void(const proto::LockContended&)>> cbs;
            {
              std::lock_guard lk(mu_);
              for (auto& [who, fn] : on_contended_) cbs.push_back(fn);
            }
            for (auto& cb : cbs) cb(ev.contended());
          }
        }
      }
    }
    {
      std::lock_guard lk(mu_);
      session_ctx_ = nullptr;
    }
    {
      std::lock_guard wl(write_mu_);
      session_stream_ = nullptr;
    }
    ctx.TryCancel();
    grpc::Status st = stream->Finish();
    if (!stopping_ && !denied.empty()) {
      MarkDown("session refused: " + denied);
    } else if (!stopping_) {
      std::string why = last_error();
      MarkDown(why.empty() ? fmt::format("session ended: {}", st.error_message().empty() ? "connection lost"
                                                                                          : st.error_message())
                           : why);
    }
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(backoff_ms), [&] { return stopping_.load(); });
    backoff_ms = std::min(backoff_ms * 2, 2000);
  }
}

void BrickClient::HeartbeatLoop() {
  NameThisThread("brick-heartbeat");
  auto period = std::chrono::milliseconds(std::max<int64_t>(options_.ping_timeout.count() / 4, 25));
  uint64_t seq = 0;
  while (!stopping_) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, period, [&] { return stopping_.load(); });
      if (stopping_) return;
    }
    bool connected;
    {
      // write_mu_ (not mu_) guards the stream, so a slow write never holds up callers.
      std::lock_guard wl(write_mu_);
      connected = session_stream_ != nullptr;
      if (connected && up_.load()) {
        proto::SessionMessage hb;
        hb.mutable_heartbeat()->set_seq(++seq);
        session_stream_->Write(hb);
      }
    }
    int64_t silent = NowMs() - last_heard_ms_.load();
    if (connected && silent > options_.ping_timeout.count()) {
      MarkDown(fmt::format("no answer for {} ms (network.ping-timeout {} ms)", silent,
                           options_.ping_timeout.count()));
    }
  }
}

}  // namespace hafs::client
