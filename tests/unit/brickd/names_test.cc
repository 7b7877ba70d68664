#include "brickd/names.h"

#include <gtest/gtest.h>

namespace hafs::brick {

TEST(Names, AcceptsOrdinaryAndOddButLegalNames) {
  EXPECT_EQ(ValidateName("index.php"), 0);
  EXPECT_EQ(ValidateName("..."), 0);
  EXPECT_EQ(ValidateName(".hidden"), 0);
  EXPECT_EQ(ValidateName("sp ace\tand\nnewline"), 0);
  EXPECT_EQ(ValidateName("ünïcødé"), 0);
  EXPECT_EQ(ValidateName(std::string(255, 'a')), 0);
}

TEST(Names, RejectsTraversalAndMalformed) {
  EXPECT_EQ(ValidateName(""), EINVAL);
  EXPECT_EQ(ValidateName("."), EINVAL);
  EXPECT_EQ(ValidateName(".."), EINVAL);
  EXPECT_EQ(ValidateName("a/b"), EINVAL);
  EXPECT_EQ(ValidateName("../etc/passwd"), EINVAL);
  EXPECT_EQ(ValidateName("/"), EINVAL);
  EXPECT_EQ(ValidateName(std::string("a\0b", 3)), EINVAL);
  EXPECT_EQ(ValidateName(std::string(256, 'a')), ENAMETOOLONG);
}

TEST(Names, PrivateDirOnlyAtRoot) {
  EXPECT_TRUE(IsPrivateName(true, ".hafs"));
  EXPECT_FALSE(IsPrivateName(false, ".hafs"));
  EXPECT_FALSE(IsPrivateName(true, ".hafs2"));
}

}  // namespace hafs::brick
