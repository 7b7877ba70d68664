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
#include "brickd/sessions.h"
#include "brickd/storage.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::brick {

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

  grpc::Status Lookup(grpc::ServerContext*, const proto::EntryRequest*, proto::EntryReply*) override;
  grpc::Status Getattr(grpc::ServerContext*, const proto::GfidRequest*, proto::AttrReply*) override;
  grpc::Status Setattr(grpc::ServerContext*, const proto::SetattrRequest*, proto::AttrReply*) override;
  grpc::Status Mkdir(grpc::ServerContext*, const proto::MkdirRequest*, proto::EntryReply*) override;
  grpc::Status Create(grpc::ServerContext*, const proto::CreateRequest*, proto::EntryReply*) override;
  grpc::Status Mknod(grpc::ServerContext*, const proto::MknodRequest*, proto::EntryReply*) override;
  grpc::Status Symlink(grpc::ServerContext*, const proto::SymlinkRequest*, proto::EntryReply*) override;
  grpc::Status Readlink(grpc::ServerContext*, const proto::GfidRequest*, proto::ReadlinkReply*) override;
  grpc::Status Link(grpc::ServerContext*, const proto::LinkRequest*, proto::EntryReply*) override;
  grpc::Status Unlink(grpc::ServerContext*, const proto::NameRequest*, proto::EntryReply*) override;
  grpc::Status Rmdir(grpc::ServerContext*, const proto::NameRequest*, proto::EntryReply*) override;
  grpc::Status Rename(grpc::ServerContext*, const proto::RenameRequest*, proto::RenameReply*) override;
  grpc::Status Opendir(grpc::ServerContext*, const proto::GfidRequest*, proto::AttrReply*) override;
  grpc::Status Readdir(grpc::ServerContext*, const proto::ReaddirRequest*, proto::ReaddirReply*) override;
  grpc::Status Open(grpc::ServerContext*, const proto::OpenRequest*, proto::OpenReply*) override;
  grpc::Status Release(grpc::ServerContext*, const proto::ReleaseRequest*, proto::ErrReply*) override;
  grpc::Status Read(grpc::ServerContext*, const proto::ReadRequest*, proto::ReadReply*) override;
  grpc::Status Write(grpc::ServerContext*, const proto::WriteRequest*, proto::WriteReply*) override;
  grpc::Status Truncate(grpc::ServerContext*, const proto::TruncateRequest*, proto::AttrReply*) override;
  grpc::Status Fallocate(grpc::ServerContext*, const proto::FallocateRequest*, proto::AttrReply*) override;
  grpc::Status Fsync(grpc::ServerContext*, const proto::FsyncRequest*, proto::ErrReply*) override;
  grpc::Status Statfs(grpc::ServerContext*, const proto::GfidRequest*, proto::StatfsReply*) override;
  grpc::Status Setxattr(grpc::ServerContext*, const proto::SetxattrRequest*, proto::ErrReply*) override;
  grpc::Status Getxattr(grpc::ServerContext*, const proto::GetxattrRequest*, proto::XattrReply*) override;
  grpc::Status Listxattr(grpc::ServerContext*, const proto::GfidRequest*, proto::ListxattrReply*) override;
  grpc::Status Removexattr(grpc::ServerContext*, const proto::RemovexattrRequest*, proto::ErrReply*) override;
  grpc::Status Access(grpc::ServerContext*, const proto::AccessRequest*, proto::ErrReply*) override;
  grpc::Status Inodelk(grpc::ServerContext*, const proto::InodelkRequest*, proto::ErrReply*) override;
  grpc::Status Entrylk(grpc::ServerContext*, const proto::EntrylkRequest*, proto::ErrReply*) override;
  grpc::Status ReleaseLocks(grpc::ServerContext*, const proto::ReleaseLocksRequest*,
                            proto::ReleaseLocksReply*) override;
  grpc::Status Xattrop(grpc::ServerContext*, const proto::XattropRequest*, proto::XattropReply*) override;
  grpc::Status HealIndex(grpc::ServerContext*, const proto::HealIndexRequest*, proto::HealIndexReply*) override;
  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<proto::SessionEvent, proto::SessionMessage>*) override;
  grpc::Status Ping(grpc::ServerContext*, const proto::PingRequest*, proto::PingReply*) override;
  grpc::Status Stats(grpc::ServerContext*, const proto::PingRequest*, proto::StatsReply*) override;

  // Human-readable state for SIGUSR1 dumps: sessions, locks, counters.
  std::string DumpState() const;

  // A read that came over the read channel (brickd/read_channel.h): the gRPC handler's checks
  // and storage read, without the transport; a refused request is EINVAL. Returns 0 or an errno.
  int ReadFromChannel(std::string_view gfid, uint64_t offset, uint32_t size, std::string* data, bool* eof);

 private:
  template <typename Req, typename Make>
  grpc::Status NewEntry(grpc::ServerContext* ctx, Op op, const Req* req, proto::EntryReply* rep, Make make);
  std::chrono::milliseconds LockTimeout(uint32_t asked_ms) const;
  // Read's work, after the caller is authorized (both transports).
  grpc::Status ServeRead(const proto::ReadRequest* req, proto::ReadReply* rep);
  // The post-op and unlock a replicate transaction attached to a change (TxnTail).
  void ApplyTail(const proto::TxnTail& tail, bool op_ok);
  // The post-op of a release or a transaction (errors logged: the lock goes anyway);
  // skip_missing: deltas for a gfid this brick no longer has are dropped.
  void ApplyPostOp(const google::protobuf::RepeatedPtrField<proto::CounterDelta>& post_op, bool skip_missing);
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
};

}  // namespace hafs::brick
