// The read channel of a real hafs-brickd (common/read_wire.h, common/call_wire.h), spoken to
// with raw frames: it serves what gRPC's Read serves, and every other call as gRPC answers it;
// refuses bad requests with an errno or a status and keeps serving, ends a connection that
// sends garbage, applies auth.allow, and is absent when turned off.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/call_wire.h"
#include "common/read_wire.h"
#include "tests/support/brickd_process.h"

namespace hafs::testing {
namespace {

using grpc::ClientContext;
using namespace std::chrono_literals;

// The read port the brick's session welcome names (0: none); `calls`: whether it takes calls.
int ReadPort(BrickdProcess& b, bool* calls = nullptr) {
  ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = b.stub().Session(&ctx);
  proto::SessionMessage hello;
  hello.mutable_hello()->set_session_id(Gfid::Random().ToString());
  hello.mutable_hello()->set_lease_ms(3000);
  EXPECT_TRUE(stream->Write(hello));
  proto::SessionEvent ev;
  EXPECT_TRUE(stream->Read(&ev));
  EXPECT_TRUE(ev.has_welcome());
  ctx.TryCancel();
  (void)stream->Finish();
  if (calls) *calls = ev.welcome().channel_calls();
  return static_cast<int>(ev.welcome().read_port());
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};  // no test waits for ever on a reply
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A loopback port nobody listens on now (0 if none could be had).
int FreeLoopbackPort() {
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(probe);
  return port;
}

// A connection that closes itself.
struct Conn {
  explicit Conn(int port) : fd(Connect(port)) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  int fd;
};

bool SendAll(int fd, const void* p, size_t n) { return ::send(fd, p, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n); }

bool RecvAll(int fd, void* p, size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::recv(fd, c, n, 0);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

struct Answer {
  bool ok = false;  // a whole reply came back
  read_wire::ReplyHeader header;
  std::string data;
};

Answer ReadOver(int fd, const Gfid& g, uint64_t offset, uint32_t size, uint64_t tag) {
  read_wire::Request r;
  r.size = size;
  r.offset = offset;
  std::memcpy(r.gfid, g.Bytes().data(), 16);
  r.tag = tag;
  uint8_t frame[read_wire::kRequestSize];
  read_wire::Encode(r, frame);
  Answer a;
  uint8_t hdr[read_wire::kReplyHeaderSize];
  if (!SendAll(fd, frame, sizeof frame) || !RecvAll(fd, hdr, sizeof hdr)) return a;
  if (!read_wire::Decode(hdr, &a.header)) return a;
  a.data.resize(a.header.length);
  a.ok = RecvAll(fd, a.data.data(), a.data.size());
  return a;
}

// The connection was closed by the brick (EOF, not a timeout).
bool ClosedByPeer(int fd) {
  char c;
  return ::recv(fd, &c, 1, 0) == 0;
}

Gfid MakeFile(BrickdProcess& b, const std::string& name, const std::string& data) {
  int err;
  Gfid g = CreateInRoot(b, name, &err);
  EXPECT_EQ(err, 0);
  proto::WriteRequest req;
  req.set_gfid(G(g));
  req.set_data(data);
  proto::WriteReply rep;
  ClientContext ctx;
  EXPECT_TRUE(b.stub().Write(&ctx, req, &rep).ok());
  EXPECT_EQ(rep.err(), 0);
  return g;
}

proto::StatsReply StatsOf(BrickdProcess& b) {
  ClientContext ctx;
  proto::StatsReply rep;
  EXPECT_TRUE(b.stub().Stats(&ctx, proto::PingRequest(), &rep).ok());
  return rep;
}
uint64_t ReadsByChannel(BrickdProcess& b) { return StatsOf(b).reads_by_channel(); }

struct CallAnswer {
  bool ok = false;  // a whole reply came back
  call_wire::Header header;
  std::string payload;
};

// One call frame (method, raw payload) and its reply.
CallAnswer RawCall(int fd, uint32_t method, const std::string& payload, uint64_t tag) {
  call_wire::Header h;
  h.magic = call_wire::kCallMagic;
  h.method_or_code = method;
  h.length = static_cast<uint32_t>(payload.size());
  h.tag = tag;
  std::string frame(call_wire::kHeaderSize, '\0');
  call_wire::Encode(h, reinterpret_cast<uint8_t*>(frame.data()));
  frame += payload;
  CallAnswer a;
  uint8_t hdr[call_wire::kHeaderSize];
  if (!SendAll(fd, frame.data(), frame.size()) || !RecvAll(fd, hdr, sizeof hdr)) return a;
  a.header = call_wire::Decode(hdr);
  a.payload.resize(a.header.length);
  a.ok = RecvAll(fd, a.payload.data(), a.payload.size());
  return a;
}

template <typename Rep, typename Req>
Rep Call(int fd, call_wire::Method m, const Req& req, uint64_t tag, int* code) {
  auto a = RawCall(fd, static_cast<uint32_t>(m), req.SerializeAsString(), tag);
  Rep rep;
  *code = a.ok ? static_cast<int>(a.header.method_or_code) : -1;
  EXPECT_EQ(a.header.tag, tag);
  EXPECT_EQ(a.header.magic, call_wire::kCallReplyMagic);
  if (a.ok && *code == 0) {
    EXPECT_TRUE(rep.ParseFromString(a.payload));
  }
  return rep;
}

bool Hello(int fd, const std::string& session, const std::string& key = "") {
  std::string payload = call_wire::HelloPayload(session, key);
  call_wire::Header h;
  h.magic = call_wire::kCallMagic;
  h.method_or_code = call_wire::kHello;
  h.length = static_cast<uint32_t>(payload.size());
  std::string frame(call_wire::kHeaderSize, '\0');
  call_wire::Encode(h, reinterpret_cast<uint8_t*>(frame.data()));
  return SendAll(fd, (frame + payload).data(), frame.size() + payload.size());
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

TEST(BrickReadChannelTest, ServesWhatGrpcServes) {
  BrickdProcess b;
  int port = ReadPort(b);
  ASSERT_GT(port, 0);
  ASSERT_NE(port, b.port());
  std::string content = Pattern(300 * 1024 + 17);
  Gfid g = MakeFile(b, "f", content);

  Conn c(port);
  ASSERT_GE(c.fd, 0);
  // Several reads on one connection, each answered with its own tag.
  auto a = ReadOver(c.fd, g, 4096, 4096, 11);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.tag, 11u);
  EXPECT_EQ(a.header.err, 0);
  EXPECT_EQ(a.data, content.substr(4096, 4096));
  EXPECT_FALSE(a.header.flags & read_wire::kEof);
  a = ReadOver(c.fd, g, 0, 1 << 20, 12);  // past the end: short, with eof
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.tag, 12u);
  EXPECT_EQ(a.data, content);
  EXPECT_TRUE(a.header.flags & read_wire::kEof);
  a = ReadOver(c.fd, g, content.size() + 5, 100, 13);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.err, 0);
  EXPECT_TRUE(a.data.empty());
  EXPECT_TRUE(a.header.flags & read_wire::kEof);
  EXPECT_EQ(ReadsByChannel(b), 3u);

  // Two connections at once, one read in flight on each.
  Conn d(port);
  ASSERT_GE(d.fd, 0);
  EXPECT_EQ(ReadOver(d.fd, g, 100, 50, 1).data, content.substr(100, 50));
  EXPECT_EQ(ReadOver(c.fd, g, 200, 50, 2).data, content.substr(200, 50));
}

TEST(BrickReadChannelTest, BadRequestsGetAnErrnoAndGarbageEndsOnlyItsConnection) {
  BrickdProcess b("", {"--max-io-kib", "64"});
  int port = ReadPort(b);
  ASSERT_GT(port, 0);
  Gfid g = MakeFile(b, "f", "hello");
  Conn c(port);
  ASSERT_GE(c.fd, 0);
  auto a = ReadOver(c.fd, g, 0, 65 * 1024, 1);  // over --max-io-kib
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.err, EINVAL);
  EXPECT_TRUE(a.data.empty());
  a = ReadOver(c.fd, Gfid(), 0, 10, 2);  // the null gfid
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.err, EINVAL);
  a = ReadOver(c.fd, Gfid::Random(), 0, 10, 3);  // nobody's gfid
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.err, ENOENT);
  a = ReadOver(c.fd, g, 0, 10, 4);  // the connection still serves
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.data, "hello");

  // A frame that is not a request ends that connection, and only that one.
  std::string garbage(read_wire::kRequestSize, 'x');
  ASSERT_TRUE(SendAll(c.fd, garbage.data(), garbage.size()));
  EXPECT_TRUE(ClosedByPeer(c.fd));
  {
    Conn half(port);  // half a frame, then gone
    ASSERT_GE(half.fd, 0);
    ASSERT_TRUE(SendAll(half.fd, garbage.data(), 7));
  }
  Conn d(port);
  ASSERT_GE(d.fd, 0);
  EXPECT_EQ(ReadOver(d.fd, g, 1, 3, 5).data, "ell");
  ClientContext ctx;
  proto::PingReply pong;
  EXPECT_TRUE(b.stub().Ping(&ctx, proto::PingRequest(), &pong).ok());
}

TEST(BrickReadChannelTest, ARefusedAddressIsToldSoAndDisconnected) {
  int port = FreeLoopbackPort();  // the refused client cannot learn it from a welcome
  ASSERT_GT(port, 0);

  BrickdProcess b("", {"--auth-allow", "127.0.0.2", "--read-port", std::to_string(port)});
  Conn c(port);
  ASSERT_GE(c.fd, 0);
  auto r = ReadOver(c.fd, Gfid::Random(), 0, 10, 9);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.header.err, EACCES);
  EXPECT_TRUE(r.header.flags & read_wire::kRefused);
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(ClosedByPeer(c.fd));
}

// Call frames reach the handlers gRPC reaches: a create, a write and a getattr made over the
// channel are seen over gRPC (and the other way round), POSIX errors come back in the reply,
// reads and calls share a connection, and every call is counted.
TEST(BrickReadChannelTest, CallFramesAreAnsweredAsGrpcAnswersThem) {
  BrickdProcess b;
  bool calls = false;
  int port = ReadPort(b, &calls);
  ASSERT_GT(port, 0);
  EXPECT_TRUE(calls);
  Conn c(port);
  ASSERT_GE(c.fd, 0);
  ASSERT_TRUE(Hello(c.fd, "some-session"));
  int code = -1;
  Gfid g = Gfid::Random();
  proto::CreateRequest cr;
  cr.set_parent(G(Gfid::Root()));
  cr.set_name("over-channel");
  cr.set_gfid(G(g));
  cr.set_mode(0100640);
  auto made = Call<proto::EntryReply>(c.fd, call_wire::Method::kCreate, cr, 1, &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(made.err(), 0);
  EXPECT_EQ(made.attr().gfid(), G(g));
  EXPECT_EQ(made.attr().mode(), 0100640u);
  // The same name for another gfid, O_EXCL: EEXIST in the reply, as over gRPC.
  cr.set_gfid(G(Gfid::Random()));
  cr.set_exclusive(true);
  auto again = Call<proto::EntryReply>(c.fd, call_wire::Method::kCreate, cr, 2, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(again.err(), EEXIST);

  proto::WriteRequest w;
  w.set_gfid(G(g));
  w.set_data(Pattern(300000));  // larger than one segment
  auto wrote = Call<proto::WriteReply>(c.fd, call_wire::Method::kWrite, w, 3, &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(wrote.written(), 300000u);
  // A read frame on the same connection, then a call again.
  auto r = ReadOver(c.fd, g, 299990, 100, 4);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.data, Pattern(300000).substr(299990));
  proto::GfidRequest ga;
  ga.set_gfid(G(g));
  auto attr = Call<proto::AttrReply>(c.fd, call_wire::Method::kGetattr, ga, 5, &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(attr.attr().size(), 300000u);
  {  // gRPC sees what the channel made
    ClientContext ctx;
    proto::EntryRequest lr;
    lr.set_parent(G(Gfid::Root()));
    lr.set_name("over-channel");
    proto::EntryReply lrep;
    ASSERT_TRUE(b.stub().Lookup(&ctx, lr, &lrep).ok());
    EXPECT_EQ(lrep.attr().gfid(), G(g));
    EXPECT_EQ(lrep.attr().size(), 300000u);
  }
  // The channel sees what gRPC made.
  Gfid h = MakeFile(b, "over-grpc", "abc");
  proto::EntryRequest lr;
  lr.set_parent(G(Gfid::Root()));
  lr.set_name("over-grpc");
  auto found = Call<proto::EntryReply>(c.fd, call_wire::Method::kLookup, lr, 6, &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(found.attr().gfid(), G(h));
  lr.set_name("nobody");
  EXPECT_EQ((Call<proto::EntryReply>(c.fd, call_wire::Method::kLookup, lr, 7, &code).err()), ENOENT);
  // A request the handler refuses: its gRPC status, and the connection goes on.
  ga.set_gfid("short");
  Call<proto::AttrReply>(c.fd, call_wire::Method::kGetattr, ga, 8, &code);
  EXPECT_EQ(code, static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  auto st = StatsOf(b);
  EXPECT_EQ(st.calls_by_channel(), 7u);  // the read is counted apart
  EXPECT_EQ(st.reads_by_channel(), 1u);
}

// What cannot be served is answered and the connection goes on; garbage, an oversized frame
// and a malformed hello end only their own connection.
TEST(BrickReadChannelTest, BadCallFramesGetAStatusOrEndOnlyTheirConnection) {
  BrickdProcess b("", {"--max-io-kib", "64"});
  int port = ReadPort(b);
  ASSERT_GT(port, 0);
  Conn c(port);
  ASSERT_GE(c.fd, 0);
  auto a = RawCall(c.fd, 999, "", 1);  // no such method
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.header.method_or_code, static_cast<uint32_t>(grpc::StatusCode::UNIMPLEMENTED));
  a = RawCall(c.fd, static_cast<uint32_t>(call_wire::Method::kGetattr), std::string("\xff\xff\xff", 3), 2);
  ASSERT_TRUE(a.ok);  // not a protobuf message
  EXPECT_EQ(a.header.method_or_code, static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  proto::GfidRequest root;
  root.set_gfid(G(Gfid::Root()));
  int code = -1;
  auto attr = Call<proto::AttrReply>(c.fd, call_wire::Method::kGetattr, root, 3, &code);
  EXPECT_EQ(code, 0);  // still served
  EXPECT_TRUE(S_ISDIR(attr.attr().mode()));

  // A frame over the limit (64 KiB + 1 MiB here) ends the connection without reading it.
  call_wire::Header big;
  big.magic = call_wire::kCallMagic;
  big.method_or_code = static_cast<uint32_t>(call_wire::Method::kWrite);
  big.length = 2u << 20;
  uint8_t hdr[call_wire::kHeaderSize];
  call_wire::Encode(big, hdr);
  ASSERT_TRUE(SendAll(c.fd, hdr, sizeof hdr));
  EXPECT_TRUE(ClosedByPeer(c.fd));

  Conn d(port);  // a hello that names more bytes than it has
  ASSERT_GE(d.fd, 0);
  call_wire::Header hello;
  hello.magic = call_wire::kCallMagic;
  hello.length = 4;
  call_wire::Encode(hello, hdr);
  std::string bad(reinterpret_cast<char*>(hdr), sizeof hdr);
  bad += std::string("\x10\0\0\0", 4);
  ASSERT_TRUE(SendAll(d.fd, bad.data(), bad.size()));
  EXPECT_TRUE(ClosedByPeer(d.fd));

  Conn e(port);
  ASSERT_GE(e.fd, 0);
  Call<proto::AttrReply>(e.fd, call_wire::Method::kGetattr, root, 4, &code);
  EXPECT_EQ(code, 0);
}

// A refused address's call is answered "not served" (the client then uses gRPC, where the
// internal key applies) and not carried out.
TEST(BrickReadChannelTest, ARefusedAddressCallIsNotServedNorCarriedOut) {
  int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);

  BrickdProcess b("", {"--auth-allow", "127.0.0.2", "--read-port", std::to_string(port)});
  Conn c(port);
  ASSERT_GE(c.fd, 0);
  proto::MkdirRequest mk;
  mk.set_parent(G(Gfid::Root()));
  mk.set_name("refused");
  mk.set_gfid(G(Gfid::Random()));
  mk.set_mode(040755);
  auto r = RawCall(c.fd, static_cast<uint32_t>(call_wire::Method::kMkdir), mk.SerializeAsString(), 5);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.header.flags & call_wire::kNotServed);
  EXPECT_EQ(r.header.method_or_code, static_cast<uint32_t>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_TRUE(ClosedByPeer(c.fd));
  EXPECT_FALSE(std::filesystem::exists(b.dir() + "/refused"));
}

TEST(BrickReadChannelTest, TurnedOffThereIsNone) {
  BrickdProcess b("", {"--read-port", "-1"});
  EXPECT_EQ(ReadPort(b), 0);
}

}  // namespace
}  // namespace hafs::testing
