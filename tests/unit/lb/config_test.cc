#include <gtest/gtest.h>

#include "lb/config.h"

namespace hafs::lb {
namespace {

// The configuration of the issue, verbatim apart from addresses.
const char* kIssueConfig = R"(global
    stats socket /run/hafs-lb/admin.sock mode 660 level admin
defaults
    mode http
    option httplog
    timeout connect 5000
    timeout client 30000
    timeout server 30000
frontend web-http
    bind 127.0.0.1:8000
    option forwardfor
    default_backend http-servers
frontend web-tcp
    mode tcp
    bind 127.0.0.1:8080
    default_backend tcp-servers
backend http-servers
    balance roundrobin
    option redispatch
    option httpchk
    cookie SERVERID insert
    server web1 127.0.0.1:8081 cookie web1 check
    server web2 127.0.0.1:8082 cookie web2 check
    server web3 127.0.0.1:8083 cookie web3 check
backend tcp-servers
    mode tcp
    balance leastconn
    server web1 127.0.0.1:8081 check
    server web2 127.0.0.1:8082 check
    server web3 127.0.0.1:8083 check
listen stats
    bind 127.0.0.1:7000
    stats uri /haproxy?stats
    stats refresh 5s
    stats auth admin:password
    stats admin if TRUE
)";

TEST(LbConfig, IssueConfigParses) {
  auto cfg = ParseConfig(kIssueConfig, "haproxy.cfg");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->stats_socket, "/run/hafs-lb/admin.sock");
  EXPECT_EQ(cfg->stats_socket_mode, 0660);
  const ProxyConf* http = cfg->FindBackend("http-servers");
  ASSERT_NE(http, nullptr);
  EXPECT_TRUE(http->has_backend);
  EXPECT_FALSE(http->has_frontend);
  EXPECT_EQ(http->mode, Mode::kHttp);
  EXPECT_TRUE(http->redispatch);
  EXPECT_TRUE(http->httpchk);
  EXPECT_EQ(http->cookie_name, "SERVERID");
  ASSERT_EQ(http->servers.size(), 3u);
  EXPECT_EQ(http->servers[1].params.cookie, "web2");
  EXPECT_TRUE(http->servers[1].params.check);
  EXPECT_EQ(http->servers[1].line, 23);
  const ProxyConf* tcp = cfg->FindBackend("tcp-servers");
  EXPECT_EQ(tcp->mode, Mode::kTcp);
  EXPECT_EQ(tcp->balance, Balance::kLeastConn);
  const ProxyConf* fe = cfg->FindFrontend("web-tcp");
  EXPECT_EQ(fe->mode, Mode::kTcp);
  EXPECT_EQ(fe->timeouts.client_ms, 30000);
  const ProxyConf* stats = cfg->FindFrontend("stats");
  EXPECT_TRUE(stats->stats.enabled);
  EXPECT_TRUE(stats->stats.admin);
  EXPECT_EQ(stats->stats.refresh_ms, 5000);
  EXPECT_EQ(stats->stats.uri, "/haproxy?stats");
  ASSERT_EQ(stats->stats.auth.size(), 1u);
  EXPECT_TRUE(cfg->FindFrontend("web-http")->forwardfor);
}

TEST(LbConfig, ExtraKeywords) {
  auto cfg = ParseConfig(R"(defaults
    mode http
    retries 5
    timeout http-request 2s
    timeout queue 1m
    timeout check 500ms
    default-server inter 1s fastinter 200ms rise 3 fall 2 maxconn 50
frontend f
    bind 127.0.0.1:9000
    maxconn 1000
    default_backend b
backend b
    balance uri
    option httpchk GET /health
    http-check expect status 200
    server s1 127.0.0.1:9001 check weight 3
    server s2 127.0.0.1:9002 check backup inter 3s
backend c
    balance source
    server s 127.0.0.1:9003
backend d
    balance first
    server s 127.0.0.1:9003 maxconn 10 disabled
)", "x.cfg");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  const ProxyConf* b = cfg->FindBackend("b");
  EXPECT_EQ(b->retries, 5);
  EXPECT_EQ(b->timeouts.http_request_ms, 2000);
  EXPECT_EQ(b->timeouts.queue_ms, 60000);
  EXPECT_EQ(b->timeouts.check_ms, 500);
  EXPECT_EQ(b->balance, Balance::kUri);
  EXPECT_EQ(b->httpchk_method, "GET");
  EXPECT_EQ(b->httpchk_uri, "/health");
  EXPECT_EQ(b->http_expect_status, 200);
  EXPECT_EQ(b->servers[0].params.weight, 3);
  EXPECT_EQ(b->servers[0].params.inter_ms, 1000);
  EXPECT_EQ(b->servers[0].params.fastinter_ms, 200);
  EXPECT_EQ(b->servers[0].params.rise, 3);
  EXPECT_EQ(b->servers[0].params.fall, 2);
  EXPECT_EQ(b->servers[0].params.maxconn, 50);
  EXPECT_TRUE(b->servers[1].params.backup);
  EXPECT_EQ(b->servers[1].params.inter_ms, 3000);
  EXPECT_EQ(cfg->FindBackend("c")->balance, Balance::kSource);
  EXPECT_TRUE(cfg->FindBackend("d")->servers[0].params.disabled);
  EXPECT_EQ(cfg->FindFrontend("f")->maxconn, 1000);
}

struct BadCase {
  const char* text;
  const char* expect;  // substring of the message
};

TEST(LbConfig, ErrorsNameFileAndLine) {
  const BadCase cases[] = {
      {"frontend f\n    bind 127.0.0.1:1\n    frobnicate on\n", "bad.cfg:3: unknown keyword 'frobnicate'"},
      {"defaults\n    option httpclose\n", "bad.cfg:2: unsupported option 'httpclose'"},
      {"backend b\n    balance random\n", "bad.cfg:2: unsupported balance algorithm 'random'"},
      {"backend b\n    server s 127.0.0.1:1 check slowstart 10s\n", "bad.cfg:2: unsupported server parameter 'slowstart'"},
      {"backend b\n    server s localhost:80\n", "bad.cfg:2:"},
      {"backend b\n    server s 127.0.0.1:99999\n", "bad.cfg:2: bad port"},
      {"backend b\n    timeout server 10x\n", "bad.cfg:2: bad time unit"},
      {"frontend f\n    bind 127.0.0.1:1\n    server s 127.0.0.1:2\n", "bad.cfg:3: keyword 'server' is not allowed"},
      {"    mode http\n", "bad.cfg:1: keyword 'mode' outside of a section"},
      {"frontend f\n    bind 127.0.0.1:1\n    default_backend nope\n", "backend 'nope' does not exist"},
      {"frontend f\n    mode tcp\n    bind 127.0.0.1:1\n    default_backend b\nbackend b\n    server s 127.0.0.1:2\n",
       "mode tcp frontend cannot use mode http backend"},
      {"backend b\n    mode tcp\n    cookie S insert\n", "'cookie' needs mode http"},
      {"backend b\n    cookie S rewrite\n", "bad.cfg:2: only 'cookie <name> insert'"},
      {"listen s\n    bind 127.0.0.1:1\n    stats admin if LOCALHOST\n", "bad.cfg:3: only 'stats admin if TRUE'"},
      {"backend b\n    server s 127.0.0.1:1\n    server s 127.0.0.1:2\n", "duplicate server 's'"},
      {"backend b\nbackend b\n", "bad.cfg:2: duplicate proxy name 'b'"},
      {"listen b\n    bind 127.0.0.1:1\nfrontend b\n", "bad.cfg:3: duplicate proxy name 'b'"},
      {"frontend f\n    bind 127.0.0.1:1 ssl\n", "bad.cfg:2: unsupported bind option 'ssl'"},
      {"global\n    daemon\n", "bad.cfg:2: unknown keyword 'daemon'"},
      {"backend b\n    retries x\n", "bad.cfg:2:"},
      {"", "no frontend, backend or listen section"},
  };
  for (const auto& c : cases) {
    auto cfg = ParseConfig(c.text, "bad.cfg");
    ASSERT_FALSE(cfg.ok()) << c.text;
    EXPECT_NE(cfg.status().message().find(c.expect), std::string::npos)
        << "config:\n" << c.text << "message: " << cfg.status().message();
  }
}

TEST(LbConfig, DefaultsAreInheritedAndReset) {
  auto cfg = ParseConfig(R"(defaults
    mode tcp
    timeout client 1s
backend a
    server s 127.0.0.1:1
defaults
backend b
    server s 127.0.0.1:1
)", "d.cfg");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->FindBackend("a")->mode, Mode::kTcp);
  EXPECT_EQ(cfg->FindBackend("a")->timeouts.client_ms, 1000);
  EXPECT_EQ(cfg->FindBackend("b")->mode, Mode::kHttp);
  EXPECT_EQ(cfg->FindBackend("b")->timeouts.client_ms, 30000);
}

TEST(LbConfig, TimeAndAddressParsing) {
  EXPECT_EQ(*ParseTimeMs("5000"), 5000);
  EXPECT_EQ(*ParseTimeMs("5s"), 5000);
  EXPECT_EQ(*ParseTimeMs("2m"), 120000);
  EXPECT_EQ(*ParseTimeMs("1500us"), 1);
  EXPECT_FALSE(ParseTimeMs("-1").ok());
  EXPECT_FALSE(ParseTimeMs("s").ok());
  EXPECT_TRUE(ParseAddress("*:80").ok());
  EXPECT_TRUE(ParseAddress("[::1]:80").ok());
  EXPECT_FALSE(ParseAddress("127.0.0.1").ok());
  EXPECT_FALSE(ParseAddress("127.0.0.1:0").ok());
  EXPECT_FALSE(ParseAddress("[::1:80").ok());
}

}  // namespace
}  // namespace hafs::lb
