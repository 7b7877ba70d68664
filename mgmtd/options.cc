#include "mgmtd/options.h"

#include <arpa/inet.h>

#include <charconv>
#include <sstream>

namespace hafs::mgmtd {
namespace {

bool ParseInt(const std::string& v, long lo, long hi) {
  long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && p == v.data() + v.size() && n >= lo && n <= hi;
}

bool IsBool(const std::string& v) {
  return v == "on" || v == "off" || v == "true" || v == "false" || v == "yes" || v == "no" || v == "enable" ||
         v == "disable" || v == "1" || v == "0";
}

// A comma-separated list of IPv4/IPv6 addresses, CIDR prefixes, or globs with '*'.
bool IsAddressList(const std::string& v) {
  if (v.empty()) return false;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) return false;
    if (item.find('*') != std::string::npos) {
      for (char c : item)
        if (!(isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '*' || c == ':' ||
              isxdigit(static_cast<unsigned char>(c))))
          return false;
      continue;
    }
    std::string addr = item;
    auto slash = item.find('/');
    if (slash != std::string::npos) {
      addr = item.substr(0, slash);
      if (!ParseInt(item.substr(slash + 1), 0, 128)) return false;
    }
    unsigned char buf[16];
    if (inet_pton(AF_INET, addr.c_str(), buf) != 1 && inet_pton(AF_INET6, addr.c_str(), buf) != 1) return false;
  }
  return true;
}

struct Rule {
  OptionSpec spec;
  bool (*check)(const std::string&);
};

const std::vector<Rule>& Rules() {
  static const std::vector<Rule> rules = {
      {{"network.ping-timeout", "3", "an integer 1..3600 (seconds)",
        "a brick silent for this long is declared down by clients", "client"},
       [](const std::string& v) { return ParseInt(v, 1, 3600); }},
      {{"cluster.quorum-type", "auto", "auto, fixed or none",
        "writes need a majority of the replica set (auto), cluster.quorum-count bricks (fixed), or one (none)", "client"},
       [](const std::string& v) { return v == "auto" || v == "fixed" || v == "none"; }},
      {{"cluster.quorum-count", "0", "an integer 1..16", "bricks needed for a write with quorum-type fixed", "client"},
       [](const std::string& v) { return ParseInt(v, 1, 16); }},
      {{"auth.allow", "*", "a comma-separated list of addresses, CIDR prefixes or globs (e.g. 127.0.0.*)",
        "client addresses the bricks accept", "brick"},
       IsAddressList},
      {{"auth.reject", "", "a comma-separated list of addresses, CIDR prefixes or globs",
        "client addresses the bricks refuse", "brick"},
       IsAddressList},
      {{"performance.md-cache-timeout", "1", "an integer 0..600 (seconds)",
        "how long the client caches attributes and entries", "client"},
       [](const std::string& v) { return ParseInt(v, 0, 600); }},
      {{"performance.cache-size", "33554432", "an integer 0..68719476736 (bytes)", "client read cache size", "client"},
       [](const std::string& v) { return ParseInt(v, 0, 68719476736L); }},
      {{"features.read-only", "off", "on or off", "refuse every change to the volume", "client"}, IsBool},
      {{"cluster.self-heal-daemon", "on", "on or off", "run the background heal of this volume", "mgmtd"}, IsBool},
      {{"cluster.shd-max-threads", "4", "an integer 1..64", "files the heal daemon heals in parallel per brick", "mgmtd"},
       [](const std::string& v) { return ParseInt(v, 1, 64); }},
      {{"cluster.shd-max-heal-rate", "0", "an integer 0..100000 (entries per second, 0 = unlimited)",
        "throttle of the heal daemon on each node", "mgmtd"},
       [](const std::string& v) { return ParseInt(v, 0, 100000); }},
      {{"cluster.heal-timeout", "600", "an integer 5..86400 (seconds)", "interval of the heal daemon's full crawl",
        "mgmtd"},
       [](const std::string& v) { return ParseInt(v, 5, 86400); }},
      {{"diagnostics.brick-log-level", "info", "trace, debug, info, warn or error", "log level of the bricks", "brick"},
       [](const std::string& v) { return v == "trace" || v == "debug" || v == "info" || v == "warn" || v == "error"; }},
  };
  return rules;
}

}  // namespace

const std::vector<OptionSpec>& AllOptions() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> s;
    for (const auto& r : Rules()) s.push_back(r.spec);
    return s;
  }();
  return specs;
}

const OptionSpec* FindOption(const std::string& key) {
  for (const auto& s : AllOptions())
    if (s.key == key) return &s;
  return nullptr;
}

Status ValidateOption(const std::string& key, const std::string& value) {
  for (const auto& r : Rules()) {
    if (r.spec.key != key) continue;
    if (!r.check(value))
      return Status(EINVAL, fmt::format("option {}: value '{}' is not valid; expected {}", key, value, r.spec.valid));
    return Status::Ok();
  }
  return Status(EINVAL, fmt::format("option : {} does not exist", key));
}

}  // namespace hafs::mgmtd
