// Raft in process: several RaftNodes joined by an in-memory fabric that can lose messages,
// take nodes down and cut links (partitions). Every wait is an "expect within" poll.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "mgmtd/raft/raft_node.h"

namespace hafs::mgmtd {
namespace {

using namespace std::chrono_literals;

class Fabric {
 public:
  void Register(const std::string& address, RaftNode* node) {
    std::lock_guard lock(mu_);
    nodes_[address] = node;
  }
  void SetDown(const std::string& address, bool down) {
    std::lock_guard lock(mu_);
    if (down) down_.insert(address);
    else down_.erase(address);
  }
  // Cuts every link between `a` and the rest (both directions).
  void Isolate(const std::string& a, bool isolated) {
    std::lock_guard lock(mu_);
    if (isolated) isolated_.insert(a);
    else isolated_.erase(a);
  }
  void SetLoss(double p) {
    std::lock_guard lock(mu_);
    loss_ = p;
  }
  RaftNode* Route(const std::string& from, const std::string& to) {
    std::lock_guard lock(mu_);
    if (down_.count(to) || down_.count(from) || isolated_.count(to) || isolated_.count(from)) return nullptr;
    if (loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_) return nullptr;
    auto it = nodes_.find(to);
    return it == nodes_.end() ? nullptr : it->second;
  }
  bool LoseReply() {
    std::lock_guard lock(mu_);
    return loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, RaftNode*> nodes_;
  std::set<std::string> down_, isolated_;
  double loss_ = 0;
  std::mt19937 rng_{42};
};

class FabricTransport : public RaftTransport {
 public:
  FabricTransport(Fabric* f, std::string self) : f_(f), self_(std::move(self)) {}
  Result<mgmtpb::VoteReply> RequestVote(const std::string& to, const mgmtpb::VoteRequest& req) override {
    RaftNode* n = f_->Route(self_, to);
    if (!n) return Status(ENOTCONN, "unreachable");
    auto r = n->HandleRequestVote(req);
    if (f_->LoseReply()) return Status(ENOTCONN, "reply lost");
    return r;
  }
  Result<mgmtpb::AppendReply> AppendEntries(const std::string& to, const mgmtpb::AppendRequest& req) override {
    RaftNode* n = f_->Route(self_, to);
    if (!n) return Status(ENOTCONN, "unreachable");
    auto r = n->HandleAppendEntries(req);
    if (f_->LoseReply()) return Status(ENOTCONN, "reply lost");
    return r;
  }

 private:
  Fabric* f_;
  std::string self_;
};

struct TestNode {
  std::string id, address;
  std::unique_ptr<MemoryRaftStorage> storage = std::make_unique<MemoryRaftStorage>();
  std::unique_ptr<FabricTransport> transport;
  std::unique_ptr<RaftNode> node;
};

bool Within(std::chrono::milliseconds limit, const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

mgmtpb::Command CreateVol(const std::string& name) {
  mgmtpb::Command c;
  auto* v = c.mutable_create_volume()->mutable_volume();
  v->set_name(name);
  v->set_id(name + "-id");
  v->set_type("distribute");
  v->set_replica(1);
  auto* b = v->add_bricks();
  b->set_host("n1");
  b->set_path("/bricks/" + name);
  return c;
}

class RaftTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& n : nodes_)
      if (n->node) n->node->Stop();
  }

  RaftOptions Opts(const TestNode& n) {
    RaftOptions o;
    o.self_id = n.id;
    o.self_address = n.address;
    o.heartbeat = 20ms;
    o.election_min = 150ms;
    o.election_max = 300ms;
    o.compact_every = compact_every_;
    o.compact_keep = compact_keep_;
    return o;
  }
  uint64_t compact_every_ = 1000, compact_keep_ = 100;

  void Boot(TestNode& n, bool bootstrap) {
    n.transport = std::make_unique<FabricTransport>(&fabric_, n.address);
    n.node = std::make_unique<RaftNode>(Opts(n), n.transport.get(), n.storage.get());
    fabric_.Register(n.address, n.node.get());
    ASSERT_TRUE(n.node->Start(bootstrap).ok());
  }

  // A pool of `count` nodes formed the way `peer probe` forms it.
  void Form(int count) {
    for (int i = 0; i < count; ++i) {
      auto n = std::make_unique<TestNode>();
      n->id = "uuid-" + std::to_string(i + 1);
      n->address = "n" + std::to_string(i + 1);
      nodes_.push_back(std::move(n));
    }
    Boot(*nodes_[0], true);
    ASSERT_TRUE(Within(3s, [&] {
      return nodes_[0]->node->Info().role == RaftRole::kLeader && nodes_[0]->node->State().peers_size() == 1;
    }));
    for (int i = 1; i < count; ++i) {
      Boot(*nodes_[i], false);
      ASSERT_TRUE(nodes_[i]->node->ResetForJoin(nodes_[0]->node->State().pool_id()).ok());
      mgmtpb::Command c;
      c.mutable_add_peer()->mutable_peer()->set_uuid(nodes_[i]->id);
      c.mutable_add_peer()->mutable_peer()->set_address(nodes_[i]->address);
      ASSERT_TRUE(ProposeAnywhere(c, 5s).ok());
    }
    ASSERT_TRUE(Converged(5s));
  }

  RaftNode* Leader(const std::set<std::string>& excluded = {}) {
    for (auto& n : nodes_)
      if (!excluded.count(n->address) && n->node->Info().role == RaftRole::kLeader) return n->node.get();
    return nullptr;
  }

  // Proposes at whichever node is leader (not in `excluded`), retrying until `limit`.
  Status ProposeAnywhere(const mgmtpb::Command& c, std::chrono::milliseconds limit,
                         const std::set<std::string>& excluded = {}) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    Status last(ETIMEDOUT, "no leader");
    while (std::chrono::steady_clock::now() < deadline) {
      if (RaftNode* l = Leader(excluded)) {
        last = l->Propose(c, 1s);
        if (last.ok() || (last.err() != EAGAIN && last.err() != ENOTCONN && last.err() != ETIMEDOUT)) return last;
      }
      std::this_thread::sleep_for(20ms);
    }
    return last;
  }

  bool Converged(std::chrono::milliseconds limit, const std::set<std::string>& excluded = {}) {
    return Within(limit, [&] {
      std::string first;
      bool have = false;
      for (auto& n : nodes_) {
        if (excluded.count(n->address)) continue;
        auto s = n->node->State();
        s.clear_version();
        std::string text = s.SerializeAsString();
        if (!have) {
          first = text;
          have = true;
        } else if (text != first) {
          return false;
        }
      }
      return true;
    });
  }

  bool HasVolume(RaftNode* n, const std::string& name) {
    auto state = n->State();
    for (const auto& v : state.volumes())
      if (v.name() == name) return true;
    return false;
  }

  Fabric fabric_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
};

// Log compaction (§7): the log stays short; a peer that missed compacted entries is brought
// up to date with the leader's state; a restart keeps the state and the compaction point.
TEST_F(RaftTest, CompactedLogCatchesUpALaggingPeerWithTheState) {
  compact_every_ = 20;
  compact_keep_ = 5;
  Form(3);
  std::string lagging;
  RaftNode* lag = nullptr;
  for (auto& n : nodes_) {
    if (n->node->Info().role != RaftRole::kLeader) {
      lagging = n->address;
      lag = n->node.get();
      break;
    }
  }
  ASSERT_NE(lag, nullptr);
  fabric_.SetDown(lagging, true);
  for (int i = 0; i < 80; ++i) ASSERT_TRUE(ProposeAnywhere(CreateVol("v" + std::to_string(i)), 5s, {lagging}).ok());
  RaftNode* leader = Leader({lagging});
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(Within(3s, [&] { return leader->Info().snap_index > 50; })) << leader->DumpState();
  EXPECT_LT(leader->Info().last_index - leader->Info().snap_index, 40u);
  EXPECT_FALSE(HasVolume(lag, "v79"));
  uint64_t lag_snap = lag->Info().snap_index;
  fabric_.SetDown(lagging, false);
  ASSERT_TRUE(Converged(10s));
  EXPECT_TRUE(HasVolume(lag, "v0"));
  EXPECT_TRUE(HasVolume(lag, "v79"));
  EXPECT_GT(lag->Info().snap_index, lag_snap) << lag->DumpState();  // it got the state, not entries
  EXPECT_EQ(lag->State().volumes_size(), 80);
  // It follows ordinary entries after the snapshot.
  ASSERT_TRUE(ProposeAnywhere(CreateVol("after-snapshot"), 5s).ok());
  ASSERT_TRUE(Converged(5s));
  EXPECT_TRUE(HasVolume(lag, "after-snapshot"));
  // Restart: the state and the compaction point survive; the pool goes on.
  for (auto& n : nodes_) n->node->Stop();
  for (auto& n : nodes_) {
    n->node.reset();
    Boot(*n, true);
    EXPECT_TRUE(HasVolume(n->node.get(), "v79"));
    EXPECT_TRUE(HasVolume(n->node.get(), "after-snapshot"));
    EXPECT_GT(n->node->Info().snap_index, 0u);
  }
  ASSERT_TRUE(ProposeAnywhere(CreateVol("after-restart"), 5s).ok());
  ASSERT_TRUE(Converged(5s));
  for (auto& n : nodes_) EXPECT_EQ(n->node->State().volumes_size(), 82);
}

TEST_F(RaftTest, SingleNodeBootstrapsAndApplies) {
  Form(1);
  auto* n = nodes_[0]->node.get();
  EXPECT_EQ(n->State().peers_size(), 1);
  Status created = n->Propose(CreateVol("gv0"), 2s);
  ASSERT_TRUE(created.ok()) << created.ToString();
  EXPECT_TRUE(HasVolume(n, "gv0"));
  Status dup = n->Propose(CreateVol("gv0"), 2s);
  EXPECT_EQ(dup.err(), EEXIST);
  EXPECT_EQ(dup.message(), "Volume gv0 already exists");
}

TEST_F(RaftTest, ThreeNodesAgreeOnEveryChange) {
  Form(3);
  for (auto& n : nodes_) EXPECT_EQ(n->node->State().peers_size(), 3);
  ASSERT_TRUE(ProposeAnywhere(CreateVol("gv0"), 3s).ok());
  EXPECT_EQ(ProposeAnywhere(CreateVol("gv0"), 3s).err(), EEXIST);
  ASSERT_TRUE(Converged(3s));
  for (auto& n : nodes_) EXPECT_TRUE(HasVolume(n->node.get(), "gv0"));
}

TEST_F(RaftTest, FollowerRefusesProposalAndNamesTheLeader) {
  Form(3);
  RaftNode* follower = nullptr;
  ASSERT_TRUE(Within(2s, [&] {
    for (auto& n : nodes_)
      if (n->node->Info().role == RaftRole::kFollower && !n->node->Info().leader_address.empty())
        follower = n->node.get();
    return follower != nullptr;
  }));
  std::string leader;
  Status st = follower->Propose(CreateVol("x"), 1s, &leader);
  EXPECT_EQ(st.err(), EAGAIN);
  EXPECT_FALSE(leader.empty());
}

TEST_F(RaftTest, LeaderFailsOverAndReturningPeerCatchesUp) {
  Form(3);
  RaftNode* old = Leader();
  ASSERT_NE(old, nullptr);
  std::string old_addr;
  for (auto& n : nodes_)
    if (n->node.get() == old) old_addr = n->address;
  fabric_.SetDown(old_addr, true);
  ASSERT_TRUE(ProposeAnywhere(CreateVol("while-down"), 5s, {old_addr}).ok());
  EXPECT_FALSE(HasVolume(old, "while-down"));
  fabric_.SetDown(old_addr, false);
  ASSERT_TRUE(Converged(5s));
  EXPECT_TRUE(HasVolume(old, "while-down"));
}

TEST_F(RaftTest, MinorityRefusesChangesAndNothingDiverges) {
  Form(3);
  ASSERT_TRUE(ProposeAnywhere(CreateVol("before"), 3s).ok());
  ASSERT_TRUE(Converged(3s));
  // Keep node 1, take the two others down.
  fabric_.SetDown("n2", true);
  fabric_.SetDown("n3", true);
  RaftNode* survivor = nodes_[0]->node.get();
  // Within a few election timeouts the survivor knows it is alone (no leader anywhere it can
  // reach) and refuses at once, appending nothing. (A change proposed in the instant the
  // peers die is uncertain — ETIMEDOUT says it "may still be applied" — so it is not tested.)
  ASSERT_TRUE(Within(3s, [&] {
    auto info = survivor->Info();
    return info.role != RaftRole::kLeader && info.leader_address.empty();
  }));
  Status st = survivor->Propose(CreateVol("minority"), 300ms);
  EXPECT_EQ(st.err(), ENOTCONN);
  EXPECT_NE(st.message().find("no quorum"), std::string::npos) << st.ToString();
  fabric_.SetDown("n2", false);
  fabric_.SetDown("n3", false);
  ASSERT_TRUE(ProposeAnywhere(CreateVol("after"), 5s).ok());
  ASSERT_TRUE(Converged(5s));
  for (auto& n : nodes_) {
    EXPECT_TRUE(HasVolume(n->node.get(), "before"));
    EXPECT_TRUE(HasVolume(n->node.get(), "after"));
    EXPECT_FALSE(HasVolume(n->node.get(), "minority"));
  }
}

TEST_F(RaftTest, IsolatedLeaderEntriesAreDiscarded) {
  Form(3);
  RaftNode* old = Leader();
  ASSERT_NE(old, nullptr);
  std::string old_addr;
  for (auto& n : nodes_)
    if (n->node.get() == old) old_addr = n->address;
  fabric_.Isolate(old_addr, true);
  // The isolated leader may still append this entry, but can never commit it.
  Status st = old->Propose(CreateVol("lost"), 200ms);
  EXPECT_FALSE(st.ok());
  ASSERT_TRUE(ProposeAnywhere(CreateVol("kept"), 5s, {old_addr}).ok());
  fabric_.Isolate(old_addr, false);
  ASSERT_TRUE(Converged(5s));
  for (auto& n : nodes_) {
    EXPECT_TRUE(HasVolume(n->node.get(), "kept"));
    EXPECT_FALSE(HasVolume(n->node.get(), "lost"));
  }
}

TEST_F(RaftTest, MessageLossStillConverges) {
  Form(3);
  fabric_.SetLoss(0.2);
  for (int i = 0; i < 10; ++i) {
    Status st = ProposeAnywhere(CreateVol("v" + std::to_string(i)), 10s);
    // With lost replies a proposal can time out although it was applied; it must then be
    // refused as a duplicate on retry, never applied twice.
    if (!st.ok()) {
      Status again = ProposeAnywhere(CreateVol("v" + std::to_string(i)), 10s);
      EXPECT_TRUE(again.ok() || again.err() == EEXIST) << again.ToString();
    }
  }
  fabric_.SetLoss(0);
  ASSERT_TRUE(Converged(5s));
  for (auto& n : nodes_) EXPECT_EQ(n->node->State().volumes_size(), 10);
}

TEST_F(RaftTest, RestartKeepsStateAndLog) {
  Form(3);
  ASSERT_TRUE(ProposeAnywhere(CreateVol("durable"), 3s).ok());
  ASSERT_TRUE(Converged(3s));
  for (auto& n : nodes_) n->node->Stop();
  for (auto& n : nodes_) {
    n->node.reset();
    Boot(*n, true);  // a non-empty log is never bootstrapped again
    EXPECT_TRUE(HasVolume(n->node.get(), "durable"));
  }
  ASSERT_TRUE(ProposeAnywhere(CreateVol("later"), 5s).ok());
  ASSERT_TRUE(Converged(5s));
  for (auto& n : nodes_) {
    EXPECT_EQ(n->node->State().peers_size(), 3);
    EXPECT_TRUE(HasVolume(n->node.get(), "later"));
  }
}

TEST_F(RaftTest, RemovedPeerLeavesTheConfiguration) {
  Form(3);
  mgmtpb::Command c;
  c.mutable_remove_peer()->set_uuid("uuid-3");
  ASSERT_TRUE(ProposeAnywhere(c, 3s).ok());
  ASSERT_TRUE(Converged(3s, {"n3"}));
  EXPECT_EQ(nodes_[0]->node->State().peers_size(), 2);
  fabric_.SetDown("n3", true);
  // Two peers remain: both are needed, and both are there.
  ASSERT_TRUE(ProposeAnywhere(CreateVol("two"), 5s, {"n3"}).ok());
}

}  // namespace
}  // namespace hafs::mgmtd
