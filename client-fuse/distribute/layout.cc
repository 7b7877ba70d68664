#include "client-fuse/distribute/layout.h"

#include <xxhash.h>

#include <algorithm>
#include <sstream>

namespace hafs::client {

uint32_t Layout::NameHash(std::string_view name) { return XXH32(name.data(), name.size(), 0); }

Layout Layout::Equal(const std::vector<std::string>& subvols) {
  Layout l;
  uint64_t k = subvols.size();
  for (uint64_t j = 0; j < k; ++j) {
    // Subvolume j owns the hashes h with floor(h*k / 2^32) == j.
    uint64_t start = ((j << 32) + k - 1) / k;
    uint64_t next = (((j + 1) << 32) + k - 1) / k;
    if (next <= start) continue;
    l.ranges.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(next - 1), subvols[j]});
  }
  return l;
}

Result<Layout> Layout::Parse(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string magic;
  int version = 0;
  if (!(in >> magic >> version) || magic != "hafs-layout" || version != 1)
    return Status(EINVAL, "layout: not a hafs-layout 1 text");
  Layout l;
  uint64_t start, end;
  std::string id;
  while (in >> start >> end >> id) {
    if (start > end || end > UINT32_MAX) return Status(EINVAL, "layout: bad range");
    l.ranges.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(end), id});
  }
  if (!in.eof()) return Status(EINVAL, "layout: trailing garbage");
  return l;
}

std::string Layout::Encode() const {
  std::string out = "hafs-layout 1\n";
  for (const auto& r : ranges) out += std::to_string(r.start) + " " + std::to_string(r.end) + " " + r.subvol + "\n";
  return out;
}

std::string Layout::PickHash(uint32_t h) const {
  for (const auto& r : ranges)
    if (h >= r.start && h <= r.end) return r.subvol;
  return "";
}

std::string Layout::Pick(std::string_view name) const { return PickHash(NameHash(name)); }

bool Layout::Complete() const {
  auto sorted = ranges;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.start < b.start; });
  uint64_t next = 0;
  for (const auto& r : sorted) {
    if (r.start != next) return false;
    next = static_cast<uint64_t>(r.end) + 1;
  }
  return next == (1ull << 32);
}

}  // namespace hafs::client
