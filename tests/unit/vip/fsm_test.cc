#include "vip/fsm.h"

#include <gtest/gtest.h>

namespace hafs::vip {
namespace {

using namespace std::chrono_literals;
constexpr uint32_t kMe = 0x0A630002;
constexpr uint32_t kLow = 0x0A630001;
constexpr uint32_t kHigh = 0x0A630003;

FsmConfig V3(uint8_t prio, uint16_t adv_cs = 10) {
  FsmConfig c;
  c.version = 3;
  c.priority = prio;
  c.advert_cs = adv_cs;
  c.primary_addr = kMe;
  return c;
}

int Count(const std::vector<FsmAction>& a, FsmAction::Kind k) {
  int n = 0;
  for (const auto& x : a) n += x.kind == k;
  return n;
}

bool Became(const std::vector<FsmAction>& a, VrrpState s) {
  for (const auto& x : a)
    if (x.kind == FsmAction::Kind::kTransition && x.to == s) return true;
  return false;
}

TEST(VipFsm, SkewAndMasterDownFollowRfc) {
  // RFC 5798 §6.1 with prio 100, interval 100 cs: skew = 156*100/256 cs = 60.9375 cs.
  VrrpFsm v3(V3(100, 100));
  EXPECT_EQ(v3.SkewTime(), Micros(609375));
  EXPECT_EQ(v3.MasterDownInterval(), Micros(3000000 + 609375));
  // RFC 3768 §6.1: skew = (256-prio)/256 s regardless of the interval.
  FsmConfig c2 = V3(200, 300);
  c2.version = 2;
  VrrpFsm v2(c2);
  EXPECT_EQ(v2.SkewTime(), Micros(56 * 1000000 / 256));
  EXPECT_EQ(v2.MasterDownInterval(), Micros(9000000 + 56 * 1000000 / 256));
}

TEST(VipFsm, BackupTakesOverExactlyAtMasterDown) {
  VrrpFsm f(V3(100));
  TimePoint t0{};
  f.Start(t0);
  EXPECT_EQ(f.state(), VrrpState::kBackup);
  EXPECT_TRUE(Became(f.TakeActions(), VrrpState::kBackup));
  TimePoint down = t0 + f.MasterDownInterval();
  EXPECT_EQ(f.NextDeadline(), down);
  f.OnTimer(down - 1us);
  EXPECT_EQ(f.state(), VrrpState::kBackup);
  f.OnTimer(down);
  EXPECT_EQ(f.state(), VrrpState::kMaster);
  auto acts = f.TakeActions();
  ASSERT_EQ(acts.size(), 2u);
  // VIPs + GARP (the transition) before the advert that makes a preempted master let go.
  EXPECT_EQ(acts[0].kind, FsmAction::Kind::kTransition);
  EXPECT_EQ(acts[0].to, VrrpState::kMaster);
  EXPECT_EQ(acts[1].kind, FsmAction::Kind::kSendAdvert);
  EXPECT_EQ(acts[1].priority, 100);
  EXPECT_EQ(f.NextDeadline(), down + 100ms);
  f.OnTimer(down + 100ms);
  EXPECT_EQ(Count(f.TakeActions(), FsmAction::Kind::kSendAdvert), 1);
}

TEST(VipFsm, OwnerStartsAsMaster) {
  VrrpFsm f(V3(255));
  f.Start(TimePoint{});
  EXPECT_EQ(f.state(), VrrpState::kMaster);
}

TEST(VipFsm, HigherAdvertsKeepBackupDown) {
  VrrpFsm f(V3(100));
  TimePoint t{};
  f.Start(t);
  for (int i = 0; i < 50; ++i) {
    t += 100ms;
    f.OnAdvert(t, kHigh, 150, 10);
    f.OnTimer(t);
  }
  EXPECT_EQ(f.state(), VrrpState::kBackup);
  EXPECT_EQ(f.master_addr(), kHigh);
}

TEST(VipFsm, PreemptsLowerMaster) {
  VrrpFsm f(V3(150));
  TimePoint t{};
  f.Start(t);
  f.OnAdvert(t + 10ms, kLow, 100, 10);  // discarded
  f.OnTimer(t + f.MasterDownInterval());
  EXPECT_EQ(f.state(), VrrpState::kMaster);
}

TEST(VipFsm, NopreemptStaysBackup) {
  FsmConfig c = V3(150);
  c.preempt = false;
  VrrpFsm f(c);
  TimePoint t{};
  f.Start(t);
  for (int i = 0; i < 100; ++i) {
    t += 100ms;
    f.OnAdvert(t, kLow, 100, 10);
    f.OnTimer(t);
  }
  EXPECT_EQ(f.state(), VrrpState::kBackup);
}

TEST(VipFsm, PreemptDelayHoldsThenPreempts) {
  FsmConfig c = V3(150);
  c.preempt_delay = 2s;
  VrrpFsm f(c);
  TimePoint t{};
  f.Start(t);
  TimePoint first = t;
  bool master = false;
  for (int i = 0; i < 60 && !master; ++i) {
    t += 100ms;
    f.OnAdvert(t, kLow, 100, 10);
    f.OnTimer(t);
    master = f.state() == VrrpState::kMaster;
  }
  ASSERT_TRUE(master);
  // Held while the delay ran, then one Master_Down_Interval after the last accepted advert.
  EXPECT_GE(t - first, 2s);
  EXPECT_LE(t - first, 2s + f.MasterDownInterval() + 200ms);
}

TEST(VipFsm, MasterStepsDownForHigherPriority) {
  VrrpFsm f(V3(255 - 155));
  TimePoint t{};
  f.Start(t);
  f.OnTimer(t + f.MasterDownInterval());
  ASSERT_EQ(f.state(), VrrpState::kMaster);
  f.TakeActions();
  f.OnAdvert(t + 5s, kLow, 200, 10);
  EXPECT_EQ(f.state(), VrrpState::kBackup);
  // One parting advert with our own (lower) priority, so the winner re-announces ARP.
  auto acts = f.TakeActions();
  ASSERT_EQ(Count(acts, FsmAction::Kind::kSendAdvert), 1);
  EXPECT_EQ(acts[0].priority, 100);
  // As a backup we then stay silent.
  f.OnAdvert(t + 5s + 100ms, kLow, 200, 10);
  EXPECT_EQ(Count(f.TakeActions(), FsmAction::Kind::kSendAdvert), 0);
}

TEST(VipFsm, EqualPriorityTieBreakByAddress) {
  VrrpFsm a(V3(100));
  TimePoint t{};
  a.Start(t);
  a.OnTimer(t + a.MasterDownInterval());
  ASSERT_EQ(a.state(), VrrpState::kMaster);
  a.OnAdvert(t + 5s, kLow, 100, 10);  // smaller address: we keep it
  EXPECT_EQ(a.state(), VrrpState::kMaster);
  a.OnAdvert(t + 6s, kHigh, 100, 10);  // larger address wins (RFC 5798 §6.4.3)
  EXPECT_EQ(a.state(), VrrpState::kBackup);
}

TEST(VipFsm, MasterReassertsAtOnceOverLowerMaster) {
  VrrpFsm f(V3(150));
  TimePoint t{};
  f.Start(t);
  t += f.MasterDownInterval();
  f.OnTimer(t);
  f.TakeActions();
  f.OnAdvert(t + 20ms, kLow, 100, 10);
  auto acts = f.TakeActions();
  EXPECT_EQ(Count(acts, FsmAction::Kind::kSendAdvert), 1);
  EXPECT_EQ(Count(acts, FsmAction::Kind::kGarp), 1);
  EXPECT_EQ(f.NextDeadline(), t + 20ms + 100ms);
  // A burst of lower adverts is answered at most once per half interval.
  f.OnAdvert(t + 30ms, kLow, 100, 10);
  f.OnAdvert(t + 40ms, kLow, 100, 10);
  EXPECT_EQ(Count(f.TakeActions(), FsmAction::Kind::kSendAdvert), 0);
  f.OnAdvert(t + 80ms, kLow, 100, 10);
  EXPECT_EQ(Count(f.TakeActions(), FsmAction::Kind::kSendAdvert), 1);
  EXPECT_EQ(f.counters().reasserts, 2u);
}

TEST(VipFsm, PriorityZeroShortensToSkew) {
  VrrpFsm f(V3(100));
  TimePoint t{};
  f.Start(t);
  f.OnAdvert(t + 1s, kHigh, 0, 10);
  EXPECT_EQ(f.NextDeadline(), t + 1s + f.SkewTime());
  f.OnTimer(f.NextDeadline());
  EXPECT_EQ(f.state(), VrrpState::kMaster);
}

TEST(VipFsm, MasterAnswersPriorityZero) {
  VrrpFsm f(V3(100));
  TimePoint t{};
  f.Start(t);
  f.OnTimer(t + f.MasterDownInterval());
  f.TakeActions();
  f.OnAdvert(t + 2s, kHigh, 0, 10);
  EXPECT_EQ(f.state(), VrrpState::kMaster);
  EXPECT_EQ(Count(f.TakeActions(), FsmAction::Kind::kSendAdvert), 1);
}

TEST(VipFsm, V3LearnsMasterInterval) {
  VrrpFsm f(V3(100, 10));
  TimePoint t{};
  f.Start(t);
  f.OnAdvert(t, kHigh, 200, 100);
  EXPECT_EQ(f.master_adver_cs(), 100);
  EXPECT_EQ(f.NextDeadline(), t + f.MasterDownInterval());
  EXPECT_GT(f.MasterDownInterval(), 3s);
}

TEST(VipFsm, FaultResignsAndRecoversToBackup) {
  VrrpFsm f(V3(150));
  TimePoint t{};
  f.Start(t);
  f.OnTimer(t + f.MasterDownInterval());
  f.TakeActions();
  f.SetFault(t + 1s, true, "script failed");
  auto acts = f.TakeActions();
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0].kind, FsmAction::Kind::kSendAdvert);
  EXPECT_EQ(acts[0].priority, 0);  // backups take over after Skew_Time only
  EXPECT_TRUE(Became(acts, VrrpState::kFault));
  f.OnAdvert(t + 2s, kLow, 100, 10);
  f.OnTimer(t + 10s);
  EXPECT_EQ(f.state(), VrrpState::kFault);
  f.SetFault(t + 11s, false, "script ok");
  EXPECT_EQ(f.state(), VrrpState::kBackup);
}

TEST(VipFsm, LoweredPriorityIsAdvertisedAtOnce) {
  VrrpFsm f(V3(150));
  TimePoint t{};
  f.Start(t);
  f.OnTimer(t + f.MasterDownInterval());
  f.TakeActions();
  f.SetPriority(t + 1s, 80);
  auto acts = f.TakeActions();
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].priority, 80);
  f.OnAdvert(t + 1s + 10ms, kLow, 100, 10);
  EXPECT_EQ(f.state(), VrrpState::kBackup);
}

TEST(VipFsm, OwnerPriorityNeverChanges) {
  VrrpFsm f(V3(255));
  f.Start(TimePoint{});
  f.SetPriority(TimePoint{}, 50);
  EXPECT_EQ(f.priority(), 255);
}

TEST(VipFsm, FlapDampingHoldsBackPreemption) {
  FsmConfig c = V3(150);
  c.flap_max = 3;
  c.flap_window = 10s;
  VrrpFsm f(c);
  TimePoint t{};
  f.Start(t);
  int entries = 0;
  // A peer with higher priority keeps appearing and vanishing; we preempt the lower one.
  for (int round = 0; round < 8; ++round) {
    // Become master by preempting a lower node.
    for (int i = 0; i < 10 && f.state() == VrrpState::kBackup; ++i) {
      t += 100ms;
      f.OnAdvert(t, kLow, 100, 10);
      f.OnTimer(t);
    }
    if (f.state() == VrrpState::kMaster) ++entries;
    t += 50ms;
    f.OnAdvert(t, kHigh, 200, 10);  // knocked back to backup
  }
  EXPECT_EQ(entries, 3);  // the bound: flap_max entries per window
  EXPECT_GT(f.counters().preempt_held, 0u);
  // Without any advert (a real failure) damping never delays the takeover.
  t += 100ms;
  f.OnTimer(t + f.MasterDownInterval());
  EXPECT_EQ(f.state(), VrrpState::kMaster);
}

TEST(VipFsm, StopResignsWithPriorityZero) {
  VrrpFsm f(V3(150));
  TimePoint t{};
  f.Start(t);
  f.OnTimer(t + f.MasterDownInterval());
  f.TakeActions();
  f.Stop(t + 5s);
  auto acts = f.TakeActions();
  ASSERT_GE(acts.size(), 1u);
  EXPECT_EQ(acts[0].kind, FsmAction::Kind::kSendAdvert);
  EXPECT_EQ(acts[0].priority, 0);
  EXPECT_EQ(f.state(), VrrpState::kInit);
}

TEST(VipFsm, SyncGroupForce) {
  VrrpFsm f(V3(100));
  TimePoint t{};
  f.Start(t);
  f.Force(t + 1ms, VrrpState::kMaster, "group");
  EXPECT_EQ(f.state(), VrrpState::kMaster);
  f.Force(t + 2ms, VrrpState::kBackup, "group");
  EXPECT_EQ(f.state(), VrrpState::kBackup);
  f.SetFault(t + 3ms, true, "x");
  f.Force(t + 4ms, VrrpState::kMaster, "group");
  EXPECT_EQ(f.state(), VrrpState::kFault);
}

}  // namespace
}  // namespace hafs::vip
