// AuthPolicy: which client addresses a brick serves (the volume options auth.allow and
// auth.reject, gluster's syntax). A list is comma-separated; an item is an IPv4/IPv6
// address, a CIDR prefix (10.0.0.0/8, fd00::/8) or a glob with '*' matched against the
// address's text (192.168.1.*, *); exactly what mgmtd's option check accepts.
//
// Rules, in order: a caller presenting the pool's internal key (metadata `hafs-internal`;
// mgmtd's own clients: heal daemon, heal info, status) is served; an address matching any
// reject item is refused (reject wins over allow); an address matching no allow item is
// refused; otherwise served. An empty allow list means "*".
//
// The policy can be replaced at any time (SIGHUP re-reads --auth-file); the check is
// per RPC, so a change applies to every later call and to open sessions at their next
// heartbeat.
//
// Thread-safety: Check() and Set() may be called from any thread at once.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace hafs::brick {

// The gRPC metadata key carrying the internal key.
inline constexpr const char* kInternalKeyHeader = "hafs-internal";

struct AuthRules {
  std::string allow = "*";
  std::string reject;
  std::string internal_key;  // empty: no bypass
};

class AuthPolicy {
 public:
  // Parses the lists; a bad item is an EINVAL naming it.
  static Result<std::shared_ptr<const AuthPolicy>> Make(const AuthRules& rules);
  // Reads an auth file: lines `allow=LIST`, `reject=LIST`, `internal-key=KEY`; '#' comments.
  static Result<AuthRules> ReadFile(const std::string& path);

  // OK, or PERMISSION_DENIED naming the address and the rule. `peer` is gRPC's peer string
  // ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678", "unix:..."); `key` the presented internal key.
  grpc::Status Check(const std::string& peer, std::string_view key) const;
  // The address part of a gRPC peer string ("1.2.3.4", "::1"), IPv4-mapped IPv6 as IPv4.
  static std::string PeerAddress(const std::string& peer);
  const AuthRules& rules() const { return rules_; }
  bool open() const { return allow_all_ && reject_.empty() ; }

 private:
  struct Item {
    std::string text;      // as written
    bool glob = false;
    int family = 0;        // AF_INET / AF_INET6 for address and CIDR items
    unsigned char addr[16] = {};
    int prefix = -1;       // bits; -1 = whole address
  };
  static Result<std::vector<Item>> ParseList(const std::string& list, const char* option);
  static bool Matches(const Item& item, const std::string& text, int family, const unsigned char* addr);

  AuthRules rules_;
  std::vector<Item> allow_, reject_;
  bool allow_all_ = true;
};

// The brick's current policy, swapped atomically.
class AuthGate {
 public:
  AuthGate();
  void Set(std::shared_ptr<const AuthPolicy> p);
  std::shared_ptr<const AuthPolicy> Get() const;
  uint64_t generation() const { return generation_.load(); }
  // Checks the caller of `ctx`; a refusal is logged (once per address and generation).
  grpc::Status Check(grpc::ServerContext* ctx) const;
  // The same for a caller known by its peer string and presented key (the read channel).
  grpc::Status Check(const std::string& peer, std::string_view key) const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AuthPolicy> policy_;
  std::atomic<uint64_t> generation_{0};
  mutable std::mutex log_mu_;
  mutable std::vector<std::pair<std::string, uint64_t>> logged_;
};

}  // namespace hafs::brick
