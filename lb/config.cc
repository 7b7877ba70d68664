#include "lb/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace hafs::lb {

const char* ModeName(Mode m) { return m == Mode::kTcp ? "tcp" : "http"; }
const char* BalanceName(Balance b) {
  switch (b) {
    case Balance::kRoundRobin: return "roundrobin";
    case Balance::kLeastConn: return "leastconn";
    case Balance::kSource: return "source";
    case Balance::kUri: return "uri";
    case Balance::kFirst: return "first";
  }
  return "?";
}

const ProxyConf* Config::FindBackend(const std::string& name) const {
  for (const auto& p : proxies)
    if (p.name == name && p.has_backend) return &p;
  return nullptr;
}
ProxyConf* Config::FindBackend(const std::string& name) {
  for (auto& p : proxies)
    if (p.name == name && p.has_backend) return &p;
  return nullptr;
}
const ProxyConf* Config::FindFrontend(const std::string& name) const {
  for (const auto& p : proxies)
    if (p.name == name && p.has_frontend) return &p;
  return nullptr;
}

Result<Address> ParseAddress(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Status(EINVAL, "bad address '" + text + "' (expected [v6]:port)");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return Status(EINVAL, "bad address '" + text + "' (expected host:port)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
    return Status(EINVAL, "bad port in address '" + text + "'");
  Address a;
  a.text = text;
  if (host.empty() || host == "*") host = "0.0.0.0";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    a.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    a.len = sizeof(sockaddr_in6);
  } else {
    return Status(EINVAL, "address '" + text + "': host must be an IP literal (no DNS)");
  }
  return a;
}

Result<int64_t> ParseTimeMs(const std::string& text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr == text.data() || v < 0) return Status(EINVAL, "bad time value '" + text + "'");
  std::string unit(ptr, text.data() + text.size());
  if (unit.empty() || unit == "ms") return v;
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  if (unit == "m") return v * 60000;
  if (unit == "h") return v * 3600000;
  if (unit == "d") return v * 86400000;
  return Status(EINVAL, "bad time unit in '" + text + "'");
}

namespace {

Result<int> ParseInt(const std::string& s, int lo, int hi) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < lo || v > hi)
    return Status(EINVAL, fmt::format("'{}' is not an integer in [{}, {}]", s, lo, hi));
  return v;
}

enum Section : unsigned { kGlobal = 1, kDefaults = 2, kFrontend = 4, kBackend = 8, kListen = 16 };
constexpr unsigned kAnyProxy = kDefaults | kFrontend | kBackend | kListen;
constexpr unsigned kFrontSide = kDefaults | kFrontend | kListen;
constexpr unsigned kBackSide = kDefaults | kBackend | kListen;

struct ParseCtx {
  Config* cfg;
  ProxyConf* defaults;
  ProxyConf* proxy;  // current section's proxy (the defaults for `defaults`)
  Section section;
};

using Handler = std::function<Status(ParseCtx&, const std::vector<std::string>&)>;

struct Keyword {
  const char* word;
  unsigned sections;
  const char* help;
  Handler handle;
};

Status NeedArgs(const std::vector<std::string>& w, size_t n, const char* usage) {
  if (w.size() != n) return Status(EINVAL, fmt::format("'{}' expects: {}", w[0], usage));
  return Status::Ok();
}

Status ParseTimeout(ParseCtx& c, const std::vector<std::string>& w) {
  HAFS_RETURN_IF_ERROR(NeedArgs(w, 3, "timeout <connect|client|server|http-request|http-keep-alive|queue|check> <time>"));
  auto t = ParseTimeMs(w[2]);
  if (!t.ok()) return t.status();
  Timeouts& to = c.proxy->timeouts;
  static const std::map<std::string, int64_t Timeouts::*> kNames = {
      {"connect", &Timeouts::connect_ms}, {"client", &Timeouts::client_ms},
      {"server", &Timeouts::server_ms}, {"http-request", &Timeouts::http_request_ms},
      {"http-keep-alive", &Timeouts::http_keep_alive_ms}, {"queue", &Timeouts::queue_ms},
      {"check", &Timeouts::check_ms}};
  auto it = kNames.find(w[1]);
  if (it == kNames.end()) return Status(EINVAL, "unknown timeout '" + w[1] + "'");
  to.*(it->second) = *t;
  return Status::Ok();
}

Status ParseOption(ParseCtx& c, const std::vector<std::string>& w) {
  if (w.size() < 2) return Status(EINVAL, "'option' expects a name");
  const std::string& o = w[1];
  auto only = [&](unsigned sections) -> Status {
    if (!(c.section & sections)) return Status(EINVAL, "'option " + o + "' is not allowed in this section");
    return Status::Ok();
  };
  if (o == "httplog") {
    HAFS_RETURN_IF_ERROR(only(kFrontSide));
    if (w.size() != 2) return Status(EINVAL, "'option httplog' takes no argument here");
    c.proxy->httplog = true;
  } else if (o == "forwardfor") {
    if (w.size() != 2) return Status(EINVAL, "'option forwardfor' parameters are not supported");
    c.proxy->forwardfor = true;
  } else if (o == "redispatch") {
    HAFS_RETURN_IF_ERROR(only(kBackSide));
    if (w.size() != 2) return Status(EINVAL, "'option redispatch' interval is not supported");
    c.proxy->redispatch = true;
  } else if (o == "httpchk") {
    HAFS_RETURN_IF_ERROR(only(kBackSide));
    c.proxy->httpchk = true;
    if (w.size() == 3) {
      c.proxy->httpchk_uri = w[2];
    } else if (w.size() == 4 || w.size() == 5) {
      c.proxy->httpchk_method = w[2];
      c.proxy->httpchk_uri = w[3];
      if (w.size() == 5 && w[4] != "HTTP/1.0" && w[4] != "HTTP/1.1")
        return Status(EINVAL, "'option httpchk' version must be HTTP/1.0 or HTTP/1.1");
    } else if (w.size() != 2) {
      return Status(EINVAL, "'option httpchk' expects: option httpchk [<method>] <uri> [<version>]");
    }
    if (c.proxy->httpchk_uri.empty() || c.proxy->httpchk_uri[0] != '/')
      return Status(EINVAL, "'option httpchk' uri must start with '/'");
  } else {
    return Status(EINVAL, "unsupported option '" + o + "'");
  }
  return Status::Ok();
}

Status ParseStats(ParseCtx& c, const std::vector<std::string>& w) {
  if (w.size() < 2) return Status(EINVAL, "'stats' expects a sub-keyword");
  if (c.section == kGlobal) {
    if (w[1] != "socket" || w.size() < 3) return Status(EINVAL, "global 'stats' supports only 'stats socket <path> [mode <octal>] [level <level>]'");
    c.cfg->stats_socket = w[2];
    for (size_t i = 3; i < w.size(); i += 2) {
      if (i + 1 >= w.size()) return Status(EINVAL, "'stats socket' option '" + w[i] + "' needs a value");
      if (w[i] == "mode") {
        char* end = nullptr;
        long m = std::strtol(w[i + 1].c_str(), &end, 8);
        if (*end != '\0' || m < 0 || m > 0777) return Status(EINVAL, "bad socket mode '" + w[i + 1] + "'");
        c.cfg->stats_socket_mode = static_cast<int>(m);
      } else if (w[i] == "level") {
        if (w[i + 1] != "admin" && w[i + 1] != "operator" && w[i + 1] != "user")
          return Status(EINVAL, "bad socket level '" + w[i + 1] + "'");
        c.cfg->stats_socket_level = w[i + 1];
      } else {
        return Status(EINVAL, "unsupported 'stats socket' option '" + w[i] + "'");
      }
    }
    return Status::Ok();
  }
  StatsConf& s = c.proxy->stats;
  if (w[1] == "enable") {
    HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "stats enable"));
  } else if (w[1] == "uri") {
    HAFS_RETURN_IF_ERROR(NeedArgs(w, 3, "stats uri <prefix>"));
    if (w[2].empty() || w[2][0] != '/') return Status(EINVAL, "'stats uri' must start with '/'");
    s.uri = w[2];
  } else if (w[1] == "refresh") {
    HAFS_RETURN_IF_ERROR(NeedArgs(w, 3, "stats refresh <time>"));
    auto t = ParseTimeMs(w[2]);
    if (!t.ok()) return t.status();
    s.refresh_ms = *t;
  } else if (w[1] == "auth") {
    HAFS_RETURN_IF_ERROR(NeedArgs(w, 3, "stats auth <user>:<password>"));
    if (w[2].find(':') == std::string::npos) return Status(EINVAL, "'stats auth' expects <user>:<password>");
    s.auth.push_back(w[2]);
  } else if (w[1] == "admin") {
    if (w.size() != 4 || w[2] != "if" || w[3] != "TRUE")
      return Status(EINVAL, "only 'stats admin if TRUE' is supported (no ACLs)");
    s.admin = true;
  } else {
    return Status(EINVAL, "unsupported 'stats " + w[1] + "'");
  }
  s.enabled = true;
  return Status::Ok();
}

const std::vector<Keyword>& Keywords() {
  static const std::vector<Keyword> kKeywords = {
      {"stats", kGlobal | kAnyProxy, "stats socket <path> [mode <octal>] [level admin] (global); stats uri|refresh|auth|admin if TRUE|enable (proxies)", ParseStats},
      {"maxconn", kGlobal | kFrontSide, "maximum concurrent connections (process or frontend)",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "maxconn <n>"));
         auto n = ParseInt(w[1], 1, 10000000);
         if (!n.ok()) return n.status();
         if (c.section == kGlobal) c.cfg->maxconn = *n; else c.proxy->maxconn = *n;
         return Status::Ok();
       }},
      {"nbthread", kGlobal, "number of event-loop threads (default: one per core)",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "nbthread <n>"));
         auto n = ParseInt(w[1], 1, 256);
         if (!n.ok()) return n.status();
         c.cfg->nbthread = *n;
         return Status::Ok();
       }},
      {"mode", kAnyProxy, "mode tcp|http",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "mode tcp|http"));
         if (w[1] == "tcp") c.proxy->mode = Mode::kTcp;
         else if (w[1] == "http") c.proxy->mode = Mode::kHttp;
         else return Status(EINVAL, "unsupported mode '" + w[1] + "'");
         return Status::Ok();
       }},
      {"option", kAnyProxy, "option httplog|forwardfor|redispatch|httpchk [<method>] <uri>", ParseOption},
      {"timeout", kAnyProxy, "timeout connect|client|server|http-request|http-keep-alive|queue|check <time>", ParseTimeout},
      {"retries", kBackSide, "connection retries before giving up (default 3)",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "retries <n>"));
         auto n = ParseInt(w[1], 0, 100);
         if (!n.ok()) return n.status();
         c.proxy->retries = *n;
         return Status::Ok();
       }},
      {"balance", kBackSide, "balance roundrobin|leastconn|source|uri|first",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "balance roundrobin|leastconn|source|uri|first"));
         static const std::map<std::string, Balance> kAlgos = {
             {"roundrobin", Balance::kRoundRobin}, {"leastconn", Balance::kLeastConn},
             {"source", Balance::kSource}, {"uri", Balance::kUri}, {"first", Balance::kFirst}};
         auto it = kAlgos.find(w[1]);
         if (it == kAlgos.end()) return Status(EINVAL, "unsupported balance algorithm '" + w[1] + "'");
         c.proxy->balance = it->second;
         return Status::Ok();
       }},
      {"cookie", kBackSide, "cookie <name> insert: persistence cookie inserted in responses",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         if (w.size() != 3 || w[2] != "insert")
           return Status(EINVAL, "only 'cookie <name> insert' is supported");
         c.proxy->cookie_name = w[1];
         return Status::Ok();
       }},
      {"http-check", kBackSide, "http-check expect status <code>",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         if (w.size() != 4 || w[1] != "expect" || w[2] != "status")
           return Status(EINVAL, "only 'http-check expect status <code>' is supported");
         auto n = ParseInt(w[3], 100, 599);
         if (!n.ok()) return n.status();
         c.proxy->http_expect_status = *n;
         return Status::Ok();
       }},
      {"default-server", kBackSide, "default-server <server params>: defaults for the following servers",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         return ParseServerParams(w, 1, &c.proxy->default_server);
       }},
      {"bind", kFrontend | kListen, "bind <ip>:<port>",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         if (w.size() < 2) return Status(EINVAL, "'bind' expects <ip>:<port>");
         if (w.size() > 2) return Status(EINVAL, "unsupported bind option '" + w[2] + "'");
         auto a = ParseAddress(w[1]);
         if (!a.ok()) return a.status();
         c.proxy->binds.push_back(*a);
         return Status::Ok();
       }},
      {"default_backend", kFrontSide, "default_backend <backend>",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         HAFS_RETURN_IF_ERROR(NeedArgs(w, 2, "default_backend <name>"));
         c.proxy->default_backend = w[1];
         return Status::Ok();
       }},
      {"server", kBackend | kListen, "server <name> <ip>:<port> [check] [cookie <v>] [weight <n>] [backup] [inter|fastinter|downinter <t>] [rise|fall <n>] [maxconn <n>] [disabled]",
       [](ParseCtx& c, const std::vector<std::string>& w) -> Status {
         if (w.size() < 3) return Status(EINVAL, "'server' expects <name> <ip>:<port> [params]");
         ServerConf s;
         s.name = w[1];
         auto a = ParseAddress(w[2]);
         if (!a.ok()) return a.status();
         s.addr = *a;
         s.params = c.proxy->default_server;
         HAFS_RETURN_IF_ERROR(ParseServerParams(w, 3, &s.params));
         for (const auto& o : c.proxy->servers)
           if (o.name == s.name) return Status(EINVAL, "duplicate server '" + s.name + "'");
         c.proxy->servers.push_back(std::move(s));
         return Status::Ok();
       }},
  };
  return kKeywords;
}

std::vector<std::string> Tokenize(const std::string& line, bool* ok) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false, quoted = false;
  *ok = true;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"') quoted = false;
      else if (ch == '\\' && i + 1 < line.size()) cur += line[++i];
      else cur += ch;
      continue;
    }
    if (ch == '#') break;
    if (ch == ' ' || ch == '\t' || ch == '\r') {
      if (in_word) out.push_back(std::move(cur)), cur.clear(), in_word = false;
      continue;
    }
    in_word = true;
    if (ch == '"') quoted = true;
    else if (ch == '\\' && i + 1 < line.size()) cur += line[++i];
    else cur += ch;
  }
  if (quoted) *ok = false;
  if (in_word) out.push_back(std::move(cur));
  return out;
}

}  // namespace

Status ParseServerParams(const std::vector<std::string>& w, size_t from, ServerParams* p) {
  for (size_t i = from; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto value = [&](const char* what) -> Result<std::string> {
      if (i + 1 >= w.size()) return Status(EINVAL, fmt::format("server parameter '{}' needs {}", k, what));
      return w[++i];
    };
    auto int_value = [&](int lo, int hi) -> Result<int> {
      auto v = value("an integer");
      if (!v.ok()) return v.status();
      return ParseInt(*v, lo, hi);
    };
    auto time_value = [&]() -> Result<int64_t> {
      auto v = value("a time");
      if (!v.ok()) return v.status();
      auto t = ParseTimeMs(*v);
      if (t.ok() && *t == 0) return Status(EINVAL, "'" + k + "' must be greater than 0");
      return t;
    };
    if (k == "check") {
      p->check = true;
    } else if (k == "backup") {
      p->backup = true;
    } else if (k == "disabled") {
      p->disabled = true;
    } else if (k == "cookie") {
      auto v = value("a value");
      if (!v.ok()) return v.status();
      p->cookie = *v;
    } else if (k == "weight") {
      auto v = int_value(0, 256);
      if (!v.ok()) return v.status();
      p->weight = *v;
    } else if (k == "rise" || k == "fall") {
      auto v = int_value(1, 1000);
      if (!v.ok()) return v.status();
      (k == "rise" ? p->rise : p->fall) = *v;
    } else if (k == "maxconn") {
      auto v = int_value(0, 10000000);
      if (!v.ok()) return v.status();
      p->maxconn = *v;
    } else if (k == "inter" || k == "fastinter" || k == "downinter") {
      auto v = time_value();
      if (!v.ok()) return v.status();
      (k == "inter" ? p->inter_ms : k == "fastinter" ? p->fastinter_ms : p->downinter_ms) = *v;
    } else {
      return Status(EINVAL, "unsupported server parameter '" + k + "'");
    }
  }
  return Status::Ok();
}

Status ValidateConfig(const Config& cfg) {
  std::set<std::string> names, binds;
  for (const auto& p : cfg.proxies) {
    auto where = [&](const std::string& msg) {
      return Status(EINVAL, fmt::format("{}:{}: proxy '{}': {}", cfg.file, p.line, p.name, msg));
    };
    if (p.has_frontend && !names.insert("fe:" + p.name).second) return where("duplicate frontend name");
    if (p.has_backend && !names.insert("be:" + p.name).second) return where("duplicate backend name");
    if (p.has_frontend) {
      if (p.binds.empty()) return where("no 'bind' line");
      for (const auto& b : p.binds)
        if (!binds.insert(b.text).second) return where("address " + b.text + " is bound twice");
      if (p.stats.enabled && p.mode != Mode::kHttp) return where("'stats' needs mode http");
      std::string be = p.default_backend;
      if (be.empty() && p.has_backend && !p.servers.empty()) be = p.name;
      if (be.empty() && !p.stats.enabled) return where("no default_backend and no stats");
      if (!be.empty()) {
        const ProxyConf* b = cfg.FindBackend(be);
        if (!b) return where("backend '" + be + "' does not exist");
        if (b->mode != p.mode)
          return where(fmt::format("mode {} frontend cannot use mode {} backend '{}'", ModeName(p.mode), ModeName(b->mode), be));
      }
    }
    if (p.has_backend) {
      if (p.mode == Mode::kTcp && !p.cookie_name.empty()) return where("'cookie' needs mode http");
      if (p.mode == Mode::kTcp && p.balance == Balance::kUri) return where("'balance uri' needs mode http");
      std::set<std::string> servers;
      for (const auto& s : p.servers) {
        if (!servers.insert(s.name).second)
          return Status(EINVAL, fmt::format("{}:{}: duplicate server '{}'", cfg.file, s.line, s.name));
      }
    }
  }
  return Status::Ok();
}

Result<Config> ParseConfig(const std::string& text, const std::string& file) {
  Config cfg;
  cfg.file = file;
  ProxyConf defaults;
  defaults.name = "defaults";
  ParseCtx ctx{&cfg, &defaults, nullptr, kGlobal};
  bool in_section = false;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto err = [&](const std::string& msg) { return Status(EINVAL, fmt::format("{}:{}: {}", file, lineno, msg)); };
    bool ok = true;
    auto w = Tokenize(line, &ok);
    if (!ok) return err("unterminated quote");
    if (w.empty()) continue;
    const std::string& k = w[0];
    if (k == "global" || k == "defaults" || k == "frontend" || k == "backend" || k == "listen") {
      in_section = true;
      if (k == "global") {
        if (w.size() != 1) return err("'global' takes no name");
        ctx.section = kGlobal;
        ctx.proxy = nullptr;
        continue;
      }
      if (k == "defaults") {
        if (w.size() > 2) return err("'defaults' takes at most a name");
        // A new defaults section starts from scratch, like HAProxy.
        defaults = ProxyConf();
        defaults.name = "defaults";
        ctx.section = kDefaults;
        ctx.proxy = &defaults;
        continue;
      }
      if (w.size() != 2) return err("'" + k + "' expects exactly one name");
      bool fe = k != "backend", be = k != "frontend";
      if ((fe && cfg.FindFrontend(w[1])) || (be && cfg.FindBackend(w[1])))
        return err("duplicate proxy name '" + w[1] + "'");
      ProxyConf p = defaults;  // inherits mode, options, timeouts, default-server ...
      p.name = w[1];
      p.line = lineno;
      p.binds.clear();
      p.servers.clear();
      p.stats = StatsConf();
      p.has_frontend = (k != "backend");
      p.has_backend = (k != "frontend");
      if (!p.has_frontend) p.default_backend.clear();
      ctx.section = k == "frontend" ? kFrontend : k == "backend" ? kBackend : kListen;
      cfg.proxies.push_back(std::move(p));
      ctx.proxy = &cfg.proxies.back();
      continue;
    }
    if (!in_section) return err("keyword '" + k + "' outside of a section");
    const Keyword* kw = nullptr;
    for (const auto& cand : Keywords())
      if (k == cand.word) kw = &cand;
    if (!kw) return err("unknown keyword '" + k + "'");
    if (!(kw->sections & ctx.section)) return err("keyword '" + k + "' is not allowed in this section");
    if (k == "server") {
      ctx.proxy->servers.reserve(ctx.proxy->servers.size() + 1);
    }
    Status st = kw->handle(ctx, w);
    if (!st.ok()) return err(st.message());
    if (k == "server") ctx.proxy->servers.back().line = lineno;
  }
  if (cfg.proxies.empty()) return Status(EINVAL, file + ": no frontend, backend or listen section");
  HAFS_RETURN_IF_ERROR(ValidateConfig(cfg));
  return cfg;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::FromErrno(errno ? errno : ENOENT, "open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace hafs::lb
