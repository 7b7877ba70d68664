// The replicated rules of add-brick, remove-brick and rebalance (mgmtd/state_machine.cc):
// a refused command changes nothing; the type follows the brick count.
#include <gtest/gtest.h>

#include "mgmtd/state_machine.h"

namespace hafs::mgmtd {
namespace {

class RebalanceRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mgmtpb::Command p;
    p.mutable_add_peer()->mutable_peer()->set_uuid("a");
    p.mutable_add_peer()->mutable_peer()->set_address("127.0.0.2:24007");
    ASSERT_TRUE(sm_.Apply(p).ok());
    mgmtpb::Command c;
    auto* v = c.mutable_create_volume()->mutable_volume();
    v->set_name("gv0");
    v->set_id("id0");
    v->set_replica(2);
    v->set_type("replicate");
    for (auto path : {"/b/0", "/b/1"}) {
      auto* b = v->add_bricks();
      b->set_host("127.0.0.2");
      b->set_path(path);
    }
    ASSERT_TRUE(sm_.Apply(c).ok());
  }
  mgmtpb::Command Add(std::vector<std::string> paths, const std::string& host = "127.0.0.2") {
    mgmtpb::Command c;
    c.mutable_add_bricks()->set_name("gv0");
    for (auto& p : paths) {
      auto* b = c.mutable_add_bricks()->add_bricks();
      b->set_host(host);
      b->set_path(p);
    }
    return c;
  }
  mgmtpb::Command Remove(std::vector<std::string> bricks, const std::string& phase) {
    mgmtpb::Command c;
    c.mutable_remove_bricks()->set_name("gv0");
    c.mutable_remove_bricks()->set_phase(phase);
    for (auto& b : bricks) c.mutable_remove_bricks()->add_bricks(b);
    return c;
  }
  const mgmtpb::Volume& vol() { return sm_.state().volumes(0); }
  ClusterStateMachine sm_;
};

TEST_F(RebalanceRulesTest, AddBrickRefusalsChangeNothing) {
  std::string before = sm_.state().SerializeAsString();
  EXPECT_EQ(sm_.Apply(Add({"/b/2"})).err(), EINVAL);                    // not a whole replica set
  EXPECT_EQ(sm_.Apply(Add({"/b/2", "/b/0"})).err(), EEXIST);            // already in the volume
  EXPECT_EQ(sm_.Apply(Add({"/b/0/x", "/b/3"})).err(), EEXIST);          // inside a brick
  EXPECT_EQ(sm_.Apply(Add({"/b/2", "/b/3"}, "10.0.0.9")).err(), ENOENT);  // not a peer
  mgmtpb::Command unknown = Add({"/b/2", "/b/3"});
  unknown.mutable_add_bricks()->set_name("nope");
  EXPECT_EQ(sm_.Apply(unknown).err(), ENOENT);
  EXPECT_EQ(sm_.state().SerializeAsString(), before);
  ASSERT_TRUE(sm_.Apply(Add({"/b/2", "/b/3"})).ok());
  EXPECT_EQ(vol().bricks_size(), 4);
  EXPECT_EQ(vol().type(), "distributed-replicate");
}

TEST_F(RebalanceRulesTest, RemoveBrickWholeSetsStartThenCommit) {
  ASSERT_TRUE(sm_.Apply(Add({"/b/2", "/b/3"})).ok());
  EXPECT_EQ(sm_.Apply(Remove({"127.0.0.2:/b/2"}, "start")).err(), EINVAL);  // half a set
  EXPECT_EQ(sm_.Apply(Remove({"127.0.0.2:/b/0", "127.0.0.2:/b/1", "127.0.0.2:/b/2", "127.0.0.2:/b/3"}, "start")).err(),
            EINVAL);  // everything
  EXPECT_EQ(sm_.Apply(Remove({"127.0.0.2:/b/2", "127.0.0.2:/b/3"}, "commit")).err(), EINVAL);  // not started
  ASSERT_TRUE(sm_.Apply(Remove({"127.0.0.2:/b/2", "127.0.0.2:/b/3"}, "start")).ok());
  EXPECT_EQ(vol().removing_size(), 2);
  EXPECT_EQ(sm_.Apply(Add({"/b/4", "/b/5"})).err(), EBUSY);  // no add-brick during a removal
  ASSERT_TRUE(sm_.Apply(Remove({"127.0.0.2:/b/2", "127.0.0.2:/b/3"}, "commit")).ok());
  EXPECT_EQ(vol().bricks_size(), 2);
  EXPECT_EQ(vol().removing_size(), 0);
  EXPECT_EQ(vol().type(), "replicate");
}

TEST_F(RebalanceRulesTest, RebalanceNeedsAStartedVolumeAndPausesOnlyWhenRunning) {
  mgmtpb::Command r;
  r.mutable_set_rebalance()->set_name("gv0");
  r.mutable_set_rebalance()->mutable_control()->set_id("run1");
  r.mutable_set_rebalance()->mutable_control()->set_state("started");
  EXPECT_EQ(sm_.Apply(r).err(), EINVAL);  // volume not started
  mgmtpb::Command start;
  start.mutable_set_state()->set_name("gv0");
  start.mutable_set_state()->set_state(mgmtpb::STARTED);
  ASSERT_TRUE(sm_.Apply(start).ok());
  ASSERT_TRUE(sm_.Apply(r).ok());
  mgmtpb::Command resume = r;
  EXPECT_EQ(sm_.Apply(resume).err(), EINVAL);  // not paused
  mgmtpb::Command pause = r;
  pause.mutable_set_rebalance()->mutable_control()->set_state("paused");
  ASSERT_TRUE(sm_.Apply(pause).ok());
  EXPECT_EQ(sm_.Apply(pause).err(), EINVAL);  // already paused
  ASSERT_TRUE(sm_.Apply(resume).ok());
  EXPECT_EQ(vol().rebalance().state(), "started");
}

}  // namespace
}  // namespace hafs::mgmtd
