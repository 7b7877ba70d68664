// Stats page (HTML, CSV, Prometheus) behind basic auth, admin actions from the page
// and from the stats socket, `hafs-lb -c -f`.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <set>

#include "lb_fixture.h"

namespace lbtest {
namespace {

using namespace std::chrono_literals;

const char* kConfig = R"(global
    stats socket ${SOCK} mode 660 level admin
defaults
    mode http
    option httplog
    timeout connect 2000
    timeout client 10000
    timeout server 10000
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend http-servers
backend http-servers
    balance roundrobin
    option httpchk
    default-server inter 200ms rise 1 fall 1
    server web1 127.0.0.1:${B1} check
    server web2 127.0.0.1:${B2} check
listen stats
    bind 127.0.0.1:${STATS}
    stats uri /haproxy?stats
    stats refresh 5s
    stats auth admin:password
    stats admin if TRUE
)";

const std::string kAuth = "Authorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n";  // admin:password

class LbAdmin : public ::testing::Test {
 protected:
  LbCluster c{kConfig};
};

TEST_F(LbAdmin, StatsPagesNeedAuthAndShowCounters) {
  for (int i = 0; i < 10; ++i) ASSERT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").status, 200);
  HttpRequest(c.port("HTTP"), "GET", "/health-fail");
  Response no = HttpRequest(c.port("STATS"), "GET", "/haproxy?stats");
  EXPECT_EQ(no.status, 401);
  EXPECT_NE(no.headers["www-authenticate"].find("Basic"), std::string::npos);
  EXPECT_EQ(HttpRequest(c.port("STATS"), "GET", "/haproxy?stats", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n").status, 401);

  Response html = HttpRequest(c.port("STATS"), "GET", "/haproxy?stats", kAuth);
  EXPECT_EQ(html.status, 200);
  EXPECT_NE(html.body.find("http-servers"), std::string::npos);
  EXPECT_NE(html.body.find("web2"), std::string::npos);
  EXPECT_NE(html.body.find("http-equiv=\"refresh\" content=\"5\""), std::string::npos);
  EXPECT_NE(html.body.find("L7OK"), std::string::npos);

  Response csv = HttpRequest(c.port("STATS"), "GET", "/haproxy?stats;csv", kAuth);
  EXPECT_EQ(csv.status, 200);
  EXPECT_EQ(csv.body.rfind("# pxname,svname,", 0), 0u);
  // frontend row: 11 requests, 10 2xx and one 5xx
  auto line_of = [&](const std::string& prefix) {
    auto p = csv.body.find("\n" + prefix);
    return p == std::string::npos ? std::string() : csv.body.substr(p + 1, csv.body.find('\n', p + 1) - p - 1);
  };
  std::string fe = line_of("web-http,FRONTEND,");
  ASSERT_FALSE(fe.empty()) << csv.body;
  EXPECT_NE(fe.find(",10,0,0,1,0,11"), std::string::npos) << fe;  // hrsp_2xx..hrsp_other,req_tot

  Response prom = HttpRequest(c.port("STATS"), "GET", "/metrics", kAuth);
  EXPECT_EQ(prom.status, 200);
  EXPECT_NE(prom.body.find("hafs_lb_frontend_http_requests_total{proxy=\"web-http\"} 11"), std::string::npos) << prom.body;
  EXPECT_NE(prom.body.find("hafs_lb_backend_response_time_seconds_bucket{proxy=\"http-servers\",le=\"+Inf\"} 11"),
            std::string::npos);
  EXPECT_NE(prom.body.find("hafs_lb_server_up{proxy=\"http-servers\",server=\"web1\"} 1"), std::string::npos);
  EXPECT_EQ(HttpRequest(c.port("STATS"), "GET", "/metrics").status, 401);
}

TEST_F(LbAdmin, AdminActionsFromThePage) {
  Response r = HttpRequest(c.port("STATS"), "POST", "/haproxy?stats",
                           kAuth + "Content-Type: application/x-www-form-urlencoded\r\n", "s=web1&action=maint&b=http-servers");
  EXPECT_EQ(r.status, 303);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"], "web2");
  EXPECT_NE(c.Admin("show servers state").find("http-servers web1 127.0.0.1:" + std::to_string(c.port("B1")) + " UP MAINT"),
            std::string::npos);
  r = HttpRequest(c.port("STATS"), "POST", "/haproxy?stats", kAuth, "s=web1&action=ready&b=http-servers");
  EXPECT_EQ(r.status, 303);
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.insert(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"]);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(HttpRequest(c.port("STATS"), "POST", "/haproxy?stats", kAuth, "s=nope&action=maint&b=http-servers").status, 400);
}

TEST_F(LbAdmin, StatsSocketCommands) {
  struct stat st {};
  ASSERT_EQ(stat(c.sock().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(c.Admin("show stat").rfind("# pxname,svname", 0), 0u);
  EXPECT_NE(c.Admin("help").find("disable server"), std::string::npos);
  EXPECT_NE(c.Admin("frobnicate").find("Unknown command"), std::string::npos);

  EXPECT_EQ(c.Admin("disable server http-servers/web2"), "\n");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"], "web1");
  EXPECT_EQ(c.Admin("enable server http-servers/web2"), "\n");
  EXPECT_NE(c.Admin("disable server http-servers/nope").find("No such server"), std::string::npos);

  // set weight: 1 vs 3
  EXPECT_EQ(c.Admin("set weight http-servers/web2 3"), "\n");
  EXPECT_EQ(c.Admin("get weight http-servers/web2").substr(0, 1), "3");
  LoadResult lr = RunLoad(c.port("HTTP"), "/", 400, 4);
  EXPECT_NEAR(lr.per_backend["web2"], 300, 8);
  // drain: no new traffic (no cookies in this backend)
  EXPECT_EQ(c.Admin("set server http-servers/web2 state drain"), "\n");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"], "web1");
  EXPECT_EQ(c.Admin("set server http-servers/web2 state ready"), "\n");

  // add a server: starts in maintenance, enable puts it in service; del needs maintenance.
  // lb_test_backend web3 already runs (the cluster starts three); the config only lists two.
  EXPECT_EQ(c.Admin("add server http-servers/web3 127.0.0.1:" + std::to_string(c.port("B3")) + " check"),
            "New server registered.\n");
  EXPECT_NE(c.Admin("add server http-servers/web3 127.0.0.1:1").find("Already exists"), std::string::npos);
  EXPECT_EQ(c.Admin("set weight http-servers/web2 1"), "\n");
  EXPECT_EQ(c.Admin("enable server http-servers/web3"), "\n");
  lr = RunLoad(c.port("HTTP"), "/", 300, 3);
  EXPECT_EQ(lr.failed, 0);
  EXPECT_NEAR(lr.per_backend["web3"], 100, 6);
  EXPECT_NE(c.Admin("del server http-servers/web3").find("maintenance"), std::string::npos);
  EXPECT_EQ(c.Admin("disable server http-servers/web3"), "\n");
  EXPECT_EQ(c.Admin("del server http-servers/web3"), "Server deleted.\n");
  EXPECT_EQ(c.Admin("show servers state").find("web3"), std::string::npos);
  lr = RunLoad(c.port("HTTP"), "/", 100, 2);
  EXPECT_EQ(lr.per_backend["web3"], 0);
  EXPECT_EQ(lr.failed, 0);
}

int RunCheck(const std::string& cfg, std::string* out) {
  std::string cmd = BinDir() + "/hafs-lb -c -f " + cfg + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(LbCheckMode, ValidAndInvalidConfigs) {
  TempDir d;
  std::string out;
  EXPECT_EQ(RunCheck(d.Write("ok.cfg", Substitute(kConfig, {{"HTTP", "1"}, {"STATS", "2"}, {"B1", "3"}, {"B2", "4"}, {"SOCK", "/tmp/x"}})), &out), 0);
  EXPECT_NE(out.find("valid"), std::string::npos);
  out.clear();
  std::string bad = d.Write("bad.cfg", "defaults\n    mode http\nbackend b\n    server s 127.0.0.1:80 check\n    option tcp-smart-connect\n");
  EXPECT_EQ(RunCheck(bad, &out), 1);
  EXPECT_NE(out.find(bad + ":5: unsupported option 'tcp-smart-connect'"), std::string::npos) << out;
}

}  // namespace
}  // namespace lbtest
