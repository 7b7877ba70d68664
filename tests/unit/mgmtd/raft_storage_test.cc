#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>

#include "mgmtd/raft/raft_storage.h"

namespace hafs::mgmtd {
namespace {

TEST(RocksRaftStorageTest, PersistsAcrossReopen) {
  char tmpl[] = "/tmp/hafs-mgmtd-store-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto s = RocksRaftStorage::Open(dir + "/db");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->SaveTermVote(7, "peer-a").ok());
    std::vector<mgmtpb::LogEntry> es(3);
    for (int i = 0; i < 3; ++i) {
      es[i].set_term(7);
      es[i].set_index(i + 1);
    }
    ASSERT_TRUE((*s)->Append(es).ok());
    ASSERT_TRUE((*s)->TruncateFrom(3).ok());
    mgmtpb::ClusterState st;
    st.set_pool_id("pool");
    ASSERT_TRUE((*s)->SaveState(st, 2).ok());
    ASSERT_TRUE((*s)->PutMeta("uuid", "me").ok());
  }
  {
    auto s = RocksRaftStorage::Open(dir + "/db");
    ASSERT_TRUE(s.ok());
    auto p = (*s)->Load();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->term, 7u);
    EXPECT_EQ(p->voted_for, "peer-a");
    EXPECT_EQ(p->log.size(), 2u);
    EXPECT_EQ(p->applied, 2u);
    EXPECT_EQ(p->state.pool_id(), "pool");
    EXPECT_EQ((*s)->GetMeta("uuid").value_or(""), "me");
    // Appending continues after the truncation point.
    mgmtpb::LogEntry e;
    e.set_term(8);
    e.set_index(3);
    EXPECT_TRUE((*s)->Append({e}).ok());
    ASSERT_TRUE((*s)->Wipe().ok());
    auto w = (*s)->Load();
    ASSERT_TRUE(w.ok());
    EXPECT_TRUE(w->log.empty());
    EXPECT_EQ(w->term, 0u);
    EXPECT_EQ((*s)->GetMeta("uuid").value_or(""), "me");
  }
  std::filesystem::remove_all(dir);
}

TEST(RocksRaftStorageTest, CompactionAndSnapshotSurviveReopen) {
  char tmpl[] = "/tmp/hafs-mgmtd-store-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto entries = [](uint64_t from, uint64_t to, uint64_t term) {
    std::vector<mgmtpb::LogEntry> es;
    for (uint64_t i = from; i <= to; ++i) {
      es.emplace_back();
      es.back().set_term(term);
      es.back().set_index(i);
    }
    return es;
  };
  {
    auto s = RocksRaftStorage::Open(dir + "/db");
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Append(entries(1, 10, 3)).ok());
    mgmtpb::ClusterState st;
    st.set_pool_id("pool");
    ASSERT_TRUE((*s)->SaveState(st, 8).ok());
    ASSERT_TRUE((*s)->Compact(6, 3).ok());
    ASSERT_TRUE((*s)->Append(entries(11, 12, 4)).ok());
    ASSERT_TRUE((*s)->TruncateFrom(12).ok());
  }
  {
    auto s = RocksRaftStorage::Open(dir + "/db");
    ASSERT_TRUE(s.ok());
    auto p = (*s)->Load();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->snap_index, 6u);
    EXPECT_EQ(p->snap_term, 3u);
    ASSERT_EQ(p->log.size(), 5u);  // 7..11
    EXPECT_EQ(p->log.front().index(), 7u);
    EXPECT_EQ(p->applied, 8u);
    // A leader's snapshot replaces everything.
    mgmtpb::ClusterState st;
    st.set_pool_id("pool2");
    ASSERT_TRUE((*s)->InstallSnapshot(st, 40, 9).ok());
    ASSERT_TRUE((*s)->Append(entries(41, 41, 9)).ok());
  }
  {
    auto s = RocksRaftStorage::Open(dir + "/db");
    auto p = (*s)->Load();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->snap_index, 40u);
    EXPECT_EQ(p->snap_term, 9u);
    EXPECT_EQ(p->applied, 40u);
    EXPECT_EQ(p->state.pool_id(), "pool2");
    ASSERT_EQ(p->log.size(), 1u);
    EXPECT_EQ(p->log[0].index(), 41u);
    ASSERT_TRUE((*s)->Wipe().ok());
    auto w = (*s)->Load();
    EXPECT_EQ(w->snap_index, 0u);
    EXPECT_TRUE(w->log.empty());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hafs::mgmtd
