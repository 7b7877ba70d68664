#include "brickd/names.h"

#include <cerrno>

namespace hafs::brick {

int ValidateName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.size() > kNameMax) return ENAMETOOLONG;
  for (char c : name) {
    if (c == '/' || c == '\0') return EINVAL;
  }
  return 0;
}

}  // namespace hafs::brick
