#include "client-fuse/mount_options.h"

#include <algorithm>

#include <sstream>

namespace hafs::client {

namespace {
bool ParseSeconds(const std::string& v, double* out) {
  try {
    size_t pos = 0;
    double d = std::stod(v, &pos);
    if (pos != v.size() || d < 0 || d > 86400) return false;
    *out = d;
    return true;
  } catch (...) {
    return false;
  }
}
// A byte count with an optional K/M/G suffix (KB, KiB, MB... all binary, as Gluster's).
bool ParseBytes(const std::string& v, size_t* out) {
  try {
    size_t pos = 0;
    unsigned long long n = std::stoull(v, &pos);
    std::string unit = v.substr(pos);
    for (auto& c : unit) c = static_cast<char>(std::toupper(c));
    unsigned long long mul = 1;
    if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1ull << 10;
    else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1ull << 20;
    else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1ull << 30;
    else if (!unit.empty() && unit != "B") return false;
    if (v.empty() || v[0] == '-' || n == 0 || n > (1ull << 30) / mul) return false;  // at most 1 GiB
    *out = static_cast<size_t>(n * mul);
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace

Status MountOptions::Parse(const std::string& s) {
  std::stringstream ss(s);
  std::string opt;
  while (std::getline(ss, opt, ',')) {
    if (opt.empty()) continue;
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq), val = eq == std::string::npos ? "" : opt.substr(eq + 1);
    double secs = 0;
    if (key == "ro") read_only = true;
    else if (key == "rw" || key == "defaults" || key == "_netdev" || key == "auto" || key == "noauto" ||
             key == "nofail" || key == "user" || key == "nouser" || key == "users" || key == "noatime" ||
             key == "relatime" || key == "nosuid" || key == "nodev" || key.rfind("x-systemd.", 0) == 0 ||
             key == "_nofail")
      continue;
    else if (key == "attribute-timeout" && ParseSeconds(val, &secs)) attribute_timeout = secs;
    else if (key == "entry-timeout" && ParseSeconds(val, &secs)) entry_timeout = secs;
    else if (key == "negative-timeout" && ParseSeconds(val, &secs)) negative_timeout = secs;
    else if (key == "connect-timeout" && ParseSeconds(val, &secs) && secs > 0) connect_timeout_ms = static_cast<int>(secs * 1000);
    else if (key == "quick-read-max" && ParseBytes(val, &quick_read_max) && quick_read_max <= (1u << 20)) continue;
    else if (key == "cache-size" && ParseBytes(val, &cache_size)) continue;
    else if (key == "content-cache-timeout" && ParseSeconds(val, &secs)) content_cache_timeout = secs;
    else if (key == "md-cache-timeout" && ParseSeconds(val, &secs)) md_cache_timeout = secs;
    else if (key == "write-behind-window-size" && ParseBytes(val, &write_behind_window)) continue;
    else if (key == "read-ahead-window" && val == "0") read_ahead_window = 0;
    else if (key == "read-ahead-window" && ParseBytes(val, &read_ahead_window)) continue;
    else if (key == "no-open" && (val.empty() || val == "on" || val == "1")) no_open = 1;
    else if (key == "no-open" && (val == "off" || val == "0")) no_open = 0;
    else if (key == "flush-behind" && (val.empty() || val == "on" || val == "1")) flush_behind = true;
    else if (key == "flush-behind" && (val == "off" || val == "0")) flush_behind = false;
    else if (key == "readdir-prefetch" && (val.empty() || val == "on")) readdir_prefetch = 4;
    else if (key == "readdir-prefetch" && val == "off") readdir_prefetch = 0;
    else if (key == "readdir-prefetch" && !val.empty() && val.size() <= 2 &&
             std::all_of(val.begin(), val.end(), [](char c) { return c >= '0' && c <= '9'; }) && std::stoi(val) <= 32)
      readdir_prefetch = static_cast<size_t>(std::stoi(val));
    else if (key == "log-level" && !val.empty()) log_level = val == "WARNING" ? "warn" : val;
    else if (key == "log-file" && !val.empty()) log_file = val;
    else if (key == "backup-volfile-servers" && !val.empty()) {
      std::stringstream bs(val);
      std::string h;
      while (std::getline(bs, h, ':'))
        if (!h.empty()) backup_servers.push_back(h);
    } else {
      return Status(EINVAL, "unknown or invalid mount option '" + opt + "'");
    }
  }
  for (auto& c : log_level) c = static_cast<char>(std::tolower(c));
  return Status::Ok();
}

std::string MountOptions::FuseOptionString(const std::string& volume_name) const {
  // default_permissions: the kernel enforces mode bits for non-root users, as on a local disk.
  std::string o = "allow_other,default_permissions,fsname=hafs:" + volume_name + ",subtype=hafs";
  if (read_only) o += ",ro";
  return o;
}

std::string MountOptions::DefaultLogFile() const {
  std::string name = mountpoint;
  for (auto& c : name)
    if (c == '/') c = '-';
  while (!name.empty() && name.front() == '-') name.erase(name.begin());
  return "/var/log/hafs/" + (name.empty() ? std::string("root") : name) + ".log";
}

}  // namespace hafs::client
