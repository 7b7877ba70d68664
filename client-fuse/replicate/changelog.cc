#include "client-fuse/replicate/changelog.h"

#include <algorithm>

namespace hafs::client {

int64_t Count(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<std::string>& names,
              size_t i, size_t j) {
  auto it = counters[i].find(names[j]);
  return it == counters[i].end() ? 0 : it->second;
}

std::vector<bool> ComputeAccused(const std::vector<std::map<std::string, int64_t>>& counters,
                                 const std::vector<bool>& answered, const std::vector<std::string>& names,
                                 bool* split) {
  const size_t n = names.size();
  std::vector<bool> accused(n, false);
  *split = false;
  auto count = [&](size_t i, size_t j) { return Count(counters, names, i, j); };
  // A pre-op adds 1 for every brick; a post-op takes 1 from each brick that did the change,
  // the brick itself included. So what i counts for j beyond what it counts for itself is the
  // number of changes i completed and j did not: i knows j is behind, fool or not. Its own
  // counter alone only says i has a change whose outcome it does not know.
  auto behind = [&](size_t i, size_t j) { return count(i, j) > std::max<int64_t>(count(i, i), 0); };
  std::vector<bool> fool(n, false);
  size_t answering = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!answered[i]) continue;
    ++answering;
    fool[i] = IsFool(counters, names, i);
  }
  for (size_t i = 0; i < n; ++i) {
    if (!answered[i]) continue;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      // A brick that does not answer stays accused by any count: it is not read anyway.
      if (answered[j] ? behind(i, j) : count(i, j) > 0) accused[j] = true;
    }
  }
  // A fool nobody knows to be behind is a sink only if a sane brick (no change of unknown
  // outcome, behind nobody) can be the source; otherwise the fools are the candidates.
  bool source = false, sane_source = false;
  for (size_t k = 0; k < n; ++k) {
    source = source || (answered[k] && !accused[k]);
    sane_source = sane_source || (answered[k] && !fool[k] && !accused[k]);
  }
  // Split-brain: every answering brick lacks a change another one completed; no copy has
  // them all. (Two bricks each behind the other are not one when a third is behind nobody:
  // it completed every change either of them did.)
  if (answering >= 2 && !source) *split = true;
  for (size_t i = 0; i < n; ++i)
    if (answered[i] && fool[i] && sane_source) accused[i] = true;
  return accused;
}

bool AllFools(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
              const std::vector<std::string>& names) {
  size_t answering = 0, fools = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!answered[i]) continue;
    ++answering;
    if (IsFool(counters, names, i)) ++fools;
  }
  return answering >= 2 && fools == answering;
}

bool NeedsMerge(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
                const std::vector<std::string>& names) {
  auto count = [&](size_t i, size_t j) { return Count(counters, names, i, j); };
  bool any_fool = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!answered[i] || !IsFool(counters, names, i)) continue;
    any_fool = true;
    for (size_t k = 0; k < names.size(); ++k) {
      if (k == i || !answered[k] || IsFool(counters, names, k)) continue;
      // A sane brick accuses the fool: the fool's change failed, an ordinary heal follows.
      if (count(k, i) > 0) return false;
      // The fool counts less for the sane brick than for itself: it says that brick did every
      // change it completed, and its own is one refused for want of quorum (a brick that was
      // away, or one in a lock whose client died, is counted as much as the fool itself).
      if (count(i, k) < count(i, i)) return false;
    }
  }
  return any_fool;
}

}  // namespace hafs::client
