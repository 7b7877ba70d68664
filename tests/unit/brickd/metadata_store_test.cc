#include "brickd/metadata_store.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "temp_dir.h"

namespace hafs::brick {
namespace {

TEST(MetadataStore, XattropAddsAndMaintainsHealIndex) {
  hafs::testing::TempDir dir;
  auto store = MetadataStore::Open(dir / "db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto& s = **store;
  Gfid g = Gfid::Random();
  auto r = s.Xattrop(g, {{"pending.data.1", 2}, {"pending.meta.1", 1}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["pending.data.1"], 2);
  EXPECT_EQ(s.HealPending(), 1u);
  bool complete = false;
  auto idx = s.HealIndex(Gfid(), 10, &complete);
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0], g);
  EXPECT_TRUE(complete);

  r = s.Xattrop(g, {{"pending.data.1", -2}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count("pending.data.1"), 0u);  // zero counters disappear
  EXPECT_EQ(s.HealPending(), 1u);             // meta still pending
  r = s.Xattrop(g, {{"pending.meta.1", -1}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(s.HealPending(), 0u);
  EXPECT_TRUE(s.HealIndex(Gfid(), 10, &complete).empty());
}

TEST(MetadataStore, ConcurrentXattropLosesNothing) {
  hafs::testing::TempDir dir;
  auto store = MetadataStore::Open(dir / "db");
  ASSERT_TRUE(store.ok());
  auto& s = **store;
  Gfid g = Gfid::Random();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(s.Xattrop(g, {{"c", 1}, {"d", t % 2 ? 1 : -1}}).ok());
    });
  }
  for (auto& t : threads) t.join();
  auto c = s.Counters(g);
  EXPECT_EQ(c["c"], 1600);
  EXPECT_EQ(c.count("d"), 0u);
}

TEST(MetadataStore, HealIndexPagesInOrder) {
  hafs::testing::TempDir dir;
  auto store = MetadataStore::Open(dir / "db");
  ASSERT_TRUE(store.ok());
  auto& s = **store;
  std::set<Gfid> all;
  for (int i = 0; i < 25; ++i) {
    Gfid g = Gfid::Random();
    all.insert(g);
    ASSERT_TRUE(s.Xattrop(g, {{"x", 1}}).ok());
  }
  std::vector<Gfid> seen;
  Gfid after;
  bool complete = false;
  while (!complete) {
    auto page = s.HealIndex(after, 10, &complete);
    for (auto& g : page) seen.push_back(g);
    if (!page.empty()) after = page.back();
  }
  EXPECT_EQ(seen, std::vector<Gfid>(all.begin(), all.end()));
}

// Counters only for a gfid that exists: asked under the gfid's stripe, so a change racing an
// unlink (which forgets the gfid under the same stripe) leaves nothing behind; counters left
// for a gone gfid (by bricks before the check) are dropped on request.
TEST(MetadataStore, CountersOnlyForAGfidThatExists) {
  hafs::testing::TempDir dir;
  auto store = MetadataStore::Open(dir / "db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto& s = **store;
  Gfid here = Gfid::Random(), gone = Gfid::Random();
  bool here_exists = true;
  auto exists = [&](const Gfid& g) { return std::function<bool()>([&, g] { return g == here && here_exists; }); };
  ASSERT_TRUE(s.Xattrop(here, {{"pending.data.0", 1}}, exists(here)).ok());
  auto r = s.Xattrop(gone, {{"pending.data.0", -1}}, exists(gone));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err(), ENOENT);
  EXPECT_EQ(s.HealPending(), 1u);
  EXPECT_TRUE(s.Counters(gone).empty());

  ASSERT_TRUE(s.Xattrop(gone, {{"pending.data.0", -1}}).ok());  // as an older brick would have
  EXPECT_EQ(s.HealPending(), 2u);
  EXPECT_FALSE(s.ForgetIfGone(here, exists(here)));
  EXPECT_TRUE(s.ForgetIfGone(gone, exists(gone)));
  EXPECT_EQ(s.HealPending(), 1u);
  EXPECT_TRUE(s.Counters(gone).empty());
  bool complete = false;
  auto idx = s.HealIndex(Gfid(), 10, &complete);
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0], here);
  here_exists = false;  // unlinked: its counters go with it, and nothing comes back after
  EXPECT_TRUE(s.ForgetIfGone(here, exists(here)));
  EXPECT_EQ(s.HealPending(), 0u);
  EXPECT_FALSE(s.Xattrop(here, {{"pending.data.0", -1}}, exists(here)).ok());
  EXPECT_TRUE(s.HealIndex(Gfid(), 10, &complete).empty());
}

TEST(MetadataStore, SurvivesReopenAndForgets) {
  hafs::testing::TempDir dir;
  Gfid g = Gfid::Random(), d = Gfid::Random();
  {
    auto store = MetadataStore::Open(dir / "db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Xattrop(g, {{"x", 5}}).ok());
    ASSERT_TRUE((*store)->PutDir(d, DirRecord{Gfid::Root(), "www"}).ok());
    ASSERT_TRUE((*store)->PutMeta("volume-id", "v1").ok());
  }
  auto store = MetadataStore::Open(dir / "db");
  ASSERT_TRUE(store.ok());
  auto& s = **store;
  EXPECT_EQ(s.HealPending(), 1u);
  EXPECT_EQ(s.Counters(g)["x"], 5);
  EXPECT_EQ(s.GetMeta("volume-id").value_or(""), "v1");
  int dirs = 0;
  ASSERT_TRUE(s.ForEachDir([&](const Gfid& gg, const DirRecord& r) {
                 EXPECT_EQ(gg, d);
                 EXPECT_EQ(r.name, "www");
                 ++dirs;
               }).ok());
  EXPECT_EQ(dirs, 1);
  ASSERT_TRUE(s.Forget(g).ok());
  EXPECT_EQ(s.HealPending(), 0u);
  EXPECT_TRUE(s.Counters(g).empty());
}

}  // namespace
}  // namespace hafs::brick
