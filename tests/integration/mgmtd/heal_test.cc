// The self-heal daemon: a brick misses writes while its node is down; `heal info` lists the
// pending entries; the daemons heal them with no client touching the files; the replicas
// end byte-identical.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "client-fuse/graph.h"
#include "proto/brick.grpc.pb.h"
#include "common/gfid.h"
#include "tests/integration/mgmtd/mgmtd_cluster.h"

namespace hafs::testing {
namespace {

using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int Pending(const nlohmann::json& j) {
  int n = 0;
  for (auto& b : j["bricks"]) n += b["entries"].get<int>();
  return n;
}

TEST(MgmtdHealTest, DaemonHealsWhatABrickMissedWithoutAnyClient) {
  MgmtdCluster c(3);
  c.FormPool();
  std::vector<std::string> a = {"volume", "create", "gv0", "replica", "3"};
  for (int i = 0; i < 3; ++i) a.push_back(c.host(i) + ":" + c.dir() + "/bricks/b" + std::to_string(i));
  a.push_back("force");
  ASSERT_EQ(c.Cli(0, a).code, 0);
  ASSERT_EQ(c.Cli(0, {"volume", "start", "gv0"}).code, 0);
  auto vf_text = c.Cli(0, {"volume", "volfile", "gv0"});
  auto vf = client::Volfile::Parse(vf_text.out);
  ASSERT_TRUE(vf.ok()) << vf_text.out;

  auto graph = client::Graph::Build(*vf, "heal-test-writer", 5s);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  auto& top = (*graph)->top();

  // Node 2 goes down with its brick.
  c.Kill(2);
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 20; ++i) {
    std::string name = "f" + std::to_string(i);
    std::string data(1000 + i * 997, static_cast<char>('a' + i % 26));
    proto::CreateRequest cr;
    cr.set_parent(Gfid::Root().Bytes());
    cr.set_name(name);
    auto gfid = Gfid::Random();
    cr.set_gfid(gfid.Bytes());
    cr.set_mode(0644);
    Result<proto::EntryReply> created = Status(EIO, "not tried");
    // The writer notices the dead brick within its ping timeout; retry until then.
    ASSERT_TRUE(Within(10s, [&] {
      created = top.Create(cr).get();
      return created.ok();
    })) << created.status().ToString();
    proto::WriteRequest wr;
    wr.set_gfid(gfid.Bytes());
    wr.set_data(data);
    auto written = top.Write(wr).get();
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    files.emplace_back(name, data);
  }
  // heal info lists them (on the two live bricks) while the node is down.
  auto info = c.Json(1, {"volume", "heal", "gv0", "info"});
  ASSERT_FALSE(info.is_null());
  EXPECT_GE(Pending(info), 20) << info.dump();
  auto text = c.Cli(0, {"volume", "heal", "gv0", "info"});
  EXPECT_NE(text.out.find("Number of entries:"), std::string::npos) << text.out;

  // The node returns; the daemons heal everything on their own (no client access).
  graph->reset();
  c.Start(2);
  ASSERT_TRUE(Within(60s, [&] {
    auto j = c.Json(0, {"volume", "heal", "gv0", "info"});
    return !j.is_null() && Pending(j) == 0 && j["bricks"][2]["online"].get<bool>();
  })) << c.Cli(0, {"volume", "heal", "gv0", "info"}).out << c.Log(0);
  for (const auto& [name, data] : files) {
    for (int b = 0; b < 3; ++b) {
      std::string path = c.dir() + "/bricks/b" + std::to_string(b) + "/" + name;
      EXPECT_EQ(ReadFile(path), data) << path;
    }
  }
  auto daemons = c.Json(0, {"volume", "heal", "gv0", "info"})["heal_daemon"];
  uint64_t healed = 0;
  for (auto& d : daemons) healed += d["healed"].get<uint64_t>();
  EXPECT_GT(healed, 0u) << daemons.dump();
  // Pause/resume and trigger words.
  EXPECT_EQ(c.Cli(0, {"volume", "heal", "gv0", "disable"}).code, 0);
  auto refused = c.Cli(0, {"volume", "heal", "gv0"});
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.out.find("Self-heal-daemon is disabled"), std::string::npos) << refused.out;
  EXPECT_EQ(c.Cli(0, {"volume", "heal", "gv0", "enable"}).code, 0);
  EXPECT_EQ(c.Cli(1, {"volume", "heal", "gv0"}).code, 0);
}

TEST(MgmtdHealTest, SplitBrainIsListedAndResolvedByPolicy) {
  MgmtdCluster c(3);
  c.FormPool();
  std::vector<std::string> a = {"volume", "create", "gv0", "replica", "3"};
  for (int i = 0; i < 3; ++i) a.push_back(c.host(i) + ":" + c.dir() + "/bricks/b" + std::to_string(i));
  a.push_back("force");
  ASSERT_EQ(c.Cli(0, a).code, 0);
  ASSERT_EQ(c.Cli(0, {"volume", "start", "gv0"}).code, 0);
  ASSERT_EQ(c.Cli(0, {"volume", "heal", "gv0", "disable"}).code, 0);
  auto vf = client::Volfile::Parse(c.Cli(0, {"volume", "volfile", "gv0"}).out);
  ASSERT_TRUE(vf.ok());
  // The same file on the three bricks, with different data on bricks 0 and 1, which accuse
  // each other: a data split-brain as two partitioned writers leave it.
  auto gfid = Gfid::Random();
  std::vector<std::string> data = {"short", "the longer version", "short"};
  std::vector<std::unique_ptr<proto::Brick::Stub>> stubs;
  for (int i = 0; i < 3; ++i) {
    stubs.push_back(proto::Brick::NewStub(
        grpc::CreateChannel(vf->bricks[i].Endpoint(), grpc::InsecureChannelCredentials())));
    grpc::ClientContext ctx;
    proto::CreateRequest cr;
    cr.set_parent(Gfid::Root().Bytes());
    cr.set_name("sb.txt");
    cr.set_gfid(gfid.Bytes());
    cr.set_mode(0644);
    proto::EntryReply er;
    ASSERT_TRUE(stubs[i]->Create(&ctx, cr, &er).ok());
    ASSERT_EQ(er.err(), 0);
    grpc::ClientContext wctx;
    proto::WriteRequest wr;
    wr.set_gfid(gfid.Bytes());
    wr.set_data(data[i]);
    proto::WriteReply wrep;
    ASSERT_TRUE(stubs[i]->Write(&wctx, wr, &wrep).ok());
  }
  auto accuse = [&](int from, int whom) {
    grpc::ClientContext ctx;
    proto::XattropRequest xr;
    xr.set_gfid(gfid.Bytes());
    (*xr.mutable_deltas())["pending.data." + std::to_string(whom)] = 1;
    proto::XattropReply xrep;
    ASSERT_TRUE(stubs[from]->Xattrop(&ctx, xr, &xrep).ok());
  };
  accuse(0, 1);
  accuse(1, 0);
  auto info = c.Cli(1, {"volume", "heal", "gv0", "info", "split-brain"});
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find("<gfid:" + gfid.ToString() + ">"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("Number of entries in split-brain: 1"), std::string::npos) << info.out;
  auto bad = c.Cli(0, {"volume", "heal", "gv0", "split-brain", "source-brick", "10.0.0.1:/nope"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("is not a brick of volume gv0"), std::string::npos) << bad.out;
  auto fixed = c.Cli(2, {"volume", "heal", "gv0", "split-brain", "bigger-file", "/sb.txt"});
  ASSERT_EQ(fixed.code, 0) << fixed.out << c.Log(2);
  EXPECT_NE(fixed.out.find("resolved 1 split-brain entry"), std::string::npos) << fixed.out;
  for (int b = 0; b < 3; ++b)
    EXPECT_EQ(ReadFile(c.dir() + "/bricks/b" + std::to_string(b) + "/sb.txt"), "the longer version") << b;
  auto after = c.Json(0, {"volume", "heal", "gv0", "info"});
  EXPECT_EQ(Pending(after), 0) << after.dump();
  auto none = c.Cli(0, {"volume", "heal", "gv0", "split-brain", "latest-mtime", "/sb.txt"});
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.out.find("is not in split-brain"), std::string::npos) << none.out;
}

}  // namespace
}  // namespace hafs::testing
