// Reload on SIGHUP: no refused, reset or failed request under load; established
// connections carry on; counters and server states survive; a bad file is refused.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "lb_fixture.h"

namespace lbtest {
namespace {

using namespace std::chrono_literals;

const char* kV1 = R"(global
    stats socket ${SOCK}
defaults
    mode http
    timeout connect 2000
    timeout client 10000
    timeout server 10000
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend http-servers
frontend web-tcp
    mode tcp
    bind 127.0.0.1:${TCP}
    default_backend tcp-servers
backend http-servers
    default-server inter 200ms rise 2 fall 2
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2} check
backend tcp-servers
    mode tcp
    server web1 127.0.0.1:${B1}
)";

// v2: a third server, and the stats listener is new.
const char* kV2 = R"(global
    stats socket ${SOCK}
defaults
    mode http
    timeout connect 2000
    timeout client 10000
    timeout server 10000
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend http-servers
frontend web-tcp
    mode tcp
    bind 127.0.0.1:${TCP}
    default_backend tcp-servers
backend http-servers
    default-server inter 200ms rise 2 fall 2
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2} check
    server web3 127.0.0.1:${B3} check
backend tcp-servers
    mode tcp
    server web1 127.0.0.1:${B1}
listen stats
    bind 127.0.0.1:${STATS}
    stats uri /stats
)";

class LbReload : public ::testing::Test {
 protected:
  std::string Render(const char* tmpl) {
    std::map<std::string, std::string> vars;
    for (auto k : {"HTTP", "TCP", "STATS", "B1", "B2", "B3"}) vars[k] = std::to_string(c.port(k));
    vars["SOCK"] = c.sock();
    return Substitute(tmpl, vars);
  }
  void WriteConfig(const char* tmpl) { std::ofstream(c.cfg_file()) << Render(tmpl); }
  int Reloads() {
    std::string log = c.LogText();
    int n = 0;
    for (size_t p = 0; (p = log.find("configuration reloaded", p)) != std::string::npos; ++p) ++n;
    return n;
  }
  LbCluster c{kV1};
};

TEST_F(LbReload, ReloadUnderLoadDropsNothing) {
  Conn held_http(c.port("HTTP"));
  Conn held_tcp(c.port("TCP"));
  ASSERT_EQ(held_http.Request("GET", "/").status, 200);
  ASSERT_EQ(held_tcp.Request("GET", "/").status, 200);
  // A long request in flight across the reloads.
  std::thread slow([&] {
    Response r = HttpRequest(c.port("HTTP"), "GET", "/slow?ms=1500");
    EXPECT_EQ(r.status, 200) << r.error;
  });
  int total = 8000;
  LoadResult r = RunLoad(c.port("HTTP"), "/", total, 10, [&](const std::atomic<int>& done) {
    for (int i = 0; i < 6; ++i) {
      WaitFor([&] { return done.load() >= (i + 1) * total / 8; }, 30s);
      WriteConfig(i % 2 == 0 ? kV2 : kV1);
      c.lb().Signal(SIGHUP);
      WaitFor([&] { return Reloads() >= i + 1; }, 5s);
    }
  });
  slow.join();
  EXPECT_EQ(r.failed, 0) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.resets, 0);
  EXPECT_EQ(r.ok, total);
  EXPECT_EQ(Reloads(), 6);
  // Connections established before the reloads still work.
  EXPECT_EQ(held_http.Request("GET", "/").status, 200);
  EXPECT_EQ(held_tcp.Request("GET", "/").status, 200);
  EXPECT_TRUE(c.lb().Alive());
}

TEST_F(LbReload, NewConfigTakesEffectAndStateSurvives) {
  for (int i = 0; i < 20; ++i) ASSERT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").status, 200);
  EXPECT_EQ(c.Admin("disable server http-servers/web1"), "\n");
  c.backend(2).Kill();
  ASSERT_TRUE(WaitFor([&] { return c.ServerOpState("http-servers", "web2") == "DOWN"; }, 5s));

  WriteConfig(kV2);
  c.lb().Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Reloads() == 1; }, 5s));
  // Runtime state carried over: web1 still in maintenance, web2 still down, without waiting for checks.
  std::string state = c.Admin("show servers state");
  EXPECT_NE(state.find("http-servers web1 127.0.0.1:" + std::to_string(c.port("B1")) + " UP MAINT"), std::string::npos) << state;
  EXPECT_EQ(c.ServerOpState("http-servers", "web2"), "DOWN");
  // Only web3 (new) can serve; the new stats listener is open; counters survived.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"], "web3");
  EXPECT_TRUE(WaitPortOpen(c.port("STATS"), 2s));
  std::string csv = HttpRequest(c.port("STATS"), "GET", "/stats;csv").body;
  auto p = csv.find("\nweb-http,FRONTEND,");
  ASSERT_NE(p, std::string::npos) << csv;
  std::string fe = csv.substr(p + 1, csv.find('\n', p + 1) - p - 1);
  EXPECT_EQ(fe.substr(fe.rfind(',') + 1), "25") << fe;  // req_tot across the reload

  // A broken file is refused and the running configuration stays.
  std::ofstream(c.cfg_file()) << "frontend x\n    bind 127.0.0.1:1\n    bogus\n";
  c.lb().Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return c.LogText().find("reload refused") != std::string::npos; }, 5s));
  EXPECT_NE(c.LogText().find(":3: unknown keyword 'bogus'"), std::string::npos);
  EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").status, 200);
  // Removing a listener closes it.
  WriteConfig(kV1);
  c.lb().Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return Reloads() == 2; }, 5s));
  EXPECT_TRUE(WaitFor([&] { return !WaitPortOpen(c.port("STATS"), 0ms); }, 3s));
}

}  // namespace
}  // namespace lbtest
