// The errors replicate answers when a change reached too few bricks (client-fuse/fan_out.h).
#include "client-fuse/fan_out.h"

#include <gtest/gtest.h>

namespace hafs::client {
namespace {

using Results = std::vector<std::optional<Result<int>>>;

TEST(BelowQuorum, BricksLostUnderTheChangeIsEROFS) {
  Results r = {Result<int>(1), Result<int>(Status(ENOTCONN, "down")), Result<int>(Status(ECANCELED, "cut"))};
  EXPECT_EQ(BelowQuorum<int>({1, 2}, r).err(), EROFS);
  // A brick not called at all (its session was replaced) counts as lost.
  Results s = {Result<int>(1), std::nullopt, Result<int>(Status(ENOTCONN, "down"))};
  EXPECT_EQ(BelowQuorum<int>({1, 2}, s).err(), EROFS);
}

TEST(BelowQuorum, TheSameErrorEverywhereIsThatError) {
  Results r = {Result<int>(1), Result<int>(Status(ENOSPC, "full")), Result<int>(Status(ENOSPC, "full"))};
  EXPECT_EQ(BelowQuorum<int>({1, 2}, r).err(), ENOSPC);
}

TEST(BelowQuorum, MixedErrorsAreEIO) {
  Results r = {Result<int>(1), Result<int>(Status(ENOSPC, "full")), Result<int>(Status(ENOTCONN, "down"))};
  EXPECT_EQ(BelowQuorum<int>({1, 2}, r).err(), EIO);
}

}  // namespace
}  // namespace hafs::client
