#include "brickd/auth.h"

#include <arpa/inet.h>
#include <fnmatch.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"

namespace hafs::brick {
namespace {

std::string Trim(std::string s) {
  size_t a = s.find_first_not_of(" \t\r\n");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Percent-decoding: newer gRPC versions write "ipv6:%5B::1%5D:80".
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace

Result<std::vector<AuthPolicy::Item>> AuthPolicy::ParseList(const std::string& list, const char* option) {
  std::vector<Item> items;
  if (Trim(list).empty()) return items;
  std::stringstream ss(list);
  std::string raw;
  while (std::getline(ss, raw, ',')) {
    std::string t = Trim(raw);
    Item it;
    it.text = t;
    auto bad = [&] {
      return Status(EINVAL, fmt::format("{} item '{}' is not an address, a CIDR prefix or a glob with '*'", option,
                                        t.empty() ? raw : t));
    };
    if (t.empty()) return bad();
    if (t.find('*') != std::string::npos) {
      for (char c : t)
        if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == '*' || c == ':')) return bad();
      it.glob = true;
      items.push_back(it);
      continue;
    }
    std::string addr = t;
    if (auto slash = t.find('/'); slash != std::string::npos) {
      addr = t.substr(0, slash);
      std::string bits = t.substr(slash + 1);
      int n = -1;
      auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
      if (ec != std::errc() || p != bits.data() + bits.size() || n < 0) return bad();
      it.prefix = n;
    }
    if (inet_pton(AF_INET, addr.c_str(), it.addr) == 1) {
      it.family = AF_INET;
      if (it.prefix > 32) return bad();
    } else if (inet_pton(AF_INET6, addr.c_str(), it.addr) == 1) {
      it.family = AF_INET6;
      if (it.prefix > 128) return bad();
    } else {
      return bad();
    }
    items.push_back(it);
  }
  return items;
}

Result<std::shared_ptr<const AuthPolicy>> AuthPolicy::Make(const AuthRules& rules) {
  auto p = std::make_shared<AuthPolicy>();
  p->rules_ = rules;
  auto allow = ParseList(rules.allow, "auth.allow");
  if (!allow.ok()) return allow.status();
  auto reject = ParseList(rules.reject, "auth.reject");
  if (!reject.ok()) return reject.status();
  p->allow_ = std::move(*allow);
  p->reject_ = std::move(*reject);
  p->allow_all_ = p->allow_.empty();
  for (const auto& i : p->allow_)
    if (i.glob && i.text == "*") p->allow_all_ = true;
  return std::shared_ptr<const AuthPolicy>(std::move(p));
}

Result<AuthRules> AuthPolicy::ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(errno ? errno : ENOENT, fmt::format("cannot read auth file {}: {}", path, std::strerror(errno)));
  AuthRules r;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return Status(EINVAL, fmt::format("{}:{}: expected KEY=VALUE", path, n));
    std::string k = Trim(line.substr(0, eq)), v = Trim(line.substr(eq + 1));
    if (k == "allow") r.allow = v.empty() ? "*" : v;
    else if (k == "reject") r.reject = v;
    else if (k == "internal-key") r.internal_key = v;
    else return Status(EINVAL, fmt::format("{}:{}: unknown key '{}' (allow, reject, internal-key)", path, n, k));
  }
  return r;
}

std::string AuthPolicy::PeerAddress(const std::string& raw) {
  std::string peer = Unescape(raw);
  std::string rest;
  if (peer.rfind("ipv4:", 0) == 0) {
    rest = peer.substr(5);
    auto colon = rest.rfind(':');
    return colon == std::string::npos ? rest : rest.substr(0, colon);
  }
  if (peer.rfind("ipv6:", 0) == 0) {
    rest = peer.substr(5);
    std::string host = rest;
    if (!rest.empty() && rest[0] == '[') {
      auto close = rest.find(']');
      host = close == std::string::npos ? rest.substr(1) : rest.substr(1, close - 1);
    }
    if (auto pct = host.find('%'); pct != std::string::npos) host = host.substr(0, pct);  // zone id
    unsigned char a[16];
    if (inet_pton(AF_INET6, host.c_str(), a) == 1) {
      static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      char buf[INET6_ADDRSTRLEN];
      if (std::memcmp(a, kMapped, 12) == 0) return inet_ntop(AF_INET, a + 12, buf, sizeof buf);
      return inet_ntop(AF_INET6, a, buf, sizeof buf);
    }
    return host;
  }
  return peer;  // unix:, or something unknown: matched as text, never as an address
}

bool AuthPolicy::Matches(const Item& item, const std::string& text, int family, const unsigned char* addr) {
  if (item.glob) return ::fnmatch(item.text.c_str(), text.c_str(), 0) == 0;
  if (family != item.family) return false;
  int bits = item.prefix < 0 ? (family == AF_INET ? 32 : 128) : item.prefix;
  int full = bits / 8, rem = bits % 8;
  if (std::memcmp(item.addr, addr, full) != 0) return false;
  if (rem == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rem));
  return (item.addr[full] & mask) == (addr[full] & mask);
}

grpc::Status AuthPolicy::Check(const std::string& peer, std::string_view key) const {
  if (!rules_.internal_key.empty() && !key.empty() && ConstantTimeEqual(key, rules_.internal_key))
    return grpc::Status::OK;
  if (open()) return grpc::Status::OK;
  std::string text = PeerAddress(peer);
  unsigned char a[16] = {};
  int family = 0;
  if (inet_pton(AF_INET, text.c_str(), a) == 1) family = AF_INET;
  else if (inet_pton(AF_INET6, text.c_str(), a) == 1) family = AF_INET6;
  for (const auto& r : reject_)
    if (Matches(r, text, family, a))
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          fmt::format("client address {} is refused by this brick: it matches auth.reject '{}'",
                                      text, r.text));
  if (allow_all_) return grpc::Status::OK;
  for (const auto& r : allow_)
    if (Matches(r, text, family, a)) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      fmt::format("client address {} is refused by this brick: it is not in auth.allow '{}'", text,
                                  rules_.allow));
}

AuthGate::AuthGate() { policy_ = *AuthPolicy::Make(AuthRules{}); }

void AuthGate::Set(std::shared_ptr<const AuthPolicy> p) {
  std::lock_guard lk(mu_);
  policy_ = std::move(p);
  generation_.fetch_add(1);
}

std::shared_ptr<const AuthPolicy> AuthGate::Get() const {
  std::lock_guard lk(mu_);
  return policy_;
}

grpc::Status AuthGate::Check(grpc::ServerContext* ctx) const {
  if (Get()->open()) return grpc::Status::OK;
  std::string_view key;
  auto it = ctx->client_metadata().find(kInternalKeyHeader);
  if (it != ctx->client_metadata().end()) key = std::string_view(it->second.data(), it->second.size());
  return Check(ctx->peer(), key);
}

grpc::Status AuthGate::Check(const std::string& peer, std::string_view key) const {
  auto p = Get();
  if (p->open()) return grpc::Status::OK;
  grpc::Status st = p->Check(peer, key);
  if (!st.ok()) {
    uint64_t gen = generation_.load();
    std::lock_guard lk(log_mu_);
    bool seen = false;
    for (auto& [addr, g] : logged_)
      if (addr == peer.substr(0, peer.rfind(':'))) {
        seen = g == gen;
        g = gen;
      }
    if (!seen) {
      if (logged_.size() > 1024) logged_.clear();
      logged_.emplace_back(peer.substr(0, peer.rfind(':')), gen);
      HAFS_LOG_WARN("refused {}: {}", peer, st.error_message());
    }
  }
  return st;
}

}  // namespace hafs::brick
