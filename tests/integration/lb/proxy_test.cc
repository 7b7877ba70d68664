// Balancing and protocol behaviour of hafs-lb through real sockets.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
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
frontend weighted-fe
    bind 127.0.0.1:${STATS}
    default_backend weighted
backend http-servers
    balance roundrobin
    option redispatch
    server web1 127.0.0.1:${B1}
    server web2 127.0.0.1:${B2}
    server web3 127.0.0.1:${B3}
backend weighted
    balance roundrobin
    server web1 127.0.0.1:${B1} weight 1
    server web2 127.0.0.1:${B2} weight 2
    server web3 127.0.0.1:${B3} weight 3
backend tcp-servers
    mode tcp
    balance leastconn
    server web1 127.0.0.1:${B1}
    server web2 127.0.0.1:${B2}
    server web3 127.0.0.1:${B3}
)";

class LbProxy : public ::testing::Test {
 protected:
  LbCluster c{kConfig};
};

TEST_F(LbProxy, RoundRobinSpreads3000RequestsEvenly) {
  LoadResult r = RunLoad(c.port("HTTP"), "/", 3000, 10);
  ASSERT_EQ(r.failed, 0) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_EQ(r.per_backend.size(), 3u);
  for (auto& [name, n] : r.per_backend) {
    EXPECT_GE(n, 980) << name;
    EXPECT_LE(n, 1020) << name;
  }
}

TEST_F(LbProxy, WeightsAreHonoured) {
  LoadResult r = RunLoad(c.port("STATS"), "/", 1200, 6);
  ASSERT_EQ(r.failed, 0);
  EXPECT_NEAR(r.per_backend["web1"], 200, 24);
  EXPECT_NEAR(r.per_backend["web2"], 400, 24);
  EXPECT_NEAR(r.per_backend["web3"], 600, 24);
}

TEST_F(LbProxy, ForwardsXForwardedForAndKeepsClientConnectionAlive) {
  Conn conn(c.port("HTTP"));
  ASSERT_TRUE(conn.connected());
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    Response r = conn.Request("GET", "/");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-seen-xff"], "127.0.0.1");
    seen.insert(r.headers["x-backend"]);
  }
  EXPECT_EQ(seen.size(), 3u);  // per-request balancing on one client connection
}

TEST_F(LbProxy, PipelinedRequestsAreAnsweredInOrder) {
  Conn conn(c.port("HTTP"));
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += "GET /slow?ms=" + std::to_string(50 - i * 10) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  batch += "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfinal";
  ASSERT_TRUE(conn.Send(batch));
  for (int i = 0; i < 5; ++i) {
    Response r = conn.Read();
    ASSERT_TRUE(r.ok) << i << " " << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, r.headers["x-backend"] + "\n");
  }
  Response last = conn.Read();
  ASSERT_TRUE(last.ok);
  EXPECT_EQ(last.body, "final");
}

TEST_F(LbProxy, ChunkedBodiesBothWays) {
  Response r = HttpRequest(c.port("HTTP"), "GET", "/chunked");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.body, r.headers["x-backend"] + "\n");
  std::string raw = RawExchange(c.port("HTTP"),
                                "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n");
  EXPECT_NE(raw.find("200 OK"), std::string::npos) << raw;
  EXPECT_NE(raw.find("\r\n\r\nabcdefg"), std::string::npos) << raw;
}

TEST_F(LbProxy, BodiesEndingWithTheConnectionAreRelayedPromptly) {
  // The server's last data and its FIN often arrive in one epoll edge.
  for (int port : {c.port("HTTP"), c.port("TCP")}) {
    for (int i = 0; i < 30; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      Response r = HttpRequest(port, "GET", "/noclen", "", "", 3000);
      ASSERT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.body, r.headers["x-backend"] + "\n");
      ASSERT_LT(std::chrono::steady_clock::now() - t0, 1s) << "port " << port;
    }
    for (int i = 0; i < 30; ++i) {
      // HTTP/1.0 client (ab style): the balancer must close after the response.
      auto t0 = std::chrono::steady_clock::now();
      bool closed = false;
      std::string out = RawExchange(port, "GET / HTTP/1.0\r\n\r\n", 3000, &closed);
      EXPECT_TRUE(closed);
      EXPECT_NE(out.find("200 OK"), std::string::npos);
      ASSERT_LT(std::chrono::steady_clock::now() - t0, 1s) << "port " << port;
    }
  }
}

TEST_F(LbProxy, LargeBodiesInHttpAndTcpMode) {
  std::string big(1 << 20, 'q');
  for (int i = 0; i < static_cast<int>(big.size()); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  for (int port : {c.port("HTTP"), c.port("TCP")}) {
    Response r = HttpRequest(port, "POST", "/echo", "", big, 10000);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body.size(), big.size());
    EXPECT_TRUE(r.body == big);
    Response g = HttpRequest(port, "GET", "/big?n=204800");
    ASSERT_TRUE(g.ok) << g.error;
    EXPECT_EQ(g.body, std::string(204800, 'x'));
  }
}

TEST_F(LbProxy, TcpLeastConnFollowsLoad) {
  // Six held connections spread 2/2/2; closing web1's two makes web1 the least loaded.
  std::vector<std::unique_ptr<Conn>> conns;
  std::map<std::string, std::vector<size_t>> by_backend;
  for (size_t i = 0; i < 6; ++i) {
    conns.push_back(std::make_unique<Conn>(c.port("TCP")));
    Response r = conns.back()->Request("GET", "/");
    ASSERT_TRUE(r.ok) << r.error;
    by_backend[r.headers["x-backend"]].push_back(i);
  }
  ASSERT_EQ(by_backend.size(), 3u);
  for (auto& [name, idx] : by_backend) EXPECT_EQ(idx.size(), 2u) << name;
  for (size_t i : by_backend["web1"]) conns[i].reset();
  // The balancer notices the closes asynchronously.
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 2; ++i) {
    conns.push_back(std::make_unique<Conn>(c.port("TCP")));
    Response r = conns.back()->Request("GET", "/");
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.headers["x-backend"], "web1");
  }
}

TEST_F(LbProxy, NoServerGives503AndDeadServerIsAvoided) {
  c.backend(1).Kill();
  c.backend(2).Kill();
  c.backend(3).Kill();
  Response r = HttpRequest(c.port("HTTP"), "GET", "/");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["connection"], "close");
  c.StartBackend(2);
  for (int i = 0; i < 10; ++i) {
    Response ok = HttpRequest(c.port("HTTP"), "GET", "/");
    ASSERT_TRUE(ok.ok);
    EXPECT_EQ(ok.status, 200);  // unchecked servers: each failure is retried on the next one
    EXPECT_EQ(ok.headers["x-backend"], "web2");
  }
}

const char* kAlgoConfig = R"(global
    stats socket ${SOCK}
defaults
    mode http
frontend src
    bind 127.0.0.1:${HTTP}
    default_backend src
frontend uri
    bind 127.0.0.1:${TCP}
    default_backend uri
frontend first
    bind 127.0.0.1:${STATS}
    default_backend first
backend src
    balance source
    server web1 127.0.0.1:${B1}
    server web2 127.0.0.1:${B2}
    server web3 127.0.0.1:${B3}
backend uri
    balance uri
    server web1 127.0.0.1:${B1}
    server web2 127.0.0.1:${B2}
    server web3 127.0.0.1:${B3}
backend first
    balance first
    server web1 127.0.0.1:${B1} maxconn 2
    server web2 127.0.0.1:${B2} maxconn 2
    server web3 127.0.0.1:${B3} backup
)";

TEST(LbAlgorithms, SourceUriFirstAndBackup) {
  LbCluster c(kAlgoConfig);
  std::set<std::string> src;
  for (int i = 0; i < 30; ++i) src.insert(HttpRequest(c.port("HTTP"), "GET", "/").headers["x-backend"]);
  EXPECT_EQ(src.size(), 1u);  // one client address, one server

  std::map<std::string, std::set<std::string>> uri;
  for (int i = 0; i < 40; ++i) {
    std::string path = "/page" + std::to_string(i % 8) + "?r=" + std::to_string(i);
    uri["/page" + std::to_string(i % 8)].insert(HttpRequest(c.port("TCP"), "GET", path).headers["x-backend"]);
  }
  std::set<std::string> all;
  for (auto& [p, servers] : uri) {
    EXPECT_EQ(servers.size(), 1u) << p;
    all.insert(*servers.begin());
  }
  EXPECT_GE(all.size(), 2u);

  // first: sequential requests all go to web1; with 3 slow ones in flight the third spills to web2.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(HttpRequest(c.port("STATS"), "GET", "/").headers["x-backend"], "web1");
  std::vector<std::thread> ts;
  std::vector<std::string> got(4);
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] { got[i] = HttpRequest(c.port("STATS"), "GET", "/slow?ms=600").headers["x-backend"]; });
    std::this_thread::sleep_for(100ms);
  }
  for (auto& t : ts) t.join();
  std::map<std::string, int> n;
  for (auto& g : got) n[g]++;
  EXPECT_EQ(n["web1"], 2);
  EXPECT_EQ(n["web2"], 2);
  // backup: only when both actives are unavailable.
  c.Admin("disable server first/web1");
  c.Admin("disable server first/web2");
  EXPECT_EQ(HttpRequest(c.port("STATS"), "GET", "/").headers["x-backend"], "web3");
  c.Admin("enable server first/web1");
  EXPECT_EQ(HttpRequest(c.port("STATS"), "GET", "/").headers["x-backend"], "web1");
}

}  // namespace
}  // namespace lbtest

namespace lbtest {
namespace {

const char* kQueueConfig = R"(defaults
    mode http
frontend wait
    bind 127.0.0.1:${HTTP}
    default_backend wait
frontend short
    bind 127.0.0.1:${TCP}
    default_backend short
backend wait
    timeout queue 3s
    server web1 127.0.0.1:${B1} maxconn 1
backend short
    timeout queue 200ms
    server web1 127.0.0.1:${B1} maxconn 1
)";

TEST(LbQueue, FullServersQueueUpToTimeoutQueue) {
  LbCluster c(kQueueConfig);
  std::vector<std::thread> ts;
  std::vector<int> status(3);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&, i] { status[i] = HttpRequest(c.port("HTTP"), "GET", "/slow?ms=300").status; });
  for (auto& t : ts) t.join();
  EXPECT_EQ(status, (std::vector<int>{200, 200, 200}));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 850ms);  // served one at a time

  ts.clear();
  std::vector<std::chrono::steady_clock::duration> took(2);
  for (int i = 0; i < 2; ++i)
    ts.emplace_back([&, i] {
      auto start = std::chrono::steady_clock::now();
      status[i] = HttpRequest(c.port("TCP"), "GET", "/slow?ms=1500").status;
      took[i] = std::chrono::steady_clock::now() - start;
    });
  for (auto& t : ts) t.join();
  int ok = (status[0] == 200) + (status[1] == 200), full = (status[0] == 503) + (status[1] == 503);
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(full, 1);
  EXPECT_LT(std::min(took[0], took[1]), 1000ms);  // the queued one gave up after ~200 ms
}

// Many requests at once against a server with maxconn 1, arriving on both workers: the
// server never has two at a time (two workers once both took its last slot), and every
// request is served from the queue.
TEST(LbQueue, MaxconnHoldsWhenRequestsArriveTogether) {
  LbCluster c(kQueueConfig);
  constexpr int kClients = 12;
  std::vector<std::thread> ts;
  std::vector<int> status(kClients), in_flight(kClients);
  for (int round = 0; round < 3; ++round) {
    ts.clear();
    for (int i = 0; i < kClients; ++i)
      ts.emplace_back([&, i] {
        auto r = HttpRequest(c.port("HTTP"), "GET", "/slow?ms=20");
        status[i] = r.status;
        in_flight[i] = std::atoi(r.headers["x-in-flight"].c_str());
      });
    for (auto& t : ts) t.join();
    for (int i = 0; i < kClients; ++i) {
      EXPECT_EQ(status[i], 200) << "round " << round << " client " << i;
      EXPECT_EQ(in_flight[i], 1) << "round " << round << " client " << i << ": maxconn 1 exceeded";
    }
  }
}

// The same in TCP mode (no queue there: a connection finding its server full is closed): a
// server with maxconn 1 never has two connections at once.
TEST(LbQueue, TcpModeMaxconnHoldsWhenConnectionsArriveTogether) {
  LbCluster c(R"(defaults
    mode tcp
frontend t
    bind 127.0.0.1:${HTTP}
    default_backend t
backend t
    server web1 127.0.0.1:${B1} maxconn 1
)");
  constexpr int kClients = 12;
  int served = 0;
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(100ms);  // the balancer notices the last round's closes asynchronously
    std::vector<std::thread> ts;
    std::vector<int> status(kClients), in_flight(kClients);
    for (int i = 0; i < kClients; ++i)
      ts.emplace_back([&, i] {
        auto r = HttpRequest(c.port("HTTP"), "GET", "/slow?ms=20", "", "", 3000);
        status[i] = r.status;
        in_flight[i] = std::atoi(r.headers["x-in-flight"].c_str());
      });
    for (auto& t : ts) t.join();
    for (int i = 0; i < kClients; ++i) {
      if (status[i] != 200) continue;  // closed: the server was full
      ++served;
      EXPECT_EQ(in_flight[i], 1) << "round " << round << " client " << i << ": maxconn 1 exceeded";
    }
  }
  EXPECT_GE(served, 3);  // one a round at least
  // Every slot was given back: one more connection is served.
  EXPECT_TRUE(WaitFor([&] { return HttpRequest(c.port("HTTP"), "GET", "/").status == 200; }, 2s));
}

}  // namespace
}  // namespace lbtest
