// MountOptions: the options of a hafs mount, parsed once for hafs-fuse and mount.hafs, with
// the names GlusterFS users know (ro, backup-volfile-servers, log-level, log-file,
// attribute-timeout, entry-timeout, negative-timeout). Options that mount(8) adds for
// itself (defaults, _netdev, auto, noauto, nofail, user, x-systemd.*, rw) are accepted and
// ignored; anything else is an error naming the option.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::client {

struct MountOptions {
  std::string volfile;                 // mount from a file
  std::string server, volume;          // or from hafs-mgmtd
  std::vector<std::string> backup_servers;
  std::string mountpoint;
  bool foreground = false;
  bool read_only = false;
  double attribute_timeout = 1.0;
  double entry_timeout = 1.0;
  double negative_timeout = 0.0;
  double md_cache_timeout = 60.0;  // metadata cache's upper bound on an item's age; 0 = off
  int connect_timeout_ms = 10000;
  std::string log_level = "info";
  std::string log_file;
  // Content cache (docs/client.md, "Quick read and the content cache").
  size_t quick_read_max = 64u << 10;      // quick-read-max=N[KB] (at most 1 MiB)
  size_t cache_size = 64u << 20;          // cache-size=N[MB]
  double content_cache_timeout = 60.0;    // content-cache-timeout=S
  size_t write_behind_window = 4u << 20;  // write-behind-window-size=N[KB|MB] (per file)
  size_t read_ahead_window = 8u << 20;    // read-ahead-window=N[KB|MB] (per stream; 0: off)
  // no-open[=on|off] (docs/client.md, "Serving files: no-open"): -1 = default, on for ro mounts.
  int no_open = -1;
  bool NoOpen() const { return no_open == 1 || (no_open < 0 && read_only); }
  // flush-behind[=on|off] (docs/client.md, "Write-behind"): close(2) returns without waiting
  // for the file's pending writes, as GlusterFS's performance.flush-behind. Off by default.
  bool flush_behind = false;
  // readdir-prefetch[=N|on|off] (docs/client.md, "Readdir prefetch"): after a directory is
  // listed, N threads read its subdirectories' listings ahead of a walk. 0 = off (default);
  // the bare option or `on` means 4.
  size_t readdir_prefetch = 0;

  // Parses a comma-separated -o string into this object.
  Status Parse(const std::string& comma_separated);
  // The -o string handed to libfuse.
  std::string FuseOptionString(const std::string& volume_name) const;
  // /var/log/hafs/<mountpoint with / replaced by ->.log, like Gluster's client logs.
  std::string DefaultLogFile() const;
};

}  // namespace hafs::client
