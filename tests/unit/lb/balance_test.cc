// Server selection on a Runtime built from a config (no sockets involved).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "lb/runtime.h"

namespace hafs::lb {
namespace {

std::shared_ptr<Runtime> Build(const std::string& backend_body, StateRegistry& reg) {
  auto cfg = ParseConfig("backend b\n" + backend_body, "t.cfg");
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  return BuildRuntimeState(std::move(*cfg), reg, 1);
}

std::map<std::string, int> Spread(const BackendRt& be, int n, PickInput in = {}) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) {
    const ServerRt* s = be.Pick(in);
    out[s ? s->conf->name : "none"]++;
  }
  return out;
}

TEST(LbBalance, RoundRobinIsExactAndWeighted) {
  StateRegistry reg;
  auto rt = Build("    server a 127.0.0.1:1\n    server b 127.0.0.1:2\n    server c 127.0.0.1:3\n", reg);
  auto spread = Spread(*rt->backends[0], 3000);
  EXPECT_EQ(spread["a"], 1000);
  EXPECT_EQ(spread["b"], 1000);
  EXPECT_EQ(spread["c"], 1000);

  StateRegistry reg2;
  auto w = Build("    server a 127.0.0.1:1 weight 1\n    server b 127.0.0.1:2 weight 2\n    server c 127.0.0.1:3 weight 3\n", reg2);
  spread = Spread(*w->backends[0], 600);
  EXPECT_EQ(spread["a"], 100);
  EXPECT_EQ(spread["b"], 200);
  EXPECT_EQ(spread["c"], 300);
}

TEST(LbBalance, DownMaintAndZeroWeightServersGetNothing) {
  StateRegistry reg;
  auto rt = Build("    server a 127.0.0.1:1 check\n    server b 127.0.0.1:2\n    server c 127.0.0.1:3 weight 0\n    server d 127.0.0.1:4\n", reg);
  auto& be = *rt->backends[0];
  be.servers[0].st->up = false;
  be.servers[3].st->admin = static_cast<int>(AdminState::kMaint);
  auto spread = Spread(be, 100);
  EXPECT_EQ(spread["b"], 100);
}

TEST(LbBalance, BackupOnlyWhenAllActiveAreDown) {
  StateRegistry reg;
  auto rt = Build("    server a 127.0.0.1:1 check\n    server bk1 127.0.0.1:2 backup\n    server bk2 127.0.0.1:3 backup\n", reg);
  auto& be = *rt->backends[0];
  EXPECT_EQ(Spread(be, 10)["a"], 10);
  be.servers[0].st->up = false;
  EXPECT_EQ(Spread(be, 10)["bk1"], 10);
  be.servers[1].st->admin = static_cast<int>(AdminState::kMaint);
  EXPECT_EQ(Spread(be, 10)["bk2"], 10);
  be.servers[2].st->admin = static_cast<int>(AdminState::kMaint);
  EXPECT_EQ(Spread(be, 3)["none"], 3);
}

TEST(LbBalance, LeastConnFollowsLoad) {
  StateRegistry reg;
  auto rt = Build("    balance leastconn\n    server a 127.0.0.1:1\n    server b 127.0.0.1:2\n    server c 127.0.0.1:3\n", reg);
  auto& be = *rt->backends[0];
  be.servers[0].st->c.cur_sess = 5;
  be.servers[1].st->c.cur_sess = 1;
  be.servers[2].st->c.cur_sess = 3;
  EXPECT_EQ(Spread(be, 10)["b"], 10);
  // As connections are attached, the least loaded keeps changing.
  std::map<std::string, int> got;
  for (int i = 0; i < 6; ++i) {
    const ServerRt* s = be.Pick({});
    got[s->conf->name]++;
    s->st->c.cur_sess++;
  }
  EXPECT_EQ(got["b"], 4);  // 1 -> 5 ; then ties at 5 with a
  EXPECT_EQ(got["c"], 2);  // 3 -> 5
}

TEST(LbBalance, SourceAndUriAreStable) {
  StateRegistry reg;
  auto rt = Build("    balance source\n    server a 127.0.0.1:1\n    server b 127.0.0.1:2\n    server c 127.0.0.1:3\n", reg);
  std::map<std::string, int> per_server;
  for (uint64_t client = 0; client < 300; ++client) {
    PickInput in;
    in.source_hash = HashBytes(std::to_string(client));
    const ServerRt* first = rt->backends[0]->Pick(in);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(rt->backends[0]->Pick(in), first);
    per_server[first->conf->name]++;
  }
  EXPECT_EQ(per_server.size(), 3u);  // clients do spread
  StateRegistry reg2;
  auto u = Build("    balance uri\n    server a 127.0.0.1:1\n    server b 127.0.0.1:2\n", reg2);
  PickInput in;
  in.uri = "/img/logo.png?v=1";
  const ServerRt* s = u->backends[0]->Pick(in);
  in.uri = "/img/logo.png?v=2";  // the query string is not part of the hash
  EXPECT_EQ(u->backends[0]->Pick(in), s);
}

TEST(LbBalance, FirstFillsServersInOrder) {
  StateRegistry reg;
  auto rt = Build("    balance first\n    server a 127.0.0.1:1 maxconn 2\n    server b 127.0.0.1:2 maxconn 2\n", reg);
  auto& be = *rt->backends[0];
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    const ServerRt* s = be.Pick({});
    order.push_back(s->conf->name);
    s->st->c.cur_sess++;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "a", "b", "b"}));
  EXPECT_EQ(be.Pick({}), nullptr);  // all full
}

TEST(LbBalance, StateSurvivesRebuild) {
  StateRegistry reg;
  auto rt1 = Build("    server a 127.0.0.1:1 check\n    server b 127.0.0.1:2 check\n", reg);
  rt1->backends[0]->servers[0].st->up = false;
  rt1->backends[0]->servers[0].st->c.requests = 42;
  auto rt2 = Build("    server a 127.0.0.1:1 check\n    server c 127.0.0.1:3 check\n", reg);
  EXPECT_FALSE(rt2->backends[0]->servers[0].st->up.load());
  EXPECT_EQ(rt2->backends[0]->servers[0].st->c.requests.load(), 42u);
  EXPECT_TRUE(rt2->backends[0]->servers[1].st->up.load());
}

// Every session takes its server's slot in the step that checks maxconn: a choice that finds
// its server full (another worker took the last slot after the check) chooses again, and a
// server whose slot the caller already holds is not counted twice.
TEST(LbBalance, ChooseReservedNeverGoesOverMaxconn) {
  StateRegistry reg;
  auto rt = Build("    server a 127.0.0.1:1 maxconn 1\n    server b 127.0.0.1:2 maxconn 2\n", reg);
  auto& be = *rt->backends[0];
  const ServerRt* a = &be.servers[0];
  const ServerRt* b = &be.servers[1];
  // A stale choice: always `a`, as a worker that checked before the slot went.
  int calls = 0;
  auto stale_a = [&] { return ++calls, a; };
  EXPECT_EQ(ChooseReserved(stale_a), a);
  EXPECT_EQ(a->st->c.cur_sess.load(), 1);
  calls = 0;
  EXPECT_EQ(ChooseReserved(stale_a), nullptr);  // full: never a second session
  EXPECT_EQ(a->st->c.cur_sess.load(), 1);
  EXPECT_GT(calls, 1);  // it chose again before giving up
  EXPECT_EQ(ChooseReserved(stale_a, /*held=*/a), a);  // a retry on the held slot
  EXPECT_EQ(a->st->c.cur_sess.load(), 1);
  // The first choice was full, the second has room: the session lands there.
  calls = 0;
  EXPECT_EQ(ChooseReserved([&] { return ++calls == 1 ? a : b; }), b);
  EXPECT_EQ(b->st->c.cur_sess.load(), 1);
  EXPECT_EQ(a->st->c.cur_sess.load(), 1);
  // Through Pick: b takes one more, then nothing is usable and nothing is counted.
  EXPECT_EQ(ChooseReserved([&] { return be.Pick({}); }), b);
  EXPECT_EQ(ChooseReserved([&] { return be.Pick({}); }), nullptr);
  EXPECT_EQ(b->st->c.cur_sess.load(), 2);
  EXPECT_TRUE(be.Saturated());
  // Two threads racing for one slot, many times: exactly one wins each round.
  for (int round = 0; round < 200; ++round) {
    a->st->c.SessionEnd();
    std::atomic<int> won{0};
    std::thread t1([&] { won += ChooseReserved(stale_a) != nullptr; });
    std::thread t2([&] { won += ChooseReserved(stale_a) != nullptr; });
    t1.join();
    t2.join();
    ASSERT_EQ(won.load(), 1) << "round " << round;
    ASSERT_EQ(a->st->c.cur_sess.load(), 1);
  }
}

}  // namespace
}  // namespace hafs::lb
