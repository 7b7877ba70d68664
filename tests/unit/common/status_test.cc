#include "common/status.h"

#include <gtest/gtest.h>

namespace hafs {

static Result<int> Half(int x) {
  if (x % 2) return Status(EINVAL, "odd");
  return x / 2;
}

static Status Chain(int x, int* out) {
  HAFS_ASSIGN_OR_RETURN(h, Half(x));
  HAFS_ASSIGN_OR_RETURN(q, Half(h));
  *out = q;
  return Status::Ok();
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Status::FromErrno(ENOENT, "open x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), ENOENT);
  EXPECT_EQ(s.ToString(), "open x: No such file or directory");
}

TEST(Status, ResultPropagates) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Chain(6, &out);  // 6 -> 3 -> odd
  EXPECT_EQ(s.err(), EINVAL);
  EXPECT_EQ(s.message(), "odd");
}

}  // namespace hafs
