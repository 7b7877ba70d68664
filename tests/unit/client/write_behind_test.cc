// WriteBehindLayer over a fake lower layer whose writes the test completes or fails at will.
#include "client-fuse/caches/write_behind.h"
#include "tests/unit/client/fake_layer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>

namespace hafs::client {
namespace {

using namespace std::chrono_literals;

// Every operation answers at once with an empty reply and is noted by name.
class FakeBase : public fakes::FakeLayer {
 public:
  FakeBase() : FakeLayer(/*answer_empty=*/true) {}
  void Noted(const std::string& what) override { Note(what); }

  void Note(const std::string& what) {
    std::lock_guard lk(mu);
    calls.push_back(what);
  }
  std::vector<std::string> Calls() {
    std::lock_guard lk(mu);
    return calls;
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> calls;
};

// Writes stay in flight until Complete(); completed writes are applied to `data`.
class FakeLower : public FakeBase {
 public:
  struct Pending {
    proto::WriteRequest req;
    std::promise<Result<proto::WriteReply>> p;
  };
  Future<proto::WriteReply> Write(proto::WriteRequest req) override {
    std::lock_guard lk(mu);
    calls.push_back("Write");
    arrived.push_back(req);
    auto w = std::make_shared<Pending>();
    w->req = std::move(req);
    auto f = w->p.get_future();
    if (auto_complete) {
      Apply(w->req);
      proto::WriteReply r;
      r.set_written(static_cast<uint32_t>(w->req.data().size()));
      w->p.set_value(r);
    } else {
      in_flight.push_back(w);
      max_in_flight = std::max(max_in_flight, in_flight.size());
    }
    cv.notify_all();
    return f;
  }
  // Waits (bounded) until n writes are in flight.
  bool WaitInFlight(size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, limit, [&] { return in_flight.size() >= n; });
  }
  size_t InFlight() {
    std::lock_guard lk(mu);
    return in_flight.size();
  }
  // Completes the in-flight write at `offset` (any if UINT64_MAX) with err (0 = success).
  bool Complete(uint64_t offset = UINT64_MAX, int err = 0) {
    std::shared_ptr<Pending> w;
    {
      std::lock_guard lk(mu);
      for (auto it = in_flight.begin(); it != in_flight.end(); ++it)
        if (offset == UINT64_MAX || (*it)->req.offset() == offset) {
          w = *it;
          in_flight.erase(it);
          break;
        }
      if (!w) return false;
      if (!err) Apply(w->req);
      completed.push_back(w->req);
    }
    if (err) {
      w->p.set_value(Status(err, "injected"));
    } else {
      proto::WriteReply r;
      r.set_written(static_cast<uint32_t>(w->req.data().size() - short_by));
      w->p.set_value(r);
    }
    return true;
  }
  void CompleteAll() {
    while (Complete()) {
    }
  }
  void Apply(const proto::WriteRequest& r) {  // under mu
    std::string& data = files[r.gfid()];
    uint64_t off = r.append() ? data.size() : r.offset();
    if (data.size() < off + r.data().size()) data.resize(off + r.data().size(), '\0');
    data.replace(off, r.data().size(), r.data());
  }
  bool auto_complete = false;
  size_t short_by = 0;  // Complete() answers this many bytes less than asked
  std::deque<std::shared_ptr<Pending>> in_flight;
  std::vector<proto::WriteRequest> arrived, completed;
  size_t max_in_flight = 0;
  std::map<std::string, std::string> files;  // content by gfid
};

proto::WriteRequest W(const Gfid& g, uint64_t off, size_t size, char c, bool append = false) {
  proto::WriteRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(off);
  r.set_data(std::string(size, c));
  r.set_append(append);
  return r;
}

bool IsReady(Future<proto::WriteReply>& f) { return f.wait_for(0s) == std::future_status::ready; }

template <typename P>
bool Eventually(P pred, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class WriteBehindTest : public ::testing::Test {
 protected:
  void TearDown() override {
    {
      std::lock_guard lk(lower.mu);
      lower.auto_complete = false;
    }
    // Let the destructor's drain finish: complete whatever is (or comes) in flight.
    std::atomic<bool> done{false};
    std::thread t([&] {
      while (!done) {
        lower.CompleteAll();
        std::this_thread::sleep_for(1ms);
      }
    });
    wb.reset();
    done = true;
    t.join();
  }
  void Make(WriteBehindLayer::Options o = {}) { wb = std::make_unique<WriteBehindLayer>(lower, o); }
  FakeLower lower;
  std::unique_ptr<WriteBehindLayer> wb;
  Gfid g = Gfid::Random();
};

TEST_F(WriteBehindTest, AcknowledgesAtOnceAndPipelines) {
  Make();
  std::vector<Future<proto::WriteReply>> fs;
  for (int i = 0; i < 4; ++i) fs.push_back(wb->Write(W(g, i * 1000000ull, 65536, 'a' + i)));
  for (auto& f : fs) {
    ASSERT_TRUE(IsReady(f)) << "a write that fits the window must be answered at once";
    auto r = f.get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->written(), 65536u);
  }
  // Four non-overlapping writes of one file are in flight together.
  ASSERT_TRUE(lower.WaitInFlight(4)) << "in flight: " << lower.InFlight();
  EXPECT_EQ(wb->pending_bytes(), 4u * 65536);
  lower.CompleteAll();
  ASSERT_TRUE(wb->Flush(g).ok());
  EXPECT_EQ(wb->pending_bytes(), 0u);
  EXPECT_EQ(lower.files[g.Bytes()].substr(3000000, 65536), std::string(65536, 'd'));
  EXPECT_GE(wb->stats().max_in_flight, 4u);
}

TEST_F(WriteBehindTest, OverlappingWriteWaitsForTheEarlierOne) {
  Make();
  auto a = wb->Write(W(g, 0, 100, 'a'));
  ASSERT_TRUE(lower.WaitInFlight(1));
  auto b = wb->Write(W(g, 50, 100, 'b'));          // overlaps a
  auto c = wb->Write(W(g, 10000, 100, 'c'));       // overlaps nothing
  EXPECT_TRUE(IsReady(b));
  ASSERT_TRUE(lower.WaitInFlight(2));              // a and c
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(lower.InFlight(), 2u) << "b went out while a (which it overlaps) was in flight";
  ASSERT_TRUE(lower.Complete(10000));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(lower.InFlight(), 1u);
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_TRUE(lower.WaitInFlight(1));              // now b
  ASSERT_TRUE(lower.Complete(50));
  ASSERT_TRUE(wb->Flush(g).ok());
  EXPECT_EQ(lower.files[g.Bytes()].substr(0, 150), std::string(50, 'a') + std::string(100, 'b'));
}

TEST_F(WriteBehindTest, AppendIsABarrier) {
  Make();
  auto a = wb->Write(W(g, 0, 100, 'a'));
  ASSERT_TRUE(lower.WaitInFlight(1));
  auto b = wb->Write(W(g, 0, 10, 'b', /*append=*/true));
  auto c = wb->Write(W(g, 5000, 10, 'c'));  // after the append: must wait for it
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(lower.InFlight(), 1u);
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_TRUE(lower.WaitInFlight(1));
  std::this_thread::sleep_for(30ms);
  ASSERT_EQ(lower.InFlight(), 1u);
  EXPECT_TRUE(lower.in_flight.front()->req.append());
  ASSERT_TRUE(lower.Complete());
  ASSERT_TRUE(lower.WaitInFlight(1));
  ASSERT_TRUE(lower.Complete(5000));
  ASSERT_TRUE(wb->Flush(g).ok());
  EXPECT_EQ(lower.files[g.Bytes()].substr(0, 110), std::string(100, 'a') + std::string(10, 'b'));
}

// close waits for its file's writes: one that no sender has taken (the only sender is busy
// with another file's slow write) goes out on the closing thread, not after the other file.
TEST_F(WriteBehindTest, ACloseSendsItsFilesWritesWhileTheSendersAreBusy) {
  WriteBehindLayer::Options o;
  o.threads = 1;
  Make(o);
  Gfid other = Gfid::Random();
  ASSERT_TRUE(wb->Write(W(other, 0, 4096, 'o')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));  // the only sender waits for this one
  ASSERT_TRUE(wb->Write(W(g, 8192, 4096, 'g')).get().ok());
  std::atomic<bool> closed{false};
  Status st;
  std::thread closer([&] {
    st = wb->Flush(g);
    closed = true;
  });
  bool sent = lower.WaitInFlight(2);
  if (sent) {
    EXPECT_TRUE(lower.Complete(8192));
  }
  bool in_time = Eventually([&] { return closed.load(); });
  // Whatever went wrong, the closer must end: let every write through.
  for (int i = 0; i < 5000 && !closed; ++i) {
    lower.CompleteAll();
    std::this_thread::sleep_for(1ms);
  }
  closer.join();
  EXPECT_TRUE(in_time) << "close did not return once its write was done";
  ASSERT_TRUE(sent) << "the closed file's write waited for the sender";
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(lower.InFlight(), 1u) << "the other file's write is still in flight";
  EXPECT_EQ(lower.files[g.Bytes()].substr(8192), std::string(4096, 'g'));
  EXPECT_EQ(wb->stats().sent_by_close, 1u);
}

TEST_F(WriteBehindTest, FailedWriteIsLatchedAndReportedOnceAtClose) {
  Make();
  auto a = wb->Write(W(g, 0, 4096, 'a'));
  ASSERT_TRUE(a.get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  ASSERT_TRUE(lower.Complete(0, EROFS));
  Status s = wb->Flush(g);
  EXPECT_EQ(s.err(), EROFS) << s.ToString();
  EXPECT_TRUE(wb->Flush(g).ok()) << "reported once";
  EXPECT_EQ(wb->stats().failed, 1u);
}

TEST_F(WriteBehindTest, FailedWriteIsReturnedByTheNextWrite) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  ASSERT_TRUE(lower.Complete(0, ENOSPC));
  ASSERT_TRUE(Eventually([&] { return wb->pending_bytes() == 0; }));
  auto r = wb->Write(W(g, 4096, 4096, 'b')).get();
  EXPECT_EQ(r.err(), ENOSPC);
  // The failing write was not queued; the error was reported once.
  EXPECT_EQ(lower.arrived.size(), 1u);
  EXPECT_TRUE(wb->Flush(g).ok());
  // Another file is not affected.
  Gfid other = Gfid::Random();
  lower.auto_complete = true;
  EXPECT_TRUE(wb->Write(W(other, 0, 10, 'x')).get().ok());
  EXPECT_TRUE(wb->Flush(other).ok());
}

TEST_F(WriteBehindTest, ShortWriteIsAnError) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  lower.short_by = 100;
  ASSERT_TRUE(lower.Complete(0));
  EXPECT_EQ(wb->Flush(g).err(), ENOSPC);
}

TEST_F(WriteBehindTest, FullWindowBlocksUntilRoom) {
  WriteBehindLayer::Options o;
  o.window_per_file = 256 << 10;
  Make(o);
  for (int i = 0; i < 4; ++i) {
    auto f = wb->Write(W(g, i * (1ull << 20), 64 << 10, 'a'));
    ASSERT_TRUE(IsReady(f));
  }
  ASSERT_TRUE(lower.WaitInFlight(4));
  std::atomic<bool> fifth_done{false};
  std::thread t([&] {
    auto r = wb->Write(W(g, 8ull << 20, 64 << 10, 'e')).get();
    EXPECT_TRUE(r.ok());
    fifth_done = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(fifth_done) << "a write beyond the window must wait for room";
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_TRUE(Eventually([&] { return fifth_done.load(); }));
  t.join();
  EXPECT_EQ(wb->stats().window_waits, 1u);
  lower.auto_complete = true;
  lower.CompleteAll();
  ASSERT_TRUE(Eventually([&] {
    lower.CompleteAll();
    return wb->pending_bytes() == 0;
  }));
}

TEST_F(WriteBehindTest, GlobalCapBlocksOtherFilesToo) {
  WriteBehindLayer::Options o;
  o.window_per_file = 128 << 10;
  o.window_total = 128 << 10;
  Make(o);
  ASSERT_TRUE(wb->Write(W(g, 0, 128 << 10, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  Gfid other = Gfid::Random();
  auto f = std::async(std::launch::async, [&] { return wb->Write(W(other, 0, 1024, 'b')).get(); });
  EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get().ok());
}

TEST_F(WriteBehindTest, FsyncWaitsForPendingWritesThenSyncs) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  auto f = std::async(std::launch::async, [&] {
    proto::FsyncRequest r;
    r.set_gfid(g.Bytes());
    return wb->Fsync(r).get();
  });
  EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
  auto calls = lower.Calls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), "Fsync"), 0);
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get().ok());
  calls = lower.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], "Write");
  EXPECT_EQ(calls[1], "Fsync");
}

TEST_F(WriteBehindTest, FsyncReturnsTheLatchedError) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  ASSERT_TRUE(lower.Complete(0, EIO));
  proto::FsyncRequest r;
  r.set_gfid(g.Bytes());
  EXPECT_EQ(wb->Fsync(r).get().err(), EIO);
  EXPECT_TRUE(wb->Fsync(r).get().ok());
}

TEST_F(WriteBehindTest, ObserversWaitForThePendingWrites) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  auto read = std::async(std::launch::async, [&] {
    proto::ReadRequest r;
    r.set_gfid(g.Bytes());
    r.set_size(4096);
    return wb->Read(r).get().ok();
  });
  auto attr = std::async(std::launch::async, [&] {
    proto::GfidRequest r;
    r.set_gfid(g.Bytes());
    return wb->Getattr(r).get().ok();
  });
  auto trunc = std::async(std::launch::async, [&] {
    proto::SetattrRequest r;
    r.set_gfid(g.Bytes());
    r.set_valid(proto::SetattrRequest::SIZE);
    return wb->Setattr(r).get().ok();
  });
  EXPECT_EQ(read.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(attr.wait_for(0ms), std::future_status::timeout);
  EXPECT_EQ(trunc.wait_for(0ms), std::future_status::timeout);
  // Another file is not held up.
  proto::GfidRequest other;
  other.set_gfid(Gfid::Random().Bytes());
  EXPECT_TRUE(wb->Getattr(other).get().ok());
  ASSERT_TRUE(lower.Complete(0));
  EXPECT_TRUE(read.get());
  EXPECT_TRUE(attr.get());
  EXPECT_TRUE(trunc.get());
  auto calls = lower.Calls();
  EXPECT_EQ(calls[0], "Write");
}

TEST_F(WriteBehindTest, TheKernelsCapabilityProbeDoesNotFlush) {
  Make();
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));
  // Asked by the kernel before every write(2): must not wait for the pending writes.
  proto::GetxattrRequest cap;
  cap.set_gfid(g.Bytes());
  cap.set_name("security.capability");
  auto f = std::async(std::launch::async, [&] { return wb->Getxattr(cap).get().ok(); });
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  // Any other xattr does.
  proto::GetxattrRequest user = cap;
  user.set_name("user.color");
  auto u = std::async(std::launch::async, [&] { return wb->Getxattr(user).get().ok(); });
  EXPECT_EQ(u.wait_for(100ms), std::future_status::timeout);
  ASSERT_TRUE(lower.Complete(0));
  EXPECT_TRUE(u.get());
}

TEST_F(WriteBehindTest, AdjacentQueuedWritesAreMerged) {
  WriteBehindLayer::Options o;
  o.threads = 1;
  Make(o);
  ASSERT_TRUE(wb->Write(W(g, 0, 4096, 'a')).get().ok());
  ASSERT_TRUE(lower.WaitInFlight(1));  // the one sender is busy: the next ones queue
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(wb->Write(W(g, i * 4096ull, 4096, 'a' + i)).get().ok());
  ASSERT_TRUE(lower.Complete(0));
  ASSERT_TRUE(lower.WaitInFlight(1));
  EXPECT_EQ(lower.in_flight.front()->req.offset(), 4096u);
  EXPECT_EQ(lower.in_flight.front()->req.data().size(), 3u * 4096);
  ASSERT_TRUE(lower.Complete());
  ASSERT_TRUE(wb->Flush(g).ok());
  EXPECT_EQ(lower.arrived.size(), 2u);
  EXPECT_EQ(wb->stats().merged, 2u);
  EXPECT_EQ(lower.files[g.Bytes()].substr(3 * 4096), std::string(4096, 'd'));
}

TEST_F(WriteBehindTest, LargeAndDsyncWritesGoThroughSynchronously) {
  WriteBehindLayer::Options o;
  o.window_per_file = 64 << 10;
  Make(o);
  lower.auto_complete = true;
  auto big = wb->Write(W(g, 0, 128 << 10, 'a'));
  EXPECT_TRUE(big.get().ok());
  auto r = W(g, 0, 10, 'b');
  r.set_datasync(true);
  EXPECT_TRUE(wb->Write(r).get().ok());
  EXPECT_EQ(wb->stats().sync, 2u);
  EXPECT_EQ(wb->stats().acked_early, 0u);
}

TEST_F(WriteBehindTest, LookupOfAFileWithPendingWritesWaitsAndAsksAgain) {
  // The fake's lookup answers the gfid g.
  class LookupLower : public FakeLower {
   public:
    Future<proto::EntryReply> Lookup(proto::EntryRequest) override {
      Note("Lookup");
      proto::EntryReply r;
      r.mutable_attr()->set_gfid(gfid.Bytes());
      return Ready<proto::EntryReply>(r);
    }
    Gfid gfid;
  };
  LookupLower l;
  l.gfid = g;
  {
    WriteBehindLayer w(l, {});
    ASSERT_TRUE(w.Write(W(g, 0, 10, 'a')).get().ok());
    ASSERT_TRUE(l.WaitInFlight(1));
    auto f = std::async(std::launch::async, [&] { return w.Lookup(proto::EntryRequest()).get().ok(); });
    EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
    ASSERT_TRUE(l.Complete());
    EXPECT_TRUE(f.get());
    auto calls = l.Calls();
    EXPECT_EQ(std::count(calls.begin(), calls.end(), "Lookup"), 2);
  }
}

TEST_F(WriteBehindTest, DestructorSendsEverythingPending) {
  WriteBehindLayer::Options o;
  o.threads = 2;
  Make(o);
  lower.auto_complete = true;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(wb->Write(W(g, i * 100ull, 100, 'a' + i % 26)).get().ok());
  wb.reset();
  ASSERT_EQ(lower.files[g.Bytes()].size(), 10000u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lower.files[g.Bytes()][i * 100 + 99], 'a' + i % 26);
}

TEST_F(WriteBehindTest, ManyThreadsManyFilesEndInTheApplicationsOrder) {
  Make();
  lower.auto_complete = true;
  std::vector<Gfid> gs(4);
  for (auto& x : gs) x = Gfid::Random();
  // Each thread rewrites its own file's first 64 KiB again and again (overlapping writes):
  // the last one must win.
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(wb->Write(W(gs[t], (i % 3) * 1000, 64 << 10, 'a' + i % 26)).get().ok());
    });
  for (auto& t : ts) t.join();
  for (auto& x : gs) ASSERT_TRUE(wb->Flush(x).ok());
  EXPECT_EQ(wb->pending_bytes(), 0u);
  // The last write of each thread: offset 1000, 'r' (i = 199).
  std::lock_guard lk(lower.mu);
  for (auto& x : gs) {
    const std::string& d = lower.files[x.Bytes()];
    ASSERT_EQ(d.size(), 2000u + (64 << 10));
    EXPECT_EQ(d.substr(1000, 64 << 10), std::string(64 << 10, 'r'));
  }
}

}  // namespace
}  // namespace hafs::client

#include "client-fuse/mount_options.h"

namespace hafs::client {
namespace {

TEST(WriteBehindMountOption, WindowSize) {
  MountOptions m;
  EXPECT_EQ(m.write_behind_window, 4u << 20);
  ASSERT_TRUE(m.Parse("write-behind-window-size=1MB").ok());
  EXPECT_EQ(m.write_behind_window, 1u << 20);
  ASSERT_TRUE(m.Parse("write-behind-window-size=512KiB").ok());
  EXPECT_EQ(m.write_behind_window, 512u << 10);
  ASSERT_TRUE(m.Parse("write-behind-window-size=65536").ok());
  EXPECT_EQ(m.write_behind_window, 65536u);
  for (const char* bad : {"write-behind-window-size=", "write-behind-window-size=lots", "write-behind-window-size=0",
                          "write-behind-window-size=-1MB", "write-behind-window-size=2GB", "write-behind-window-size=4TB"}) {
    EXPECT_EQ(MountOptions().Parse(bad).err(), EINVAL) << bad;
  }
}

}  // namespace
}  // namespace hafs::client
