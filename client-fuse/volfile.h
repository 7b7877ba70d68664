// Volfile: the description of a volume a client needs to mount it — the same JSON that
// hafs-mgmtd will serve, so a mount from a local file (`--volfile FILE`) and a mount from a
// server differ only in where the text comes from.
//
// {
//   "name": "gv0", "id": "UUID", "type": "replicate" | "distribute" | "distributed-replicate",
//   "replica": 3,
//   "bricks": [ {"host": "127.0.0.1", "port": 24009, "path": "/srv/b1"}, ... ],
//   "options": { "network.ping-timeout": "3", "cluster.quorum-type": "auto", ... },
//   "removing": [ "127.0.0.1:/srv/b1" ]   (optional: bricks being removed by remove-brick;
//                                           their replica sets get no range in new layouts)
// }
//
// Value type; Parse validates everything and names what is wrong.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::client {

struct BrickAddress {
  std::string host;
  int port = 0;
  std::string path;
  std::string Endpoint() const { return host + ":" + std::to_string(port); }
  std::string Name() const { return host + ":" + path; }
};

struct Volfile {
  std::string name;
  std::string id;
  std::string type;  // replicate | distribute | distributed-replicate
  int replica = 1;
  std::vector<BrickAddress> bricks;
  std::map<std::string, std::string> options;
  std::vector<std::string> removing;  // host:/path of bricks being drained (remove-brick start)

  static Result<Volfile> Parse(const std::string& json_text);
  static Result<Volfile> Load(const std::string& path);
  std::string ToJson() const;

  // Options with their defaults and validation (Gluster names where one exists).
  int ping_timeout_ms() const;       // network.ping-timeout, seconds (default 3)
  std::string quorum_type() const;   // cluster.quorum-type: auto (majority) | none | fixed
  int quorum_count() const;          // cluster.quorum-count, with quorum-type fixed
  int subvolume_count() const { return static_cast<int>(bricks.size()) / replica; }
};

}  // namespace hafs::client
