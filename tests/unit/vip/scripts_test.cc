// Child-process handling: real /bin/sh children, bounded waits.
#include "vip/scripts.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace hafs::vip {
namespace {

using namespace std::chrono_literals;

// Drives the table until pred() or the deadline; returns pred().
template <typename Pred>
bool RunUntil(ProcessTable& p, Pred pred, std::chrono::milliseconds limit, const std::function<void(TimePoint)>& tick = {}) {
  const TimePoint end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (tick) tick(Clock::now());
    p.Reap();
    p.KillOverdue(Clock::now());
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

ScriptConfig Script(const std::string& cmd, int fall, int rise) {
  ScriptConfig c;
  c.name = "chk";
  c.command = cmd;
  c.interval = 20ms;
  c.timeout = 500ms;
  c.fall = fall;
  c.rise = rise;
  return c;
}

TEST(VipScripts, ExitCodeReachesCallback) {
  ProcessTable p;
  int code = -2;
  ASSERT_TRUE(p.Spawn("exit 3", Clock::now() + 2s, [&](int c) { code = c; }).ok());
  ASSERT_TRUE(RunUntil(p, [&] { return code != -2; }, 3s));
  EXPECT_EQ(code, 3);
  EXPECT_EQ(p.running(), 0u);
}

TEST(VipScripts, TimeoutKillsTheWholeProcessGroup) {
  ProcessTable p;
  int code = -2;
  char tmpl[] = "/tmp/vip-scripts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string marker = std::string(tmpl) + "/late";
  // The grandchild would write the marker after 1 s unless the group is killed.
  auto t0 = Clock::now();
  ASSERT_TRUE(p.Spawn("(sleep 1; touch " + marker + ") & sleep 5", Clock::now() + 100ms, [&](int c) { code = c; }).ok());
  ASSERT_TRUE(RunUntil(p, [&] { return code != -2; }, 3s));
  EXPECT_EQ(code, -1);
  EXPECT_LT(Clock::now() - t0, 1s);
  std::this_thread::sleep_for(1200ms);
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "grandchild survived the timeout";
  rmdir(tmpl);
}

TEST(VipScripts, FallAndRiseHysteresis) {
  ProcessTable p;
  char tmpl[] = "/tmp/vip-scripts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string flag = std::string(tmpl) + "/up";
  std::ofstream(flag) << "1";
  TrackScript s(Script("test -e " + flag, 3, 2));
  EXPECT_TRUE(s.passing());
  auto tick = [&](TimePoint now) { s.Tick(now, p); };
  ASSERT_FALSE(RunUntil(p, [&] { return !s.passing(); }, 200ms, tick));
  unlink(flag.c_str());
  ASSERT_TRUE(RunUntil(p, [&] { return !s.passing(); }, 3s, tick));
  EXPECT_TRUE(s.TakeChanged());
  EXPECT_FALSE(s.TakeChanged());
  std::ofstream(flag) << "1";
  ASSERT_TRUE(RunUntil(p, [&] { return s.passing(); }, 3s, tick));
  EXPECT_TRUE(s.TakeChanged());
  unlink(flag.c_str());
  rmdir(tmpl);
  p.KillAll();
}

TEST(VipScripts, NotifyRunsInOrderOneAtATime) {
  ProcessTable p;
  char tmpl[] = "/tmp/vip-scripts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string log = std::string(tmpl) + "/log";
  std::string lock = std::string(tmpl) + "/lock";
  NotifyQueue q;
  for (int i = 0; i < 5; ++i)
    q.Push("mkdir " + lock + " 2>/dev/null || echo OVERLAP >>" + log + "; echo " + std::to_string(i) + " >>" + log +
           "; sleep 0.03; rmdir " + lock);
  ASSERT_TRUE(RunUntil(p, [&] { return q.idle(); }, 5s, [&](TimePoint now) { q.Pump(now, 2000ms, p); }));
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "0\n1\n2\n3\n4\n");
  unlink(log.c_str());
  rmdir(tmpl);
}

}  // namespace
}  // namespace hafs::vip
