#include "client-fuse/replicate/changelog.h"

#include <gtest/gtest.h>

namespace hafs::client {
namespace {

const std::vector<std::string> kNames = {"pending.data.0", "pending.data.1", "pending.data.2"};
using Counters = std::vector<std::map<std::string, int64_t>>;
const std::vector<bool> kAll = {true, true, true};

std::vector<bool> Judge(const Counters& c, const std::vector<bool>& answered, bool* split) {
  return ComputeAccused(c, answered, kNames, split);
}

TEST(Changelog, CleanSetAccusesNobody) {
  bool split;
  auto a = Judge({{}, {}, {}}, kAll, &split);
  EXPECT_EQ(a, std::vector<bool>({false, false, false}));
  EXPECT_FALSE(split);
}

TEST(Changelog, BrickDownDuringWritesIsTheSink) {
  // Bricks 0 and 2 did the writes; 1 was down and never heard of them.
  bool split;
  auto a = Judge({{{"pending.data.1", 5}}, {}, {{"pending.data.1", 5}}}, kAll, &split);
  EXPECT_EQ(a, std::vector<bool>({false, true, false}));
  EXPECT_FALSE(split);
}

TEST(Changelog, BrickThatDiedMidTransactionIsAFoolAndASink) {
  // Brick 1 did the pre-op (+1 for everyone) but not the operation: it accuses everyone,
  // itself included; the others accuse it. That is not split-brain.
  bool split;
  auto a = Judge({{{"pending.data.1", 1}},
                  {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}},
                  {{"pending.data.1", 1}}},
                 kAll, &split);
  EXPECT_EQ(a, std::vector<bool>({false, true, false}));
  EXPECT_FALSE(split);
}

TEST(Changelog, AllFoolsAfterAClientCrashSingleOutNobody) {
  std::map<std::string, int64_t> all = {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}};
  bool split;
  auto a = Judge({all, all, all}, kAll, &split);
  EXPECT_EQ(a, std::vector<bool>({false, false, false}));
  EXPECT_FALSE(split);
}

TEST(Changelog, MutualAccusationIsSplitBrain) {
  // With quorum off: 0 written while 1 and 2 were down, then 1 written while 0 and 2 were down.
  bool split;
  Judge({{{"pending.data.1", 1}, {"pending.data.2", 1}}, {{"pending.data.0", 1}, {"pending.data.2", 1}}, {}}, kAll,
        &split);
  EXPECT_TRUE(split);
  // Brick 2 silent: the two that answer accuse each other.
  Judge({{{"pending.data.1", 1}}, {{"pending.data.0", 1}}, {}}, {true, true, false}, &split);
  EXPECT_TRUE(split);
  // Accusations that go round (0 behind 1, 1 behind 2, 2 behind 0): no copy has every change.
  Judge({{{"pending.data.1", 1}}, {{"pending.data.2", 1}}, {{"pending.data.0", 1}}}, kAll, &split);
  EXPECT_TRUE(split);
}

TEST(Changelog, ACopyWithBothSidesOfAMutualAccusationIsTheSource) {
  // 0 written with 2 while 1 was down, then 1 with 2 while 0 was down: 2 has both changes.
  bool split;
  auto a = Judge({{{"pending.data.1", 1}}, {{"pending.data.0", 1}}, {}}, kAll, &split);
  EXPECT_FALSE(split);
  EXPECT_EQ(a, std::vector<bool>({true, true, false}));
}

// A fool's own pre-op says only that one of its changes has an unknown outcome; what it counts
// for another brick beyond that is a change it completed and the other did not. Bricks 1 and 2
// did a write brick 0 missed (down), then took an eager lock (brick 0 back but not in it, or
// the change under it refused) and kept its pre-op: brick 0 is behind, whatever its own
// counters say, and must not be the source (the acknowledged write would be lost).
TEST(Changelog, AFoolStillKnowsWhoMissedAChangeItCompleted) {
  std::map<std::string, int64_t> fool_ahead = {{"pending.data.0", 2}, {"pending.data.1", 1}, {"pending.data.2", 1}};
  bool split;
  EXPECT_EQ(Judge({{}, fool_ahead, fool_ahead}, kAll, &split), std::vector<bool>({true, false, false}));
  EXPECT_FALSE(split);
  // Brick 0 applied a change refused for want of quorum and kept its pre-op: still behind.
  std::map<std::string, int64_t> all1 = {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}};
  EXPECT_EQ(Judge({all1, fool_ahead, fool_ahead}, kAll, &split), std::vector<bool>({true, false, false}));
  EXPECT_FALSE(split);
  EXPECT_FALSE(AllFools({{}, fool_ahead, fool_ahead}, kAll, kNames));
}

// Bricks 0 and 2 each say the other missed a change, brick 1 has both and is in the middle of
// one (a fool nobody accuses): it is the source, not a split-brain.
TEST(Changelog, MutualAccusersWithAnUnaccusedFoolAreNotSplit) {
  Counters c = {{{"pending.data.2", 1}},
                {{"pending.data.0", 2}, {"pending.data.1", 1}, {"pending.data.2", 2}},
                {{"pending.data.0", 1}}};
  bool split;
  EXPECT_EQ(Judge(c, kAll, &split), std::vector<bool>({true, false, true}));
  EXPECT_FALSE(split);
}

TEST(Changelog, SilentBricksStayAccusedButDoNotAnswer) {
  bool split;
  auto a = Judge({{{"pending.data.2", 3}}, {{"pending.data.2", 3}}, {}}, {true, true, false}, &split);
  EXPECT_EQ(a, std::vector<bool>({false, false, true}));
  EXPECT_FALSE(split);
  // Every answering brick a fool, the silent one accused by them: it stays accused.
  std::map<std::string, int64_t> all = {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}};
  a = Judge({all, all, {}}, {true, true, false}, &split);
  EXPECT_EQ(a, std::vector<bool>({false, false, true}));
}

// A client that died with an eager lock (pre-op applied everywhere, no post-op): every brick
// accuses itself and the others. Nobody is singled out (ComputeAccused), and AllFools tells
// the heal to pick the biggest copy instead of trusting the first brick.
TEST(Changelog, ClientDiedUnderEagerLockMakesEveryBrickAFool) {
  Counters c(3, {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}});
  bool split;
  EXPECT_EQ(Judge(c, kAll, &split), std::vector<bool>({false, false, false}));
  EXPECT_FALSE(split);
  EXPECT_TRUE(AllFools(c, kAll, kNames));
  // One brick down: the two that answer are still all fools.
  EXPECT_TRUE(AllFools(c, {true, false, true}, kNames));
  // A single answering brick decides nothing.
  EXPECT_FALSE(AllFools(c, {false, true, false}, kNames));
}

// A client died under an eager data lock it took while brick 2 was down. Bricks 0 and 1 hold
// the pre-op; brick 2, back, has none. With a pre-op of +1 for everyone, brick 2 looked sane
// and accused by nobody, and was the source over 0 and 1's acknowledged writes. The pre-op
// counts 2 for a brick that is down (ReplicateLayer::PreOp): 0 and 1 know it is behind, and
// they are the candidates (AllFools: the biggest, then newest, of them is the source).
TEST(Changelog, ABrickDownAtThePreOpIsBehindWhenTheClientDies) {
  std::map<std::string, int64_t> held = {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 2}};
  bool split;
  EXPECT_EQ(Judge({held, held, {}}, kAll, &split), std::vector<bool>({false, false, true}));
  EXPECT_FALSE(split);
  EXPECT_TRUE(AllFools({held, held, {}}, {true, true, false}, kNames));
  // What +1 for brick 2 gave: brick 2 the only source.
  std::map<std::string, int64_t> even = {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}};
  EXPECT_EQ(Judge({even, even, {}}, kAll, &split), std::vector<bool>({true, true, false}));
  // After the post-op (the client did not die), brick 2 stays behind and 0 and 1 are clean.
  std::map<std::string, int64_t> settled = {{"pending.data.2", 2}};
  EXPECT_EQ(Judge({settled, settled, {}}, kAll, &split), std::vector<bool>({false, false, true}));
  EXPECT_FALSE(split);
}

TEST(Changelog, EagerPostOpAccusesOnlyTheBrickThatFailed) {
  // Brick 1 failed a write under the eager lock: bricks 0 and 2 sent the post-op for each
  // other only, so they keep accusing 1; brick 1 got no post-op and keeps its own +1.
  Counters c = {{{"pending.data.1", 1}},
                {{"pending.data.0", 1}, {"pending.data.1", 1}, {"pending.data.2", 1}},
                {{"pending.data.1", 1}}};
  bool split;
  EXPECT_EQ(Judge(c, kAll, &split), std::vector<bool>({false, true, false}));
  EXPECT_FALSE(split);
  EXPECT_FALSE(AllFools(c, kAll, kNames));
  // While brick 1 is still down only 0 and 2 answer: clean between themselves, 1 accused.
  EXPECT_EQ(Judge(c, {true, false, true}, &split), std::vector<bool>({false, true, false}));
  EXPECT_FALSE(AllFools(c, {true, false, true}, kNames));
}


// ---- conservative entry merge (a client died under an entry change / eager entry lock) ----
const std::vector<std::string> kEntry = {"pending.entry.0", "pending.entry.1", "pending.entry.2"};
std::map<std::string, int64_t> AllEntry(int64_t v) {
  return {{"pending.entry.0", v}, {"pending.entry.1", v}, {"pending.entry.2", v}};
}

TEST(EntryMerge, CleanOrOrdinaryAccusationNeedsNoMerge) {
  EXPECT_FALSE(NeedsMerge({{}, {}, {}}, kAll, kEntry));
  // Brick 2 was down for completed changes: the others accuse it, nobody accuses itself.
  EXPECT_FALSE(NeedsMerge({{{"pending.entry.2", 4}}, {{"pending.entry.2", 4}}, {}}, kAll, kEntry));
}

TEST(EntryMerge, ClientDiedUnderTheLockMergesAllFools) {
  // Every brick kept the pre-op: nobody knows who got how many of the changes.
  EXPECT_TRUE(NeedsMerge({AllEntry(1), AllEntry(1), AllEntry(1)}, kAll, kEntry));
}

TEST(EntryMerge, BrickAwayWhileTheClientDiedIsNotTheSource) {
  // Bricks 0 and 1 kept the pre-op of a stream brick 2 (down then) never saw; brick 2 is back
  // and accuses nobody. ComputeAccused would make brick 2 the only source (removing what 0 and
  // 1 created); the merge keeps it.
  Counters c = {AllEntry(1), AllEntry(1), {}};
  bool split;
  auto acc = ComputeAccused(c, kAll, kEntry, &split);
  EXPECT_EQ(acc, std::vector<bool>({true, true, false}));
  EXPECT_TRUE(NeedsMerge(c, kAll, kEntry));
}

TEST(EntryMerge, ARefusedChangeIsAnOrdinaryHealFromTheBrickThatSaidNo) {
  // Bricks 0 and 1 made a name that brick 2 refused (quorum 3): they keep their own +1 and took
  // 1 off brick 2, which is clean. Brick 2's listing is the truth; no merge.
  std::map<std::string, int64_t> made0 = {{"pending.entry.0", 1}}, made1 = {{"pending.entry.1", 1}};
  Counters c = {made0, made1, {}};
  EXPECT_FALSE(NeedsMerge(c, kAll, kEntry));
  bool split;
  EXPECT_EQ(ComputeAccused(c, kAll, kEntry, &split), std::vector<bool>({true, true, false}));
  EXPECT_FALSE(split);
}

TEST(EntryMerge, FoolAccusedByASaneBrickIsAnOrdinarySink) {
  // Brick 1's create failed: it kept its pre-op; bricks 0 and 2 got the post-op and accuse it.
  Counters c = {{{"pending.entry.1", 1}}, AllEntry(1), {{"pending.entry.1", 1}}};
  EXPECT_FALSE(NeedsMerge(c, kAll, kEntry));
  // Only bricks that answered count.
  EXPECT_TRUE(NeedsMerge({AllEntry(1), AllEntry(1), {{"pending.entry.1", 1}}}, {true, true, false}, kEntry));
}
}  // namespace
}  // namespace hafs::client
