// BrickService: the gRPC face of a brick (proto/brick.proto). Translates requests to Storage,
// LockTable and SessionRegistry calls, refuses malformed requests with a gRPC status, returns
// POSIX errors in the reply's `err`, counts every operation and pushes cache invalidations.
// Thread-safety: gRPC calls the handlers from its thread pool; all state it touches is
// thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "brickd/auth.h"
#include "brickd/lock_table.h"
#include "brickd/op_stats.h"
#include "brickd/read_channel.h"
#include "brickd/sessions.h"
#include "brickd/storage.h"
#include "common/call_wire.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::brick {

// Who sent a call: a gRPC call's context, or a call frame's connection (exactly one is set).
struct CallContext {
  grpc::ServerContext* grpc = nullptr;
  const ReadChannel::Caller* channel = nullptr;
};

class BrickService final : public proto::Brick::Service {
 public:
  struct Options {
    uint32_t brick_id = 0;
    size_t max_io = 4u << 20;                               // largest read/write per call
    std::chrono::milliseconds lock_timeout_cap{60000};      // longest a blocking lock may wait
    const AuthGate* auth = nullptr;                         // client address rules (none: all served)
    std::atomic<int>* read_port = nullptr;                  // the read channel's port, told in the welcome (0: none)
  };
  BrickService(Storage& storage, LockTable& locks, SessionRegistry& sessions, OpStats& stats, Options options);

  // The unary calls both transports carry (common/call_wire.h): gRPC's overrides and the
  // read channel's call frames (ServeChannelCall) reach the same Handle<Method>.
#define HAFS_BRICK_HANDLER(n, Name, Req, Rep)                                                        \
  grpc::Status Name(grpc::ServerContext* c, const proto::Req* q, proto::Rep* r) override {          \
    return Handle##Name(CallContext{c, nullptr}, q, r);                                              \
  }                                                                                                  \
  grpc::Status Handle##Name(const CallContext& ctx, const proto::Req* req, proto::Rep* rep);
  HAFS_CHANNEL_CALLS(HAFS_BRICK_HANDLER)
#undef HAFS_BRICK_HANDLER
  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<proto::SessionEvent, proto::SessionMessage>*) override;
  grpc::Status Ping(grpc::ServerContext*, const proto::PingRequest*, proto::PingReply*) override;
  grpc::Status Stats(grpc::ServerContext*, const proto::PingRequest*, proto::StatsReply*) override;

  // Human-readable state for SIGUSR1 dumps: sessions, locks, counters.
  std::string DumpState() const;

  // A read that came over the read channel (brickd/read_channel.h): the gRPC handler's checks
  // and storage read, without the transport; a refused request is EINVAL. Returns 0 or an errno.
  int ReadFromChannel(std::string_view gfid, uint64_t offset, uint32_t size, std::string* data, bool* eof);
  // A call frame (ReadChannel::CallFn): parses the request, runs its handler, serialises the
  // reply; returns the gRPC status code, or ReadChannel::kNotServed for a refused caller.
  int ServeChannelCall(uint32_t method, const ReadChannel::Caller& caller, std::string_view payload, std::string* out);

 private:
  grpc::Status Authorize(grpc::ServerContext* ctx) const;
  grpc::Status Authorize(const CallContext& ctx) const;
  template <typename Req, typename Make>
  grpc::Status NewEntry(const CallContext& ctx, Op op, const Req* req, proto::EntryReply* rep, Make make);
  std::chrono::milliseconds LockTimeout(uint32_t asked_ms) const;
  // Read's work, after the caller is authorized (both transports).
  grpc::Status ServeRead(const proto::ReadRequest* req, proto::ReadReply* rep);
  // The post-op and unlock a replicate transaction attached to a change (TxnTail).
  void ApplyTail(const proto::TxnTail& tail, bool op_ok);
  // The post-op of a release or a transaction (errors logged: the lock goes anyway);
  // skip_missing: deltas for a gfid this brick no longer has are dropped.
  void ApplyPostOp(const google::protobuf::RepeatedPtrField<proto::CounterDelta>& post_op, bool skip_missing);
  // For MetadataStore::Xattrop: whether the gfid still exists, asked under its stripe.
  std::function<bool()> ExistsCheck(const Gfid& gfid);
  // The pre-op attached to a lock request; returns an errno.
  int ApplyPreOp(const google::protobuf::RepeatedPtrField<proto::CounterDelta>& pre_op);
  // Create's data_lock: a non-blocking write inodelk + its pre-op for `session`; errno or 0.
  int CreateLock(const proto::InodelkRequest& l, const std::string& session);
  int ReleaseLock(const Gfid& gfid, const proto::InodelkRequest& l, const std::string& session);

  Storage& storage_;
  LockTable& locks_;
  SessionRegistry& sessions_;
  OpStats& stats_;
  Options options_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<uint64_t> reads_by_channel_{0};
  std::atomic<uint64_t> calls_by_channel_{0};
};

}  // namespace hafs::brick
