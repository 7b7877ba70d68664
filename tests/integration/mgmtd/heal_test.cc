// The self-heal daemon: a brick misses writes while its node is down; `heal info` lists the
// pending entries; the daemons heal them with no client touching the files; the replicas
// end byte-identical.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "client-fuse/graph.h"
#include "proto/brick.grpc.pb.h"
#include "common/gfid.h"
#include "tests/integration/mgmtd/mgmtd_cluster.h"
#include "tests/support/test_channel.h"

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
  // each other and brick 2: a data split-brain as two writers leave it that each saw only one
  // brick (quorum off). No copy has both changes.
  auto gfid = Gfid::Random();
  std::vector<std::string> data = {"short", "the longer version", "short"};
  std::vector<std::unique_ptr<proto::Brick::Stub>> stubs;
  for (int i = 0; i < 3; ++i) {
    stubs.push_back(proto::Brick::NewStub(
        TestChannel(vf->bricks[i].Endpoint())));
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
  accuse(0, 2);
  accuse(1, 0);
  accuse(1, 2);
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

// `heal full` across a pool: a 2 x 3 volume whose bricks lost files and had a copy truncated
// behind hafs's back (no counter, no heal index entry). Each replica set is crawled once (by
// the node of its first brick), across nodes, while auth.allow refuses every ordinary client
// (mgmtd's daemons present the pool's internal key); every copy ends as it was written.
TEST(MgmtdHealTest, FullCrawlRepairsWhatChangedBehindHafsBack) {
  MgmtdCluster c(3);
  c.FormPool();
  std::vector<std::string> a = {"volume", "create", "gv0", "replica", "3"};
  for (int i = 0; i < 6; ++i) a.push_back(c.host(i % 3) + ":" + c.dir() + "/bricks/b" + std::to_string(i));
  a.push_back("force");
  ASSERT_EQ(c.Cli(0, a).code, 0) << c.Cli(0, a).out;
  ASSERT_EQ(c.Cli(0, {"volume", "start", "gv0"}).code, 0);
  auto vf = client::Volfile::Parse(c.Cli(0, {"volume", "volfile", "gv0"}).out);
  ASSERT_TRUE(vf.ok());
  auto graph = client::Graph::Build(*vf, "heal-full-writer", 5s);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  auto& top = (*graph)->top();
  proto::MkdirRequest mk;
  mk.set_parent(Gfid::Root().Bytes());
  mk.set_name("d");
  auto dir = Gfid::Random();
  mk.set_gfid(dir.Bytes());
  mk.set_mode(0755);
  ASSERT_TRUE(top.Mkdir(mk).get().ok());
  std::map<std::string, std::string> files;  // path → data
  for (int i = 0; i < 40; ++i) {
    std::string name = "f" + std::to_string(i);
    proto::CreateRequest cr;
    cr.set_parent((i % 2 ? dir : Gfid::Root()).Bytes());
    cr.set_name(name);
    auto gfid = Gfid::Random();
    cr.set_gfid(gfid.Bytes());
    cr.set_mode(0644);
    ASSERT_TRUE(top.Create(cr).get().ok()) << name;
    proto::WriteRequest wr;
    wr.set_gfid(gfid.Bytes());
    wr.set_data(std::string(3000 + i * 101, static_cast<char>('a' + i % 26)));
    ASSERT_TRUE(top.Write(wr).get().ok());
    files[(i % 2 ? "d/" : "") + name] = wr.data();
  }
  graph->reset();
  auto brick = [&](int b) { return c.dir() + "/bricks/b" + std::to_string(b) + "/"; };
  // Behind hafs's back: the middle brick of each set loses some files, the last one has a
  // copy truncated.
  int removed = 0, truncated = 0, n = 0;
  for (const auto& [path, data] : files) {
    for (int set = 0; set < 2; ++set) {
      if (!std::filesystem::exists(brick(set * 3) + path)) continue;
      if (n++ % 3 != 2) {
        if (std::filesystem::remove(brick(set * 3 + 1) + path)) ++removed;
      } else if (truncated < 4) {
        std::filesystem::resize_file(brick(set * 3 + 2) + path, 10);
        ++truncated;
      }
    }
  }
  ASSERT_GT(removed, 10);
  ASSERT_EQ(truncated, 4);
  ASSERT_EQ(c.Cli(0, {"volume", "set", "gv0", "auth.allow", "127.0.0.99"}).code, 0);
  auto heal = c.Cli(2, {"volume", "heal", "gv0", "full"});
  ASSERT_EQ(heal.code, 0) << heal.out;
  EXPECT_NE(heal.out.find("full self heal"), std::string::npos) << heal.out;
  nlohmann::json daemons;
  ASSERT_TRUE(Within(90s, [&] {
    daemons = c.Json(1, {"volume", "heal", "gv0", "info"})["heal_daemon"];
    int done = 0;
    for (auto& d : daemons) done += d["full"]["state"] == "done";
    return done == 2;
  })) << daemons.dump() << c.Log(0);
  uint64_t crawled = 0, healed = 0, failed = 0;
  for (auto& d : daemons) {
    crawled += d["full"]["crawled"].get<uint64_t>();
    healed += d["full"]["healed"].get<uint64_t>();
    failed += d["full"]["failed"].get<uint64_t>();
  }
  EXPECT_GE(crawled, 41u) << daemons.dump();
  EXPECT_EQ(healed, static_cast<uint64_t>(removed + truncated)) << daemons.dump();
  EXPECT_EQ(failed, 0u) << daemons.dump();
  for (const auto& [path, data] : files) {
    int set = std::filesystem::exists(brick(0) + path) ? 0 : 1;
    for (int k = 0; k < 3; ++k) EXPECT_EQ(ReadFile(brick(set * 3 + k) + path), data) << path << " brick " << k;
  }
  auto text = c.Cli(0, {"volume", "heal", "gv0", "info"});
  EXPECT_NE(text.out.find("full crawl: done crawled"), std::string::npos) << text.out;
  ASSERT_EQ(c.Cli(0, {"volume", "reset", "gv0", "auth.allow"}).code, 0);
}

}  // namespace
}  // namespace hafs::testing
