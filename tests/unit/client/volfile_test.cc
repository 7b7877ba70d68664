#include "client-fuse/volfile.h"

#include <gtest/gtest.h>

namespace hafs::client {
namespace {

const char* kGood = R"({
  "name": "gv0", "id": "0b7e2c4d-1111-4222-8333-444455556666", "type": "replicate", "replica": 3,
  "bricks": [ {"host": "127.0.0.1", "port": 24009, "path": "/b1"},
              {"host": "127.0.0.1", "port": 24010, "path": "/b2"},
              {"host": "127.0.0.1", "port": 24011, "path": "/b3"} ],
  "options": { "network.ping-timeout": "2", "cluster.quorum-type": "auto" }
})";

TEST(Volfile, ParsesAndRoundTrips) {
  auto v = Volfile::Parse(kGood);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->name, "gv0");
  EXPECT_EQ(v->replica, 3);
  EXPECT_EQ(v->bricks.size(), 3u);
  EXPECT_EQ(v->bricks[1].Endpoint(), "127.0.0.1:24010");
  EXPECT_EQ(v->ping_timeout_ms(), 2000);
  EXPECT_EQ(v->subvolume_count(), 1);
  auto again = Volfile::Parse(v->ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), v->ToJson());
}

TEST(Volfile, DefaultsAreGlusterLikeButFaster) {
  auto v = Volfile::Parse(R"({"name":"d","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"distribute",
                              "bricks":[{"host":"h","port":1},{"host":"h","port":2}]})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->ping_timeout_ms(), 3000);  // not Gluster's 42 s
  EXPECT_EQ(v->quorum_type(), "auto");
  EXPECT_EQ(v->subvolume_count(), 2);
}

TEST(Volfile, RejectsMalformedWithAReason) {
  struct Case {
    const char* json;
    const char* says;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[]", "top level"},
      {R"({"name":"x","id":"nope","type":"replicate","bricks":[{"host":"h","port":1}]})", "not a UUID"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"raid","bricks":[{"host":"h","port":1}]})",
       "unknown volume type"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"replicate","bricks":[]})", "no bricks"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"replicate","replica":2,
           "bricks":[{"host":"h","port":1},{"host":"h","port":2},{"host":"h","port":3}]})", "multiple"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"distribute",
           "bricks":[{"host":"h","port":70000}]})", "bad host or port"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"distribute",
           "bricks":[{"host":"h","port":1}],"options":{"network.ping-timeout":"soon"}})", "ping-timeout"},
      {R"({"name":"x","id":"0b7e2c4d-1111-4222-8333-444455556666","type":"distribute",
           "bricks":[{"host":"h"}]})", "missing or mistyped"},
  };
  for (auto& c : cases) {
    auto v = Volfile::Parse(c.json);
    ASSERT_FALSE(v.ok()) << c.json;
    EXPECT_EQ(v.err(), EINVAL);
    EXPECT_NE(v.status().message().find(c.says), std::string::npos) << v.status().message();
  }
  EXPECT_EQ(Volfile::Load("/nonexistent/volfile").err(), ENOENT);
}

}  // namespace
}  // namespace hafs::client
