// Name validation for every directory entry a client names. The brick is the last line of
// defence: whatever a client sends, no request may address a path outside the brick or the
// brick's private `.hafs/` folder.
#pragma once

#include <string_view>

namespace hafs::brick {

inline constexpr std::string_view kPrivateDir = ".hafs";
inline constexpr size_t kNameMax = 255;

// 0 if `name` is a valid single path component, else the errno to return:
// ENAMETOOLONG over 255 bytes; EINVAL for empty, ".", "..", or a name with '/' or NUL.
int ValidateName(std::string_view name);

// True if `name` in the directory `parent_is_root` is the brick's private folder.
inline bool IsPrivateName(bool parent_is_root, std::string_view name) {
  return parent_is_root && name == kPrivateDir;
}

}  // namespace hafs::brick
