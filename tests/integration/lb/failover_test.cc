// Health checks, passive failure detection, redispatch/retries and cookie persistence.
#include <gtest/gtest.h>

#include <thread>

#include "lb_fixture.h"

namespace lbtest {
namespace {

using namespace std::chrono_literals;

const char* kConfig = R"(global
    stats socket ${SOCK} mode 600 level admin
defaults
    mode http
    timeout connect 2000
    timeout client 10000
    timeout server 10000
frontend web-http
    bind 127.0.0.1:${HTTP}
    option forwardfor
    default_backend http-servers
frontend web-tcp
    mode tcp
    bind 127.0.0.1:${TCP}
    default_backend tcp-servers
backend http-servers
    balance roundrobin
    option redispatch
    option httpchk GET /health
    http-check expect status 200
    cookie SERVERID insert
    default-server inter 200ms fastinter 100ms rise 2 fall 2
    server web1 127.0.0.1:${B1} cookie web1 check
    server web2 127.0.0.1:${B2} cookie web2 check
    server web3 127.0.0.1:${B3} cookie web3 check
backend tcp-servers
    mode tcp
    balance roundrobin
    option redispatch
    default-server inter 200ms rise 2 fall 2
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2} check
    server web3 127.0.0.1:${B3} check
)";

class LbFailover : public ::testing::Test {
 protected:
  LbCluster c{kConfig};
};

TEST_F(LbFailover, KillingABackendDuringLoadFailsNoRequestAndItComesBackAfterRise) {
  int total = 20000;
  LoadResult r = RunLoad(c.port("HTTP"), "/", total, 20, [&](const std::atomic<int>& done) {
    WaitFor([&] { return done.load() >= total / 4; }, 60s);
    c.backend(2).Kill();  // SIGKILL: in-flight connections are reset
  });
  EXPECT_EQ(r.failed, 0) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.ok, total);
  EXPECT_GT(r.per_backend["web2"], 0);
  EXPECT_TRUE(WaitFor([&] { return c.ServerOpState("http-servers", "web2") == "DOWN"; }, 5s));
  EXPECT_NE(c.LogText().find("Server http-servers/web2 is DOWN"), std::string::npos);

  c.StartBackend(2);
  EXPECT_TRUE(WaitFor([&] { return c.ServerOpState("http-servers", "web2") == "UP"; }, 5s));
  LoadResult after = RunLoad(c.port("HTTP"), "/", 300, 3);
  EXPECT_EQ(after.failed, 0);
  EXPECT_NEAR(after.per_backend["web2"], 100, 5);
  EXPECT_NE(c.LogText().find("Server http-servers/web2 is UP"), std::string::npos);
}

TEST_F(LbFailover, TcpModeRedispatchesConnectFailures) {
  c.backend(1).Kill();
  LoadResult r = RunLoad(c.port("TCP"), "/", 600, 6);
  EXPECT_EQ(r.failed, 0) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.per_backend["web1"], 0);
}

TEST_F(LbFailover, CookiePersistenceAndRedispatchResetsTheCookie) {
  Response first = HttpRequest(c.port("HTTP"), "GET", "/");
  ASSERT_TRUE(first.ok);
  ASSERT_EQ(first.set_cookies.size(), 1u);
  std::string server = first.headers["x-backend"];
  EXPECT_EQ(first.set_cookies[0], "SERVERID=" + server + "; path=/");
  std::string cookie = "Cookie: other=1; SERVERID=" + server + "\r\n";
  for (int i = 0; i < 30; ++i) {
    Response r = HttpRequest(c.port("HTTP"), "GET", "/", cookie);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.headers["x-backend"], server);
    EXPECT_TRUE(r.set_cookies.empty());  // the client already has a valid cookie
  }
  // An unknown cookie value is balanced and corrected.
  Response stale = HttpRequest(c.port("HTTP"), "GET", "/", "Cookie: SERVERID=gone\r\n");
  ASSERT_EQ(stale.set_cookies.size(), 1u);

  int idx = server.back() - '0';
  c.backend(idx).Kill();
  Response moved = HttpRequest(c.port("HTTP"), "GET", "/", cookie);
  ASSERT_TRUE(moved.ok) << moved.error;
  EXPECT_EQ(moved.status, 200);
  EXPECT_NE(moved.headers["x-backend"], server);
  ASSERT_EQ(moved.set_cookies.size(), 1u);
  EXPECT_EQ(moved.set_cookies[0], "SERVERID=" + moved.headers["x-backend"] + "; path=/");
  std::string new_cookie = "Cookie: SERVERID=" + moved.headers["x-backend"] + "\r\n";
  for (int i = 0; i < 10; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/", new_cookie).headers["x-backend"], moved.headers["x-backend"]);
}

const char* kSlowCheckConfig = R"(global
    stats socket ${SOCK}
defaults
    mode http
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend b
backend b
    option redispatch
    retries 2
    default-server inter 30s rise 1 fall 2
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2} check
    server web3 127.0.0.1:${B3} check
)";

TEST(LbPassive, TrafficFailuresMarkAServerDownBeforeTheNextCheck) {
  LbCluster c(kSlowCheckConfig);
  // The first answer of the stats socket may come before the backend table is listed ("?").
  ASSERT_TRUE(WaitFor([&] { return c.ServerOpState("b", "web3") == "UP"; }, 5s)) << c.ServerOpState("b", "web3");
  c.backend(3).Kill();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 12; ++i) {
    Response r = HttpRequest(c.port("HTTP"), "GET", "/");
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_TRUE(WaitFor([&] { return c.ServerOpState("b", "web3") == "DOWN"; }, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);  // far sooner than inter 30s
  EXPECT_NE(c.LogText().find("seen by traffic"), std::string::npos);
}

const char* kHttpCheckConfig = R"(global
    stats socket ${SOCK}
defaults
    mode http
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend b
backend b
    option httpchk GET /health-fail
    default-server inter 100ms rise 1 fall 1
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2}
)";

TEST(LbHealth, HttpCheckExpectingSuccessMarksA500ServerDown) {
  LbCluster c(kHttpCheckConfig);
  EXPECT_TRUE(WaitFor([&] { return c.ServerOpState("b", "web1") == "DOWN"; }, 3s));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"], "web2");
  std::string csv = c.Admin("show stat");
  EXPECT_NE(csv.find("L7STS 500"), std::string::npos) << csv;
}

}  // namespace
}  // namespace lbtest
