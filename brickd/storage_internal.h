// Small helpers shared by the storage_*.cc files; not part of the brick's interface.
#pragma once

#include <unistd.h>

#include <string>

#include <fmt/format.h>

namespace hafs::brick {

// Every object on a brick carries its gfid here (trusted.*: only root can read or forge it).
inline constexpr const char* kGfidXattr = "trusted.hafs.gfid";

// "/proc/self/fd/<dirfd>/<name>": lets the l*xattr calls act on a single entry of an open
// directory without following a symlink in the final component.
inline std::string ProcPath(int dirfd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dirfd, name);
}
inline std::string ProcPath(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace hafs::brick
