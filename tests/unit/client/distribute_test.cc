// DistributeLayer over fake subvolumes: listings and sums gathered from every subvolume at
// once, also when the subvolumes are replica sets, whose calls run only when waited for.
#include "client-fuse/distribute/distribute_layer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/client/fake_layer.h"

namespace hafs::client {
namespace {

using namespace std::chrono_literals;

// A meeting point for `n` calls: each waits until all n are inside at once, or 2 s (then the
// calls were made one after another, and the waiter answers ETIMEDOUT).
class Meeting {
 public:
  explicit Meeting(int n) : n_(n) {}
  bool Arrive() {
    std::unique_lock lk(mu_);
    uint64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
      return true;
    }
    return cv_.wait_for(lk, 2s, [&] { return gen_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
  int count_ = 0;
  uint64_t gen_ = 0;
};

proto::DirEntry Entry(const std::string& name, const Gfid& g, uint32_t type) {
  proto::DirEntry e;
  e.set_name(name);
  e.set_gfid(g.Bytes());
  e.set_type(type);
  return e;
}

// One subvolume's copy of a directory, listed in pages of max_entries. The first page of a
// listing and every statfs meet the other subvolumes' (`meeting`). `lazy`: the work runs when
// the future is waited for, as replicate's does; otherwise at the call, as a brick's starts.
class FakeSubvolume : public fakes::FakeLayer {
 public:
  FakeSubvolume(Meeting& meeting, bool lazy, std::vector<proto::DirEntry> entries)
      : meeting_(meeting), lazy_(lazy), entries_(std::move(entries)) {}
  bool LazyCalls() const override { return lazy_; }

  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override {
    return Run<proto::ReaddirReply>([this, req]() -> Result<proto::ReaddirReply> {
      if (req.cookie() == 0 && !meeting_.Arrive()) return Status(ETIMEDOUT, "listed alone");
      proto::ReaddirReply rep;
      size_t from = req.cookie();
      size_t to = std::min(entries_.size(), from + req.max_entries());
      for (size_t k = from; k < to; ++k) {
        auto* e = rep.add_entries();
        *e = entries_[k];
        e->set_next_cookie(k + 1);
      }
      rep.set_eof(to == entries_.size());
      pages++;
      return rep;
    });
  }
  Future<proto::StatfsReply> Statfs(proto::GfidRequest) override {
    return Run<proto::StatfsReply>([this]() -> Result<proto::StatfsReply> {
      if (!meeting_.Arrive()) return Status(ETIMEDOUT, "asked alone");
      proto::StatfsReply rep;
      rep.set_frsize(4096);
      rep.set_blocks(1000);
      rep.set_bfree(100);
      rep.set_files(50);
      return rep;
    });
  }

  std::atomic<int> pages{0};
  std::mutex threads_mu;
  std::set<std::thread::id> threads;  // where the calls' work ran

 private:
  template <typename Rep, typename F>
  Future<Rep> Run(F work) {
    auto noted = [this, work]() -> Result<Rep> {
      {
        std::lock_guard lk(threads_mu);
        threads.insert(std::this_thread::get_id());
      }
      return work();
    };
    if (lazy_) return Deferred(noted);
    // A brick's call: under way before anyone waits (a thread stands in for the network).
    return std::async(std::launch::async, noted);
  }

  Meeting& meeting_;
  bool lazy_;
  std::vector<proto::DirEntry> entries_;
};

struct Volume {
  explicit Volume(bool lazy) : meeting(3) {
    Gfid dir = Gfid::Random();
    std::vector<proto::DirEntry> lists[3];
    // Different sizes: 3, 1 and 2 pages of 1024; a directory on every subvolume; a copy
    // rebalance is still making.
    for (int k = 0; k < 2500; ++k) lists[0].push_back(Entry("a" + std::to_string(k), Gfid::Random(), 8));
    for (int k = 0; k < 10; ++k) lists[1].push_back(Entry("b" + std::to_string(k), Gfid::Random(), 8));
    for (int k = 0; k < 1500; ++k) lists[2].push_back(Entry("c" + std::to_string(k), Gfid::Random(), 8));
    for (auto& l : lists) l.insert(l.begin() + 1, Entry("sub", dir, 4));
    lists[2].push_back(Entry(std::string(kMigrationTempPrefix) + "x", Gfid::Random(), 8));
    for (auto& l : lists) subs.push_back(std::make_unique<FakeSubvolume>(meeting, lazy, l));
    layer = std::make_unique<DistributeLayer>(std::vector<Layer*>{subs[0].get(), subs[1].get(), subs[2].get()});
  }
  Meeting meeting;
  std::vector<std::unique_ptr<FakeSubvolume>> subs;
  std::unique_ptr<DistributeLayer> layer;
};

void ExpectMergedListing(const proto::ReaddirReply& rep) {
  // Subvolume order; the directory once (where it came first); no temporary copy.
  std::vector<std::string> want;
  for (int k = 0; k < 2500; ++k) {
    want.push_back("a" + std::to_string(k));
    if (k == 0) want.push_back("sub");
  }
  for (int k = 0; k < 10; ++k) want.push_back("b" + std::to_string(k));
  for (int k = 0; k < 1500; ++k) want.push_back("c" + std::to_string(k));
  ASSERT_EQ(rep.entries_size(), static_cast<int>(want.size()));
  for (int k = 0; k < rep.entries_size(); ++k) {
    ASSERT_EQ(rep.entries(k).name(), want[k]) << k;
    ASSERT_EQ(rep.entries(k).next_cookie(), static_cast<uint64_t>(k + 1));
  }
  EXPECT_TRUE(rep.eof());
}

// Replica sets' calls run only when waited for: distribute has the three subvolumes list at
// once (each first page meets the others'; one after another, the first would wait alone).
TEST(DistributeFanOut, ReplicaSetsListAtOnceAndTheMergeKeepsSubvolumeOrder) {
  Volume v(/*lazy=*/true);
  proto::ReaddirRequest req;
  req.set_gfid(Gfid::Random().Bytes());
  req.set_plus(true);
  auto t0 = std::chrono::steady_clock::now();
  auto rep = v.layer->Readdir(req).get();
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  ExpectMergedListing(*rep);
  EXPECT_EQ(v.subs[0]->pages.load(), 3);
  EXPECT_EQ(v.subs[1]->pages.load(), 1);
  EXPECT_EQ(v.subs[2]->pages.load(), 2);
  // Several threads waited (the caller and the pool's).
  std::set<std::thread::id> all;
  for (auto& s : v.subs) all.insert(s->threads.begin(), s->threads.end());
  EXPECT_GE(all.size(), 3u);

  proto::GfidRequest sreq;
  sreq.set_gfid(Gfid::Root().Bytes());
  auto st = v.layer->Statfs(sreq).get();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->blocks(), 3000u);
  EXPECT_EQ(st->files(), 150u);
}

// Bricks' calls are under way before they are waited for: no pool needed, same listing.
TEST(DistributeFanOut, BricksAreWaitedForOnTheCallersThread) {
  Volume v(/*lazy=*/false);
  proto::ReaddirRequest req;
  req.set_gfid(Gfid::Random().Bytes());
  auto rep = v.layer->Readdir(req).get();
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  ExpectMergedListing(*rep);
}

// A subvolume that fails its listing leaves its names out; the others' are merged.
TEST(DistributeFanOut, ASubvolumeThatFailsIsLeftOut) {
  struct Failing : fakes::FakeLayer {
    bool LazyCalls() const override { return true; }
  } failing;  // answers ENOSYS to everything, at once
  Meeting two(2);
  FakeSubvolume a(two, true, {Entry("x", Gfid::Random(), 8)});
  FakeSubvolume b(two, true, {Entry("y", Gfid::Random(), 8)});
  DistributeLayer layer(std::vector<Layer*>{&a, &failing, &b});
  proto::ReaddirRequest req;
  req.set_gfid(Gfid::Random().Bytes());
  auto rep = layer.Readdir(req).get();
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  ASSERT_EQ(rep->entries_size(), 2);
  EXPECT_EQ(rep->entries(0).name(), "x");
  EXPECT_EQ(rep->entries(1).name(), "y");
}

}  // namespace
}  // namespace hafs::client
