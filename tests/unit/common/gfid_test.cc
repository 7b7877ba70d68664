#include "common/gfid.h"

#include <gtest/gtest.h>

#include <set>

namespace hafs {

TEST(Gfid, RootIsOne) {
  EXPECT_EQ(Gfid::Root().ToString(), "00000000-0000-0000-0000-000000000001");
  EXPECT_TRUE(Gfid::Root().IsRoot());
  EXPECT_TRUE(Gfid().IsNull());
}

TEST(Gfid, ParseRoundTrip) {
  Gfid g = Gfid::Random();
  auto parsed = Gfid::Parse(g.ToString());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, g);
  auto upper = Gfid::Parse("ABCDEF01-2345-6789-ABCD-EF0123456789");
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->ToString(), "abcdef01-2345-6789-abcd-ef0123456789");
}

TEST(Gfid, ParseRejectsMalformed) {
  EXPECT_FALSE(Gfid::Parse(""));
  EXPECT_FALSE(Gfid::Parse("abcdef01-2345-6789-abcd-ef012345678"));    // short
  EXPECT_FALSE(Gfid::Parse("abcdef01-2345-6789-abcd-ef01234567899"));  // long
  EXPECT_FALSE(Gfid::Parse("abcdef01x2345-6789-abcd-ef0123456789"));   // bad dash
  EXPECT_FALSE(Gfid::Parse("abcdef01-2345-6789-abcd-ef012345678g"));   // bad hex
}

TEST(Gfid, FromBytesNeedsSixteen) {
  EXPECT_FALSE(Gfid::FromBytes(std::string(15, 'a')));
  EXPECT_FALSE(Gfid::FromBytes(std::string(17, 'a')));
  auto g = Gfid::FromBytes(std::string(16, '\x01'));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->Bytes(), std::string(16, '\x01'));
}

TEST(Gfid, RandomIsUniqueAndVersion4) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    Gfid g = Gfid::Random();
    EXPECT_FALSE(g.IsNull());
    EXPECT_FALSE(g.IsRoot());
    EXPECT_EQ(g.data()[6] >> 4, 4);
    EXPECT_TRUE(seen.insert(g.ToString()).second);
  }
}

}  // namespace hafs
