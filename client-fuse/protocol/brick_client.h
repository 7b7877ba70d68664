// BrickClient: the client's one connection to one brick (the "protocol" layer's transport).
//
// - One gRPC channel per brick, reconnecting by itself with backoff (100 ms doubling to 2 s).
// - A Session stream carries heartbeats every ping_timeout/4. If nothing comes back from the
//   brick for `ping_timeout` — whether or not requests are outstanding, and even if the TCP
//   connection stays up (a hung brick) — the brick is declared down, the session is
//   cancelled and every call in flight to it is cancelled at once (ENOTCONN), so no caller
//   waits longer than ping_timeout because one brick died. A brick that keeps answering
//   heartbeats is alive: its calls may take as long as the disk needs (unlinking a huge file
//   on a busy disk takes seconds), up to `call_timeout` (like GlusterFS's frame-timeout) plus
//   what the operation may wait on purpose (a blocking lock).
// - While down, calls fail immediately with ENOTCONN; replication decides what that means.
// - Invalidations pushed by the brick are handed to a callback.
//
// Thread-safety: Call() may be used from any number of threads at once. Callbacks run on
// the session thread and must not block for long.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <grpcpp/support/client_callback.h>
#include <grpcpp/grpcpp.h>

#include "client-fuse/protocol/read_channel.h"
#include "client-fuse/volfile.h"
#include "common/status.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::client {

// gRPC transport failures as the errno a POSIX caller understands (a brick's auth.allow /
// auth.reject refusal, PERMISSION_DENIED, is EACCES).
Status FromGrpc(const grpc::Status& st, std::string_view what);

// The pool's internal key (mgmtd's own clients only: heal daemon, heal info): bricks serve a
// call carrying it whatever auth.allow/auth.reject say. Process-wide; empty = none.
void SetInternalKey(const std::string& key);
// Adds the key (if any) to a call's metadata.
void AddInternalKey(grpc::ClientContext* ctx);

class BrickClient {
 public:
  struct Options {
    BrickAddress address;
    std::string volume_id;
    std::string client_name = "hafs-client";
    std::chrono::milliseconds ping_timeout{3000};
    std::chrono::milliseconds call_timeout{60000};  // a live brick's slowest acceptable answer
  };
  explicit BrickClient(Options options);
  ~BrickClient();
  BrickClient(const BrickClient&) = delete;
  BrickClient& operator=(const BrickClient&) = delete;

  // Starts connecting in the background.
  void Start();
  bool up() const { return up_.load(); }
  // Waits until the brick is up or `timeout` passes.
  bool WaitUp(std::chrono::milliseconds timeout);
  // Why the brick is down (empty if it is up or never tried).
  std::string last_error() const;
  std::string session_id() const;
  BrickAddress address() const {
    std::lock_guard lk(mu_);
    return options_.address;
  }
  // Points the client at a new address (the brick restarted on another port): the session is
  // re-established there; calls in flight to the old address fail over as for a dead brick.
  void SetAddress(const BrickAddress& address);
  std::chrono::milliseconds ping_timeout() const { return options_.ping_timeout; }

  void OnInvalidate(std::function<void(const proto::Invalidate&)> fn);
  void OnStateChange(std::function<void(bool up)> fn);
  // Another lock owner waits for an inode lock this client's session holds (LockContended).
  // Every listener (keyed by its owner, e.g. a replicate layer) gets it; nullptr removes.
  void OnLockContended(const void* listener, std::function<void(const proto::LockContended&)> fn);

  // A unary call with the brick's deadline rules. A non-zero POSIX `err` in the reply is
  // returned as a Status with that errno; transport trouble as ENOTCONN (or EINVAL/EIO for a
  // refused request). `extra` is added to the deadline for calls that may wait on purpose.
  template <typename Req, typename Rep>
  Result<Rep> Call(grpc::Status (proto::Brick::Stub::*method)(grpc::ClientContext*, const Req&, Rep*),
                   const Req& req, std::string_view what,
                   std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
    if (!up_.load()) return DownStatus();
    grpc::ClientContext ctx;
    Prepare(&ctx, extra);
    InFlight guard(this, &ctx);
    Rep rep;
    auto stub = Stub();
    grpc::Status st = (stub.get()->*method)(&ctx, req, &rep);
    if (!st.ok()) return FromGrpc(st, fmt::format("{} on {}", what, options_.address.Name()));
    if constexpr (requires { rep.err(); }) {
      if (rep.err() != 0) return Status(rep.err(), fmt::format("{}: {}", what, std::strerror(rep.err())));
    }
    return rep;
  }

  // The answer to a call while the brick is down, at once.
  Status DownStatus() const { return Status(ENOTCONN, fmt::format("brick {} is down", options_.address.Name())); }
  template <typename Rep>
  std::future<Result<Rep>> Down() const {
    std::promise<Result<Rep>> p;
    p.set_value(DownStatus());
    return p.get_future();
  }

  // The same rules, asynchronously: `start(async_stub, ctx, req, rep, done)` launches the
  // gRPC callback call; the future is completed from gRPC's thread.
  template <typename Req, typename Rep, typename Start>
  std::future<Result<Rep>> CallAsync(Start start, Req req, std::string what,
                                     std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
    if (!up_.load()) return Down<Rep>();
    auto promise = std::make_shared<std::promise<Result<Rep>>>();
    auto future = promise->get_future();
    struct Pending {
      grpc::ClientContext ctx;
      Req req;
      Rep rep;
    };
    auto call = std::make_shared<Pending>();
    call->req = std::move(req);
    Prepare(&call->ctx, extra);
    Register(&call->ctx);
    auto stub = Stub();
    start(stub->async(), &call->ctx, &call->req, &call->rep,
          [this, call, promise, stub, what = std::move(what)](grpc::Status st) {
            Result<Rep> out = Outcome(st, std::move(call->rep), what);
            Unregister(&call->ctx);
            promise->set_value(std::move(out));
          });
    return future;
  }

  // The same rules, completed on the thread that waits: the call starts at once on a
  // completion queue of its own, and the returned (deferred) future's get() takes the
  // completion from that queue, so the reply wakes the waiting thread itself instead of a
  // gRPC thread that then wakes it (fewer thread hops per call). `prep(stub, ctx, req, cq)` is
  // the generated PrepareAsync<Method>. A future dropped unwaited waits for its call to end
  // (it is not cancelled: a change sent is a change made); a down brick or MarkDown cancels
  // the call as any other (ENOTCONN).
  template <typename Req, typename Rep, typename Prep>
  std::future<Result<Rep>> CallInline(Prep prep, Req req, std::string what,
                                      std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
    if (!up_.load()) return Down<Rep>();
    struct Pending {
      BrickClient* self = nullptr;
      grpc::CompletionQueue cq;
      grpc::ClientContext ctx;
      Req req;
      Rep rep;
      grpc::Status st;
      std::string what;
      std::unique_ptr<grpc::ClientAsyncResponseReader<Rep>> reader;
      bool started = false, done = false;
      Result<Rep> Wait() {
        void* tag;
        bool ok;
        if (started) {
          cq.Next(&tag, &ok);  // the Finish: bounded by the deadline; MarkDown cancels it
          self->Unregister(&ctx);
        }
        done = true;
        cq.Shutdown();
        while (cq.Next(&tag, &ok)) {
        }
        return self->Outcome(st, std::move(rep), what);
      }
      ~Pending() {
        if (!done) (void)Wait();
      }
    };
    auto call = std::make_shared<Pending>();
    call->self = this;
    call->req = std::move(req);
    call->what = std::move(what);
    Prepare(&call->ctx, extra);
    Register(&call->ctx);
    auto stub = Stub();
    call->reader = prep(stub.get(), &call->ctx, call->req, &call->cq);
    call->reader->StartCall();
    call->reader->Finish(&call->rep, &call->st, call.get());
    call->started = true;
    return std::async(std::launch::deferred, [call]() { return call->Wait(); });
  }
  // HAFS_INLINE_CALLS=0: the layers' calls complete on gRPC's callback threads (CallAsync).
  static bool inline_calls();

  // A read over the brick's read channel (docs/brickd.md "The read channel"): sent at once;
  // nullptr if the brick has no channel now (down, none announced, HAFS_READ_CHANNEL=0, or
  // it cannot be reached): read over gRPC then.
  std::unique_ptr<ReadChannelClient::Call> StartChannelRead(const proto::ReadRequest& req);
  // Its reply, under the rules of Call(). nullopt: the channel failed while the brick is up;
  // the caller repeats the read over gRPC.
  std::optional<Result<proto::ReadReply>> FinishChannelRead(std::unique_ptr<ReadChannelClient::Call> call);
  // Whether unary calls go over the read channel now (the brick takes them there).
  bool channel_calls() const { return read_channel_.calls(); }
  // A unary call as a call frame on the read channel (common/call_wire.h): sent at once;
  // nullptr if the brick takes no calls there now (down, an older brick, HAFS_CALL_CHANNEL=0,
  // or it cannot be reached): send it over gRPC then.
  std::unique_ptr<ReadChannelClient::Call> StartChannelCall(uint32_t method, std::initializer_list<std::string_view> payload);
  // Its outcome. nullopt: the brick did not carry it out (it does not serve this address on
  // the channel, or has no room for the connection): send it over gRPC. A `transport`
  // outcome is a call cut off (ENOTCONN), as a gRPC call's.
  std::optional<ReadChannelClient::CallOutcome> FinishChannelCall(std::unique_ptr<ReadChannelClient::Call> call,
                                                                 std::chrono::milliseconds extra);
  // A channel call's reply under the rules of Call().
  template <typename Rep>
  Result<Rep> ChannelOutcome(ReadChannelClient::CallOutcome&& out, const std::string& what) {
    Rep rep;
    grpc::Status st(static_cast<grpc::StatusCode>(out.code), out.code == 0 ? std::string() : std::move(out.bytes));
    if (out.code == 0 && !rep.ParseFromString(out.bytes))
      st = grpc::Status(grpc::StatusCode::INTERNAL, "unparsable reply");
    return Outcome(st, std::move(rep), what);
  }
  // The read channel's open connections (tests).
  size_t read_channel_connections() const { return read_channel_.connections(); }

  // The same rules for a request that is already serialised (`req`, e.g. a write whose
  // payload slice is shared by the calls to every brick of a replica set, not copied):
  // `method` is the full gRPC method name ("/hafs.proto.Brick/Write") and must outlive the call.
  template <typename Rep>
  std::future<Result<Rep>> CallSerialized(const std::string& method, grpc::ByteBuffer req, std::string what) {
    if (inline_calls()) {
      auto channel = Channel();
      auto f = CallInline<grpc::ByteBuffer, grpc::ByteBuffer>(
          [channel, &method](proto::Brick::Stub*, grpc::ClientContext* c, const grpc::ByteBuffer& q,
                             grpc::CompletionQueue* cq) {
            return std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>>(
                grpc::internal::ClientAsyncResponseReaderHelper::Create<grpc::ByteBuffer>(
                    channel.get(), cq,
                    grpc::internal::RpcMethod(method.c_str(), nullptr, grpc::internal::RpcMethod::NORMAL_RPC), c, q));
          },
          std::move(req), what);
      return std::async(std::launch::deferred, [this, f = std::move(f), what]() mutable -> Result<Rep> {
        auto r = f.get();
        if (!r.ok()) return r.status();
        Rep rep;
        grpc::Status ps = grpc::SerializationTraits<Rep>::Deserialize(&r.value(), &rep);
        if (!ps.ok()) ps = grpc::Status(grpc::StatusCode::INTERNAL, "unparsable reply: " + ps.error_message());
        return Outcome(ps, std::move(rep), what);
      });
    }
    if (!up_.load()) return Down<Rep>();
    auto promise = std::make_shared<std::promise<Result<Rep>>>();
    auto future = promise->get_future();
    struct Pending {
      grpc::ClientContext ctx;
      grpc::ByteBuffer req;
      grpc::ByteBuffer rep;
    };
    auto call = std::make_shared<Pending>();
    call->req = std::move(req);
    Prepare(&call->ctx, std::chrono::milliseconds(0));
    Register(&call->ctx);
    auto channel = Channel();
    grpc::internal::CallbackUnaryCall(
        channel.get(), grpc::internal::RpcMethod(method.c_str(), nullptr, grpc::internal::RpcMethod::NORMAL_RPC),
        &call->ctx, &call->req, &call->rep,
                       [this, call, promise, channel, what = std::move(what)](grpc::Status st) {
                         Rep rep;
                         if (st.ok()) {
                           grpc::Status ps = grpc::SerializationTraits<Rep>::Deserialize(&call->rep, &rep);
                           if (!ps.ok()) st = grpc::Status(grpc::StatusCode::INTERNAL, "unparsable reply: " + ps.error_message());
                         }
                         Result<Rep> out = Outcome(st, std::move(rep), what);
                         Unregister(&call->ctx);
                         promise->set_value(std::move(out));
                       });
    return future;
  }

 private:
  // A finished call's result: transport trouble as FromGrpc, a POSIX `err` in the reply as
  // that errno, else the reply.
  template <typename Rep>
  Result<Rep> Outcome(const grpc::Status& st, Rep&& rep, const std::string& what) {
    if (!st.ok()) return FromGrpc(st, fmt::format("{} on {}", what, options_.address.Name()));
    if constexpr (requires { rep.err(); }) {
      if (rep.err() != 0) return Status(rep.err(), fmt::format("{}: {}", what, std::strerror(rep.err())));
    }
    return std::move(rep);
  }
  void Register(grpc::ClientContext* ctx);
  void Unregister(grpc::ClientContext* ctx);
  // Registers a call so that a down transition can cancel it at once.
  class InFlight {
   public:
    InFlight(BrickClient* c, grpc::ClientContext* ctx);
    ~InFlight();

   private:
    BrickClient* c_;
    grpc::ClientContext* ctx_;
  };

  void Prepare(grpc::ClientContext* ctx, std::chrono::milliseconds extra);
  std::shared_ptr<proto::Brick::Stub> Stub() const {
    std::lock_guard lk(mu_);
    return stub_;
  }
  std::shared_ptr<grpc::Channel> Channel() const {
    std::lock_guard lk(mu_);
    return channel_;
  }
  void Connect();  // (re)creates the channel and stub for options_.address; mu_ held
  void SessionLoop();
  void HeartbeatLoop();
  void MarkDown(const std::string& why);
  void SetUp(bool up);

  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<proto::Brick::Stub> stub_;
  std::shared_ptr<grpc::Channel> session_channel_;  // the session stream's own connection (Connect)
  std::shared_ptr<proto::Brick::Stub> session_stub_;

  std::atomic<bool> up_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> last_heard_ms_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_;  // the destructor waits on it for in_flight_ to empty
  std::string session_id_;
  std::string last_error_;
  grpc::ClientContext* session_ctx_ = nullptr;
  std::set<grpc::ClientContext*> in_flight_;
  std::function<void(const proto::Invalidate&)> on_invalidate_;
  std::function<void(bool)> on_state_;
  std::map<const void*, std::function<void(const proto::LockContended&)>> on_contended_;

  std::mutex write_mu_;  // guards session_stream_: one writer at a time
  grpc::ClientReaderWriter<proto::SessionMessage, proto::SessionEvent>* session_stream_ = nullptr;
  ReadChannelClient read_channel_;
  std::thread session_thread_;
  std::thread heartbeat_thread_;
};

}  // namespace hafs::client
