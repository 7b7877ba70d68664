// Volumes with real bricks: mgmtd starts, supervises and stops hafs-brickd processes,
// serves the volfile (and pushes changes), reports status and heal info.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <grpcpp/grpcpp.h>

#include "client-fuse/volfile.h"
#include "common/gfid.h"
#include "proto/brick.grpc.pb.h"
#include "proto/mgmt.grpc.pb.h"
#include "tests/integration/mgmtd/mgmtd_cluster.h"
#include "tests/support/test_channel.h"

namespace hafs::testing {
namespace {

using namespace std::chrono_literals;

bool Contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// A plain HTTP/1.1 GET on 127.0.0.x; returns the whole response ("" if it cannot connect).
std::string HttpGet(const std::string& host, int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, n);
  }
  ::close(fd);
  return out;
}

std::unique_ptr<proto::Brick::Stub> BrickStub(const client::BrickAddress& b) {
  return proto::Brick::NewStub(TestChannel(b.Endpoint()));
}

template <typename Req, typename Rep>
grpc::Status Call(proto::Brick::Stub* stub,
                  grpc::Status (proto::Brick::Stub::*m)(grpc::ClientContext*, const Req&, Rep*), const Req& req,
                  Rep* rep) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 3s);
  return (stub->*m)(&ctx, req, rep);
}

class MgmtdVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = std::make_unique<MgmtdCluster>(3);
    c_->FormPool();
    std::vector<std::string> a = {"volume", "create", "gv0", "replica", "3"};
    for (int i = 0; i < 3; ++i) a.push_back(c_->host(i) + ":" + c_->dir() + "/bricks/b" + std::to_string(i));
    a.push_back("force");
    auto r = c_->Cli(0, a);
    ASSERT_EQ(r.code, 0) << r.out;
  }

  void StartVolume() {
    auto r = c_->Cli(1, {"volume", "start", "gv0"});
    ASSERT_EQ(r.code, 0) << r.out;
    ASSERT_TRUE(Contains(r.out, "volume start: gv0: success")) << r.out;
    ASSERT_FALSE(Contains(r.out, "not online")) << r.out;
  }

  client::Volfile Volfile(int node) {
    auto r = c_->Cli(node, {"volume", "volfile", "gv0"});
    EXPECT_EQ(r.code, 0) << r.out;
    auto v = client::Volfile::Parse(r.out);
    EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << r.out;
    return v.ok() ? *v : client::Volfile{};
  }

  nlohmann::json Status(int node) { return c_->Json(node, {"volume", "status", "gv0"}); }

  std::unique_ptr<MgmtdCluster> c_;
};

TEST_F(MgmtdVolumeTest, LifecycleWithRealBricksKeepsDataAcrossStopAndStart) {
  StartVolume();
  auto vf = Volfile(2);
  ASSERT_EQ(vf.bricks.size(), 3u);
  EXPECT_EQ(vf.type, "replicate");
  EXPECT_EQ(vf.replica, 3);
  // Every brick in the volfile is a real brick of this volume with its index.
  for (size_t i = 0; i < vf.bricks.size(); ++i) {
    auto stub = BrickStub(vf.bricks[i]);
    proto::PingReply pong;
    ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Ping, proto::PingRequest(), &pong).ok());
    EXPECT_EQ(pong.volume_id(), vf.id);
    EXPECT_EQ(pong.brick_id(), i);
  }
  auto st = Status(0);
  ASSERT_FALSE(st.is_null());
  for (auto& b : st["bricks"]) {
    EXPECT_TRUE(b["online"].get<bool>()) << b.dump();
    EXPECT_GT(b["pid"].get<int>(), 0);
  }
  // Write a file through brick 0.
  auto gfid = Gfid::Random();
  {
    auto stub = BrickStub(vf.bricks[0]);
    proto::CreateRequest cr;
    cr.set_parent(Gfid::Root().Bytes());
    cr.set_name("hello.txt");
    cr.set_gfid(gfid.Bytes());
    cr.set_mode(0644);
    proto::EntryReply er;
    ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Create, cr, &er).ok());
    ASSERT_EQ(er.err(), 0);
    proto::WriteRequest wr;
    wr.set_gfid(gfid.Bytes());
    wr.set_data("kept across a stop");
    proto::WriteReply wrep;
    ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Write, wr, &wrep).ok());
    ASSERT_EQ(wrep.err(), 0);
  }
  // Stop: the bricks go away, clients get a clean transport error, the volfile is refused.
  auto stop = c_->Cli(0, {"volume", "stop", "gv0"});
  ASSERT_EQ(stop.code, 0) << stop.out;
  EXPECT_TRUE(Within(10s, [&] {
    // A plain channel: TestChannel would wait out its connect timeout for a brick that is gone.
    auto stub = proto::Brick::NewStub(grpc::CreateChannel(vf.bricks[0].Endpoint(), grpc::InsecureChannelCredentials()));
    proto::PingReply pong;
    return Call(stub.get(), &proto::Brick::Stub::Ping, proto::PingRequest(), &pong).error_code() ==
           grpc::StatusCode::UNAVAILABLE;
  }));
  auto refused = c_->Cli(1, {"volume", "volfile", "gv0"});
  EXPECT_NE(refused.code, 0);
  EXPECT_TRUE(Contains(refused.out, "Volume gv0 is not started")) << refused.out;

  // Start again: data intact.
  StartVolume();
  auto vf2 = Volfile(0);
  {
    auto stub = BrickStub(vf2.bricks[0]);
    proto::ReadRequest rr;
    rr.set_gfid(gfid.Bytes());
    rr.set_size(100);
    proto::ReadReply rrep;
    ASSERT_TRUE(Within(5s, [&] { return Call(stub.get(), &proto::Brick::Stub::Read, rr, &rrep).ok(); }));
    EXPECT_EQ(rrep.err(), 0);
    EXPECT_EQ(rrep.data(), "kept across a stop");
  }
  auto del_started = c_->Cli(2, {"volume", "delete", "gv0"});
  EXPECT_NE(del_started.code, 0);
  EXPECT_TRUE(Contains(del_started.out, "needs to be stopped")) << del_started.out;
  ASSERT_EQ(c_->Cli(2, {"volume", "stop", "gv0"}).code, 0);
  auto del = c_->Cli(2, {"volume", "delete", "gv0"});
  EXPECT_EQ(del.code, 0) << del.out;
  EXPECT_TRUE(Within(5s, [&] { return c_->Cli(0, {"volume", "info", "gv0"}).code != 0; }));
}

TEST_F(MgmtdVolumeTest, KilledBrickIsRestartedAndStatusShowsIt) {
  StartVolume();
  auto st = Status(0);
  ASSERT_FALSE(st.is_null());
  int old_pid = st["bricks"][1]["pid"].get<int>();
  int old_port = st["bricks"][1]["port"].get<int>();
  ASSERT_GT(old_pid, 0);
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  bool seen_offline = Within(5s, [&] {
    auto s = Status(0);
    return !s.is_null() && !s["bricks"][1]["online"].get<bool>();
  });
  EXPECT_TRUE(seen_offline);
  nlohmann::json now;
  ASSERT_TRUE(Within(15s, [&] {
    now = Status(2);
    return !now.is_null() && now["bricks"][1]["online"].get<bool>() && now["bricks"][1]["pid"].get<int>() != old_pid;
  })) << c_->Log(1);
  EXPECT_GE(now["bricks"][1]["restarts"].get<int>(), 1);
  EXPECT_EQ(now["bricks"][1]["port"].get<int>(), old_port) << "a restarted brick keeps its port";
  EXPECT_TRUE(Contains(c_->Log(1), "killed by signal 9; restarting in")) << c_->Log(1);
  // Stop takes the bricks down.
  ASSERT_EQ(c_->Cli(0, {"volume", "stop", "gv0"}).code, 0);
  int new_pid = now["bricks"][1]["pid"].get<int>();
  EXPECT_TRUE(Within(10s, [&] { return ::kill(new_pid, 0) != 0; }));
}

TEST_F(MgmtdVolumeTest, WatchVolfilePushesEveryChange) {
  StartVolume();
  auto stub = mgmtpb::Mgmt::NewStub(TestChannel(c_->address(2)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 30s);
  mgmtpb::VolfileRequest req;
  req.set_name("gv0");
  auto reader = stub->WatchVolfile(&ctx, req);
  mgmtpb::VolfileReply first;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_TRUE(first.reply().ok()) << first.reply().message();
  ASSERT_TRUE(client::Volfile::Parse(first.json()).ok());
  ASSERT_EQ(c_->Cli(0, {"volume", "set", "gv0", "network.ping-timeout", "7"}).code, 0);
  mgmtpb::VolfileReply next;
  ASSERT_TRUE(reader->Read(&next));
  auto vf = client::Volfile::Parse(next.json());
  ASSERT_TRUE(vf.ok()) << next.json();
  EXPECT_EQ(vf->options["network.ping-timeout"], "7");
  EXPECT_EQ(vf->ping_timeout_ms(), 7000);
  // Stopping the volume is pushed as a refusal.
  ASSERT_EQ(c_->Cli(1, {"volume", "stop", "gv0"}).code, 0);
  mgmtpb::VolfileReply stopped;
  ASSERT_TRUE(reader->Read(&stopped));
  EXPECT_FALSE(stopped.reply().ok());
  ctx.TryCancel();
}

TEST_F(MgmtdVolumeTest, HealInfoListsPendingEntriesPerBrick) {
  StartVolume();
  // The daemon would heal this hand-made entry; keep it paused while heal info is checked.
  ASSERT_EQ(c_->Cli(0, {"volume", "heal", "gv0", "disable"}).code, 0);
  auto vf = Volfile(0);
  auto stub = BrickStub(vf.bricks[0]);
  auto gfid = Gfid::Random();
  proto::CreateRequest cr;
  cr.set_parent(Gfid::Root().Bytes());
  cr.set_name("pending.txt");
  cr.set_gfid(gfid.Bytes());
  cr.set_mode(0644);
  proto::EntryReply er;
  ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Create, cr, &er).ok());
  ASSERT_EQ(er.err(), 0);
  // Brick 0 accuses brick 2 for this file, as a write that brick 2 missed leaves it.
  proto::XattropRequest xr;
  xr.set_gfid(gfid.Bytes());
  (*xr.mutable_deltas())["pending.data.2"] = 1;
  proto::XattropReply xrep;
  ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Xattrop, xr, &xrep).ok());
  auto info = c_->Cli(1, {"volume", "heal", "gv0", "info"});
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_TRUE(Contains(info.out, "<gfid:" + gfid.ToString() + ">")) << info.out;
  auto j = c_->Json(2, {"volume", "heal", "gv0", "info"});
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["bricks"][0]["entries"].get<int>(), 1);
  EXPECT_EQ(j["bricks"][1]["entries"].get<int>(), 0);
  EXPECT_EQ(j["bricks"][2]["entries"].get<int>(), 0);
  auto st = Status(0);
  EXPECT_EQ(st["bricks"][0]["heal_pending"].get<int>(), 1);
  (*xr.mutable_deltas())["pending.data.2"] = -1;
  ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Xattrop, xr, &xrep).ok());
  EXPECT_EQ(c_->Json(0, {"volume", "heal", "gv0", "info"})["bricks"][0]["entries"].get<int>(), 0);
}

TEST_F(MgmtdVolumeTest, StateDumpOnDemand) {
  StartVolume();
  auto r = c_->Cli(0, {"state-dump"});
  ASSERT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "raft: self=")) << r.out;
  EXPECT_TRUE(Contains(r.out, "bricks supervised: 1")) << r.out;
  ASSERT_EQ(::kill(c_->pid(0), SIGUSR1), 0);
  EXPECT_TRUE(Within(5s, [&] { return Contains(c_->Log(0), "state dump:"); }));
}

TEST_F(MgmtdVolumeTest, PrometheusMetricsOnEveryMgmtd) {
  StartVolume();
  // Some traffic on brick 0 so it has op counters and latency buckets.
  auto vf = Volfile(0);
  auto stub = BrickStub(vf.bricks[0]);
  proto::GfidRequest g;
  g.set_gfid(Gfid::Root().Bytes());
  proto::AttrReply ar;
  ASSERT_TRUE(Call(stub.get(), &proto::Brick::Stub::Getattr, g, &ar).ok());
  std::string addr = c_->address(0);
  int port = std::stoi(addr.substr(addr.rfind(':') + 1)) + 1;
  auto page = HttpGet(c_->host(0), port, "/metrics");
  EXPECT_TRUE(Contains(page, "HTTP/1.1 200 OK")) << page;
  EXPECT_TRUE(Contains(page, "hafs_mgmtd_raft_term ")) << page;
  EXPECT_TRUE(Contains(page, "hafs_mgmtd_peers{state=\"connected\"} 3")) << page;
  EXPECT_TRUE(Contains(page, "hafs_brick_up{volume=\"gv0\"")) << page;
  EXPECT_TRUE(Contains(page, "# TYPE hafs_brick_op_latency_seconds histogram")) << page;
  EXPECT_TRUE(Contains(page, "hafs_brick_op_latency_seconds_bucket{")) << page;
  EXPECT_TRUE(Contains(page, "hafs_brick_heal_pending{")) << page;
  EXPECT_TRUE(Contains(HttpGet(c_->host(1), port, "/nothing"), "404")) << "only /metrics is served";
}

}  // namespace
}  // namespace hafs::testing
