// The read channel of a real hafs-brickd (common/read_wire.h), spoken to with raw frames: it
// serves what gRPC's Read serves, refuses bad requests with an errno and keeps serving, ends
// a connection that sends garbage, applies auth.allow, and is absent when turned off.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "common/read_wire.h"
#include "tests/support/brickd_process.h"

namespace hafs::testing {
namespace {

using grpc::ClientContext;
using namespace std::chrono_literals;

// The read port the brick's session welcome names (0: none).
int ReadPort(BrickdProcess& b) {
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

uint64_t ReadsByChannel(BrickdProcess& b) {
  ClientContext ctx;
  proto::StatsReply rep;
  EXPECT_TRUE(b.stub().Stats(&ctx, proto::PingRequest(), &rep).ok());
  return rep.reads_by_channel();
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
  // A free port for the channel: the refused client cannot learn it from a welcome.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(probe);

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

TEST(BrickReadChannelTest, TurnedOffThereIsNone) {
  BrickdProcess b("", {"--read-port", "-1"});
  EXPECT_EQ(ReadPort(b), 0);
}

}  // namespace
}  // namespace hafs::testing
