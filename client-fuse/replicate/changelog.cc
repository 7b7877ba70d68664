#include "client-fuse/replicate/changelog.h"

namespace hafs::client {

std::vector<bool> ComputeAccused(const std::vector<std::map<std::string, int64_t>>& counters,
                                 const std::vector<bool>& answered, const std::vector<std::string>& names,
                                 bool* split) {
  const size_t n = names.size();
  std::vector<bool> accused(n, false);
  *split = false;
  auto accuses = [&](size_t i, size_t j) {
    auto it = counters[i].find(names[j]);
    return it != counters[i].end() && it->second > 0;
  };
  std::vector<bool> fool(n, false);
  bool all_fools = true;
  for (size_t i = 0; i < n; ++i) {
    if (!answered[i]) continue;
    fool[i] = accuses(i, i);
    all_fools = all_fools && fool[i];
  }
  for (size_t i = 0; i < n; ++i) {
    if (!answered[i]) continue;
    for (size_t j = 0; j < n; ++j) {
      if (j == i || !accuses(i, j)) continue;
      if (answered[j] && (fool[i] || all_fools)) continue;
      accused[j] = true;
      if (answered[j] && !fool[j] && accuses(j, i)) *split = true;
    }
    if (fool[i] && !all_fools) accused[i] = true;
  }
  return accused;
}

bool AllFools(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
              const std::vector<std::string>& names) {
  size_t answering = 0, fools = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!answered[i]) continue;
    ++answering;
    auto own = counters[i].find(names[i]);
    if (own != counters[i].end() && own->second > 0) ++fools;
  }
  return answering >= 2 && fools == answering;
}

bool NeedsMerge(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
                const std::vector<std::string>& names) {
  auto accuses = [&](size_t i, size_t j) {
    auto it = counters[i].find(names[j]);
    return it != counters[i].end() && it->second > 0;
  };
  bool any_fool = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!answered[i] || !accuses(i, i)) continue;
    any_fool = true;
    for (size_t k = 0; k < names.size(); ++k)
      if (k != i && answered[k] && !accuses(k, k) && accuses(k, i)) return false;
  }
  return any_fool;
}

}  // namespace hafs::client
