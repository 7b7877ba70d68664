#include "brickd/op_stats.h"

namespace hafs::brick {

std::string_view OpName(Op op) {
  static constexpr std::string_view kNames[] = {
      "lookup",   "getattr",   "setattr", "mkdir",    "create",    "mknod",       "symlink", "readlink", "link",
      "unlink",   "rmdir",     "rename",  "opendir",  "readdir",   "open",        "release", "read",     "write",
      "truncate", "fallocate", "fsync",   "statfs",   "setxattr",  "getxattr",    "listxattr", "removexattr",
      "access",   "inodelk",   "entrylk", "xattrop",  "heal-index", "ping",
      "release-locks"};
  static_assert(std::size(kNames) == static_cast<size_t>(Op::kCount));
  return kNames[static_cast<int>(op)];
}

}  // namespace hafs::brick
