// The status view of hafs-vipd: a JSON document with each instance's state, priority, master
// address and counters, served on a Unix stream socket (connect, read to EOF) and printed by
// `hafs-vipd --status`.
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::vip {

struct InstanceStatus {
  std::string name;
  std::string state;
  std::string interface;
  int vrid = 0;
  int version = 0;
  int base_priority = 0;
  int priority = 0;
  std::string master;  // address of the current master as far as we know ("" if none yet)
  int advert_ms = 0;
  std::string fault_reason;
  std::vector<std::string> vips;
  std::string sync_group;
  std::map<std::string, uint64_t> counters;
};

std::string StatusJson(const std::string& router_id, const std::vector<InstanceStatus>& instances);
// Connects to the daemon's status socket and returns what it sends (bounded by a 2 s deadline).
Result<std::string> QueryStatus(const std::string& socket_path);

}  // namespace hafs::vip
