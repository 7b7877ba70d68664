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
  // With quorum off: 0 written while 1 was down, then 1 written while 0 was down.
  bool split;
  Judge({{{"pending.data.1", 1}}, {{"pending.data.0", 1}}, {}}, kAll, &split);
  EXPECT_TRUE(split);
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

}  // namespace
}  // namespace hafs::client
