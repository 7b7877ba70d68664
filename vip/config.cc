#include "vip/config.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "vip/constants.h"
#include "vip/packet.h"

namespace hafs::vip {
namespace {

struct Token {
  std::string text;
  int line;
  bool quoted;
};

// keepalived syntax: whitespace separated words, "quoted strings", braces as their own tokens,
// comments from '!' or '#' to end of line.
std::vector<Token> Tokenize(std::string_view text) {
  std::vector<Token> out;
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '!' || c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{' || c == '}') {
      out.push_back({std::string(1, c), line, false});
      ++i;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < text.size() && text[j] != '"' && text[j] != '\n') ++j;
      out.push_back({std::string(text.substr(i + 1, j - i - 1)), line, true});
      i = j < text.size() && text[j] == '"' ? j + 1 : j;
    } else {
      size_t j = i;
      while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j])) && text[j] != '{' &&
             text[j] != '}' && text[j] != '"')
        ++j;
      out.push_back({std::string(text.substr(i, j - i)), line, false});
      i = j;
    }
  }
  return out;
}

// A statement: keyword, its arguments on the same line, and an optional { block }.
struct Stmt {
  std::string key;
  int line = 0;
  std::vector<Token> args;
  bool has_block = false;
  std::vector<Stmt> block;
};

class Parser {
 public:
  Parser(std::vector<Token> toks, std::string file) : t_(std::move(toks)), file_(std::move(file)) {}

  Status Error(int line, const std::string& msg) const { return Status(EINVAL, fmt::format("{}:{}: {}", file_, line, msg)); }

  Result<std::vector<Stmt>> ParseBlock(bool top) {
    std::vector<Stmt> out;
    while (pos_ < t_.size()) {
      const Token& k = t_[pos_];
      if (!k.quoted && k.text == "}") {
        if (top) return Error(k.line, "unbalanced '}'");
        ++pos_;
        return out;
      }
      if (!k.quoted && k.text == "{") {
        // A bare block: the lines of a list (virtual_ipaddress …) never nest braces.
        return Error(k.line, "unexpected '{'");
      }
      Stmt s;
      s.key = k.text;
      s.line = k.line;
      ++pos_;
      while (pos_ < t_.size() && t_[pos_].line == s.line && !(IsBrace(t_[pos_]))) s.args.push_back(t_[pos_++]);
      if (pos_ < t_.size() && !t_[pos_].quoted && t_[pos_].text == "{") {
        ++pos_;
        s.has_block = true;
        auto inner = ParseBlock(false);
        if (!inner.ok()) return inner.status();
        s.block = std::move(*inner);
      }
      out.push_back(std::move(s));
    }
    if (!top) return Error(t_.empty() ? 1 : t_.back().line, "missing '}' at end of file");
    return out;
  }

 private:
  static bool IsBrace(const Token& t) { return !t.quoted && (t.text == "{" || t.text == "}"); }
  std::vector<Token> t_;
  size_t pos_ = 0;
  std::string file_;
};

class Builder {
 public:
  explicit Builder(std::string file) : file_(std::move(file)) {}

  Status Error(int line, const std::string& msg) const { return Status(EINVAL, fmt::format("{}:{}: {}", file_, line, msg)); }

  Status Unknown(const Stmt& s, std::string_view where) const {
    return Error(s.line, fmt::format("unknown keyword '{}' in {}", s.key, where));
  }

  Status NeedArgs(const Stmt& s, size_t n) const {
    if (s.args.size() < n) return Error(s.line, fmt::format("'{}' needs {} argument(s)", s.key, n));
    if (s.has_block) return Error(s.line, fmt::format("'{}' takes no block", s.key));
    return Status::Ok();
  }

  Result<long> Int(const Stmt& s, size_t idx, long lo, long hi) const {
    if (s.args.size() <= idx) return Error(s.line, fmt::format("'{}' needs a number", s.key));
    const std::string& v = s.args[idx].text;
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(v.c_str(), &end, 10);
    if (errno || end == v.c_str() || *end != '\0' || n < lo || n > hi)
      return Error(s.line, fmt::format("'{}': '{}' is not an integer in [{}, {}]", s.key, v, lo, hi));
    return n;
  }

  // Seconds, possibly fractional ("0.05"), returned in milliseconds.
  Result<std::chrono::milliseconds> Seconds(const Stmt& s, size_t idx, double lo, double hi) const {
    if (s.args.size() <= idx) return Error(s.line, fmt::format("'{}' needs a duration in seconds", s.key));
    const std::string& v = s.args[idx].text;
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !(d >= lo && d <= hi))
      return Error(s.line, fmt::format("'{}': '{}' is not a number of seconds in [{}, {}]", s.key, v, lo, hi));
    return std::chrono::milliseconds(std::llround(d * 1000));
  }

  Result<uint32_t> Ip(const Stmt& s, const Token& t) const {
    uint32_t a = 0;
    if (!ParseIpv4(t.text, &a)) return Error(s.line, fmt::format("'{}' is not an IPv4 address (IPv6 is not supported)", t.text));
    return a;
  }

  static std::string Rest(const Stmt& s) {
    std::string out;
    for (const auto& a : s.args) {
      if (!out.empty()) out += ' ';
      out += a.text;
    }
    return out;
  }

  Status Global(const Stmt& blk, Config& c) {
    for (const Stmt& s : blk.block) {
      if (s.key == "router_id") {
        HAFS_RETURN_IF_ERROR(NeedArgs(s, 1));
        c.global.router_id = s.args[0].text;
      } else if (s.key == "notify_fifo") {
        HAFS_RETURN_IF_ERROR(NeedArgs(s, 1));
        c.global.notify_fifo = s.args[0].text;
      } else if (s.key == "vrrp_version") {
        auto v = Int(s, 0, 2, 3);
        if (!v.ok()) return v.status();
        c.global.vrrp_version = static_cast<int>(*v);
      } else if (s.key == "script_user" || s.key == "enable_script_security") {
        // Accepted for compatibility: hafs-vipd runs scripts as its own user (see docs/vip.md).
      } else if (s.key == "hafs_notify_timeout") {
        auto v = Seconds(s, 0, 0.01, 3600);
        if (!v.ok()) return v.status();
        c.global.notify_timeout = *v;
      } else {
        return Unknown(s, "global_defs");
      }
    }
    return Status::Ok();
  }

  Status Script(const Stmt& blk, Config& c) {
    ScriptConfig sc;
    sc.name = blk.args[0].text;
    sc.line = blk.line;
    for (const Stmt& s : blk.block) {
      if (s.key == "script") {
        if (s.args.empty()) return Error(s.line, "'script' needs a command");
        sc.command = Rest(s);
      } else if (s.key == "interval" || s.key == "timeout") {
        auto v = Seconds(s, 0, 0.01, 86400);
        if (!v.ok()) return v.status();
        (s.key == "interval" ? sc.interval : sc.timeout) = *v;
      } else if (s.key == "weight") {
        auto v = Int(s, 0, -253, 253);
        if (!v.ok()) return v.status();
        sc.weight = static_cast<int>(*v);
      } else if (s.key == "rise" || s.key == "fall") {
        auto v = Int(s, 0, 1, 1000);
        if (!v.ok()) return v.status();
        (s.key == "rise" ? sc.rise : sc.fall) = static_cast<int>(*v);
      } else {
        return Unknown(s, "vrrp_script");
      }
    }
    if (sc.command.empty()) return Error(blk.line, fmt::format("vrrp_script {} has no 'script'", sc.name));
    if (sc.timeout.count() == 0) sc.timeout = sc.interval;
    c.scripts.push_back(std::move(sc));
    return Status::Ok();
  }

  Status TrackList(const Stmt& blk, std::vector<TrackRef>& out) {
    for (const Stmt& s : blk.block) {
      TrackRef r{s.key, std::nullopt, s.line};
      if (!s.args.empty()) {
        if (s.args.size() != 2 || s.args[0].text != "weight") return Error(s.line, fmt::format("expected '{} [weight N]'", s.key));
        auto w = Int(s, 1, -253, 253);
        if (!w.ok()) return w.status();
        r.weight = static_cast<int>(*w);
      }
      out.push_back(std::move(r));
    }
    return Status::Ok();
  }

  Status Instance(const Stmt& blk, Config& c) {
    InstanceConfig in;
    in.name = blk.args[0].text;
    in.line = blk.line;
    for (const Stmt& s : blk.block) {
      const std::string& k = s.key;
      if (k == "state") {
        HAFS_RETURN_IF_ERROR(NeedArgs(s, 1));
        if (s.args[0].text != "MASTER" && s.args[0].text != "BACKUP") return Error(s.line, "state must be MASTER or BACKUP");
        in.initial_master = s.args[0].text == "MASTER";
      } else if (k == "interface") {
        HAFS_RETURN_IF_ERROR(NeedArgs(s, 1));
        in.interface = s.args[0].text;
      } else if (k == "virtual_router_id") {
        auto v = Int(s, 0, kMinVrid, kMaxVrid);
        if (!v.ok()) return v.status();
        in.vrid = static_cast<int>(*v);
      } else if (k == "priority") {
        auto v = Int(s, 0, 1, kPriorityOwner);
        if (!v.ok()) return v.status();
        in.priority = static_cast<int>(*v);
      } else if (k == "advert_int") {
        auto v = Seconds(s, 0, 0.01, 40.95);
        if (!v.ok()) return v.status();
        if (v->count() % 10 != 0) return Error(s.line, "advert_int resolution is 0.01 s (RFC 5798 centiseconds)");
        in.advert_cs = static_cast<uint16_t>(v->count() / 10);
      } else if (k == "version") {
        auto v = Int(s, 0, 2, 3);
        if (!v.ok()) return v.status();
        in.version = static_cast<int>(*v);
      } else if (k == "authentication") {
        if (!s.has_block) return Error(s.line, "authentication needs a { block }");
        for (const Stmt& a : s.block) {
          if (a.key == "auth_type") {
            HAFS_RETURN_IF_ERROR(NeedArgs(a, 1));
            if (a.args[0].text != "PASS") return Error(a.line, "only auth_type PASS is supported (AH is deprecated by RFC 5798)");
            in.auth_type = kAuthPass;
          } else if (a.key == "auth_pass") {
            HAFS_RETURN_IF_ERROR(NeedArgs(a, 1));
            in.auth_pass = a.args[0].text;
            if (in.auth_pass.size() > 8) c.warnings.push_back(fmt::format("{}:{}: auth_pass truncated to 8 characters", file_, a.line));
          } else {
            return Unknown(a, "authentication");
          }
        }
      } else if (k == "virtual_ipaddress") {
        if (!s.has_block) return Error(s.line, "virtual_ipaddress needs a { block }");
        for (const Stmt& a : s.block) {
          VipAddress v;
          std::string addr = a.key;
          if (auto slash = addr.find('/'); slash != std::string::npos) {
            char* end = nullptr;
            long p = std::strtol(addr.c_str() + slash + 1, &end, 10);
            if (*end != '\0' || p < 1 || p > 32) return Error(a.line, fmt::format("bad prefix in '{}'", addr));
            v.prefix = static_cast<int>(p);
            addr.resize(slash);
          }
          if (!ParseIpv4(addr, &v.addr))
            return Error(a.line, fmt::format("'{}' is not an IPv4 address (IPv6 VIPs go in virtual_ipaddress_excluded)", addr));
          for (size_t i = 0; i < a.args.size(); i += 2) {
            if (i + 1 >= a.args.size()) return Error(a.line, fmt::format("'{}' needs a value", a.args[i].text));
            if (a.args[i].text == "dev") {
              v.dev = a.args[i + 1].text;
            } else if (a.args[i].text == "label") {
              v.label = a.args[i + 1].text;
            } else {
              return Error(a.line, fmt::format("unknown virtual_ipaddress option '{}'", a.args[i].text));
            }
          }
          in.vips.push_back(std::move(v));
        }
      } else if (k == "virtual_ipaddress_excluded") {
        if (!s.has_block) return Error(s.line, "virtual_ipaddress_excluded needs a { block }");
        for (const Stmt& a : s.block) {
          ExcludedAddress x;
          x.text = a.key;
          std::string addr = a.key;
          bool v6 = addr.find(':') != std::string::npos;
          x.family = v6 ? AF_INET6 : AF_INET;
          x.prefix = v6 ? 128 : 32;
          if (auto slash = addr.find('/'); slash != std::string::npos) {
            char* end = nullptr;
            long p = std::strtol(addr.c_str() + slash + 1, &end, 10);
            if (*end != '\0' || p < 1 || p > x.prefix) return Error(a.line, fmt::format("bad prefix in '{}'", addr));
            x.prefix = static_cast<int>(p);
            addr.resize(slash);
          }
          if (inet_pton(x.family, addr.c_str(), x.bytes.data()) != 1)
            return Error(a.line, fmt::format("'{}' is not an IPv4 or IPv6 address", addr));
          for (size_t i = 0; i < a.args.size(); i += 2) {
            if (i + 1 >= a.args.size() || a.args[i].text != "dev")
              return Error(a.line, fmt::format("expected '{} [dev IF]'", a.key));
            x.dev = a.args[i + 1].text;
          }
          in.excluded.push_back(std::move(x));
        }
      } else if (k == "unicast_src_ip") {
        HAFS_RETURN_IF_ERROR(NeedArgs(s, 1));
        auto ip = Ip(s, s.args[0]);
        if (!ip.ok()) return ip.status();
        in.unicast_src = *ip;
      } else if (k == "unicast_peer") {
        if (!s.has_block) return Error(s.line, "unicast_peer needs a { block }");
        for (const Stmt& a : s.block) {
          if (!a.args.empty()) return Error(a.line, "unicast_peer lines hold one address");
          auto ip = Ip(a, Token{a.key, a.line, false});
          if (!ip.ok()) return ip.status();
          in.unicast_peers.push_back(*ip);
        }
      } else if (k == "track_script") {
        if (!s.has_block) return Error(s.line, "track_script needs a { block }");
        HAFS_RETURN_IF_ERROR(TrackList(s, in.track_scripts));
      } else if (k == "track_interface") {
        if (!s.has_block) return Error(s.line, "track_interface needs a { block }");
        HAFS_RETURN_IF_ERROR(TrackList(s, in.track_interfaces));
      } else if (k == "notify_master" || k == "notify_backup" || k == "notify_fault" || k == "notify_stop" || k == "notify") {
        if (s.args.empty()) return Error(s.line, fmt::format("'{}' needs a command", k));
        std::string cmd = Rest(s);
        if (k == "notify_master") in.notify_master = cmd;
        if (k == "notify_backup") in.notify_backup = cmd;
        if (k == "notify_fault") in.notify_fault = cmd;
        if (k == "notify_stop") in.notify_stop = cmd;
        if (k == "notify") in.notify = cmd;
      } else if (k == "nopreempt") {
        in.nopreempt = true;
      } else if (k == "preempt") {
        in.nopreempt = false;
      } else if (k == "preempt_delay") {
        auto v = Seconds(s, 0, 0, 1000);
        if (!v.ok()) return v.status();
        in.preempt_delay = *v;
      } else if (k == "quorum_peer") {
        if (!s.has_block) return Error(s.line, "quorum_peer needs a { block }");
        for (const Stmt& a : s.block) {
          if (!a.args.empty()) return Error(a.line, "quorum_peer lines hold one address");
          auto ip = Ip(a, Token{a.key, a.line, false});
          if (!ip.ok()) return ip.status();
          in.quorum_peers.push_back(*ip);
        }
      } else if (k == "quorum_min") {
        auto v = Int(s, 0, 1, 255);
        if (!v.ok()) return v.status();
        in.quorum_min = static_cast<int>(*v);
      } else if (k == "quorum_interval") {
        auto v = Seconds(s, 0, 0.01, 60);
        if (!v.ok()) return v.status();
        in.quorum_interval = *v;
      } else if (k == "garp_master_delay") {
        auto v = Seconds(s, 0, 0, 255);
        if (!v.ok()) return v.status();
        in.garp_master_delay = *v;
      } else {
        return Unknown(s, "vrrp_instance");
      }
    }
    c.instances.push_back(std::move(in));
    return Status::Ok();
  }

  Status Group(const Stmt& blk, Config& c) {
    SyncGroupConfig g;
    g.name = blk.args[0].text;
    g.line = blk.line;
    for (const Stmt& s : blk.block) {
      if (s.key == "group") {
        if (!s.has_block) return Error(s.line, "group needs a { block }");
        for (const Stmt& m : s.block) g.members.push_back(m.key);
      } else if (s.key == "notify_master" || s.key == "notify_backup" || s.key == "notify_fault" || s.key == "notify") {
        if (s.args.empty()) return Error(s.line, fmt::format("'{}' needs a command", s.key));
        std::string cmd = Rest(s);
        if (s.key == "notify_master") g.notify_master = cmd;
        if (s.key == "notify_backup") g.notify_backup = cmd;
        if (s.key == "notify_fault") g.notify_fault = cmd;
        if (s.key == "notify") g.notify = cmd;
      } else {
        return Unknown(s, "vrrp_sync_group");
      }
    }
    c.groups.push_back(std::move(g));
    return Status::Ok();
  }

  Status Validate(Config& c) {
    std::map<std::string, const ScriptConfig*> scripts;
    for (const auto& s : c.scripts) {
      if (!scripts.emplace(s.name, &s).second) return Error(s.line, fmt::format("duplicate vrrp_script '{}'", s.name));
    }
    std::set<std::string> names;
    std::set<std::pair<std::string, int>> vrids;
    for (auto& in : c.instances) {
      if (!names.insert(in.name).second) return Error(in.line, fmt::format("duplicate vrrp_instance '{}'", in.name));
      if (in.interface.empty()) return Error(in.line, fmt::format("vrrp_instance {} has no 'interface'", in.name));
      if (in.vrid == 0) return Error(in.line, fmt::format("vrrp_instance {} has no 'virtual_router_id'", in.name));
      if (!vrids.insert({in.interface, in.vrid}).second)
        return Error(in.line, fmt::format("virtual_router_id {} used twice on {}", in.vrid, in.interface));
      if (in.version == 0) in.version = c.global.vrrp_version;
      if (in.version == 2 && in.advert_cs % 100 != 0)
        return Error(in.line, fmt::format("vrrp_instance {}: VRRPv2 advert_int must be whole seconds (use version 3)", in.name));
      if (in.version == 3 && in.auth_type != 0) {
        c.warnings.push_back(fmt::format("{}:{}: authentication ignored for VRRPv3 (RFC 5798 removed it)", file_, in.line));
        in.auth_type = 0;
      }
      if (in.auth_type == kAuthPass && in.auth_pass.empty())
        return Error(in.line, fmt::format("vrrp_instance {}: auth_type PASS needs auth_pass", in.name));
      if (in.vips.empty()) return Error(in.line, fmt::format("vrrp_instance {} has no virtual_ipaddress", in.name));
      if (in.vips.size() > static_cast<size_t>(kMaxAddresses)) return Error(in.line, "too many virtual addresses");
      if (!in.unicast_peers.empty() && !in.unicast_src)
        c.warnings.push_back(fmt::format("{}:{}: unicast_src_ip not set; the interface's first address is used", file_, in.line));
      if (in.quorum_min > static_cast<int>(in.quorum_peers.size()))
        return Error(in.line, fmt::format("vrrp_instance {}: quorum_min {} > {} quorum_peer(s)", in.name, in.quorum_min,
                                          in.quorum_peers.size()));
      if (in.quorum_min == 0) in.quorum_min = static_cast<int>(in.quorum_peers.size());
      for (const auto& t : in.track_scripts) {
        if (!scripts.count(t.name)) return Error(t.line, fmt::format("track_script '{}' is not a vrrp_script", t.name));
      }
    }
    std::set<std::string> grouped;
    for (const auto& g : c.groups) {
      if (g.members.empty()) return Error(g.line, fmt::format("vrrp_sync_group {} has no members", g.name));
      for (const auto& m : g.members) {
        if (!names.count(m)) return Error(g.line, fmt::format("vrrp_sync_group {}: unknown instance '{}'", g.name, m));
        if (!grouped.insert(m).second) return Error(g.line, fmt::format("instance '{}' is in two sync groups", m));
      }
    }
    return Status::Ok();
  }

  Result<Config> Build(const std::vector<Stmt>& top) {
    Config c;
    for (const Stmt& s : top) {
      const bool named = s.key == "vrrp_script" || s.key == "vrrp_instance" || s.key == "vrrp_sync_group";
      if (s.key != "global_defs" && !named) return Unknown(s, "top level");
      if (!s.has_block) return Error(s.line, fmt::format("'{}' needs a {{ block }}", s.key));
      if (named && s.args.size() != 1) return Error(s.line, fmt::format("'{}' needs one name", s.key));
      Status st;
      if (s.key == "global_defs") st = Global(s, c);
      if (s.key == "vrrp_script") st = Script(s, c);
      if (s.key == "vrrp_instance") st = Instance(s, c);
      if (s.key == "vrrp_sync_group") st = Group(s, c);
      if (!st.ok()) return st;
    }
    HAFS_RETURN_IF_ERROR(Validate(c));
    return c;
  }

 private:
  std::string file_;
};

}  // namespace

Result<Config> ParseConfig(std::string_view text, std::string_view filename) {
  Parser p(Tokenize(text), std::string(filename));
  auto stmts = p.ParseBlock(true);
  if (!stmts.ok()) return stmts.status();
  return Builder(std::string(filename)).Build(*stmts);
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno ? errno : ENOENT, fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace hafs::vip
