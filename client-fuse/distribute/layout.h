// Layout: the hash ranges of one directory over the volume's subvolumes (GlusterFS's
// trusted.glusterfs.dht idea). Every subvolume keeps the directory's whole layout in the
// reserved brick xattr `hafs.layout`, so one read tells where every name goes. A subvolume
// is named by its first brick ("host:/path"), so a layout survives bricks being added or
// removed around it; a range whose subvolume is not (or no longer) in the volume is a hole,
// and names that fall into a hole go where the equal split of today's subvolumes says.
//
// Text form, one range per line after the version line:
//   hafs-layout 1
//   <start> <end> <subvolume id>      (start..end inclusive, decimal uint32)
// Value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hafs::client {

struct LayoutRange {
  uint32_t start = 0, end = 0;  // inclusive
  std::string subvol;
  bool operator==(const LayoutRange&) const = default;
};

struct Layout {
  std::vector<LayoutRange> ranges;

  static uint32_t NameHash(std::string_view name);
  // Equal ranges over `subvols` in order (the split every new directory gets).
  static Layout Equal(const std::vector<std::string>& subvols);
  static Result<Layout> Parse(std::string_view text);
  std::string Encode() const;
  // The subvolume id `name` hashes to, or "" when it falls into a hole.
  std::string Pick(std::string_view name) const;
  std::string PickHash(uint32_t hash) const;
  // True when the ranges cover the whole 32-bit space without overlap.
  bool Complete() const;
  bool operator==(const Layout&) const = default;
};

}  // namespace hafs::client
