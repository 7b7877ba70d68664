// Both ends of the read channel in one process, over loopback TCP, with fake handlers: the
// framing of calls (common/call_wire.h) and reads (common/read_wire.h), the hello, large
// frames in pieces, errors, refusals, the frame limit, a dropped call and Abort. The brick's
// real handlers behind the channel are tested in integ_brickd_tests (BrickReadChannelTest)
// and integ_client_protocol_tests; this one runs under ASan with the unit tests.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "brickd/read_channel.h"
#include "client-fuse/protocol/read_channel.h"
#include "common/call_wire.h"

namespace hafs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 1000) & 0xff);
  return s;
}

// A channel whose calls are answered by `on_call`; reads return "r:" + offset.
struct Pair {
  std::atomic<bool> allow{true};
  std::function<int(uint32_t, const brick::ReadChannel::Caller&, std::string_view, std::string*)> on_call;
  std::unique_ptr<brick::ReadChannel> server;
  client::ReadChannelClient client;

  explicit Pair(size_t max_frame = 8u << 20, size_t max_connections = 1024) {
    brick::ReadChannel::Options o;
    o.max_frame = max_frame;
    o.max_connections = max_connections;
    auto s = brick::ReadChannel::Start(
        o,
        [](std::string_view, uint64_t offset, uint32_t, std::string* data, bool* eof) {
          *data = "r:" + std::to_string(offset);
          *eof = true;
          return 0;
        },
        [this](const std::string&) { return allow.load(); },
        [this](uint32_t m, const brick::ReadChannel::Caller& c, std::string_view p, std::string* out) {
          return on_call(m, c, p, out);
        });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server = std::move(s).value();
    client.Reset("127.0.0.1", server->port(), 5s, /*calls=*/true, "the-session", "the-key");
  }
  client::ReadChannelClient::CallOutcome Call(uint32_t method, std::initializer_list<std::string_view> payload) {
    auto c = client.SendCall(method, payload, 1s);
    if (!c) return {};
    return client.ReceiveCall(std::move(c));
  }
};

// The payload arrives whole however it was split, the hello's session and key with it, and
// the reply comes back whole however long; several calls at once each get their own reply.
TEST(ReadChannelCalls, FramesArriveWholeWithTheHelloAndRepliesComeBackWhole) {
  Pair p;
  p.on_call = [](uint32_t m, const brick::ReadChannel::Caller& c, std::string_view payload, std::string* out) {
    // Echo: method, session, key, payload.
    *out = std::to_string(m) + "|" + c.session + "|" + c.key + "|" + std::string(payload);
    return 0;
  };
  std::string big = Bytes(3 << 20, 1);
  auto r = p.Call(17, {"head-", big, "-tail"});
  ASSERT_FALSE(r.transport) << r.bytes;
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.bytes, "17|the-session|the-key|head-" + big + "-tail");
  r = p.Call(2, {});  // an empty payload
  EXPECT_EQ(r.bytes, "2|the-session|the-key|");

  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 6; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; i++) {
        std::string mine = Bytes(static_cast<size_t>(100 + t * 5000 + i * 97), t * 100 + i);
        auto o = p.Call(static_cast<uint32_t>(t + 1), {mine});
        if (!o.transport && o.bytes == std::to_string(t + 1) + "|the-session|the-key|" + mine) good++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 300);
  EXPECT_LE(p.client.connections(), 7u);  // reused, not one per call
  EXPECT_GE(p.client.connections(), 1u);

  // A read frame on the same connections.
  proto::ReadRequest rr;
  rr.set_gfid(std::string(16, '\1'));
  rr.set_offset(42);
  rr.set_size(100);
  auto rc = p.client.Send(rr, 1s);
  ASSERT_TRUE(rc);
  auto got = p.client.Receive(std::move(rc));
  ASSERT_TRUE(got.reply.ok()) << got.reply.status().ToString();
  EXPECT_EQ(got.reply->data(), "r:42");
  EXPECT_TRUE(got.reply->eof());
}

// A handler's error comes back as its code and text, and the connection goes on.
TEST(ReadChannelCalls, AnErrorIsItsCodeAndText) {
  Pair p;
  p.on_call = [](uint32_t m, const brick::ReadChannel::Caller&, std::string_view, std::string* out) {
    if (m == 3) {
      *out = "no such thing";
      return 5;  // NOT_FOUND
    }
    *out = "fine";
    return 0;
  };
  auto r = p.Call(3, {"x"});
  EXPECT_FALSE(r.transport);
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.bytes, "no such thing");
  r = p.Call(4, {"x"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.bytes, "fine");
  EXPECT_EQ(p.client.connections(), 1u);
}

// A refused caller's call is "not served" (the client then uses gRPC) and its connection is
// closed; the handler never ran.
TEST(ReadChannelCalls, ARefusedCallIsNotServedAndNotRun) {
  Pair p;
  std::atomic<int> ran{0};
  p.on_call = [&](uint32_t, const brick::ReadChannel::Caller&, std::string_view, std::string*) {
    ran++;
    return brick::ReadChannel::kNotServed;  // what BrickService answers for a refused address
  };
  auto r = p.Call(5, {"change"});
  EXPECT_TRUE(r.transport);
  EXPECT_TRUE(r.not_served);
  EXPECT_EQ(r.code, 14);
  EXPECT_EQ(p.client.connections(), 0u);
  EXPECT_EQ(ran.load(), 1);
}

// A brick with no room for another connection tells the call so (not served: the client
// uses gRPC) without running it.
TEST(ReadChannelCalls, NoRoomForAConnectionIsNotServed) {
  Pair p(8u << 20, /*max_connections=*/1);
  std::atomic<int> ran{0};
  p.on_call = [&](uint32_t m, const brick::ReadChannel::Caller&, std::string_view, std::string* out) {
    ran++;
    if (m == 1) std::this_thread::sleep_for(500ms);  // holds the one connection
    *out = "ok";
    return 0;
  };
  auto holder = p.client.SendCall(1, {"x"}, 1s);
  ASSERT_TRUE(holder);
  std::this_thread::sleep_for(100ms);
  auto r = p.Call(2, {"y"});  // needs a second connection
  EXPECT_TRUE(r.transport);
  EXPECT_TRUE(r.not_served);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(p.client.ReceiveCall(std::move(holder)).bytes, "ok");
}

// A frame over the brick's limit ends its connection unread (the call fails as cut off);
// the next call gets a new connection.
TEST(ReadChannelCalls, AFrameOverTheLimitEndsOnlyItsConnection) {
  Pair p(/*max_frame=*/4096);
  std::atomic<int> ran{0};
  p.on_call = [&](uint32_t, const brick::ReadChannel::Caller&, std::string_view payload, std::string* out) {
    ran++;
    *out = std::to_string(payload.size());
    return 0;
  };
  auto r = p.Call(1, {Bytes(5000, 2)});
  EXPECT_TRUE(r.transport);
  EXPECT_FALSE(r.not_served);
  EXPECT_EQ(ran.load(), 0);
  r = p.Call(1, {Bytes(4096, 3)});
  EXPECT_FALSE(r.transport);
  EXPECT_EQ(r.bytes, "4096");
}

// A call dropped unwaited waits for its reply (a change sent is a change made before the
// caller goes on), and Abort cuts a waiting call short at once.
TEST(ReadChannelCalls, ADroppedCallWaitsForItsReplyAndAbortCutsAWaitShort) {
  Pair p;
  std::atomic<bool> slow_done{false};
  p.on_call = [&](uint32_t m, const brick::ReadChannel::Caller&, std::string_view, std::string* out) {
    if (m == 1) {
      std::this_thread::sleep_for(300ms);
      slow_done = true;
    } else if (m == 2) {
      std::this_thread::sleep_for(1500ms);
    }
    *out = "ok";
    return 0;
  };
  {
    auto c = p.client.SendCall(1, {"x"}, 1s);
    ASSERT_TRUE(c);
  }  // dropped
  EXPECT_TRUE(slow_done.load());
  EXPECT_EQ(p.Call(3, {}).bytes, "ok");  // its connection was kept

  auto waiting = p.client.SendCall(2, {"x"}, 1s);
  ASSERT_TRUE(waiting);
  std::thread aborter([&] {
    std::this_thread::sleep_for(200ms);
    p.client.Abort();
  });
  auto start = Clock::now();
  auto r = p.client.ReceiveCall(std::move(waiting));
  auto took = Clock::now() - start;
  aborter.join();
  EXPECT_TRUE(r.transport);
  EXPECT_LT(took, 1500ms);
  EXPECT_FALSE(p.client.calls());  // nothing more goes out until the next Reset
  EXPECT_EQ(p.client.SendCall(3, {}, 1s), nullptr);
}

}  // namespace
}  // namespace hafs
