#include <gtest/gtest.h>

#include "mgmtd/options.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd {
namespace {

mgmtpb::Command AddPeer(const std::string& uuid, const std::string& addr) {
  mgmtpb::Command c;
  c.mutable_add_peer()->mutable_peer()->set_uuid(uuid);
  c.mutable_add_peer()->mutable_peer()->set_address(addr);
  return c;
}

mgmtpb::Command Create(const std::string& name, std::vector<std::pair<std::string, std::string>> bricks, int replica = 1) {
  mgmtpb::Command c;
  auto* v = c.mutable_create_volume()->mutable_volume();
  v->set_name(name);
  v->set_id(name + "-id");
  v->set_replica(replica);
  v->set_type(replica > 1 ? "replicate" : "distribute");
  for (auto& [h, p] : bricks) {
    auto* b = v->add_bricks();
    b->set_host(h);
    b->set_path(p);
  }
  return c;
}

class StateMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sm_.Apply(AddPeer("a", "127.0.0.2:24007")).ok());
    ASSERT_TRUE(sm_.Apply(AddPeer("b", "127.0.0.3:24007")).ok());
  }
  ClusterStateMachine sm_;
};

TEST_F(StateMachineTest, CreateChecksNamesHostsAndOverlaps) {
  EXPECT_TRUE(sm_.Apply(Create("gv0", {{"127.0.0.2", "/b/1"}, {"127.0.0.3", "/b/1"}}, 2)).ok());
  EXPECT_EQ(sm_.Apply(Create("gv0", {{"127.0.0.2", "/c"}})).err(), EEXIST);
  EXPECT_EQ(sm_.Apply(Create("bad name", {{"127.0.0.2", "/c"}})).err(), EINVAL);
  Status unknown = sm_.Apply(Create("gv1", {{"10.9.9.9", "/c"}}));
  EXPECT_EQ(unknown.message(), "Host 10.9.9.9 is not in 'Peer in Cluster' state");
  EXPECT_EQ(sm_.Apply(Create("gv1", {{"127.0.0.2", "/b/1"}})).err(), EEXIST);
  EXPECT_EQ(sm_.Apply(Create("gv1", {{"127.0.0.2", "/b/1/sub"}})).err(), EEXIST);
  EXPECT_EQ(sm_.Apply(Create("gv1", {{"127.0.0.2", "/b"}})).err(), EEXIST);
  EXPECT_TRUE(sm_.Apply(Create("gv1", {{"127.0.0.3", "/b/2"}})).ok());
  EXPECT_EQ(sm_.state().volumes_size(), 2);
}

TEST_F(StateMachineTest, LifecycleTransitions) {
  ASSERT_TRUE(sm_.Apply(Create("gv0", {{"127.0.0.2", "/b/1"}})).ok());
  mgmtpb::Command start, stop, del;
  start.mutable_set_state()->set_name("gv0");
  start.mutable_set_state()->set_state(mgmtpb::STARTED);
  stop.mutable_set_state()->set_name("gv0");
  stop.mutable_set_state()->set_state(mgmtpb::STOPPED);
  del.mutable_delete_volume()->set_name("gv0");
  EXPECT_EQ(sm_.Apply(stop).message(), "Volume gv0 is not in the started state");
  EXPECT_TRUE(sm_.Apply(start).ok());
  EXPECT_EQ(sm_.Apply(start).message(), "Volume gv0 already started");
  EXPECT_EQ(sm_.Apply(del).err(), EBUSY);
  mgmtpb::Command port;
  port.mutable_set_brick_port()->set_name("gv0");
  port.mutable_set_brick_port()->set_host("127.0.0.2");
  port.mutable_set_brick_port()->set_path("/b/1");
  port.mutable_set_brick_port()->set_port(49152);
  EXPECT_TRUE(sm_.Apply(port).ok());
  EXPECT_EQ(sm_.state().volumes(0).bricks(0).port(), 49152);
  EXPECT_TRUE(sm_.Apply(stop).ok());
  EXPECT_EQ(sm_.state().volumes(0).bricks(0).port(), 0);
  mgmtpb::Command remove;
  remove.mutable_remove_peer()->set_uuid("a");
  EXPECT_EQ(sm_.Apply(remove).err(), EBUSY);
  EXPECT_TRUE(sm_.Apply(del).ok());
  EXPECT_TRUE(sm_.Apply(remove).ok());
  EXPECT_EQ(sm_.state().peers_size(), 1);
}

TEST_F(StateMachineTest, OptionsAreValidated) {
  ASSERT_TRUE(sm_.Apply(Create("gv0", {{"127.0.0.2", "/b/1"}})).ok());
  mgmtpb::Command set;
  set.mutable_set_options()->set_name("gv0");
  (*set.mutable_set_options()->mutable_set())["network.ping-timeout"] = "5";
  EXPECT_TRUE(sm_.Apply(set).ok());
  (*set.mutable_set_options()->mutable_set())["network.ping-timeout"] = "fast";
  Status bad = sm_.Apply(set);
  EXPECT_EQ(bad.err(), EINVAL);
  EXPECT_EQ(sm_.state().volumes(0).options().at("network.ping-timeout"), "5");
  EXPECT_FALSE(ValidateOption("no.such-key", "1").ok());
  EXPECT_TRUE(ValidateOption("auth.allow", "127.0.0.*,10.0.0.0/8,::1").ok());
  EXPECT_FALSE(ValidateOption("auth.allow", "not an address").ok());
  EXPECT_TRUE(ValidateOption("cluster.quorum-type", "fixed").ok());
  EXPECT_FALSE(ValidateOption("cluster.quorum-type", "most").ok());
}

TEST(HostOfTest, SplitsAddresses) {
  EXPECT_EQ(HostOf("127.0.0.2:24007"), "127.0.0.2");
  EXPECT_EQ(HostOf("[::1]:24007"), "::1");
  EXPECT_EQ(HostOf("node1"), "node1");
}

}  // namespace
}  // namespace hafs::mgmtd
