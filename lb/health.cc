#include "lb/health.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>

#include "common/log.h"
#include "lb/http_parser.h"
#include "lb/sessions.h"

namespace hafs::lb {

namespace {

struct Check {
  std::shared_ptr<ServerState> st;
  int fd = -1;
  bool connected = false;
  std::string request;
  size_t sent = 0;
  std::string response;
  int64_t started_ms = 0;
  int64_t deadline_ms = 0;
  int64_t next_ms = 0;
  int ok_streak = 0;
  int fail_streak = 0;
  bool seen_up = true;
};

struct Params {
  const ServerConf* conf;
  const ProxyConf* backend;
};

void Close(int epfd, Check& c) {
  if (c.fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
  }
  c.fd = -1;
}

int64_t Interval(const Params& p, const Check& c) {
  const ServerParams& sp = p.conf->params;
  bool up = c.st->up.load();
  bool transitioning = up ? c.fail_streak > 0 : c.ok_streak > 0;
  if (transitioning && sp.fastinter_ms) return sp.fastinter_ms;
  if (!up && sp.downinter_ms) return sp.downinter_ms;
  return sp.inter_ms;
}

void Conclude(int epfd, const Params& p, Check& c, bool ok, const std::string& desc, int64_t now) {
  Close(epfd, c);
  {
    std::lock_guard lk(c.st->mu);
    c.st->last_check = fmt::format("{} in {}ms", desc, now - c.started_ms);
  }
  if (c.st->up.load() != c.seen_up) c.ok_streak = c.fail_streak = 0, c.seen_up = c.st->up.load();
  if (ok) {
    c.st->check_ok.fetch_add(1, std::memory_order_relaxed);
    c.fail_streak = 0;
    ++c.ok_streak;
    if (!c.st->up.load() && c.ok_streak >= p.conf->params.rise) {
      c.st->passive_failures = 0;
      c.st->SetUp(true, "Health check passed: " + desc);
    }
  } else {
    c.st->check_fail.fetch_add(1, std::memory_order_relaxed);
    c.ok_streak = 0;
    ++c.fail_streak;
    if (c.st->up.load() && c.fail_streak >= p.conf->params.fall) c.st->SetUp(false, "Health check failed: " + desc);
  }
  c.seen_up = c.st->up.load();
  c.next_ms = now + Interval(p, c);
}

void Begin(int epfd, const Params& p, Check& c, int64_t now) {
  c.started_ms = now;
  c.response.clear();
  c.sent = 0;
  c.connected = false;
  const ProxyConf& be = *p.backend;
  int64_t timeout = be.timeouts.check_ms ? be.timeouts.check_ms : std::min(p.conf->params.inter_ms, be.timeouts.connect_ms);
  c.deadline_ms = now + timeout;
  c.request = be.httpchk ? fmt::format("{} {} HTTP/1.0\r\nUser-Agent: hafs-lb-check\r\n\r\n", be.httpchk_method, be.httpchk_uri) : "";
  c.fd = StartConnect(p.conf->addr);
  if (c.fd < 0) return Conclude(epfd, p, c, false, fmt::format("L4CON {}", strerror(errno)), now);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.ptr = &c;
  epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev);
}

void Progress(int epfd, const Params& p, Check& c, int64_t now) {
  if (!c.connected) {
    int err = ConnectError(c.fd);
    if (err == EINPROGRESS || err == EALREADY) return;
    if (err) return Conclude(epfd, p, c, false, fmt::format("L4CON {}", strerror(err)), now);
    c.connected = true;
    if (c.request.empty()) return Conclude(epfd, p, c, true, "L4OK", now);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = &c;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
  }
  while (c.sent < c.request.size()) {
    ssize_t n = send(c.fd, c.request.data() + c.sent, c.request.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) c.sent += static_cast<size_t>(n);
    else if (n < 0 && errno == EAGAIN) return;
    else return Conclude(epfd, p, c, false, "L7RSP send failed", now);
  }
  char buf[4096];
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      if (c.response.size() < 16384) c.response.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    if (c.response.empty()) return Conclude(epfd, p, c, false, "L7RSP empty response", now);
    break;
  }
  auto eol = c.response.find("\r\n");
  if (eol == std::string::npos && c.response.size() < 16384) return;
  // Only the status line matters; headers may be incomplete.
  std::string line = c.response.substr(0, eol);
  int status = 0;
  if (line.size() >= 12 && line.compare(0, 7, "HTTP/1.") == 0) status = std::atoi(line.c_str() + 9);
  int expect = p.backend->http_expect_status;
  bool ok = expect ? status == expect : (status >= 200 && status < 400);
  Conclude(epfd, p, c, ok, fmt::format("{} {}", ok ? "L7OK" : "L7STS", status), now);
}

}  // namespace

HealthChecker::HealthChecker(std::function<std::shared_ptr<Runtime>()> current) : current_(std::move(current)) {}
HealthChecker::~HealthChecker() { Stop(); }

void HealthChecker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void HealthChecker::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::Run() {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  std::map<ServerState*, Check> checks;
  std::shared_ptr<Runtime> rt;
  std::map<ServerState*, Params> params;
  epoll_event events[64];
  while (!stop_.load()) {
    int64_t now = NowMs();
    auto cur = current_();
    if (cur != rt) {
      rt = cur;
      params.clear();
      for (const auto& be : rt->backends)
        for (const auto& s : be->servers)
          if (s.conf->params.check) params[s.st.get()] = {s.conf, be->conf};
      for (auto it = checks.begin(); it != checks.end();) {
        if (!params.count(it->first)) Close(epfd, it->second), it = checks.erase(it);
        else ++it;
      }
      for (const auto& be : rt->backends)
        for (const auto& s : be->servers)
          if (s.conf->params.check && !checks.count(s.st.get())) {
            Check& c = checks[s.st.get()];
            c.st = s.st;
            c.seen_up = s.st->up.load();
            c.next_ms = now;  // first check right away
          }
    }
    for (auto& [key, c] : checks) {
      const Params& p = params[key];
      if (c.fd >= 0) {
        if (now >= c.deadline_ms) Conclude(epfd, p, c, false, c.connected ? "L7TOUT timeout" : "L4TOUT timeout", now);
        continue;
      }
      if (c.st->want_fast_check.exchange(false)) {
        int64_t fast = p.conf->params.fastinter_ms ? p.conf->params.fastinter_ms : 100;
        c.next_ms = std::min(c.next_ms, now + fast);
      }
      if (now >= c.next_ms) Begin(epfd, p, c, now);
    }
    int n = epoll_wait(epfd, events, 64, 10);
    now = NowMs();
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Check*>(events[i].data.ptr);
      if (c->fd >= 0) Progress(epfd, params[c->st.get()], *c, now);
    }
  }
  for (auto& [k, c] : checks) Close(epfd, c);
  close(epfd);
}

}  // namespace hafs::lb
