// mdadm-style text for hafs-raid: --detail, --examine and the /proc/mdstat-like status.
// Pure formatting of value types; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "raid/array.h"
#include "raid/md_format.h"

namespace hafs::raid {

std::string FormatDetail(const std::string& name, const ArrayStatus& st, bool running);
// `dev_bytes`: size of the examined device; `bitmap`: its bitmap header if present.
std::string FormatExamine(const std::string& path, const Superblock& sb, uint64_t dev_bytes,
                          const std::optional<BitmapHeader>& bitmap);
// One array's block in the mdstat view.
std::string FormatMdstat(const std::string& name, const ArrayStatus& st, bool running);

}  // namespace hafs::raid
