// The client's protocol layer against real hafs-brickd processes: failure detection within
// network.ping-timeout (dead, hung and restarted bricks), in-flight calls cut short, and
// reconnection without help.
#include "client-fuse/protocol/brick_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "client-fuse/protocol/protocol_layer.h"
#include "client-fuse/replicate/replicate_layer.h"

#include "tests/support/brickd_process.h"

namespace hafs::client {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kPing = 1000ms;

BrickClient::Options OptionsFor(const testing::BrickdProcess& b, const char* vol = testing::kVolumeId) {
  BrickClient::Options o;
  o.address.host = "127.0.0.1";
  o.address.port = b.port();
  o.address.path = b.dir();
  o.volume_id = vol;
  o.ping_timeout = kPing;
  return o;
}

// Waits up to `limit` for pred; returns how long it took (or limit + 1 ms if it never held).
template <typename Pred>
std::chrono::milliseconds Within(std::chrono::milliseconds limit, Pred pred) {
  auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (pred()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::this_thread::sleep_for(10ms);
  }
  return limit + 1ms;
}

proto::EntryReply MustCreate(BrickClient& c, const std::string& name, Gfid* out) {
  proto::CreateRequest req;
  *out = Gfid::Random();
  req.set_parent(Gfid::Root().Bytes());
  req.set_name(name);
  req.set_gfid(out->Bytes());
  req.set_mode(0644);
  auto r = c.Call(&proto::Brick::Stub::Create, req, "create");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : proto::EntryReply();
}

TEST(BrickClient, ConnectsCallsAndMapsPosixErrors) {
  testing::BrickdProcess brick;
  BrickClient c(OptionsFor(brick));
  c.Start();
  ASSERT_TRUE(c.WaitUp(5s)) << c.last_error();
  Gfid f;
  MustCreate(c, "a", &f);
  proto::CreateRequest again;
  again.set_parent(Gfid::Root().Bytes());
  again.set_name("a");
  again.set_gfid(Gfid::Random().Bytes());
  again.set_exclusive(true);
  auto r = c.Call(&proto::Brick::Stub::Create, again, "create");
  EXPECT_EQ(r.err(), EEXIST);
  proto::GfidRequest bad;
  bad.set_gfid("short");
  EXPECT_EQ(c.Call(&proto::Brick::Stub::Getattr, bad, "getattr").err(), EINVAL);
}

TEST(BrickClient, RefusesABrickOfAnotherVolume) {
  testing::BrickdProcess brick;
  BrickClient c(OptionsFor(brick, "99999999-1111-4222-8333-444455556666"));
  c.Start();
  EXPECT_FALSE(c.WaitUp(1500ms));
  EXPECT_NE(c.last_error().find("serves volume"), std::string::npos) << c.last_error();
}

TEST(BrickClient, DeadBrickNoticedWithinPingTimeoutWithoutTraffic) {
  testing::BrickdProcess brick;
  BrickClient c(OptionsFor(brick));
  c.Start();
  ASSERT_TRUE(c.WaitUp(5s));
  brick.Kill();
  auto took = Within(kPing + 1000ms, [&] { return !c.up(); });
  EXPECT_LE(took, kPing + 500ms) << "a killed brick must be noticed within the ping timeout";
  Gfid g;
  proto::GfidRequest req;
  req.set_gfid(Gfid::Root().Bytes());
  auto start = Clock::now();
  EXPECT_EQ(c.Call(&proto::Brick::Stub::Getattr, req, "getattr").err(), ENOTCONN);
  EXPECT_LT(Clock::now() - start, 50ms);  // down: fail fast
}

TEST(BrickClient, HungBrickNoticedAndInFlightCallsCutShort) {
  testing::BrickdProcess brick;
  BrickClient c(OptionsFor(brick));
  c.Start();
  ASSERT_TRUE(c.WaitUp(5s));
  // SIGSTOP keeps the TCP connection open: only the heartbeat can tell.
  ASSERT_EQ(::kill(brick.pid(), SIGSTOP), 0);
  std::atomic<int> err{-1};
  auto start = Clock::now();
  std::thread caller([&] {
    proto::GfidRequest req;
    req.set_gfid(Gfid::Root().Bytes());
    err = c.Call(&proto::Brick::Stub::Getattr, req, "getattr").err();
  });
  caller.join();
  auto took = Clock::now() - start;
  // Still hung: the heartbeat watchdog must declare it down (checked before SIGCONT, since a
  // brick that answers again is rightly kept up).
  auto down = Within(kPing + 1000ms, [&] { return !c.up(); });
  ::kill(brick.pid(), SIGCONT);
  EXPECT_EQ(err.load(), ENOTCONN);
  EXPECT_LE(took, kPing + 300ms) << "no request may wait longer than the ping timeout";
  EXPECT_LE(down, kPing + 1000ms) << "a hung brick must be declared down";
}

TEST(BrickClient, ReconnectsByItselfWhenTheBrickReturns) {
  testing::BrickdProcess brick;
  int port = brick.port();
  std::string dir = brick.dir();
  BrickClient c(OptionsFor(brick));
  int ups = 0, downs = 0;
  std::mutex mu;
  c.OnStateChange([&](bool up) {
    std::lock_guard lk(mu);
    (up ? ups : downs)++;
  });
  c.Start();
  ASSERT_TRUE(c.WaitUp(5s));
  std::string first_session = c.session_id();
  brick.KeepDir();
  brick.Kill();
  ASSERT_LE(Within(3s, [&] { return !c.up(); }), 3s);
  {
    testing::BrickdProcess again(dir, {}, "127.0.0.1:" + std::to_string(port));
    // Backoff is capped at 2 s, and a loaded machine takes a while to start the brick: the
    // reconnect comes within one capped backoff after the brick listens again.
    EXPECT_LE(Within(8s, [&] { return c.up(); }), 5s) << c.last_error();
    EXPECT_NE(c.session_id(), first_session);  // a fresh session: old locks died with the old one
    Gfid f;
    MustCreate(c, "after-restart", &f);
  }
  std::filesystem::remove_all(dir);
  std::lock_guard lk(mu);
  EXPECT_GE(ups, 2);
  EXPECT_GE(downs, 1);
}

TEST(BrickClient, ReceivesInvalidationsFromOtherClients) {
  testing::BrickdProcess brick;
  BrickClient writer(OptionsFor(brick)), watcher(OptionsFor(brick));
  std::mutex mu;
  std::vector<std::string> seen;
  watcher.OnInvalidate([&](const proto::Invalidate& inv) {
    std::lock_guard lk(mu);
    seen.push_back(inv.name());
  });
  writer.Start();
  watcher.Start();
  ASSERT_TRUE(writer.WaitUp(5s));
  ASSERT_TRUE(watcher.WaitUp(5s));
  Gfid f;
  MustCreate(writer, "index.html", &f);
  EXPECT_LE(Within(2s,
                   [&] {
                     std::lock_guard lk(mu);
                     return std::find(seen.begin(), seen.end(), "index.html") != seen.end();
                   }),
            2s);
}

// ---- writes whose payload is shared by the calls to several bricks (WriteShared) ----

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(rng());
  return s;
}

// What the brick holds of gfid: [offset, offset + size).
std::string ReadBack(ProtocolLayer& p, const Gfid& g, uint64_t offset, uint32_t size) {
  std::string out;
  while (out.size() < size) {
    proto::ReadRequest r;
    r.set_gfid(g.Bytes());
    r.set_offset(offset + out.size());
    r.set_size(std::min<uint32_t>(size - out.size(), 1 << 20));
    auto rep = p.Read(r).get();
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    if (!rep.ok() || rep->data().empty()) break;
    out += rep->data();
  }
  return out;
}

// SIGSTOP, then waits (bounded) until the process is seen stopped, so that calls sent next
// cannot be answered by a brick that has not stopped yet.
bool Stop(pid_t pid) {
  if (::kill(pid, SIGSTOP) != 0) return false;
  return Within(2000ms, [&] {
           std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
           std::string line;
           std::getline(st, line);
           auto close = line.rfind(')');
           return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'T';
         }) <= 2000ms;
}

struct ThreeBricks {
  testing::BrickdProcess b[3];
  std::vector<std::unique_ptr<ProtocolLayer>> p;
  ThreeBricks() {
    for (auto& x : b) {
      p.push_back(std::make_unique<ProtocolLayer>(OptionsFor(x)));
      p.back()->client().Start();
    }
    for (auto& x : p) EXPECT_TRUE(x->client().WaitUp(5s)) << x->client().last_error();
  }
  std::vector<ProtocolLayer*> children() {
    std::vector<ProtocolLayer*> out;
    for (auto& x : p) out.push_back(x.get());
    return out;
  }
};

proto::CreateRequest CreateReq(const std::string& name, const Gfid& g) {
  proto::CreateRequest req;
  req.set_parent(Gfid::Root().Bytes());
  req.set_name(name);
  req.set_gfid(g.Bytes());
  req.set_mode(0644);
  return req;
}

TEST(ProtocolLayer, SharedWritePayloadReachesEveryBrickIntact) {
  ThreeBricks t;
  Gfid g = Gfid::Random();
  for (auto& x : t.p) ASSERT_TRUE(x->Create(CreateReq("f", g)).get().ok());
  // One payload (3 MiB + 7 bytes, not a multiple of anything) sent to the three bricks at once.
  auto data = std::make_shared<const std::string>(RandomBytes((3 << 20) + 7, 1));
  std::vector<Future<proto::WriteReply>> fs;
  for (auto& x : t.p) {
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_offset(5);
    w.set_data("ignored: the shared payload is what is written");
    fs.push_back(x->WriteShared(w, data));
  }
  for (auto& f : fs) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->written(), data->size());
    EXPECT_EQ(r->attr().size(), data->size() + 5);
  }
  for (auto& x : t.p) EXPECT_TRUE(ReadBack(*x, g, 5, data->size()) == *data) << "payload differs on a brick";
  // Through Write(), which takes the same path; an empty payload writes nothing; append.
  for (auto& x : t.p) {
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_offset(0);
    w.set_data("HELLO");
    auto r = x->Write(w).get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->written(), 5u);
    w.clear_data();
    r = x->WriteShared(w, std::make_shared<const std::string>()).get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->written(), 0u);
    w.set_append(true);
    r = x->WriteShared(w, std::make_shared<const std::string>("TAIL")).get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->attr().size(), data->size() + 5 + 4);
    EXPECT_EQ(ReadBack(*x, g, 0, 5), "HELLO");
    EXPECT_EQ(ReadBack(*x, g, data->size() + 5, 4), "TAIL");
  }
  // Errors come back as the brick's errno: a gfid that does not exist.
  proto::WriteRequest w;
  w.set_gfid(Gfid::Random().Bytes());
  EXPECT_EQ(t.p[0]->WriteShared(w, data).get().err(), ENOENT);
  w.set_gfid("short");
  EXPECT_EQ(t.p[0]->WriteShared(w, data).get().err(), EINVAL);
}

TEST(ProtocolLayer, SharedWriteToAHungBrickCutShortWithinPingTimeout) {
  testing::BrickdProcess brick;
  ProtocolLayer p(OptionsFor(brick));
  p.client().Start();
  ASSERT_TRUE(p.client().WaitUp(5s));
  Gfid g = Gfid::Random();
  ASSERT_TRUE(p.Create(CreateReq("f", g)).get().ok());
  ASSERT_TRUE(Stop(brick.pid()));
  auto data = std::make_shared<const std::string>(RandomBytes(8 << 20, 2));  // more than the socket buffers
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  auto start = Clock::now();
  auto r = p.WriteShared(w, data).get();
  auto took = Clock::now() - start;
  ::kill(brick.pid(), SIGCONT);
  EXPECT_EQ(r.err(), ENOTCONN);
  EXPECT_LE(took, kPing + 500ms) << "no write may wait longer than the ping timeout";
  // Down: fails at once.
  start = Clock::now();
  if (!p.client().up()) {
    EXPECT_EQ(p.WriteShared(w, data).get().err(), ENOTCONN);
    EXPECT_LT(Clock::now() - start, 50ms);
  }
}

uint64_t ReadsByChannel(BrickClient& c) {
  auto r = c.Call(&proto::Brick::Stub::Stats, proto::PingRequest(), "stats");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->reads_by_channel() : 0;
}

proto::ReadRequest ReadReq(const Gfid& g, uint64_t offset, uint32_t size) {
  proto::ReadRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(offset);
  r.set_size(size);
  return r;
}

// Reads go over the brick's read channel (docs/brickd.md "The read channel"): several in
// flight at once, each on a connection of its own, waited in any order or not at all; a hung
// brick's are cut short within the ping timeout as gRPC calls are; after the brick is back
// they use the channel again.
TEST(ProtocolLayer, ReadsGoOverTheReadChannelAndAHungBrickCutsThemShort) {
  testing::BrickdProcess brick;
  auto o = OptionsFor(brick);
  o.call_timeout = 5s;  // a read the heartbeat fails to cut short fails the test, not hangs it
  ProtocolLayer p(o);
  p.client().Start();
  ASSERT_TRUE(p.client().WaitUp(5s));
  Gfid g = Gfid::Random();
  ASSERT_TRUE(p.Create(CreateReq("f", g)).get().ok());
  std::string data = RandomBytes(3 << 20, 7);
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_data(data);
  ASSERT_TRUE(p.Write(w).get().ok());

  EXPECT_EQ(ReadBack(p, g, 0, data.size()), data);  // 3 reads of 1 MiB
  std::vector<Future<proto::ReadReply>> inflight;
  for (int i = 0; i < 8; i++) inflight.push_back(p.Read(ReadReq(g, i * 4096 + 1, 4096)));
  (void)p.Read(ReadReq(g, 0, 10));  // dropped unwaited: its connection is closed, not reused
  for (int i = 7; i >= 0; i--) {
    auto r = inflight[i].get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->data(), data.substr(i * 4096 + 1, 4096));
  }
  auto tail = p.Read(ReadReq(g, data.size() - 5, 100)).get();
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->data(), data.substr(data.size() - 5));
  EXPECT_TRUE(tail->eof());
  EXPECT_EQ(p.Read(ReadReq(Gfid::Random(), 0, 10)).get().err(), ENOENT);
  EXPECT_EQ(ReadsByChannel(p.client()), 3u + 8 + 1 + 1 + 1);
  EXPECT_LE(p.client().read_channel_connections(), 9u);
  EXPECT_GE(p.client().read_channel_connections(), 1u);

  ASSERT_TRUE(Stop(brick.pid()));
  auto start = Clock::now();
  auto f1 = p.Read(ReadReq(g, 0, 4096)), f2 = p.Read(ReadReq(g, 8192, 4096));
  auto r2 = f2.get(), r1 = f1.get();
  auto took = Clock::now() - start;
  ::kill(brick.pid(), SIGCONT);
  EXPECT_EQ(r1.err(), ENOTCONN) << r1.status().ToString();
  EXPECT_EQ(r2.err(), ENOTCONN) << r2.status().ToString();
  EXPECT_LE(took, kPing + 700ms) << "no read may wait longer than the ping timeout";

  ASSERT_TRUE(p.client().WaitUp(10s));
  uint64_t before = ReadsByChannel(p.client());
  EXPECT_EQ(ReadBack(p, g, 4096, 4096), data.substr(4096, 4096));
  EXPECT_EQ(ReadsByChannel(p.client()), before + 1);
}

// A brick without a read channel (--read-port -1) is read over gRPC.
TEST(ProtocolLayer, ABrickWithoutAReadChannelIsReadOverGrpc) {
  testing::BrickdProcess brick("", {"--read-port", "-1"});
  ProtocolLayer p(OptionsFor(brick));
  p.client().Start();
  ASSERT_TRUE(p.client().WaitUp(5s));
  Gfid g = Gfid::Random();
  ASSERT_TRUE(p.Create(CreateReq("f", g)).get().ok());
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_data("over grpc");
  ASSERT_TRUE(p.Write(w).get().ok());
  EXPECT_EQ(ReadBack(p, g, 0, 9), "over grpc");
  EXPECT_EQ(ReadsByChannel(p.client()), 0u);
  EXPECT_EQ(p.client().read_channel_connections(), 0u);
}

uint64_t CallsByChannel(BrickClient& c) {
  auto r = c.Call(&proto::Brick::Stub::Stats, proto::PingRequest(), "stats");  // gRPC: not counted
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->calls_by_channel() : 0;
}

// A few calls of every shape (entry, shared-payload write, attributes, xattrs, listing); the
// number of calls made.
int SomeCalls(ProtocolLayer& p, const std::string& name) {
  Gfid g = Gfid::Random();
  EXPECT_TRUE(p.Create(CreateReq(name, g)).get().ok());
  auto excl = CreateReq(name, Gfid::Random());
  excl.set_exclusive(true);
  EXPECT_EQ(p.Create(excl).get().err(), EEXIST);
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  auto data = std::make_shared<const std::string>(RandomBytes(200000, 3));
  auto wrote = p.WriteShared(w, data).get();
  EXPECT_TRUE(wrote.ok()) << wrote.status().ToString();
  EXPECT_EQ(ReadBack(p, g, 0, 200000), *data);
  proto::SetxattrRequest sx;
  sx.set_gfid(g.Bytes());
  sx.set_name("user.k");
  sx.set_value("v");
  EXPECT_TRUE(p.Setxattr(sx).get().ok());
  proto::GetxattrRequest gx;
  gx.set_gfid(g.Bytes());
  gx.set_name("user.k");
  auto got = p.Getxattr(gx).get();
  EXPECT_TRUE(got.ok() && got->value() == "v");
  proto::GfidRequest ga;
  ga.set_gfid(g.Bytes());
  auto attr = p.Getattr(ga).get();
  EXPECT_TRUE(attr.ok() && attr->attr().size() == 200000u);
  auto listed = p.ListDirectory(Gfid::Root());  // one page
  EXPECT_TRUE(listed.ok());
  bool seen = false;
  for (auto& e : listed.value()) seen |= e.name() == name;
  EXPECT_TRUE(seen);
  return 7;
}

// Calls other than reads go over the brick's read channel as call frames (docs/brickd.md
// "Calls over the channel") and get the answers gRPC gives; a brick without a channel gets
// them over gRPC.
TEST(ProtocolLayer, CallsGoOverTheChannelAndABrickWithoutOneGetsThemOverGrpc) {
  {
    testing::BrickdProcess brick;
    ProtocolLayer p(OptionsFor(brick));
    p.client().Start();
    ASSERT_TRUE(p.client().WaitUp(5s));
    EXPECT_TRUE(p.client().channel_calls());
    uint64_t before = CallsByChannel(p.client());
    int n = SomeCalls(p, "f");
    EXPECT_EQ(CallsByChannel(p.client()) - before, static_cast<uint64_t>(n));
  }
  testing::BrickdProcess brick("", {"--read-port", "-1"});
  ProtocolLayer p(OptionsFor(brick));
  p.client().Start();
  ASSERT_TRUE(p.client().WaitUp(5s));
  EXPECT_FALSE(p.client().channel_calls());
  SomeCalls(p, "f");
  EXPECT_EQ(CallsByChannel(p.client()), 0u);
}

// A blocking lock over the channel may wait past the call timeout by the wait it asked for
// (as its gRPC deadline allows), and a hung brick cuts it short within the ping timeout.
TEST(ProtocolLayer, AChannelLockWaitsItsWaitAndAHungBrickCutsItShort) {
  testing::BrickdProcess brick;
  auto o = OptionsFor(brick);
  o.call_timeout = 1s;
  o.ping_timeout = kPing;
  ProtocolLayer holder(o), waiter(o);
  holder.client().Start();
  waiter.client().Start();
  ASSERT_TRUE(holder.client().WaitUp(5s) && waiter.client().WaitUp(5s));
  Gfid g = Gfid::Random();
  ASSERT_TRUE(holder.Create(CreateReq("locked", g)).get().ok());
  proto::InodelkRequest l;
  l.set_gfid(g.Bytes());
  l.set_domain("data");
  l.set_type(proto::WRITE);
  l.set_owner(1);
  ASSERT_TRUE(holder.Inodelk(l, 1s).get().ok());
  l.set_blocking(true);
  auto start = Clock::now();
  auto waiting = waiter.Inodelk(l, 6s);
  std::this_thread::sleep_for(std::max(o.call_timeout, o.ping_timeout) + 500ms);  // past the call timeout
  proto::InodelkRequest un = l;
  un.set_type(proto::UNLOCK);
  un.set_blocking(false);
  ASSERT_TRUE(holder.Inodelk(un, 1s).get().ok());
  auto got = waiting.get();
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_GE(Clock::now() - start, std::max(o.call_timeout, o.ping_timeout) + 500ms);

  // Held again by the waiter; the holder waits, and the brick hangs.
  ASSERT_TRUE(holder.client().channel_calls());
  auto blocked = holder.Inodelk(l, 10s);
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(Stop(brick.pid()));
  start = Clock::now();
  auto cut = blocked.get();
  auto took = Clock::now() - start;
  ::kill(brick.pid(), SIGCONT);
  EXPECT_EQ(cut.err(), ENOTCONN) << cut.status().ToString();
  EXPECT_LE(took, kPing + 700ms) << "no call may wait longer than the ping timeout";
}

// Calls completed on the waiting thread (CallInline, the default; HAFS_INLINE_CALLS=0 for gRPC's
// callback threads): a future dropped unwaited still makes its change; calls in flight to a
// hung brick are cut short within the ping timeout, waited in any order.
TEST(ProtocolLayer, InlineCallsDroppedFutureCompletesAndHungBrickCutsShort) {
  ThreeBricks t;
  Gfid g = Gfid::Random();
  for (auto& x : t.p) ASSERT_TRUE(x->Create(CreateReq("f", g)).get().ok());
  {
    proto::SetxattrRequest sx;
    sx.set_gfid(g.Bytes());
    sx.set_name("user.dropped");
    sx.set_value("yes");
    auto dropped = t.p[0]->Setxattr(sx);  // never waited
  }
  proto::GetxattrRequest gx;
  gx.set_gfid(g.Bytes());
  gx.set_name("user.dropped");
  auto got = t.p[0]->Getxattr(gx).get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->value(), "yes");
  ASSERT_TRUE(Stop(t.b[1].pid()));
  proto::GfidRequest ga;
  ga.set_gfid(g.Bytes());
  auto start = Clock::now();
  auto f0 = t.p[0]->Getattr(ga), f1 = t.p[1]->Getattr(ga), f2 = t.p[2]->Getattr(ga);
  auto r2 = f2.get(), r1 = f1.get(), r0 = f0.get();  // the hung brick's waited in the middle
  auto took = Clock::now() - start;
  ::kill(t.b[1].pid(), SIGCONT);
  EXPECT_TRUE(r0.ok()) << r0.status().ToString();
  EXPECT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r1.err(), ENOTCONN);
  EXPECT_LE(took, kPing + 700ms) << "no call may wait longer than the ping timeout";
}

// Replicate sends one payload to the three bricks (no copy per brick); with one brick killed
// the write still reaches the other two (quorum) and that brick stays accused.
// Every changelog counter of `of` is 0 on every brick: no change left anything accused.
void ExpectUnaccused(ReplicateLayer& r, const Gfid& of, const std::string& when) {
  auto pending = r.PendingOf(of);
  ASSERT_EQ(pending.size(), 3u);
  for (size_t i = 0; i < pending.size(); ++i)
    for (auto& [name, v] : pending[i]) EXPECT_EQ(v, 0) << when << ": brick " << i << " " << name;
}

TEST(ReplicateLayer, WriteSharesThePayloadAndSurvivesADeadBrick) {
  ThreeBricks t;
  ReplicateLayer::Options o;
  o.eager_idle = 200ms;
  ReplicateLayer r(t.children(), o);
  Gfid g = Gfid::Random();
  auto c = r.Create(CreateReq("f", g)).get();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string a = RandomBytes(2 << 20, 3);
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_offset(4096);
  w.set_data(a);
  auto wr = r.Write(w).get();
  ASSERT_TRUE(wr.ok()) << wr.status().ToString();
  EXPECT_EQ(wr->written(), a.size());
  r.FlushEager(g);
  for (auto& x : t.p) EXPECT_TRUE(ReadBack(*x, g, 4096, a.size()) == a) << "brick differs after a replicated write";
  t.b[2].Kill();
  std::string b = RandomBytes(1 << 20, 4);
  w.set_offset(0);
  w.set_data(b);
  wr = r.Write(w).get();
  ASSERT_TRUE(wr.ok()) << wr.status().ToString();
  r.FlushEager(g);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(ReadBack(*t.p[i], g, 0, b.size()) == b);
  auto pending = r.PendingOf(g);
  ASSERT_GE(pending.size(), 2u);
  EXPECT_GT(pending[0]["pending.data.2"], 0) << "the dead brick must stay accused";
}

// Heals of one file from several threads (the heal daemon crawls every local brick's index,
// so it meets a gfid once per brick) and a client's metadata change at the same time: each
// takes its locks without holding some bricks while it waits for others, so none waits out
// the lock timeout for another (a heal that did used to stall its crawl 10 s).
TEST(ReplicateLayer, ConcurrentHealsAndChangesOfOneFileDoNotWaitOutEachOther) {
  ThreeBricks t;
  ReplicateLayer::Options o;
  o.lock_wait = 10s;
  o.eager_lock = false;  // every change takes its own locks, as the heals do
  ReplicateLayer r(t.children(), o);
  for (int round = 0; round < 5; ++round) {
    Gfid g = Gfid::Random();
    ASSERT_TRUE(r.Create(CreateReq("h" + std::to_string(round), g)).get().ok());
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_data(RandomBytes(64 << 10, round));
    ASSERT_TRUE(t.p[0]->Write(w).get().ok());  // brick 0 only: the others are behind
    proto::XattropRequest x;
    x.set_gfid(g.Bytes());
    (*x.mutable_deltas())["pending.data.1"] = 1;
    (*x.mutable_deltas())["pending.data.2"] = 1;
    ASSERT_TRUE(t.p[0]->Xattrop(x).get().ok());
    auto start = Clock::now();
    std::vector<std::thread> th;
    std::atomic<int> failed{0};
    for (int k = 0; k < 6; ++k) {
      th.emplace_back([&, k] {
        if (k % 3 == 2) {
          proto::SetattrRequest s;
          s.set_gfid(g.Bytes());
          s.set_valid(proto::SetattrRequest::MODE);
          s.set_mode(0600 + k);
          if (!r.Setattr(s).get().ok()) ++failed;
        } else if (!r.Heal(g).ok()) {
          ++failed;
        }
      });
    }
    for (auto& x : th) x.join();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_LT(took, 3000ms) << "round " << round << ": heals and changes waited out each other's locks";
    for (int i = 1; i < 3; ++i) EXPECT_TRUE(ReadBack(*t.p[i], g, 0, 64 << 10) == w.data()) << "brick " << i << " not healed";
    // Every change that let go of its locks to queue took its pre-op back: nothing accused.
    ExpectUnaccused(r, g, "round " + std::to_string(round));
  }
}

// Renames that move one file back and forth between two names from several threads, each
// taking both names' entry locks: every rename ends within bounds, the file is left under
// exactly one name on every brick, and the directory is left unaccused.
TEST(ReplicateLayer, RacingRenamesOfOneFileLeaveOneNameAndNothingAccused) {
  ThreeBricks t;
  ReplicateLayer::Options o;
  o.lock_wait = 10s;
  o.eager_lock = false;  // every rename takes its own entry locks
  o.eager_entry = false;
  ReplicateLayer r(t.children(), o);
  Gfid g = Gfid::Random();
  ASSERT_TRUE(r.Create(CreateReq("x", g)).get().ok());
  ExpectUnaccused(r, Gfid::Root(), "after the create");
  auto start = Clock::now();
  std::vector<std::thread> th;
  std::atomic<int> moved{0}, failed{0};
  for (int k = 0; k < 4; ++k) {
    th.emplace_back([&, k] {
      for (int i = 0; i < 25; ++i) {
        proto::RenameRequest req;
        req.set_old_parent(Gfid::Root().Bytes());
        req.set_new_parent(Gfid::Root().Bytes());
        req.set_old_name(k % 2 ? "x" : "y");
        req.set_new_name(k % 2 ? "y" : "x");
        auto rep = r.Rename(req).get();
        if (rep.ok()) ++moved;
        else if (rep.err() != ENOENT) ++failed;  // the other name: it was just moved away
      }
    });
  }
  for (auto& x : th) x.join();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(moved.load(), 0);
  EXPECT_LT(took, 10000ms) << "renames waited out each other's locks";
  for (int i = 0; i < 3; ++i) {
    int found = 0;
    for (const char* name : {"x", "y"}) {
      proto::EntryRequest l;
      l.set_parent(Gfid::Root().Bytes());
      l.set_name(name);
      auto e = t.p[i]->Lookup(l).get();
      if (e.ok()) {
        ++found;
        EXPECT_EQ(e->attr().gfid(), g.Bytes()) << "brick " << i;
      }
    }
    EXPECT_EQ(found, 1) << "brick " << i << ": the file must be under exactly one name";
  }
  ExpectUnaccused(r, Gfid::Root(), "after the renames");
}

// Another owner holds a lock on some bricks: a change lets go of what it got and queues brick
// by brick, or is refused when it cannot get a quorum. Either way the pre-op it had put on the
// bricks it let go of is taken back (it rides on the unlock): nothing is left accused.
TEST(ReplicateLayer, ChangesThatQueueOrAreRefusedTakeTheirPreOpsBack) {
  ThreeBricks t;
  ReplicateLayer::Options o;
  o.lock_wait = 1s;
  o.eager_lock = false;  // every change takes its own locks
  o.eager_entry = false;
  ReplicateLayer r(t.children(), o);
  Gfid g = Gfid::Random();
  ASSERT_TRUE(r.Create(CreateReq("x", g)).get().ok());
  constexpr uint64_t kOther = 0x5eed;  // an owner the layer never uses
  auto inodelk = [&](size_t i, proto::LockType type) {
    proto::InodelkRequest l;
    l.set_gfid(g.Bytes());
    l.set_domain("metadata");
    l.set_type(type);
    l.set_owner(kOther);
    return t.p[i]->Inodelk(l, 1s).get();
  };
  auto entrylk = [&](size_t i, proto::LockType type) {
    proto::EntrylkRequest l;
    l.set_parent(Gfid::Root().Bytes());
    l.set_domain("entry");
    l.set_name("y");
    l.set_type(type);
    l.set_owner(kOther);
    return t.p[i]->Entrylk(l, 1s).get();
  };
  auto setattr = [&](mode_t mode) {
    proto::SetattrRequest s;
    s.set_gfid(g.Bytes());
    s.set_valid(proto::SetattrRequest::MODE);
    s.set_mode(mode);
    return r.Setattr(s).get();
  };

  // Queued: brick 1 is held for 200 ms, well inside lock_wait.
  ASSERT_TRUE(inodelk(1, proto::WRITE).ok());
  std::thread release([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(inodelk(1, proto::UNLOCK).ok());
  });
  auto a = setattr(0600);
  release.join();
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  ExpectUnaccused(r, g, "setattr that queued");

  ASSERT_TRUE(entrylk(1, proto::WRITE).ok());
  release = std::thread([&] {
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(entrylk(1, proto::UNLOCK).ok());
  });
  proto::RenameRequest mv;
  mv.set_old_parent(Gfid::Root().Bytes());
  mv.set_new_parent(Gfid::Root().Bytes());
  mv.set_old_name("x");
  mv.set_new_name("y");
  auto m = r.Rename(mv).get();
  release.join();
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  ExpectUnaccused(r, Gfid::Root(), "rename that queued");

  // Refused: bricks 1 and 2 are held past lock_wait, so only brick 0 can be locked.
  ASSERT_TRUE(inodelk(1, proto::WRITE).ok());
  ASSERT_TRUE(inodelk(2, proto::WRITE).ok());
  auto b = setattr(0640);
  EXPECT_EQ(b.err(), EROFS) << b.status().ToString();
  EXPECT_TRUE(inodelk(1, proto::UNLOCK).ok());
  EXPECT_TRUE(inodelk(2, proto::UNLOCK).ok());
  ExpectUnaccused(r, g, "setattr refused");
  for (auto& x : t.p) {
    proto::GfidRequest q;
    q.set_gfid(g.Bytes());
    auto attr = x->Getattr(q).get();
    ASSERT_TRUE(attr.ok());
    EXPECT_EQ(attr->attr().mode() & 07777, 0600u) << "a refused change must change nothing";
  }
}


// close() hands a written file's eager lock to the releaser, which gathers the releases of
// `close_gather` into one ReleaseLocks call per brick. Until then a new write of the file takes
// its lock back (no release, no new lock), and another owner's wait sends it at once.
// Rebalance's `gone` reaches the bricks of a set one after the other: a write in between finds
// one brick that answers ESTALE and one that still locks. That is "moved away" (ESTALE, which
// distribute follows to the file's new place), not "quorum lost" (EROFS, which it did not
// always follow: the getattr it asks then may be served by the brick not yet told).
TEST(ReplicateLayer, ALockRefusedBecauseTheFileMovedAwayAnswersESTALE) {
  ThreeBricks t;
  auto two = t.children();
  two.resize(2);  // replica 2, as in the rebalance test that raced
  Gfid g = Gfid::Random();
  {
    ReplicateLayer r(two, ReplicateLayer::Options{});
    ASSERT_TRUE(r.Create(CreateReq("moving", g)).get().ok());
  }
  for (const char* cmd : {"freeze 60000", "gone"}) {  // on brick 0 only, as mid-way through
    proto::SetxattrRequest x;
    x.set_gfid(g.Bytes());
    x.set_name("hafs.migrate");
    x.set_value(cmd);
    auto res = t.p[0]->Setxattr(x).get();
    ASSERT_TRUE(res.ok()) << cmd << ": " << res.status().ToString();
  }
  for (bool eager : {false, true}) {
    ReplicateLayer::Options o;
    o.eager_lock = eager;
    o.lock_wait = 1s;
    ReplicateLayer r(two, o);
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_data("late");
    auto res = r.Write(w).get();
    ASSERT_FALSE(res.ok()) << (eager ? "eager" : "plain") << " write went through";
    EXPECT_EQ(res.err(), ESTALE) << (eager ? "eager: " : "plain: ") << res.status().ToString();
  }
}

TEST(ReplicateLayer, ClosesReleaseTogetherUnlessReopenedOrContended) {
  ThreeBricks t;
  ReplicateLayer::Options o;
  o.lock_wait = 5s;
  o.eager_idle = 30s;         // no idle release during the test: only close and contention
  o.close_gather = 1500ms;    // long, so that every step below happens inside one gather
  ReplicateLayer r(t.children(), o);
  std::vector<Gfid> files;
  auto write = [&](const Gfid& g, uint32_t seed) {
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_data(RandomBytes(4096, seed));
    auto rep = r.Write(w).get();
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    return w.data();
  };
  std::vector<std::string> data;
  for (int k = 0; k < 10; ++k) {
    files.push_back(Gfid::Random());
    ASSERT_TRUE(r.Create(CreateReq("c" + std::to_string(k), files.back())).get().ok());
    data.push_back(write(files.back(), k));
  }
  auto start = Clock::now();
  for (const Gfid& g : files) r.CloseEager(g);
  auto s = r.eager_stats();
  EXPECT_EQ(s.with_create, 10u);
  EXPECT_EQ(s.closed, 10u);
  EXPECT_EQ(s.close_batched, 0u) << "released before the gather delay";
  // Reopened and rewritten inside the gather: file 0 keeps its lock.
  data[0] = write(files[0], 100);
  EXPECT_EQ(r.eager_stats().reopened, 1u);
  EXPECT_EQ(r.eager_stats().acquired, s.acquired) << "the rewrite took a new lock instead of taking its own back";
  auto took = Within(5s, [&] { return r.eager_stats().held == 1; });
  EXPECT_LE(took, 4s) << "the closed files' locks were not released";
  EXPECT_GE(Clock::now() - start, 1000ms) << "released before the gather delay";
  s = r.eager_stats();
  EXPECT_EQ(s.close_batched, 9u);
  EXPECT_EQ(s.close_batches, 1u) << "the nine releases did not go out together";
  for (size_t k = 1; k < files.size(); ++k) {
    ExpectUnaccused(r, files[k], "closed file " + std::to_string(k));
    for (auto& x : t.p) EXPECT_TRUE(ReadBack(*x, files[k], 0, 4096) == data[k]);
  }
  // Another owner asks for the lock of file 0, closed again: its release goes at once, not at
  // the end of the gather.
  r.CloseEager(files[0]);
  proto::InodelkRequest l;
  l.set_gfid(files[0].Bytes());
  l.set_domain("data");
  l.set_type(proto::WRITE);
  l.set_owner(0x5eed);
  l.set_blocking(true);
  start = Clock::now();
  auto got = t.p[1]->Inodelk(l, 5s).get();
  auto waited = Clock::now() - start;
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_LT(waited, 1000ms) << "a waiting owner had to wait for the gather delay";
  EXPECT_EQ(r.eager_stats().contended, 1u);
  l.set_type(proto::UNLOCK);
  l.set_blocking(false);
  EXPECT_TRUE(t.p[1]->Inodelk(l, 1s).get().ok());
  ExpectUnaccused(r, files[0], "reopened, closed and contended file");
  for (auto& x : t.p) EXPECT_TRUE(ReadBack(*x, files[0], 0, 4096) == data[0]);
  EXPECT_EQ(r.eager_stats().held, 0u);
}

// Brick 0 misses write X (stopped past the ping timeout), comes back unhealed; a stream then
// takes the eager lock on all three bricks; bricks 1 and 2 stop, so the next write reaches
// brick 0 alone and is refused (EROFS). Brick 0 now has a change the others lack and lacks X,
// which was acknowledged and fsynced. With quorum on that must be neither a split-brain nor a
// heal from brick 0 (which lost X silently before): bricks 1 and 2 are the sources. The lock is
// released while 1 and 2 are still stopped, or after they are back with new sessions (then
// only brick 0 gets the post-op).
TEST(ReplicateLayer, AWriteRefusedForQuorumNeitherSplitsTheSetNorLosesAnAcknowledgedOne) {
  ThreeBricks t;
  struct Resume {  // whatever happens, no brick stays stopped
    ThreeBricks& t;
    ~Resume() {
      for (auto& b : t.b) ::kill(b.pid(), SIGCONT);
    }
  } resume{t};
  ReplicateLayer::Options o;
  o.eager_idle = 30s;  // the stream's lock is released only when the test says so
  o.lock_wait = 2s;
  ReplicateLayer r(t.children(), o);
  auto back = [&](int i, const Gfid& g) {  // up and granting locks on g again
    proto::InodelkRequest l;
    l.set_gfid(g.Bytes());
    l.set_domain("data");
    l.set_type(proto::WRITE);
    l.set_owner(0x5eed);
    if (!t.p[i]->up() || !t.p[i]->Inodelk(l, 1s).get().ok()) return false;
    l.set_type(proto::UNLOCK);
    return t.p[i]->Inodelk(l, 1s).get().ok();
  };
  for (bool release_late : {false, true}) {
    SCOPED_TRACE(release_late ? "released after bricks 1 and 2 are back" : "released while they are stopped");
    Gfid g = Gfid::Random();
    ASSERT_TRUE(r.Create(CreateReq(release_late ? "late" : "early", g)).get().ok());
    auto write = [&](uint64_t off, char c) {
      proto::WriteRequest w;
      w.set_gfid(g.Bytes());
      w.set_offset(off);
      w.set_data(std::string(4096, c));
      return r.Write(w).get();
    };
    ASSERT_TRUE(write(0, 'b').ok());
    ASSERT_TRUE(write(12288, 'b').ok());  // 16 KiB of base
    r.FlushEager(g);

    ASSERT_TRUE(Stop(t.b[0].pid()));
    auto x = write(0, 'X');
    ASSERT_TRUE(x.ok()) << "two of three bricks up: " << x.status().ToString();
    r.FlushEager(g);
    ::kill(t.b[0].pid(), SIGCONT);
    // The lock request of X that waited in brick 0's socket may be granted to the ended
    // session first: brick 0 is back once it grants a lock on the file.
    ASSERT_LE(Within(10s, [&] { return back(0, g); }), 10s) << "brick 0 did not come back";

    auto y1 = write(4096, 'Y');  // takes the eager lock on all three
    ASSERT_TRUE(y1.ok()) << y1.status().ToString();
    ASSERT_GT(r.PendingOf(g)[0]["pending.data.0"], 0) << "brick 0 is not in the stream's lock";
    ASSERT_TRUE(Stop(t.b[1].pid()));
    ASSERT_TRUE(Stop(t.b[2].pid()));
    auto y2 = write(8192, 'Z');  // brick 0 alone
    EXPECT_EQ(y2.err(), EROFS) << y2.status().ToString();
    if (!release_late) r.FlushEager(g);
    for (int i : {1, 2}) ::kill(t.b[i].pid(), SIGCONT);
    for (int i : {1, 2}) ASSERT_LE(Within(10s, [&] { return back(i, g); }), 10s) << "brick " << i;
    if (release_late) r.FlushEager(g);

    Status h = r.Heal(g);
    EXPECT_TRUE(h.ok()) << "quorum on must not produce a split-brain: " << h.ToString();
    std::string want_x(4096, 'X');
    for (int i = 0; i < 3; ++i)
      EXPECT_TRUE(ReadBack(*t.p[i], g, 0, 4096) == want_x) << "brick " << i << " lost the acknowledged write X";
    std::string b0 = ReadBack(*t.p[0], g, 0, 16384);
    for (int i = 1; i < 3; ++i)
      EXPECT_TRUE(ReadBack(*t.p[i], g, 0, 16384) == b0) << "brick " << i << " differs after the heal";
    ExpectUnaccused(r, g, "after the heal");
  }
}

// A brick's copy made immutable (chattr +i: the brick then refuses changes of it, EPERM while
// the others apply them), and mutable again whatever the test's outcome.
class Immutable {
 public:
  explicit Immutable(std::string path) : path_(std::move(path)) {}
  ~Immutable() { Set(false); }
  bool Set(bool on) {
    std::string out;
    return testing::RunToCompletion({"/usr/bin/chattr", on ? "+i" : "-i", path_}, &out) == 0;
  }

 private:
  std::string path_;
};

// Quorum fixed at 3: a change one brick refuses is refused as a whole.
ReplicateLayer::Options QuorumOfThree() {
  ReplicateLayer::Options o;
  o.quorum_type = "fixed";
  o.quorum_count = 3;
  o.eager_idle = 30s;  // released only on refusal, flush or heal
  return o;
}

// With quorum fixed at 3, a write that brick 2 refuses (its copy made immutable: EPERM) while
// bricks 0 and 1 apply it is refused as a whole. Brick 2 is alive; the bricks that applied it
// must not be settled like it, or the three would disagree with nobody accused. They stay
// accused by themselves and heal takes brick 2's copy: the refused write is gone and the
// acknowledged one is everywhere. Under an eager lock (post-op at release) and as a full
// transaction (post-op riding on the change).
TEST(ReplicateLayer, AChangeRefusedForQuorumIsTakenOffTheBricksThatAppliedIt) {
  ThreeBricks t;
  for (bool eager : {true, false}) {
    SCOPED_TRACE(eager ? "eager lock" : "full transaction");
    ReplicateLayer::Options o = QuorumOfThree();
    o.eager_lock = eager;
    ReplicateLayer r(t.children(), o);
    Gfid g = Gfid::Random();
    const std::string name = eager ? "eager" : "full";
    ASSERT_TRUE(r.Create(CreateReq(name, g)).get().ok());
    Immutable on_brick2(t.b[2].dir() + "/" + name);
    auto write = [&](char c) {
      proto::WriteRequest w;
      w.set_gfid(g.Bytes());
      w.set_data(std::string(4096, c));
      return r.Write(w).get();
    };
    ASSERT_TRUE(write('a').ok());  // acknowledged
    ASSERT_TRUE(on_brick2.Set(true));
    auto refused = write('c');
    EXPECT_EQ(refused.err(), EPERM) << "a write that reached 2 of 3 bricks with quorum 3: "
                                    << refused.status().ToString();
    ASSERT_LE(Within(5s, [&] { return r.eager_stats().held == 0; }), 5s) << "the lock was not released at once";
    for (int k = 0; k < 3; ++k) {  // reads (spread over the bricks by gfid) go to the brick that said no
      proto::ReadRequest rd;
      rd.set_gfid(g.Bytes());
      rd.set_size(4096);
      auto got = r.Read(rd).get();
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(got->data(), std::string(4096, 'a')) << "a read before the heal saw the refused write";
    }
    ASSERT_TRUE(on_brick2.Set(false));
    Status h = r.Heal(g);
    EXPECT_TRUE(h.ok()) << h.ToString();
    for (int i = 0; i < 3; ++i)
      EXPECT_TRUE(ReadBack(*t.p[i], g, 0, 4096) == std::string(4096, 'a')) << "brick " << i << " after the heal";
    ExpectUnaccused(r, g, "after the heal");
  }
}

// The same for an entry change: with quorum fixed at 3, a create that brick 2 refuses (its
// copy of the directory made immutable) while bricks 0 and 1 make the name is refused as a
// whole, and the directory's heal takes brick 2's listing: the refused name is gone, the
// acknowledged one is everywhere. Under the eager entry lock and as a full transaction.
TEST(ReplicateLayer, AnEntryChangeRefusedForQuorumIsTakenOffTheBricksThatMadeIt) {
  ThreeBricks t;
  for (bool eager : {true, false}) {
    SCOPED_TRACE(eager ? "eager entry lock" : "full transaction");
    ReplicateLayer::Options o = QuorumOfThree();
    o.eager_entry = eager;
    ReplicateLayer r(t.children(), o);
    const std::string dname = eager ? "eager" : "full";
    Gfid d = Gfid::Random();
    proto::MkdirRequest mk;
    mk.set_parent(Gfid::Root().Bytes());
    mk.set_name(dname);
    mk.set_gfid(d.Bytes());
    mk.set_mode(0755);
    ASSERT_TRUE(r.Mkdir(mk).get().ok());
    r.FlushEagerEntry(Gfid::Root());  // only d's entry lock is held from here on
    auto create = [&](const std::string& name) {
      proto::CreateRequest c = CreateReq(name, Gfid::Random());
      c.set_parent(d.Bytes());
      return r.Create(c).get();
    };
    ASSERT_TRUE(create("keep").ok());  // acknowledged
    Immutable on_brick2(t.b[2].dir() + "/" + dname);
    ASSERT_TRUE(on_brick2.Set(true));
    auto refused = create("refused");
    EXPECT_FALSE(refused.ok()) << "a create that reached 2 of 3 bricks with quorum 3";
    ASSERT_LE(Within(5s, [&] { return r.eager_stats().entry_held == 0; }), 5s) << "the entry lock was kept";
    ASSERT_TRUE(on_brick2.Set(false));
    Status h = r.Heal(d);
    EXPECT_TRUE(h.ok()) << h.ToString();
    for (int i = 0; i < 3; ++i) {
      proto::EntryRequest l;
      l.set_parent(d.Bytes());
      l.set_name("keep");
      EXPECT_TRUE(t.p[i]->Lookup(l).get().ok()) << "brick " << i << " lost the acknowledged name";
      l.set_name("refused");
      EXPECT_EQ(t.p[i]->Lookup(l).get().err(), ENOENT) << "brick " << i << " kept the refused name";
    }
    ExpectUnaccused(r, d, "after the heal");
  }
}

}  // namespace
}  // namespace hafs::client
