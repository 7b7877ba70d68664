// hafs-lb configuration: the HAProxy-compatible subset, as plain data.
//
// ParseConfig() reads the text of a haproxy.cfg-style file and returns a fully
// validated Config or a Status whose message is "FILE:LINE: what is wrong".
// Every keyword hafs-lb accepts is declared once in the keyword table of config.cc with its help text;
// anything else is an error, never silently ignored (docs/lb.md lists them all).
// Thread-safety: value types; a Config is immutable once published.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::lb {

enum class Mode { kTcp, kHttp };
enum class Balance { kRoundRobin, kLeastConn, kSource, kUri, kFirst };

const char* ModeName(Mode m);
const char* BalanceName(Balance b);

// A resolved IPv4/IPv6 socket address with its text form "host:port".
struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string text;
};
// Parses "host:port", "*:port", ":port", "[v6]:port". host must be a literal IP.
Result<Address> ParseAddress(const std::string& text);
// Parses a HAProxy time value (default unit ms; us, ms, s, m, h, d suffixes) into ms.
Result<int64_t> ParseTimeMs(const std::string& text);

struct Timeouts {
  int64_t connect_ms = 5000;
  int64_t client_ms = 30000;
  int64_t server_ms = 30000;
  int64_t http_request_ms = 10000;
  int64_t http_keep_alive_ms = 10000;  // idle client between requests
  int64_t queue_ms = 5000;
  int64_t check_ms = 0;  // 0: use inter
};

// Server parameters that `default-server` may preset.
struct ServerParams {
  bool check = false;
  std::string cookie;
  int weight = 1;
  bool backup = false;
  int64_t inter_ms = 2000;
  int64_t fastinter_ms = 0;  // 0: same as inter
  int64_t downinter_ms = 0;  // 0: same as inter
  int rise = 2;
  int fall = 3;
  int maxconn = 0;  // 0: unlimited
  bool disabled = false;
};

struct ServerConf {
  std::string name;
  Address addr;
  ServerParams params;
  int line = 0;
};

struct StatsConf {
  bool enabled = false;
  std::string uri = "/haproxy?stats";
  int64_t refresh_ms = 0;
  std::vector<std::string> auth;  // "user:password"
  bool admin = false;
};

// One proxy section. A `listen` section is a frontend and a backend sharing a name.
struct ProxyConf {
  std::string name;
  bool has_frontend = false;
  bool has_backend = false;
  Mode mode = Mode::kHttp;
  Timeouts timeouts;
  int retries = 3;
  int maxconn = 0;
  bool forwardfor = false;
  bool redispatch = false;
  bool httplog = false;
  bool httpchk = false;
  std::string httpchk_method = "OPTIONS";
  std::string httpchk_uri = "/";
  int http_expect_status = 0;  // 0: any 2xx or 3xx passes
  Balance balance = Balance::kRoundRobin;
  std::string cookie_name;  // empty: no cookie persistence
  ServerParams default_server;
  // frontend part
  std::vector<Address> binds;
  std::string default_backend;
  StatsConf stats;
  // backend part
  std::vector<ServerConf> servers;
  int line = 0;
};

struct Config {
  std::string file;
  std::string stats_socket;
  int stats_socket_mode = 0600;
  std::string stats_socket_level = "admin";
  int nbthread = 0;  // 0: one per core
  int maxconn = 100000;
  std::vector<ProxyConf> proxies;  // in file order

  // A frontend and a backend may share a name (as in HAProxy); these find by role.
  const ProxyConf* FindBackend(const std::string& name) const;
  ProxyConf* FindBackend(const std::string& name);
  const ProxyConf* FindFrontend(const std::string& name) const;
};

// Parses and validates. `file` is only used in messages.
Result<Config> ParseConfig(const std::string& text, const std::string& file);
Result<Config> LoadConfigFile(const std::string& path);

// Checks cross-references and modes of a whole config (also used after runtime
// edits such as `add server`).
Status ValidateConfig(const Config& cfg);

// Parses the parameters of a `server` or `default-server` line, starting at words[from].
Status ParseServerParams(const std::vector<std::string>& words, size_t from, ServerParams* p);

}  // namespace hafs::lb
