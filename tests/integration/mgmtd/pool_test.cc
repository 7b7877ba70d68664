// The trusted pool and its replicated configuration, with real hafs-mgmtd processes on
// 127.0.0.2-4 and the real `hafs` CLI.
#include <gtest/gtest.h>

#include "tests/integration/mgmtd/mgmtd_cluster.h"

namespace hafs::testing {
namespace {

using namespace std::chrono_literals;

bool Contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

std::vector<std::string> CreateArgs(MgmtdCluster& c, const std::string& name, bool force = true) {
  std::vector<std::string> a = {"volume", "create", name, "replica", std::to_string(c.size())};
  for (int i = 0; i < c.size(); ++i) a.push_back(c.host(i) + ":" + c.dir() + "/bricks/" + name + "-" + std::to_string(i));
  if (force) a.push_back("force");
  return a;
}

bool InfoIdentical(MgmtdCluster& c, const std::string& name) {
  auto first = c.Cli(0, {"volume", "info", name});
  if (first.code != 0) return false;
  for (int i = 1; i < c.size(); ++i) {
    auto r = c.Cli(i, {"volume", "info", name});
    if (r.code != 0 || r.out != first.out) return false;
  }
  return true;
}

std::string OptionValue(MgmtdCluster& c, int node, const std::string& vol, const std::string& key) {
  auto j = c.Json(node, {"volume", "get", vol, key});
  if (j.is_null() || j["options"].empty()) return "";
  return j["options"][0]["value"].get<std::string>();
}

TEST(MgmtdPoolTest, PoolFormsAndAVolumeCreatedOnOnePeerAppearsOnAll) {
  MgmtdCluster c(3);
  c.FormPool();
  auto status = c.Cli(1, {"peer", "status"});
  EXPECT_EQ(status.code, 0);
  EXPECT_TRUE(Contains(status.out, "Number of Peers: 2")) << status.out;
  EXPECT_TRUE(Contains(status.out, "State: Peer in Cluster (Connected)")) << status.out;
  auto created = c.Cli(1, CreateArgs(c, "gv0"));
  ASSERT_EQ(created.code, 0) << created.out;
  EXPECT_TRUE(Contains(created.out, "volume create: gv0: success: please start the volume to access data"));
  ASSERT_TRUE(Within(5s, [&] { return InfoIdentical(c, "gv0"); }));
  auto info = c.Cli(2, {"volume", "info", "gv0"});
  EXPECT_TRUE(Contains(info.out, "Type: Replicate")) << info.out;
  EXPECT_TRUE(Contains(info.out, "Number of Bricks: 1 x 3 = 3")) << info.out;
  EXPECT_TRUE(Contains(info.out, "Status: Created")) << info.out;
  // Probing a member again is harmless.
  auto again = c.Cli(0, {"peer", "probe", c.address(2)});
  EXPECT_EQ(again.code, 0);
  EXPECT_TRUE(Contains(again.out, "already in peer list")) << again.out;
}

TEST(MgmtdPoolTest, BadInputIsRefusedWithOneLineAndNoStateChange) {
  MgmtdCluster c(3);
  c.FormPool();
  ASSERT_EQ(c.Cli(0, CreateArgs(c, "gv0")).code, 0);
  ASSERT_TRUE(Within(5s, [&] { return InfoIdentical(c, "gv0"); }));
  auto before = c.Cli(0, {"volume", "info"}).out;

  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  std::string b = c.dir() + "/bricks/x";
  std::vector<Case> cases = {
      {{"volume", "info", "nope"}, "Volume nope does not exist"},
      {{"volume", "start", "nope"}, "volume start: nope: failed: Volume nope does not exist"},
      {{"volume", "set", "nope", "network.ping-timeout", "5"}, "Volume nope does not exist"},
      {CreateArgs(c, "gv0"), "volume create: gv0: failed: Volume gv0 already exists"},
      {{"volume", "create", "gv1", c.host(0) + b}, "wrong brick type"},
      {{"volume", "create", "gv1", c.host(0) + ":relative/path"}, "wrong brick type"},
      {{"volume", "create", "gv1", "replica", "2", c.host(0) + ":" + b + "1"}, "not a multiple of replica count"},
      {{"volume", "create", "gv1", "replica", "2", c.host(0) + ":" + b + "1", c.host(0) + ":" + b + "2"},
       "Multiple bricks of a replicate volume are present on the same server"},
      {{"volume", "create", "gv1", c.host(0) + ":/hafs-it-not-here/brick"}, "is being created in the root partition"},
      {{"volume", "create", "gv1", "10.11.12.13:" + b + "1", "force"}, "is not in 'Peer in Cluster' state"},
      {{"volume", "create", "gv1", c.host(0) + ":" + c.dir() + "/bricks/gv0-0/sub", "force"}, "overlaps brick"},
      {{"volume", "create", "bad/name", c.host(0) + ":" + b + "1", "force"}, "is not valid"},
      {{"volume", "set", "gv0", "network.ping-timeout", "soon"}, "value 'soon' is not valid"},
      {{"volume", "set", "gv0", "no.such-option", "1"}, "does not exist"},
      {{"volume", "reset", "gv0", "no.such-option"}, "does not exist"},
      {{"volume", "stop", "gv0"}, "is not in the started state"},
      {{"peer", "probe", "127.0.0.9:1"}, "Probe returned with Transport endpoint is not connected"},
      {{"peer", "detach", "127.0.0.9"}, "is not part of cluster"},
  };
  for (const auto& k : cases) {
    auto r = c.Cli(0, k.args);
    EXPECT_NE(r.code, 0) << k.args[1] << ": " << r.out;
    EXPECT_TRUE(Contains(r.out, k.expect)) << "expected '" << k.expect << "' in: " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one line expected: " << r.out;
  }
  auto unknown_verb = c.Cli(0, {"volume", "frobnicate", "gv0"});
  EXPECT_EQ(unknown_verb.code, 2);
  for (int i = 0; i < c.size(); ++i) EXPECT_EQ(c.Cli(i, {"volume", "info"}).out, before) << "node " << i;
  auto pool = c.Json(0, {"pool", "list"});
  EXPECT_EQ(pool["peers"].size(), 3u);
}

TEST(MgmtdPoolTest, ReturningPeerCatchesUpMinorityRefusesAndRestartKeepsState) {
  MgmtdCluster c(3);
  c.FormPool();
  ASSERT_EQ(c.Cli(0, CreateArgs(c, "gv0")).code, 0);
  ASSERT_TRUE(Within(5s, [&] { return InfoIdentical(c, "gv0"); }));

  // One peer down: changes go on; it catches up when it returns.
  c.Kill(2);
  ASSERT_TRUE(Within(15s, [&] { return c.Cli(0, {"volume", "set", "gv0", "network.ping-timeout", "9"}).code == 0; }));
  EXPECT_EQ(OptionValue(c, 1, "gv0", "network.ping-timeout"), "9");
  c.Start(2);
  EXPECT_TRUE(Within(10s, [&] { return OptionValue(c, 2, "gv0", "network.ping-timeout") == "9"; }))
      << c.Log(2);

  // Two peers down: once the survivor sees them disconnected it refuses changes at once,
  // with a clear message, and keeps its state. (A change made in the very instant the peers
  // die is uncertain — it is reported as "may still be applied" — as in any consensus system.)
  c.Kill(1);
  c.Kill(2);
  ASSERT_TRUE(Within(15s, [&] {
    auto j = c.Json(0, {"pool", "list"});
    if (j.is_null()) return false;
    int connected = 0;
    for (auto& p : j["peers"]) connected += p["connected"].get<bool>() ? 1 : 0;
    return connected == 1;
  }));
  auto t0 = std::chrono::steady_clock::now();
  CliResult refused = c.Cli(0, {"volume", "set", "gv0", "network.ping-timeout", "11"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "a minority refuses at once";
  EXPECT_NE(refused.code, 0);
  EXPECT_TRUE(Contains(refused.out, "no quorum")) << refused.out;
  EXPECT_TRUE(Contains(refused.out, "volume set: failed:")) << refused.out;
  EXPECT_EQ(OptionValue(c, 0, "gv0", "network.ping-timeout"), "9");
  c.Start(1);
  c.Start(2);
  ASSERT_TRUE(Within(15s, [&] { return c.Cli(1, {"volume", "set", "gv0", "cluster.quorum-type", "fixed"}).code == 0; }));
  ASSERT_TRUE(Within(10s, [&] { return InfoIdentical(c, "gv0"); }));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(OptionValue(c, i, "gv0", "network.ping-timeout"), "9") << "node " << i;

  // Restart all three (clean stop): state intact, pool works.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.Stop(i), 0);
  for (int i = 0; i < 3; ++i) c.Start(i);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(OptionValue(c, i, "gv0", "cluster.quorum-type"), "fixed") << "node " << i;
    EXPECT_EQ(c.Json(i, {"pool", "list"})["peers"].size(), 3u);
  }
  ASSERT_TRUE(Within(15s, [&] { return c.Cli(2, {"volume", "reset", "gv0", "all"}).code == 0; }));
  EXPECT_TRUE(Within(10s, [&] { return OptionValue(c, 0, "gv0", "network.ping-timeout") == "3"; }));
}

TEST(MgmtdPoolTest, DetachRefusesAPeerWithBricksAndFreesOneWithout) {
  MgmtdCluster c(3);
  c.FormPool();
  std::vector<std::string> create = {"volume", "create", "gv0", c.host(1) + ":" + c.dir() + "/bricks/d1", "force"};
  ASSERT_EQ(c.Cli(0, create).code, 0);
  auto busy = c.Cli(0, {"peer", "detach", c.address(1)});
  EXPECT_NE(busy.code, 0);
  EXPECT_TRUE(Contains(busy.out, "Brick(s) with the peer")) << busy.out;
  auto self = c.Cli(0, {"peer", "detach", c.address(0)});
  EXPECT_NE(self.code, 0);
  auto ok = c.Cli(0, {"peer", "detach", c.address(2)});
  ASSERT_EQ(ok.code, 0) << ok.out;
  EXPECT_TRUE(Within(5s, [&] { return c.Json(1, {"pool", "list"})["peers"].size() == 2u; }));
  // The detached node has a pool of its own, without the volume.
  EXPECT_TRUE(Within(5s, [&] {
    auto j = c.Json(2, {"pool", "list"});
    return !j.is_null() && j["peers"].size() == 1u;
  }));
  EXPECT_NE(c.Cli(2, {"volume", "info", "gv0"}).code, 0);
  // It can be probed back.
  auto back = c.Cli(1, {"peer", "probe", c.address(2)});
  EXPECT_EQ(back.code, 0) << back.out;
  EXPECT_TRUE(Within(10s, [&] { return InfoIdentical(c, "gv0"); }));
}

}  // namespace
}  // namespace hafs::testing
