#include "brickd/service.h"

#include <sys/statvfs.h>

#include <thread>

#include "brickd/names.h"
#include "common/log.h"

namespace hafs::brick {
namespace {

using grpc::ServerContext;
using grpc::StatusCode;

// Metadata key naming the caller's session, so that its own changes are not echoed back.
constexpr const char* kSessionHeader = "hafs-session";

int64_t ToNs(const struct timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec; }
struct timespec FromNs(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000LL;
  ts.tv_nsec = ns % 1000000000LL;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000LL;
    ts.tv_sec -= 1;
  }
  return ts;
}

void FillAttr(const Inode& in, proto::Attr* a) {
  a->set_gfid(in.gfid.Bytes());
  a->set_mode(in.st.st_mode);
  a->set_nlink(static_cast<uint32_t>(in.st.st_nlink));
  a->set_uid(in.st.st_uid);
  a->set_gid(in.st.st_gid);
  a->set_rdev(in.st.st_rdev);
  a->set_size(in.st.st_size);
  a->set_blocks(in.st.st_blocks);
  a->set_blksize(in.st.st_blksize);
  a->set_atime_ns(ToNs(in.st.st_atim));
  a->set_mtime_ns(ToNs(in.st.st_mtim));
  a->set_ctime_ns(ToNs(in.st.st_ctim));
  a->set_ino(in.st.st_ino);
}

Credentials ToCreds(const proto::Caller& c) {
  Credentials cr{c.uid(), c.gid(), {}};
  cr.groups.assign(c.groups().begin(), c.groups().end());
  return cr;
}

grpc::Status ParseGfid(const std::string& raw, Gfid* out, std::string_view field, bool allow_null = false) {
  auto g = Gfid::FromBytes(raw);
  if (!g) {
    return grpc::Status(StatusCode::INVALID_ARGUMENT,
                        fmt::format("{}: a gfid is 16 bytes, got {}", field, raw.size()));
  }
  if (!allow_null && g->IsNull()) return grpc::Status(StatusCode::INVALID_ARGUMENT, fmt::format("{}: null gfid", field));
  *out = *g;
  return grpc::Status::OK;
}

std::string OriginSession(const CallContext& ctx) {
  if (ctx.channel) return ctx.channel->session;
  auto it = ctx.grpc->client_metadata().find(kSessionHeader);
  if (it == ctx.grpc->client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Times one RPC and records it, with its POSIX outcome, in OpStats.
class OpTimer {
 public:
  OpTimer(OpStats& stats, Op op) : stats_(stats), op_(op), start_(std::chrono::steady_clock::now()) {}
  ~OpTimer() {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count();
    stats_.Record(op_, static_cast<uint64_t>(us), err_ != 0);
  }
  void set_err(int err) { err_ = err; }

 private:
  OpStats& stats_;
  Op op_;
  std::chrono::steady_clock::time_point start_;
  int err_ = 0;
};

// Every handler starts by checking the caller against auth.allow/auth.reject (auth.h).
#define AUTHORIZE(ctx)                                               \
  if (options_.auth) {                                               \
    if (auto _auth = Authorize(ctx); !_auth.ok()) return _auth;      \
  }

#define PARSE_GFID(var, raw)                                          \
  Gfid var;                                                           \
  if (auto _st = ParseGfid(raw, &var, #var); !_st.ok()) {             \
    timer.set_err(EINVAL);                                            \
    return _st;                                                       \
  }

template <typename Reply>
void SetErr(OpTimer& timer, Reply* reply, const Status& s) {
  timer.set_err(s.err());
  reply->set_err(s.err());
  if (!s.ok() && s.err() != ENOENT && s.err() != EEXIST) HAFS_LOG_DEBUG("{}", s.ToString());
}

template <typename Reply>
void ReplyEntry(OpTimer& timer, Reply* reply, const Result<EntryResult>& r) {
  SetErr(timer, reply, r.status());
  if (r.ok()) {
    FillAttr(r->inode, reply->mutable_attr());
    FillAttr(r->parent, reply->mutable_parent_attr());
  }
}

}  // namespace

grpc::Status BrickService::Authorize(ServerContext* ctx) const { return options_.auth->Check(ctx); }

grpc::Status BrickService::Authorize(const CallContext& ctx) const {
  if (ctx.grpc) return options_.auth->Check(ctx.grpc);
  return options_.auth->Check(ctx.channel->peer, ctx.channel->key);
}

int BrickService::ServeChannelCall(uint32_t method, const ReadChannel::Caller& caller, std::string_view payload,
                                   std::string* out) {
  CallContext ctx{nullptr, &caller};
  auto serve = [&](auto handler, auto* req, auto* rep) -> int {
    if (!req->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      *out = "unparsable request";
      return static_cast<int>(StatusCode::INVALID_ARGUMENT);
    }
    // Every handler checks the caller first (AUTHORIZE), and refuses only that way with
    // PERMISSION_DENIED: such a call was not carried out.
    grpc::Status st = (this->*handler)(ctx, req, rep);
    if (st.error_code() == StatusCode::PERMISSION_DENIED) {
      *out = st.error_message();
      return ReadChannel::kNotServed;
    }
    calls_by_channel_.fetch_add(1, std::memory_order_relaxed);
    if (!st.ok()) {
      *out = st.error_message();
      return static_cast<int>(st.error_code());
    }
    rep->SerializeToString(out);
    return 0;
  };
  switch (static_cast<call_wire::Method>(method)) {
#define HAFS_CHANNEL_CASE(n, Name, Req, Rep)                     \
  case call_wire::Method::k##Name: {                             \
    proto::Req req;                                              \
    proto::Rep rep;                                              \
    return serve(&BrickService::Handle##Name, &req, &rep);       \
  }
    HAFS_CHANNEL_CALLS(HAFS_CHANNEL_CASE)
#undef HAFS_CHANNEL_CASE
  }
  *out = fmt::format("unknown method {}", method);
  return static_cast<int>(StatusCode::UNIMPLEMENTED);
}

BrickService::BrickService(Storage& storage, LockTable& locks, SessionRegistry& sessions, OpStats& stats,
                           Options options)
    : storage_(storage),
      locks_(locks),
      sessions_(sessions),
      stats_(stats),
      options_(options),
      started_(std::chrono::steady_clock::now()) {}

std::function<bool()> BrickService::ExistsCheck(const Gfid& gfid) {
  return [this, gfid] { return storage_.Exists(gfid); };
}

void BrickService::ApplyPostOp(const google::protobuf::RepeatedPtrField<proto::CounterDelta>& post_op,
                               bool skip_missing) {
  for (const auto& d : post_op) {
    auto g = Gfid::FromBytes(d.gfid());
    if (!g) continue;
    std::map<std::string, int64_t> deltas(d.deltas().begin(), d.deltas().end());
    // skip_missing: the existence check runs under the counters' stripe (a file rebalance moved
    // away needs none: the metadata store ignores a retired gfid's updates).
    auto r = storage_.metadata().Xattrop(*g, deltas, skip_missing ? ExistsCheck(*g) : std::function<bool()>());
    if (!r.ok() && !(skip_missing && r.err() == ENOENT))
      HAFS_LOG_ERROR("post-op on {}: {}", g->ToString(), r.status().ToString());
  }
}

void BrickService::ApplyTail(const proto::TxnTail& tail, bool op_ok) {
  if (op_ok) ApplyPostOp(tail.post_op(), /*skip_missing=*/false);
  LockOwner who{tail.session_id(), tail.owner()};
  for (const auto& l : tail.unlock()) {
    auto g = Gfid::FromBytes(l.gfid());
    if (!g) continue;
    if (l.entry()) {
      locks_.Entrylk(*g, l.domain(), l.name(), LockKind::kUnlock, who, false, std::chrono::milliseconds(0));
    } else {
      locks_.Inodelk(*g, l.domain(), LockKind::kUnlock, 0, 0, who, false, std::chrono::milliseconds(0));
    }
  }
}

int BrickService::ApplyPreOp(const google::protobuf::RepeatedPtrField<proto::CounterDelta>& pre_op) {
  for (const auto& d : pre_op) {
    auto g = Gfid::FromBytes(d.gfid());
    if (!g) return EINVAL;
    auto exists = storage_.Getattr(*g);  // ENOENT, or ESTALE for a file rebalance moved away
    if (!exists.ok()) return exists.err();
    std::map<std::string, int64_t> deltas(d.deltas().begin(), d.deltas().end());
    auto r = storage_.metadata().Xattrop(*g, deltas, ExistsCheck(*g));  // and still there under the stripe
    if (!r.ok()) return r.err();
  }
  return 0;
}

std::chrono::milliseconds BrickService::LockTimeout(uint32_t asked_ms) const {
  auto asked = std::chrono::milliseconds(asked_ms == 0 ? 30000 : asked_ms);
  return std::min(asked, options_.lock_timeout_cap);
}

grpc::Status BrickService::HandleLookup(const CallContext& ctx, const proto::EntryRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kLookup);
  PARSE_GFID(parent, req->parent());
  Gfid gfid_req;
  if (!req->gfid_req().empty()) {
    if (auto st = ParseGfid(req->gfid_req(), &gfid_req, "gfid_req"); !st.ok()) return st;
  }
  auto r = storage_.Lookup(parent, req->name(), gfid_req);
  ReplyEntry(timer, rep, r);
  // Quick read: a small file's content rides on its lookup (one round trip for open + read).
  if (r.ok() && req->want_data() > 0 && S_ISREG(r->inode.st.st_mode) &&
      static_cast<uint64_t>(r->inode.st.st_size) <= req->want_data()) {
    std::string data;
    auto n = storage_.Read(r->inode.gfid, 0, static_cast<size_t>(r->inode.st.st_size), &data);
    if (n.ok() && data.size() == static_cast<size_t>(r->inode.st.st_size)) {
      rep->set_has_data(true);
      rep->set_data(std::move(data));
    }
  }
  if (r.ok() && req->want_pending()) {
    for (auto& [k, v] : storage_.metadata().Counters(r->inode.gfid)) (*rep->mutable_pending())[k] = v;
    for (auto& [k, v] : storage_.metadata().Counters(parent)) (*rep->mutable_parent_pending())[k] = v;
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleGetattr(const CallContext& ctx, const proto::GfidRequest* req, proto::AttrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kGetattr);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Getattr(gfid);
  SetErr(timer, rep, r.status());
  if (r.ok()) FillAttr(*r, rep->mutable_attr());
  if (r.ok() && req->want_pending()) {
    for (auto& [k, v] : storage_.metadata().Counters(gfid)) (*rep->mutable_pending())[k] = v;
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleSetattr(const CallContext& ctx, const proto::SetattrRequest* req, proto::AttrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kSetattr);
  PARSE_GFID(gfid, req->gfid());
  using V = proto::SetattrRequest;
  uint32_t v = req->valid();
  SetattrArgs a;
  a.set_mode = v & V::MODE;
  a.set_uid = v & V::UID;
  a.set_gid = v & V::GID;
  a.set_size = v & V::SIZE;
  a.set_atime = v & V::ATIME;
  a.set_mtime = v & V::MTIME;
  a.atime_now = v & V::ATIME_NOW;
  a.mtime_now = v & V::MTIME_NOW;
  a.mode = req->mode();
  a.uid = req->uid();
  a.gid = req->gid();
  a.size = req->size();
  a.atime = FromNs(req->atime_ns());
  a.mtime = FromNs(req->mtime_ns());
  auto r = storage_.Setattr(gfid, a);
  ApplyTail(req->tail(), r.ok());
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    FillAttr(*r, rep->mutable_attr());
    sessions_.Broadcast(OriginSession(ctx), gfid);
  }
  return grpc::Status::OK;
}

// Mkdir, Create, Mknod and Symlink differ only in the storage call that makes the entry.
template <typename Req, typename Make>
grpc::Status BrickService::NewEntry(const CallContext& ctx, Op op, const Req* req, proto::EntryReply* rep, Make make) {
  OpTimer timer(stats_, op);
  PARSE_GFID(parent, req->parent());
  PARSE_GFID(gfid, req->gfid());
  auto r = make(parent, gfid);
  ApplyTail(req->tail(), r.ok());
  ReplyEntry(timer, rep, r);
  if (r.ok()) sessions_.Broadcast(OriginSession(ctx), parent, parent, req->name());
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleMkdir(const CallContext& ctx, const proto::MkdirRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  auto st = NewEntry(ctx, Op::kMkdir, req, rep, [&](const Gfid& parent, const Gfid& gfid) {
    return storage_.Mkdir(parent, req->name(), gfid, req->mode(), ToCreds(req->caller()));
  });
  // The xattrs go only on a directory this request made, never on one that existed under the
  // name; one that fails (a refused name) leaves xattrs_set false for the client to retry alone.
  if (st.ok() && rep->err() == 0 && !req->xattrs().empty() && rep->attr().gfid() == req->gfid()) {
    Gfid gfid = *Gfid::FromBytes(req->gfid());
    bool all = true;
    for (const auto& [name, value] : req->xattrs()) {
      Status s = storage_.SetNewDirXattr(gfid, name, value);
      if (!s.ok()) HAFS_LOG_WARN("mkdir {}: xattr {}: {}", req->name(), name, s.ToString());
      all = all && s.ok();
    }
    rep->set_xattrs_set(all);
  }
  return st;
}

grpc::Status BrickService::HandleCreate(const CallContext& ctx, const proto::CreateRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  auto st = NewEntry(ctx, Op::kCreate, req, rep, [&](const Gfid& parent, const Gfid& gfid) {
    return storage_.Create(parent, req->name(), gfid, req->mode(), req->exclusive(), ToCreds(req->caller()));
  });
  // The create carries the file's first data lock (replicate's eager lock): only on a file
  // this request made (its gfid), never on one that existed under the name.
  if (st.ok() && rep->err() == 0 && req->has_data_lock() && req->data_lock().type() == proto::WRITE &&
      rep->attr().gfid() == req->gfid() && req->data_lock().gfid() == req->gfid()) {
    rep->set_data_locked(CreateLock(req->data_lock(), req->tail().session_id()) == 0);
  }
  return st;
}

int BrickService::CreateLock(const proto::InodelkRequest& l, const std::string& session) {
  auto gfid = Gfid::FromBytes(l.gfid());
  if (!gfid || !sessions_.Alive(session)) return ENOTCONN;
  LockOwner who{session, l.owner()};
  int err = locks_.Inodelk(*gfid, l.domain(), LockKind::kWrite, l.start(), l.length(), who, false,
                           std::chrono::milliseconds(0));
  if (err == 0 && !sessions_.Alive(session)) {
    locks_.ReleaseSession(session);
    return ENOTCONN;
  }
  if (err == 0 && l.pre_op_size() > 0) {
    err = ApplyPreOp(l.pre_op());
    if (err != 0)
      locks_.Inodelk(*gfid, l.domain(), LockKind::kUnlock, l.start(), l.length(), who, false, std::chrono::milliseconds(0));
  }
  return err;
}

grpc::Status BrickService::HandleMknod(const CallContext& ctx, const proto::MknodRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  return NewEntry(ctx, Op::kMknod, req, rep, [&](const Gfid& parent, const Gfid& gfid) {
    return storage_.Mknod(parent, req->name(), gfid, req->mode(), req->rdev(), ToCreds(req->caller()));
  });
}

grpc::Status BrickService::HandleSymlink(const CallContext& ctx, const proto::SymlinkRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  return NewEntry(ctx, Op::kSymlink, req, rep, [&](const Gfid& parent, const Gfid& gfid) {
    return storage_.Symlink(parent, req->name(), gfid, req->target(), ToCreds(req->caller()));
  });
}

grpc::Status BrickService::HandleReadlink(const CallContext& ctx, const proto::GfidRequest* req, proto::ReadlinkReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kReadlink);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Readlink(gfid);
  SetErr(timer, rep, r.status());
  if (r.ok()) rep->set_target(*r);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleLink(const CallContext& ctx, const proto::LinkRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kLink);
  PARSE_GFID(gfid, req->gfid());
  PARSE_GFID(new_parent, req->new_parent());
  auto r = storage_.Link(gfid, new_parent, req->new_name());
  ApplyTail(req->tail(), r.ok());
  ReplyEntry(timer, rep, r);
  if (r.ok()) {
    sessions_.Broadcast(OriginSession(ctx), gfid);
    sessions_.Broadcast(OriginSession(ctx), new_parent, new_parent, req->new_name());
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleUnlink(const CallContext& ctx, const proto::NameRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kUnlink);
  PARSE_GFID(parent, req->parent());
  auto r = storage_.Unlink(parent, req->name());
  ApplyTail(req->tail(), r.ok());
  ReplyEntry(timer, rep, r);
  if (r.ok()) sessions_.Broadcast(OriginSession(ctx), r->inode.gfid, parent, req->name());
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleRmdir(const CallContext& ctx, const proto::NameRequest* req, proto::EntryReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kRmdir);
  PARSE_GFID(parent, req->parent());
  auto r = storage_.Rmdir(parent, req->name());
  ApplyTail(req->tail(), r.ok());
  ReplyEntry(timer, rep, r);
  if (r.ok()) sessions_.Broadcast(OriginSession(ctx), r->inode.gfid, parent, req->name());
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleRename(const CallContext& ctx, const proto::RenameRequest* req, proto::RenameReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kRename);
  PARSE_GFID(old_parent, req->old_parent());
  PARSE_GFID(new_parent, req->new_parent());
  auto r = storage_.Rename(old_parent, req->old_name(), new_parent, req->new_name(), req->flags());
  ApplyTail(req->tail(), r.ok());
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    FillAttr(r->inode, rep->mutable_attr());
    if (!r->replaced.IsNull()) rep->set_replaced_gfid(r->replaced.Bytes());
    std::string origin = OriginSession(ctx);
    sessions_.Broadcast(origin, r->inode.gfid, old_parent, req->old_name());
    sessions_.Broadcast(origin, r->replaced, new_parent, req->new_name());
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleOpendir(const CallContext& ctx, const proto::GfidRequest* req, proto::AttrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kOpendir);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Getattr(gfid);
  if (r.ok() && !S_ISDIR(r->st.st_mode)) r = Status(ENOTDIR, "opendir");
  SetErr(timer, rep, r.status());
  if (r.ok()) FillAttr(*r, rep->mutable_attr());
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleReaddir(const CallContext& ctx, const proto::ReaddirRequest* req, proto::ReaddirReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kReaddir);
  PARSE_GFID(gfid, req->gfid());
  size_t max = req->max_entries() == 0 ? 512 : std::min<size_t>(req->max_entries(), 4096);
  auto r = storage_.Readdir(gfid, req->cookie(), max, req->plus());
  SetErr(timer, rep, r.status());
  if (!r.ok()) return grpc::Status::OK;
  rep->set_eof(r->eof);
  for (auto& e : r->entries) {
    auto* pe = rep->add_entries();
    pe->set_name(e.name);
    if (!e.gfid.IsNull()) pe->set_gfid(e.gfid.Bytes());
    pe->set_type(e.type);
    pe->set_next_cookie(e.next_cookie);
    if (req->plus()) FillAttr(Inode{e.gfid, e.st}, pe->mutable_attr());
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleOpen(const CallContext& ctx, const proto::OpenRequest* req, proto::OpenReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kOpen);
  PARSE_GFID(gfid, req->gfid());
  if (!sessions_.Alive(req->session_id()))
    return grpc::Status(StatusCode::FAILED_PRECONDITION, "open needs an open session (call Session first)");
  auto h = sessions_.AddOpen(req->session_id(), gfid);
  SetErr(timer, rep, h.status());
  if (h.ok()) {
    rep->set_handle(*h);
    auto a = storage_.Getattr(gfid);
    if (a.ok()) FillAttr(*a, rep->mutable_attr());
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleRelease(const CallContext& ctx, const proto::ReleaseRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kRelease);
  SetErr(timer, rep, sessions_.ReleaseOpen(req->session_id(), req->handle()));
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleRead(const CallContext& ctx, const proto::ReadRequest* req, proto::ReadReply* rep) {
  AUTHORIZE(ctx);
  return ServeRead(req, rep);
}

int BrickService::ReadFromChannel(std::string_view gfid, uint64_t offset, uint32_t size, std::string* data, bool* eof) {
  proto::ReadRequest req;
  req.set_gfid(gfid.data(), gfid.size());
  req.set_offset(offset);
  req.set_size(size);
  proto::ReadReply rep;
  rep.mutable_data()->swap(*data);  // the connection's buffer: no allocation per read
  grpc::Status st = ServeRead(&req, &rep);
  data->swap(*rep.mutable_data());
  reads_by_channel_.fetch_add(1, std::memory_order_relaxed);
  if (!st.ok()) {
    HAFS_LOG_DEBUG("read channel: {}", st.error_message());
    return EINVAL;
  }
  *eof = rep.eof();
  return rep.err();
}

grpc::Status BrickService::ServeRead(const proto::ReadRequest* req, proto::ReadReply* rep) {
  OpTimer timer(stats_, Op::kRead);
  PARSE_GFID(gfid, req->gfid());
  if (req->size() > options_.max_io) {
    timer.set_err(EINVAL);
    return grpc::Status(StatusCode::OUT_OF_RANGE, fmt::format("read of {} bytes exceeds this brick's limit of {} bytes",
                                                              req->size(), options_.max_io));
  }
  auto r = storage_.Read(gfid, req->offset(), req->size(), rep->mutable_data());
  SetErr(timer, rep, r.status());
  if (r.ok()) rep->set_eof(*r < req->size());
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleWrite(const CallContext& ctx, const proto::WriteRequest* req, proto::WriteReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kWrite);
  PARSE_GFID(gfid, req->gfid());
  if (req->data().size() > options_.max_io) {
    timer.set_err(EINVAL);
    return grpc::Status(StatusCode::OUT_OF_RANGE, fmt::format("write of {} bytes exceeds this brick's limit of {} bytes",
                                                              req->data().size(), options_.max_io));
  }
  std::optional<Inode> after;
  auto r = storage_.Write(gfid, req->offset(), req->data(), req->append(), req->datasync(), &after);
  ApplyTail(req->tail(), r.ok());
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    rep->set_written(static_cast<uint32_t>(*r));
    if (after) FillAttr(*after, rep->mutable_attr());
    sessions_.Broadcast(OriginSession(ctx), gfid);
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleTruncate(const CallContext& ctx, const proto::TruncateRequest* req, proto::AttrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kTruncate);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Truncate(gfid, req->size());
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    FillAttr(*r, rep->mutable_attr());
    sessions_.Broadcast(OriginSession(ctx), gfid);
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleFallocate(const CallContext& ctx, const proto::FallocateRequest* req, proto::AttrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kFallocate);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Fallocate(gfid, static_cast<int>(req->mode()), req->offset(), req->length());
  ApplyTail(req->tail(), r.ok());
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    FillAttr(*r, rep->mutable_attr());
    sessions_.Broadcast(OriginSession(ctx), gfid);
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleFsync(const CallContext& ctx, const proto::FsyncRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kFsync);
  PARSE_GFID(gfid, req->gfid());
  SetErr(timer, rep, storage_.Fsync(gfid, req->datasync()));
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleStatfs(const CallContext& ctx, const proto::GfidRequest*, proto::StatfsReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kStatfs);
  auto r = storage_.Statfs();
  SetErr(timer, rep, r.status());
  if (r.ok()) {
    rep->set_bsize(r->f_bsize);
    rep->set_frsize(r->f_frsize);
    rep->set_blocks(r->f_blocks);
    rep->set_bfree(r->f_bfree);
    rep->set_bavail(r->f_bavail);
    rep->set_files(r->f_files);
    rep->set_ffree(r->f_ffree);
    rep->set_namemax(r->f_namemax);
  }
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleSetxattr(const CallContext& ctx, const proto::SetxattrRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kSetxattr);
  PARSE_GFID(gfid, req->gfid());
  Status s = storage_.Setxattr(gfid, req->name(), req->value(), static_cast<int>(req->flags()));
  ApplyTail(req->tail(), s.ok());
  SetErr(timer, rep, s);
  if (s.ok()) sessions_.Broadcast(OriginSession(ctx), gfid);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleGetxattr(const CallContext& ctx, const proto::GetxattrRequest* req, proto::XattrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kGetxattr);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Getxattr(gfid, req->name());
  SetErr(timer, rep, r.status());
  if (r.ok()) rep->set_value(*r);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleListxattr(const CallContext& ctx, const proto::GfidRequest* req, proto::ListxattrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kListxattr);
  PARSE_GFID(gfid, req->gfid());
  auto r = storage_.Listxattr(gfid);
  SetErr(timer, rep, r.status());
  if (r.ok())
    for (auto& n : *r) rep->add_names(n);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleRemovexattr(const CallContext& ctx, const proto::RemovexattrRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kRemovexattr);
  PARSE_GFID(gfid, req->gfid());
  Status s = storage_.Removexattr(gfid, req->name());
  ApplyTail(req->tail(), s.ok());
  SetErr(timer, rep, s);
  if (s.ok()) sessions_.Broadcast(OriginSession(ctx), gfid);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleAccess(const CallContext& ctx, const proto::AccessRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kAccess);
  PARSE_GFID(gfid, req->gfid());
  SetErr(timer, rep, storage_.Access(gfid, req->mask(), ToCreds(req->caller())));
  return grpc::Status::OK;
}

static LockKind ToKind(proto::LockType t) {
  switch (t) {
    case proto::READ: return LockKind::kRead;
    case proto::WRITE: return LockKind::kWrite;
    default: return LockKind::kUnlock;
  }
}

// An eager lock's release (Inodelk's UNLOCK, each item of ReleaseLocks): the delayed post-op,
// then the unlock. A file unlinked meanwhile (its release was queued behind the close) has no
// counters left to settle: a post-op there would leave a heal-index entry for a gfid that is gone.
int BrickService::ReleaseLock(const Gfid& gfid, const proto::InodelkRequest& l, const std::string& session) {
  ApplyPostOp(l.post_op(), /*skip_missing=*/true);
  return locks_.Inodelk(gfid, l.domain(), LockKind::kUnlock, l.start(), l.length(), {session, l.owner()}, false,
                        std::chrono::milliseconds(0));
}

grpc::Status BrickService::HandleInodelk(const CallContext& ctx, const proto::InodelkRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kInodelk);
  PARSE_GFID(gfid, req->gfid());
  if (!sessions_.Alive(req->session_id()))
    return grpc::Status(StatusCode::FAILED_PRECONDITION, "inodelk needs an open session (call Session first)");
  if (req->type() == proto::UNLOCK) {
    int err = ReleaseLock(gfid, *req, req->session_id());
    timer.set_err(err);
    rep->set_err(err);
    return grpc::Status::OK;
  }
  LockOwner who{req->session_id(), req->owner()};
  int err = locks_.Inodelk(gfid, req->domain(), ToKind(req->type()), req->start(), req->length(), who,
                           req->blocking(), LockTimeout(req->timeout_ms()));
  // A lock granted to a session that died while it waited must not outlive it.
  if (err == 0 && !sessions_.Alive(req->session_id())) {
    locks_.ReleaseSession(req->session_id());
    err = ENOTCONN;
  }
  if (err == 0 && req->pre_op_size() > 0) {
    err = ApplyPreOp(req->pre_op());
    if (err != 0) locks_.Inodelk(gfid, req->domain(), LockKind::kUnlock, req->start(), req->length(), who, false,
                                 std::chrono::milliseconds(0));
  }
  timer.set_err(err);
  rep->set_err(err);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleReleaseLocks(const CallContext& ctx, const proto::ReleaseLocksRequest* req,
                                        proto::ReleaseLocksReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kReleaseLocks);
  if (!sessions_.Alive(req->session_id()))
    return grpc::Status(StatusCode::FAILED_PRECONDITION, "release-locks needs an open session (call Session first)");
  // Each item as Inodelk's UNLOCK with its post-op; a bad item is answered EINVAL alone.
  int first_err = 0;
  for (const auto& l : req->unlock()) {
    auto g = Gfid::FromBytes(l.gfid());
    int err = EINVAL;
    if (g && l.type() == proto::UNLOCK) err = ReleaseLock(*g, l, req->session_id());
    if (first_err == 0) first_err = err;
    rep->add_result(err);
  }
  timer.set_err(first_err);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleEntrylk(const CallContext& ctx, const proto::EntrylkRequest* req, proto::ErrReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kEntrylk);
  PARSE_GFID(parent, req->parent());
  if (!sessions_.Alive(req->session_id()))
    return grpc::Status(StatusCode::FAILED_PRECONDITION, "entrylk needs an open session (call Session first)");
  if (!req->name().empty()) {
    if (req->name().size() > kNameMax || req->name().find('/') != std::string::npos) {
      timer.set_err(EINVAL);
      rep->set_err(EINVAL);
      return grpc::Status::OK;
    }
  }
  LockOwner who{req->session_id(), req->owner()};
  // An eager entry lock's release: the delayed post-op, then the unlock, in one round trip.
  // A directory removed meanwhile has no counters left to settle (they went with it).
  if (req->type() == proto::UNLOCK) ApplyPostOp(req->post_op(), /*skip_missing=*/true);
  int err = locks_.Entrylk(parent, req->domain(), req->name(), ToKind(req->type()), who, req->blocking(),
                           LockTimeout(req->timeout_ms()));
  if (err == 0 && !sessions_.Alive(req->session_id())) {
    locks_.ReleaseSession(req->session_id());
    err = ENOTCONN;
  }
  if (err == 0 && req->pre_op_size() > 0) {
    err = ApplyPreOp(req->pre_op());
    if (err != 0) locks_.Entrylk(parent, req->domain(), req->name(), LockKind::kUnlock, who, false,
                                 std::chrono::milliseconds(0));
  }
  timer.set_err(err);
  rep->set_err(err);
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleXattrop(const CallContext& ctx, const proto::XattropRequest* req, proto::XattropReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kXattrop);
  PARSE_GFID(gfid, req->gfid());
  for (auto& [name, delta] : req->deltas()) {
    if (name.empty() || name.size() > 255)
      return grpc::Status(StatusCode::INVALID_ARGUMENT, "xattrop counter names are 1..255 bytes");
  }
  auto exists = storage_.Getattr(gfid);
  if (!exists.ok()) {
    SetErr(timer, rep, exists.status());
    return grpc::Status::OK;
  }
  std::map<std::string, int64_t> deltas(req->deltas().begin(), req->deltas().end());
  auto r = storage_.metadata().Xattrop(gfid, deltas, ExistsCheck(gfid));
  SetErr(timer, rep, r.status());
  if (r.ok())
    for (auto& [k, v] : *r) (*rep->mutable_values())[k] = v;
  return grpc::Status::OK;
}

grpc::Status BrickService::HandleHealIndex(const CallContext& ctx, const proto::HealIndexRequest* req, proto::HealIndexReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kHealIndex);
  Gfid start;
  if (!req->start_after().empty()) {
    if (auto st = ParseGfid(req->start_after(), &start, "start_after", true); !st.ok()) return st;
  }
  size_t limit = req->limit() == 0 ? 1000 : std::min<uint32_t>(req->limit(), 10000);
  bool complete = false;
  for (auto& g : storage_.metadata().HealIndex(start, limit, &complete)) {
    // A gfid this brick no longer has is nothing to heal: its counters go (heal info and the
    // heal daemon stop finding it).
    if (storage_.metadata().ForgetIfGone(g, ExistsCheck(g))) continue;
    rep->add_gfids(g.Bytes());
  }
  rep->set_complete(complete);
  rep->set_total(storage_.metadata().HealPending());
  return grpc::Status::OK;
}

grpc::Status BrickService::Session(ServerContext* ctx,
                                   grpc::ServerReaderWriter<proto::SessionEvent, proto::SessionMessage>* stream) {
  AUTHORIZE(ctx);
  proto::SessionMessage first;
  if (!stream->Read(&first) || !first.has_hello())
    return grpc::Status(StatusCode::INVALID_ARGUMENT, "the first session message must be a hello");
  const std::string id = first.hello().session_id();

  // The reaper may cancel the stream when the lease expires; the token keeps that from
  // touching the context after this handler has returned.
  struct CancelToken {
    std::mutex mu;
    ServerContext* ctx;
  };
  auto token = std::make_shared<CancelToken>();
  token->ctx = ctx;
  std::shared_ptr<SessionRegistry::Outbox> outbox;
  Status s = sessions_.Open(id, first.hello().client_name(), std::chrono::milliseconds(first.hello().lease_ms()),
                            [token] {
                              std::lock_guard lk(token->mu);
                              if (token->ctx) token->ctx->TryCancel();
                            },
                            &outbox);
  if (!s.ok()) {
    return grpc::Status(s.err() == EEXIST ? StatusCode::ALREADY_EXISTS : StatusCode::INVALID_ARGUMENT, s.message());
  }
  proto::SessionEvent welcome;
  welcome.mutable_welcome()->set_volume_id(storage_.volume_id());
  welcome.mutable_welcome()->set_brick_id(options_.brick_id);
  welcome.mutable_welcome()->set_lease_ms(
      static_cast<uint32_t>(sessions_.LeaseFor(std::chrono::milliseconds(first.hello().lease_ms())).count()));
  if (options_.read_port && options_.read_port->load() > 0) {
    welcome.mutable_welcome()->set_read_port(static_cast<uint32_t>(options_.read_port->load()));
    welcome.mutable_welcome()->set_channel_calls(true);
  }
  stream->Write(welcome);

  // One writer thread per session drains the outbox (acks and invalidations), so a slow
  // client never blocks the thread that changed a file.
  std::thread writer([&] {
    proto::SessionEvent ev;
    while (!outbox->closed()) {
      if (outbox->Pop(&ev, std::chrono::milliseconds(200)) && !stream->Write(ev)) break;
    }
  });
  proto::SessionMessage msg;
  grpc::Status refused = grpc::Status::OK;
  uint64_t auth_gen = options_.auth ? options_.auth->generation() : 0;
  while (stream->Read(&msg)) {
    // A changed auth.allow/auth.reject also ends the open sessions it now refuses.
    if (options_.auth && options_.auth->generation() != auth_gen) {
      auth_gen = options_.auth->generation();
      refused = options_.auth->Check(ctx);
      if (!refused.ok()) break;
    }
    sessions_.Touch(id);
    if (msg.has_heartbeat()) {
      proto::SessionEvent ack;
      ack.mutable_ack()->set_seq(msg.heartbeat().seq());
      outbox->Push(std::move(ack));
    }
  }
  sessions_.Close(id, !refused.ok()          ? "refused by auth.allow/auth.reject"
                      : ctx->IsCancelled() ? "stream cancelled"
                                           : "client disconnected");
  outbox->Close();
  writer.join();
  {
    std::lock_guard lk(token->mu);
    token->ctx = nullptr;
  }
  return refused;
}

grpc::Status BrickService::Ping(ServerContext* ctx, const proto::PingRequest*, proto::PingReply* rep) {
  AUTHORIZE(ctx);
  OpTimer timer(stats_, Op::kPing);
  rep->set_volume_id(storage_.volume_id());
  rep->set_brick_id(options_.brick_id);
  rep->set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_)
                         .count());
  rep->set_sessions(static_cast<uint32_t>(sessions_.Count()));
  return grpc::Status::OK;
}

grpc::Status BrickService::Stats(ServerContext* ctx, const proto::PingRequest*, proto::StatsReply* rep) {
  AUTHORIZE(ctx);
  for (uint64_t b : OpStats::kBoundsUs) rep->add_bucket_bounds_us(b);
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
    const auto& c = stats_.Get(static_cast<Op>(i));
    if (c.count.load() == 0) continue;
    auto* o = rep->add_ops();
    o->set_op(std::string(OpName(static_cast<Op>(i))));
    o->set_count(c.count.load());
    o->set_errors(c.errors.load());
    o->set_total_us(c.total_us.load());
    for (auto& b : c.buckets) o->add_latency_buckets(b.load());
  }
  rep->set_bytes_read(storage_.bytes_read());
  rep->set_reads_by_channel(reads_by_channel_.load(std::memory_order_relaxed));
  rep->set_calls_by_channel(calls_by_channel_.load(std::memory_order_relaxed));
  rep->set_bytes_written(storage_.bytes_written());
  rep->set_bytes_written_direct(storage_.bytes_written_direct());
  rep->set_sessions(static_cast<uint32_t>(sessions_.Count()));
  rep->set_locks_held(locks_.HeldCount());
  rep->set_heal_pending(storage_.metadata().HealPending());
  return grpc::Status::OK;
}

std::string BrickService::DumpState() const {
  std::string out = fmt::format("brick {} volume {}\n", options_.brick_id, storage_.volume_id());
  for (auto& l : sessions_.Describe()) out += "  " + l + "\n";
  for (auto& l : locks_.Describe()) out += "  " + l + "\n";
  for (int i = 0; i < static_cast<int>(Op::kCount); ++i) {
    const auto& c = stats_.Get(static_cast<Op>(i));
    if (c.count.load() == 0) continue;
    out += fmt::format("  op {} count={} errors={} avg_us={}\n", OpName(static_cast<Op>(i)), c.count.load(),
                       c.errors.load(), c.total_us.load() / c.count.load());
  }
  out += fmt::format("  heal pending={}\n", storage_.metadata().HealPending());
  return out;
}

}  // namespace hafs::brick
