#include "common/uring_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace hafs {

TEST(UringFile, WriteReadFsyncRoundTrip) {
  char path[] = "/tmp/hafs-uring-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  ASSERT_EQ(uring::PWrite(fd, data.data(), data.size(), 4096), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(uring::Fsync(fd, true), 0);
  std::string back(data.size(), '\0');
  ASSERT_EQ(uring::PRead(fd, back.data(), back.size(), 4096), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(back, data);
  // Reading past EOF returns what is there (short), then 0.
  EXPECT_EQ(uring::PRead(fd, back.data(), 100, 4096 + data.size() - 10), 10);
  EXPECT_EQ(uring::PRead(fd, back.data(), 100, 1 << 30), 0);
  close(fd);
}

TEST(UringFile, ErrorsAreNegativeErrno) {
  char buf[16];
  EXPECT_EQ(uring::PRead(-1, buf, sizeof buf, 0), -EBADF);
  int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(uring::PRead(fd, buf, sizeof buf, 0), -EISDIR);
  close(fd);
}

}  // namespace hafs
