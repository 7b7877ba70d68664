// Hostile clients: malformed and oversized requests, smuggling attempts, slowloris.
// Each must get the right 4xx (or a closed connection) while other clients are served.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "lb_fixture.h"

namespace lbtest {
namespace {

using namespace std::chrono_literals;

const char* kConfig = R"(defaults
    mode http
    timeout connect 2000
    timeout client 10000
    timeout server 10000
    timeout http-request 1s
frontend web-http
    bind 127.0.0.1:${HTTP}
    default_backend b
backend b
    server web1 127.0.0.1:${B1}
    server web2 127.0.0.1:${B2}
    server web3 127.0.0.1:${B3}
)";

class LbHostile : public ::testing::Test {
 protected:
  void ExpectStatusAndClose(const std::string& bytes, int status) {
    bool closed = false;
    std::string out = RawExchange(c.port("HTTP"), bytes, 3000, &closed);
    EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 " + std::to_string(status)) << "request: " << bytes.substr(0, 200) << "\nanswer: " << out;
    EXPECT_TRUE(closed) << bytes.substr(0, 200);
    // exactly one response
    EXPECT_EQ(out.find("HTTP/1.1", 1), std::string::npos) << out;
  }
  void TearDown() override {
    EXPECT_TRUE(c.lb().Alive());
    Response r = HttpRequest(c.port("HTTP"), "GET", "/");
    EXPECT_EQ(r.status, 200) << r.error;
  }
  LbCluster c{kConfig};
};

TEST_F(LbHostile, MalformedRequestLines) {
  ExpectStatusAndClose("GARBAGE\r\n\r\n", 400);
  ExpectStatusAndClose("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400);
  ExpectStatusAndClose("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
  static const char kNul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n";
  ExpectStatusAndClose(std::string(kNul, sizeof(kNul) - 1), 400);
  ExpectStatusAndClose("GET / HTTP/1.1\nHost: a\n\n", 400);
  ExpectStatusAndClose("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505);
  ExpectStatusAndClose("GET / HTTP/1.1\r\n\r\n", 400);  // no Host
}

TEST_F(LbHostile, HugeHeadersAndUris) {
  ExpectStatusAndClose("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(64 * 1024, 'b') + "\r\n\r\n", 431);
  ExpectStatusAndClose("GET /" + std::string(32 * 1024, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414);
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 200; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  ExpectStatusAndClose(many + "\r\n", 431);
}

TEST_F(LbHostile, RequestSmugglingAttempts) {
  // CL.TE and TE.CL: both headers present -> rejected before anything reaches a server.
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\nGET /headers HTTP/1.1\r\nHost: a\r\n\r\n",
                       400);
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                       "8\r\nSMUGGLED\r\n0\r\n\r\n",
                       400);
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello", 400);
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400);
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501);
  ExpectStatusAndClose("POST /echo HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n", 400);
}

TEST_F(LbHostile, InvalidChunkedBody) {
  bool closed = false;
  std::string out = RawExchange(c.port("HTTP"),
                                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
                                3000, &closed);
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 400") << out;
  EXPECT_TRUE(closed);
  out = RawExchange(c.port("HTTP"), "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 3000, &closed);
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 400") << out;
  EXPECT_TRUE(closed);
}

TEST_F(LbHostile, SlowlorisIsTimedOutWhileOthersAreServed) {
  std::atomic<bool> stop{false};
  std::atomic<int> got408{0}, slow_done{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 40; ++i) {
    slow.emplace_back([&] {
      Conn conn(c.port("HTTP"), 4000);
      conn.Send("GET / HTTP/1.1\r\nHost: a\r\n");
      // one header byte every 100 ms: never completes within timeout http-request 1s
      for (int k = 0; k < 30 && !stop; ++k) {
        if (!conn.Send("X")) break;
        std::this_thread::sleep_for(100ms);
      }
      Response r = conn.Read();
      if (r.ok && r.status == 408) ++got408;
      ++slow_done;
    });
  }
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Response r = HttpRequest(c.port("HTTP"), "GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  }
  EXPECT_TRUE(WaitFor([&] { return slow_done.load() == 40; }, 6s));
  stop = true;
  for (auto& t : slow) t.join();
  EXPECT_EQ(got408.load(), 40);
}

TEST_F(LbHostile, RandomGarbageAndAbruptCloses) {
  std::mt19937 rng(42);
  for (int i = 0; i < 150; ++i) {
    std::string junk(rng() % 3000 + 1, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (i % 3 == 0) junk = "GET / HTTP/1.1\r\nHost: a\r\n" + junk;
    if (i % 5 == 0) junk += "\r\n\r\n";
    RawExchange(c.port("HTTP"), junk, i % 10 == 0 ? 1500 : 30);  // short waits = abrupt closes
  }
  // Half a request, then the client vanishes.
  for (int i = 0; i < 20; ++i) RawExchange(c.port("HTTP"), "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc", 10);
}

}  // namespace
}  // namespace lbtest
