// The client's protocol layer against real hafs-brickd processes: failure detection within
// network.ping-timeout (dead, hung and restarted bricks), in-flight calls cut short, and
// reconnection without help.
#include "client-fuse/protocol/brick_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

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

}  // namespace
}  // namespace hafs::client
