// Directory layouts (client-fuse/distribute/layout.h): equal splits agree with the historic
// "(hash * n) >> 32" placement, round-trip through their text, and holes are reported.
#include "client-fuse/distribute/layout.h"

#include <gtest/gtest.h>

namespace hafs::client {
namespace {

TEST(Layout, EqualSplitMatchesTheFixedPlacementOfOlderVolumes) {
  for (size_t n : {1u, 2u, 3u, 5u, 7u}) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < n; ++i) ids.push_back("h:/b" + std::to_string(i));
    Layout l = Layout::Equal(ids);
    EXPECT_TRUE(l.Complete()) << n;
    for (int k = 0; k < 2000; ++k) {
      std::string name = "file-" + std::to_string(k);
      size_t old = (static_cast<uint64_t>(Layout::NameHash(name)) * n) >> 32;
      EXPECT_EQ(l.Pick(name), ids[old]) << name << " n=" << n;
    }
    for (uint32_t h : {0u, 1u, UINT32_MAX, UINT32_MAX / 2, UINT32_MAX / 3 + 1})
      EXPECT_EQ(l.PickHash(h), ids[(static_cast<uint64_t>(h) * n) >> 32]) << h << " n=" << n;
  }
}

TEST(Layout, RoundTripsThroughText) {
  Layout l = Layout::Equal({"a:/x", "b:/y", "c:/z"});
  auto back = Layout::Parse(l.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, l);
}

TEST(Layout, RejectsGarbageAndReportsHoles) {
  EXPECT_FALSE(Layout::Parse("").ok());
  EXPECT_FALSE(Layout::Parse("hafs-layout 2\n").ok());
  EXPECT_FALSE(Layout::Parse("hafs-layout 1\n5 4 a:/x\n").ok());
  EXPECT_FALSE(Layout::Parse("hafs-layout 1\n0 4294967296 a:/x\n").ok());
  auto l = Layout::Parse("hafs-layout 1\n0 99 a:/x\n200 4294967295 b:/y\n");
  ASSERT_TRUE(l.ok());
  EXPECT_FALSE(l->Complete());
  EXPECT_EQ(l->PickHash(50), "a:/x");
  EXPECT_EQ(l->PickHash(150), "");
  EXPECT_EQ(l->PickHash(UINT32_MAX), "b:/y");
}

}  // namespace
}  // namespace hafs::client
