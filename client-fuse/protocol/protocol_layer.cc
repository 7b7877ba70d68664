#include "client-fuse/protocol/protocol_layer.h"

#include <cstdlib>

#include "common/call_wire.h"

namespace hafs::client {

using Async = proto::Brick::StubInterface::async_interface;
using CallMethod = call_wire::Method;

// One line per RPC: both flavours of the generated async stub, Send picks one (a write goes
// out with its payload as a slice of its own: the WriteRequest overload of Send below).
#define HAFS_FORWARD(Method, Req, Rep)                                                                  \
  Future<proto::Rep> ProtocolLayer::Method(proto::Req req) {                                          \
    FillSession(&req);                                                                                \
    return Send<proto::Rep>(                                                                          \
        this, CallMethod::k##Method, std::move(req),                                                  \
        [](Async* a, grpc::ClientContext* c, const proto::Req* q, proto::Rep* r,                       \
           std::function<void(grpc::Status)> done) { a->Method(c, q, r, std::move(done)); },            \
        [](proto::Brick::Stub* s, grpc::ClientContext* c, const proto::Req& q, grpc::CompletionQueue* cq) { \
          return s->PrepareAsync##Method(c, q, cq);                                                   \
        },                                                                                            \
        #Method);                                                                                     \
  }

// A transaction tail names the locks to release; they belong to this brick's session.
template <typename Req>
void FillSessionOf(BrickClient& c, Req* req) {
  if constexpr (requires { req->has_tail(); }) {
    if (req->has_tail()) req->mutable_tail()->set_session_id(c.session_id());
  }
}
#define FillSession(req) FillSessionOf(*client_, req)

ProtocolLayer::ProtocolLayer(BrickClient::Options options)
    : client_(std::make_unique<BrickClient>(std::move(options))) {}

bool ProtocolLayer::shared_write() {
  static const bool on = [] {
    const char* env = std::getenv("HAFS_SHARED_WRITE");
    return !(env && std::string(env) == "0");
  }();
  return on;
}

namespace {

// Keeps a shared payload alive while gRPC holds the slice made of it.
void DropPayload(void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

const std::string kWriteMethod = "/hafs.proto.Brick/Write";

// A call completed on the waiting thread (PrepareAsync flavour, BrickClient::CallInline) or,
// with HAFS_INLINE_CALLS=0, on gRPC's callback threads (callback flavour, CallAsync).
template <typename Rep, typename Req, typename Start, typename Prep>
Future<Rep> SendOverGrpc(ProtocolLayer* self, Req req, Start start, Prep prep, const char* what,
                         std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
  if (BrickClient::inline_calls()) return self->client().CallInline<Req, Rep>(prep, std::move(req), what, extra);
  return self->client().CallAsync<Req, Rep>(start, std::move(req), what, extra);
}

// A call goes out as a call frame on the brick's read channel when the brick takes them
// (docs/brickd.md "Calls over the channel"): sent now, its reply taken by the future's get();
// over gRPC when there is no channel for calls, or when the brick did not carry it out there.
template <typename Rep, typename Req, typename Start, typename Prep>
Future<Rep> Send(ProtocolLayer* self, call_wire::Method method, Req req, Start start, Prep prep, const char* what,
                 std::chrono::milliseconds extra = std::chrono::milliseconds(0)) {
  std::unique_ptr<ReadChannelClient::Call> call;
  if (self->client().channel_calls()) {
    std::string bytes = req.SerializeAsString();
    call = self->client().StartChannelCall(static_cast<uint32_t>(method), {bytes});
  }
  if (!call) return SendOverGrpc<Rep>(self, std::move(req), start, prep, what, extra);
  return Deferred([self, call = std::move(call), req = std::move(req), start, prep, what, extra]() mutable -> Result<Rep> {
    auto out = self->client().FinishChannelCall(std::move(call), extra);
    if (!out) return SendOverGrpc<Rep>(self, std::move(req), start, prep, what, extra).get();
    return self->client().ChannelOutcome<Rep>(std::move(*out), what);
  });
}

// A read goes over the brick's read channel when it has one (docs/brickd.md "The read
// channel"): sent now, its reply taken by the future's get(); over gRPC when there is no
// channel, or when the channel failed while the brick is still up (a read can be repeated).
template <typename Rep, typename Start, typename Prep>
Future<Rep> Send(ProtocolLayer* self, call_wire::Method, proto::ReadRequest req, Start start, Prep prep,
                 const char* what) {
  auto call = self->client().StartChannelRead(req);
  if (!call) return SendOverGrpc<Rep>(self, std::move(req), start, prep, what);
  return Deferred([self, call = std::move(call), req = std::move(req), start, prep, what]() mutable -> Result<Rep> {
    if (auto r = self->client().FinishChannelRead(std::move(call))) return std::move(*r);
    return SendOverGrpc<Rep>(self, std::move(req), start, prep, what).get();
  });
}

// A write goes out with its payload as a slice of its own (no copy into a serialised message).
template <typename Rep, typename Start, typename Prep>
Future<Rep> Send(ProtocolLayer* self, call_wire::Method method, proto::WriteRequest req, Start start, Prep prep,
                 const char* what) {
  if (!ProtocolLayer::shared_write()) {
    return Send<Rep, proto::WriteRequest>(self, method, std::move(req), start, prep, what);
  }
  auto data = std::make_shared<const std::string>(std::move(*req.mutable_data()));
  return self->WriteShared(std::move(req), std::move(data));
}

}  // namespace

Future<proto::WriteReply> ProtocolLayer::WriteShared(proto::WriteRequest req, std::shared_ptr<const std::string> data) {
  if (!shared_write()) {
    req.set_data(*data);
    return Write(std::move(req));
  }
  req.clear_data();
  FillSession(&req);
  // The message without its payload, then field 3 (bytes) as tag + length + the shared
  // bytes: the wire form of the whole message (a parser takes fields in any order).
  std::string head = req.SerializeAsString();
  head.push_back(static_cast<char>((3 << 3) | 2));
  PutVarint(&head, data->size());
  grpc::Slice slices[2] = {
      grpc::Slice(head),
      grpc::Slice(const_cast<char*>(data->data()), data->size(), DropPayload,
                  new std::shared_ptr<const std::string>(data)),
  };
  size_t n = data->empty() ? 1 : 2;
  std::unique_ptr<ReadChannelClient::Call> call;
  if (client_->channel_calls())
    call = client_->StartChannelCall(static_cast<uint32_t>(call_wire::Method::kWrite), {head, *data});
  if (!call) return client_->CallSerialized<proto::WriteReply>(kWriteMethod, grpc::ByteBuffer(slices, n), "Write");
  BrickClient* client = client_.get();
  return Deferred([client, call = std::move(call), head = std::move(head), data]() mutable -> Result<proto::WriteReply> {
    auto out = client->FinishChannelCall(std::move(call), std::chrono::milliseconds(0));
    if (out) return client->ChannelOutcome<proto::WriteReply>(std::move(*out), "Write");
    grpc::Slice slices[2] = {
        grpc::Slice(head),
        grpc::Slice(const_cast<char*>(data->data()), data->size(), DropPayload,
                    new std::shared_ptr<const std::string>(data)),
    };
    return client->CallSerialized<proto::WriteReply>(kWriteMethod, grpc::ByteBuffer(slices, data->empty() ? 1 : 2),
                                                      "Write")
        .get();
  });
}

HAFS_LAYER_OPS(HAFS_FORWARD)
HAFS_FORWARD(Xattrop, XattropRequest, XattropReply)
HAFS_FORWARD(HealIndex, HealIndexRequest, HealIndexReply)

Future<proto::ErrReply> ProtocolLayer::Inodelk(proto::InodelkRequest req, std::chrono::milliseconds wait) {
  req.set_session_id(client_->session_id());
  req.set_timeout_ms(static_cast<uint32_t>(wait.count()));
  return Send<proto::ErrReply>(
      this, call_wire::Method::kInodelk, std::move(req),
      [](Async* a, grpc::ClientContext* c, const proto::InodelkRequest* q, proto::ErrReply* r,
         std::function<void(grpc::Status)> done) { a->Inodelk(c, q, r, std::move(done)); },
      [](proto::Brick::Stub* s, grpc::ClientContext* c, const proto::InodelkRequest& q, grpc::CompletionQueue* cq) {
        return s->PrepareAsyncInodelk(c, q, cq);
      },
      "inodelk", wait);
}

Future<proto::ReleaseLocksReply> ProtocolLayer::ReleaseLocks(proto::ReleaseLocksRequest req) {
  req.set_session_id(client_->session_id());
  return Send<proto::ReleaseLocksReply>(
      this, call_wire::Method::kReleaseLocks, std::move(req),
      [](Async* a, grpc::ClientContext* c, const proto::ReleaseLocksRequest* q, proto::ReleaseLocksReply* r,
         std::function<void(grpc::Status)> done) { a->ReleaseLocks(c, q, r, std::move(done)); },
      [](proto::Brick::Stub* s, grpc::ClientContext* c, const proto::ReleaseLocksRequest& q, grpc::CompletionQueue* cq) {
        return s->PrepareAsyncReleaseLocks(c, q, cq);
      },
      "release-locks");
}

Future<proto::ErrReply> ProtocolLayer::Entrylk(proto::EntrylkRequest req, std::chrono::milliseconds wait) {
  req.set_session_id(client_->session_id());
  req.set_timeout_ms(static_cast<uint32_t>(wait.count()));
  return Send<proto::ErrReply>(
      this, call_wire::Method::kEntrylk, std::move(req),
      [](Async* a, grpc::ClientContext* c, const proto::EntrylkRequest* q, proto::ErrReply* r,
         std::function<void(grpc::Status)> done) { a->Entrylk(c, q, r, std::move(done)); },
      [](proto::Brick::Stub* s, grpc::ClientContext* c, const proto::EntrylkRequest& q, grpc::CompletionQueue* cq) {
        return s->PrepareAsyncEntrylk(c, q, cq);
      },
      "entrylk", wait);
}

namespace {

// Releases the brick handle when the last user of the open file lets go.
class BrickFileRef final : public FileRef {
 public:
  BrickFileRef(BrickClient* client, std::string session, uint64_t handle)
      : client_(client), session_(std::move(session)), handle_(handle) {}
  ~BrickFileRef() override {
    proto::ReleaseRequest r;
    r.set_session_id(session_);
    r.set_handle(handle_);
    // Fire and forget (nobody waits on close): if the session is gone, the brick released it.
    (void)client_->CallAsync<proto::ReleaseRequest, proto::ErrReply>(
        [](Async* a, grpc::ClientContext* c, const proto::ReleaseRequest* q, proto::ErrReply* rep,
           std::function<void(grpc::Status)> done) { a->Release(c, q, rep, std::move(done)); },
        std::move(r), "release");
  }

 private:
  BrickClient* client_;
  std::string session_;
  uint64_t handle_;
};

}  // namespace

Future<std::shared_ptr<FileRef>> ProtocolLayer::Open(Gfid gfid) {
  proto::OpenRequest req;
  req.set_gfid(gfid.Bytes());
  std::string session = client_->session_id();
  req.set_session_id(session);
  auto f = Send<proto::OpenReply>(
      this, call_wire::Method::kOpen, std::move(req),
      [](Async* a, grpc::ClientContext* c, const proto::OpenRequest* q, proto::OpenReply* r,
         std::function<void(grpc::Status)> done) { a->Open(c, q, r, std::move(done)); },
      [](proto::Brick::Stub* s, grpc::ClientContext* c, const proto::OpenRequest& q, grpc::CompletionQueue* cq) {
        return s->PrepareAsyncOpen(c, q, cq);
      },
      "open");
  BrickClient* client = client_.get();
  return Deferred([f = std::move(f), client, session]() mutable -> Result<std::shared_ptr<FileRef>> {
    auto r = f.get();
    if (!r.ok()) return r.status();
    return std::shared_ptr<FileRef>(std::make_shared<BrickFileRef>(client, session, r->handle()));
  });
}

Result<std::vector<proto::DirEntry>> ProtocolLayer::ListDirectory(const Gfid& dir) {
  std::vector<proto::DirEntry> out;
  uint64_t cookie = 0;
  for (int page = 0; page < 1000000; ++page) {  // bounded: 10^9 entries
    proto::ReaddirRequest r;
    r.set_gfid(dir.Bytes());
    r.set_cookie(cookie);
    r.set_max_entries(1024);
    r.set_plus(true);
    auto rep = Readdir(r).get();
    if (!rep.ok()) return rep.status();
    for (auto& e : rep->entries()) {
      cookie = e.next_cookie();
      out.push_back(e);
    }
    if (rep->eof() || rep->entries().empty()) break;
  }
  return out;
}

}  // namespace hafs::client
