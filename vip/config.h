// The keepalived-compatible configuration subset hafs-vipd reads (docs/vip.md lists every keyword
// with its default). Parsing is pure: text in, Config or an error naming file:line out.
// Thread-safety: value types; parse functions are reentrant.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hafs::vip {

struct VipAddress {
  uint32_t addr = 0;  // host order
  int prefix = 32;
  std::string dev;    // empty = the instance's interface
  std::string label;
};

// An address moved with the instance but not carried in adverts (keepalived's
// virtual_ipaddress_excluded): IPv4, or IPv6 (announced with an unsolicited NA).
struct ExcludedAddress {
  int family = 2;                     // AF_INET (2) or AF_INET6 (10)
  std::array<uint8_t, 16> bytes{};    // network order; IPv4 in the first 4
  int prefix = 32;
  std::string dev;
  std::string text;                   // as written, for logs and status
};

struct ScriptConfig {
  std::string name;
  std::string command;
  std::chrono::milliseconds interval{1000};  // keepalived default 1 s
  std::chrono::milliseconds timeout{0};      // 0 = same as interval
  int weight = 0;  // 0: failure faults the instance; else added to priority while failing (<0) / succeeding (>0)
  int rise = 1;
  int fall = 1;
  int line = 0;
};

struct TrackRef {
  std::string name;
  std::optional<int> weight;  // overrides the script's weight
  int line = 0;
};

struct InstanceConfig {
  std::string name;
  int line = 0;
  bool initial_master = false;  // `state MASTER`: documented as advisory (RFC: only priority 255 starts as master)
  std::string interface;
  int vrid = 0;
  int priority = 100;
  uint16_t advert_cs = 100;
  int version = 0;  // 0 = global vrrp_version
  int auth_type = 0;  // 0 none, 1 PASS
  std::string auth_pass;
  std::vector<VipAddress> vips;
  std::vector<ExcludedAddress> excluded;
  std::optional<uint32_t> unicast_src;
  std::vector<uint32_t> unicast_peers;
  std::vector<TrackRef> track_scripts;
  std::vector<TrackRef> track_interfaces;
  std::string notify_master, notify_backup, notify_fault, notify_stop, notify;
  bool nopreempt = false;
  std::chrono::milliseconds preempt_delay{0};
  std::chrono::milliseconds garp_master_delay{1000};
  // Quorum guard (hafs extension, see docs/vip.md): FAULT unless quorum_min of these answer ARP.
  std::vector<uint32_t> quorum_peers;
  int quorum_min = 0;  // 0 = all of quorum_peers
  std::chrono::milliseconds quorum_interval{500};  // second GARP burst after takeover (keepalived default 5 s)
};

struct SyncGroupConfig {
  std::string name;
  int line = 0;
  std::vector<std::string> members;
  std::string notify_master, notify_backup, notify_fault, notify;
};

struct GlobalConfig {
  std::string router_id;
  std::string notify_fifo;
  int vrrp_version = 2;  // keepalived's default
  std::chrono::milliseconds notify_timeout{5000};  // hafs extension: notify script deadline
};

struct Config {
  GlobalConfig global;
  std::vector<ScriptConfig> scripts;
  std::vector<InstanceConfig> instances;
  std::vector<SyncGroupConfig> groups;
  std::vector<std::string> warnings;
};

// Parses and validates (cross references, ranges, duplicate VRIDs on one interface).
Result<Config> ParseConfig(std::string_view text, std::string_view filename);
Result<Config> LoadConfigFile(const std::string& path);

}  // namespace hafs::vip
