#include "lb/stats.h"

#include <map>

#include "lb/lb.h"

namespace hafs::lb {

namespace {

uint64_t Load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }
int64_t Load(const std::atomic<int64_t>& a) { return a.load(std::memory_order_relaxed); }

std::string ServerStatus(const ServerRt& s) {
  AdminState a = s.st->Admin();
  if (a == AdminState::kMaint) return "MAINT";
  bool up = s.st->up.load();
  if (!up) return "DOWN";
  if (a == AdminState::kDrain) return "DRAIN";
  if (!s.conf->params.check) return "no check";
  return "UP";
}

std::string HtmlEscape(std::string_view in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string UrlDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') out += ' ';
    else if (in[i] == '%' && i + 2 < in.size()) out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)), i += 2;
    else out += in[i];
  }
  return out;
}

std::map<std::string, std::string> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view kv = body.substr(0, amp);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) {
      try {
        out[UrlDecode(kv.substr(0, eq))] = UrlDecode(kv.substr(eq + 1));
      } catch (...) {
      }
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

std::string Response(int status, const char* reason, std::string_view ctype, std::string_view body, bool keep_alive,
                     std::string_view extra = {}) {
  return fmt::format("HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\n{}{}\r\n{}",
                     status, reason, ctype, body.size(), extra, keep_alive ? "" : "connection: close\r\n", body);
}

void CsvRow(std::string& out, const std::string& px, const std::string& sv, const Counters& c, const std::string& status,
            int weight, const std::string& check, int64_t lastchg, const std::string& type, int64_t downtime_placeholder) {
  (void)downtime_placeholder;
  // pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,
  // act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,
  // check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot
  out += fmt::format("{},{},0,0,{},{},,{},{},{},0,0,{},{},{},{},{},{},{},,,,,{},,,1,,,,,,{},,,,{},,,{},{},{},{},{},{},{}\n", px, sv,
                     Load(c.cur_sess), Load(c.max_sess), Load(c.tot_sess), Load(c.bytes_in), Load(c.bytes_out),
                     Load(c.req_errors), Load(c.conn_errors), Load(c.resp_errors), Load(c.retries), Load(c.redispatches),
                     status, weight, lastchg, type, check, Load(c.resp[0]), Load(c.resp[1]), Load(c.resp[2]),
                     Load(c.resp[3]), Load(c.resp[4]), Load(c.resp[5]), Load(c.requests));
}

}  // namespace

std::string Base64Decode(std::string_view in) {
  static const std::string kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    size_t v = kChars.find(c);
    if (v == std::string::npos) return {};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

bool CheckBasicAuth(std::string_view authorization, const std::vector<std::string>& users) {
  if (users.empty()) return true;
  if (authorization.size() < 6 || !http::EqualsNoCase(authorization.substr(0, 6), "basic ")) return false;
  std::string cred = Base64Decode(authorization.substr(6));
  for (const auto& u : users)
    if (u == cred) return true;
  return false;
}

bool IsStatsRequest(const FrontendRt& fe, std::string_view uri) {
  if (!fe.conf->stats.enabled) return false;
  return uri.substr(0, fe.conf->stats.uri.size()) == fe.conf->stats.uri || uri == "/metrics" ||
         uri.substr(0, 9) == "/metrics?";
}

std::string RenderCsv(const Runtime& rt) {
  std::string out =
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
      "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
      "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,req_tot\n";
  int64_t now = WallSeconds();
  for (const auto& fe : rt.frontends) CsvRow(out, fe.conf->name, "FRONTEND", fe.st->c, "OPEN", 0, "", 0, "0", 0);
  for (const auto& be : rt.backends) {
    int total_weight = 0;
    bool any_up = false;
    for (const auto& s : be->servers) {
      CsvRow(out, be->conf->name, s.conf->name, s.st->c, ServerStatus(s), s.st->weight.load(),
             s.st->LastCheck(), now - s.st->last_change.load(), "2", 0);
      if (s.Usable()) total_weight += s.st->weight.load(), any_up = true;
    }
    CsvRow(out, be->conf->name, "BACKEND", be->st->c, any_up ? "UP" : "DOWN", total_weight, "", 0, "1", 0);
  }
  return out;
}

std::string RenderHtml(const Runtime& rt, const FrontendRt& stats_fe) {
  const StatsConf& sc = stats_fe.conf->stats;
  std::string out = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>hafs-lb statistics</title>";
  if (sc.refresh_ms > 0) out += fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">", sc.refresh_ms / 1000);
  out +=
      "<style>body{font-family:sans-serif;font-size:12px}table{border-collapse:collapse;margin-bottom:1em}"
      "td,th{border:1px solid #999;padding:2px 6px}th{background:#ddd}.UP{background:#c0ffc0}.DOWN{background:#ffc0c0}"
      ".MAINT{background:#c0c0ff}.DRAIN{background:#ffe0a0}</style></head><body><h1>hafs-lb statistics</h1>";
  out += fmt::format("<p><a href=\"{};csv\">CSV export</a> | <a href=\"/metrics\">Prometheus</a></p>", HtmlEscape(sc.uri));
  const char* kHead =
      "<tr><th>name</th><th>status</th><th>weight</th><th>cur sess</th><th>max sess</th><th>total sess</th>"
      "<th>bytes in</th><th>bytes out</th><th>requests</th><th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>"
      "<th>conn err</th><th>resp err</th><th>retries</th><th>redisp</th><th>last check</th><th>last change</th>%s</tr>";
  auto row = [&](const std::string& name, const std::string& status, int weight, const Counters& c, const std::string& check,
                 const std::string& change, const std::string& extra) {
    out += fmt::format(
        "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
        HtmlEscape(status), HtmlEscape(name), HtmlEscape(status), weight, Load(c.cur_sess), Load(c.max_sess), Load(c.tot_sess),
        Load(c.bytes_in), Load(c.bytes_out), Load(c.requests), Load(c.resp[0]), Load(c.resp[1]), Load(c.resp[2]),
        Load(c.resp[3]), Load(c.resp[4]), Load(c.conn_errors), Load(c.resp_errors), Load(c.retries),
        Load(c.redispatches), HtmlEscape(check), HtmlEscape(change), extra);
  };
  for (const auto& fe : rt.frontends) {
    out += fmt::format("<h2>frontend {} ({})</h2><table>", HtmlEscape(fe.conf->name), ModeName(fe.conf->mode));
    std::string head = kHead;
    out += head.replace(head.find("%s"), 2, "");
    row("FRONTEND", "OPEN", 0, fe.st->c, "", "", "");
    out += "</table>";
  }
  int64_t now = WallSeconds();
  for (const auto& be : rt.backends) {
    out += fmt::format("<h2>backend {} ({}, balance {})</h2><table>", HtmlEscape(be->conf->name), ModeName(be->conf->mode),
                       BalanceName(be->conf->balance));
    std::string head = kHead;
    out += head.replace(head.find("%s"), 2, sc.admin ? "<th>admin</th>" : "");
    for (const auto& s : be->servers) {
      std::string extra;
      if (sc.admin) {
        extra = "<td>";
        for (const char* action : {"ready", "drain", "maint"})
          extra += fmt::format(
              "<form method=\"post\" action=\"{}\" style=\"display:inline\"><input type=\"hidden\" name=\"b\" value=\"{}\">"
              "<input type=\"hidden\" name=\"s\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{}\">"
              "<input type=\"submit\" value=\"{}\"></form>",
              HtmlEscape(sc.uri), HtmlEscape(be->conf->name), HtmlEscape(s.conf->name), action, action);
        extra += "</td>";
      }
      row(s.conf->name + (s.conf->params.backup ? " (backup)" : ""), ServerStatus(s), s.st->weight.load(), s.st->c,
          s.st->LastCheck(), fmt::format("{}s ago", now - s.st->last_change.load()), extra);
    }
    row("BACKEND", "", 0, be->st->c, "", "", sc.admin ? "<td></td>" : "");
    out += "</table>";
  }
  out += "</body></html>\n";
  return out;
}

std::string RenderPrometheus(const Runtime& rt) {
  std::string out;
  auto counters = [&](const char* kind, const std::string& labels, const Counters& c) {
    out += fmt::format("hafs_lb_{}_current_sessions{{{}}} {}\n", kind, labels, Load(c.cur_sess));
    out += fmt::format("hafs_lb_{}_sessions_total{{{}}} {}\n", kind, labels, Load(c.tot_sess));
    out += fmt::format("hafs_lb_{}_bytes_in_total{{{}}} {}\n", kind, labels, Load(c.bytes_in));
    out += fmt::format("hafs_lb_{}_bytes_out_total{{{}}} {}\n", kind, labels, Load(c.bytes_out));
    out += fmt::format("hafs_lb_{}_http_requests_total{{{}}} {}\n", kind, labels, Load(c.requests));
    for (int i = 0; i < 6; ++i)
      out += fmt::format("hafs_lb_{}_http_responses_total{{{},code=\"{}\"}} {}\n", kind, labels,
                         i < 5 ? fmt::format("{}xx", i + 1) : "other", Load(c.resp[i]));
    out += fmt::format("hafs_lb_{}_connection_errors_total{{{}}} {}\n", kind, labels, Load(c.conn_errors));
    out += fmt::format("hafs_lb_{}_response_errors_total{{{}}} {}\n", kind, labels, Load(c.resp_errors));
    out += fmt::format("hafs_lb_{}_retries_total{{{}}} {}\n", kind, labels, Load(c.retries));
    out += fmt::format("hafs_lb_{}_redispatches_total{{{}}} {}\n", kind, labels, Load(c.redispatches));
    uint64_t cum = 0;
    for (int i = 0; i <= Histogram::kBuckets; ++i) {
      cum += c.latency.bucket[i].load(std::memory_order_relaxed);
      std::string le = i < Histogram::kBuckets ? fmt::format("{}", Histogram::kBoundsSec[i]) : "+Inf";
      out += fmt::format("hafs_lb_{}_response_time_seconds_bucket{{{},le=\"{}\"}} {}\n", kind, labels, le, cum);
    }
    out += fmt::format("hafs_lb_{}_response_time_seconds_sum{{{}}} {}\n", kind, labels,
                       static_cast<double>(Load(c.latency.sum_us)) / 1e6);
    out += fmt::format("hafs_lb_{}_response_time_seconds_count{{{}}} {}\n", kind, labels, Load(c.latency.count));
  };
  out += "# TYPE hafs_lb_frontend_response_time_seconds histogram\n";
  for (const auto& fe : rt.frontends) counters("frontend", fmt::format("proxy=\"{}\"", fe.conf->name), fe.st->c);
  out += "# TYPE hafs_lb_backend_response_time_seconds histogram\n";
  for (const auto& be : rt.backends) counters("backend", fmt::format("proxy=\"{}\"", be->conf->name), be->st->c);
  out += "# TYPE hafs_lb_server_response_time_seconds histogram\n";
  for (const auto& be : rt.backends)
    for (const auto& s : be->servers) {
      std::string labels = fmt::format("proxy=\"{}\",server=\"{}\"", be->conf->name, s.conf->name);
      counters("server", labels, s.st->c);
      out += fmt::format("hafs_lb_server_up{{{}}} {}\n", labels, s.Usable() ? 1 : 0);
      out += fmt::format("hafs_lb_server_weight{{{}}} {}\n", labels, s.st->weight.load());
      out += fmt::format("hafs_lb_server_check_failures_total{{{}}} {}\n", labels, Load(s.st->check_fail));
    }
  return out;
}

std::string StatsResponse(Lb& lb, const Runtime& rt, const FrontendRt& fe, const http::Head& req, std::string_view body,
                          bool keep_alive, int* status) {
  const StatsConf& sc = fe.conf->stats;
  if (!CheckBasicAuth(req.Find("authorization"), sc.auth)) {
    *status = 401;
    return Response(401, "Unauthorized", "text/html", "<html><body><h1>401 Unauthorized</h1></body></html>\n", keep_alive,
                    "www-authenticate: Basic realm=\"HAProxy Statistics\"\r\n");
  }
  std::string_view uri = req.uri;
  if (uri == "/metrics" || uri.substr(0, 9) == "/metrics?") {
    *status = 200;
    return Response(200, "OK", "text/plain; version=0.0.4", RenderPrometheus(rt), keep_alive);
  }
  if (req.method == "POST") {
    if (!sc.admin) {
      *status = 403;
      return Response(403, "Forbidden", "text/plain", "admin actions are not enabled\n", keep_alive);
    }
    auto form = ParseForm(body);
    Status st = lb.ServerAction(form["b"], form["s"], form["action"]);
    *status = st.ok() ? 303 : 400;
    if (!st.ok()) return Response(400, "Bad Request", "text/plain", st.message() + "\n", keep_alive);
    return Response(303, "See Other", "text/plain", "", keep_alive, fmt::format("location: {}\r\n", sc.uri));
  }
  *status = 200;
  if (uri.find(";csv") != std::string_view::npos) return Response(200, "OK", "text/csv", RenderCsv(rt), keep_alive);
  return Response(200, "OK", "text/html", RenderHtml(rt, fe), keep_alive);
}

}  // namespace hafs::lb
