// ReadAhead over a fake lower layer: one file per gfid in memory; reads can be slowed, held at
// a gate (after taking their data, like a brick that read before a change landed) or failed.
#include "client-fuse/caches/read_ahead.h"
#include "tests/unit/client/fake_layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <unordered_map>
#include <set>
#include <thread>

namespace hafs::client {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1u << 20;

class FakeFiles : public fakes::FakeLayer {
 public:

  Gfid Put(std::string data) {
    Gfid g = Gfid::Random();
    std::lock_guard lk(mu);
    files[g] = std::move(data);
    mtime[g] = ++clock;
    return g;
  }
  // Another client's change: the data changes under the layer.
  void Change(const Gfid& g, uint64_t off, const std::string& d) {
    std::lock_guard lk(mu);
    auto& f = files[g];
    if (f.size() < off + d.size()) f.resize(off + d.size());
    f.replace(off, d.size(), d);
    mtime[g] = ++clock;
  }
  proto::Attr AttrOf(const Gfid& g) {
    std::lock_guard lk(mu);
    proto::Attr a;
    a.set_gfid(g.Bytes());
    a.set_mode(S_IFREG | 0644);
    a.set_size(files[g].size());
    a.set_mtime_ns(mtime[g]);
    return a;
  }
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override {
    proto::AttrReply r;
    *r.mutable_attr() = AttrOf(*Gfid::FromBytes(req.gfid()));
    return Ready<proto::AttrReply>(r);
  }
  Future<proto::ReadReply> Read(proto::ReadRequest req) override {
    return Deferred([this, req]() -> Result<proto::ReadReply> {
      Gfid g = *Gfid::FromBytes(req.gfid());
      proto::ReadReply r;
      {
        std::unique_lock lk(mu);
        ++reads;
        read_offsets.push_back(req.offset());
        if (fail_always.count(req.offset()) || fail_once.erase(req.offset())) return Status(EIO, "injected");
        const std::string& d = files[g];
        if (req.offset() < d.size()) r.set_data(d.substr(req.offset(), req.size()));
        r.set_eof(req.offset() + req.size() >= d.size());
        ++running;
        max_running = std::max(max_running, running);
        cv.wait(lk, [&] { return open_gate || req.offset() < gate_from; });  // data already taken
      }
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      std::lock_guard lk(mu);
      --running;
      return r;
    });
  }
  // Deferred like the real layers: the change lands when .get() is called (after the write
  // gate opens).
  Future<proto::WriteReply> Write(proto::WriteRequest req) override {
    return Deferred([this, req]() -> Result<proto::WriteReply> {
      {
        std::unique_lock lk(mu);
        ++writes_waiting;
        cv.wait(lk, [&] { return write_gate; });
        --writes_waiting;
      }
      Change(*Gfid::FromBytes(req.gfid()), req.offset(), req.data());
      ++writes;
      proto::WriteReply r;
      r.set_written(static_cast<uint32_t>(req.data().size()));
      return r;
    });
  }
  void SetWriteGate(bool open) {
    std::lock_guard lk(mu);
    write_gate = open;
    cv.notify_all();
  }
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override {
    Gfid g = *Gfid::FromBytes(req.gfid());
    {
      std::lock_guard lk(mu);
      if (req.valid() & proto::SetattrRequest::SIZE) files[g].resize(req.size());
      mtime[g] = ++clock;
    }
    proto::AttrReply r;
    *r.mutable_attr() = AttrOf(g);
    return Ready<proto::AttrReply>(r);
  }
  void SetGate(bool open) {
    std::lock_guard lk(mu);
    open_gate = open;
    cv.notify_all();
  }
  int Reads() {
    std::lock_guard lk(mu);
    return reads;
  }
  int Running() {
    std::lock_guard lk(mu);
    return running;
  }

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<Gfid, std::string, GfidHash> files;
  std::unordered_map<Gfid, int64_t, GfidHash> mtime;
  int64_t clock = 0;
  int reads = 0, running = 0, max_running = 0;
  std::atomic<int> writes{0};
  std::vector<uint64_t> read_offsets;
  std::set<uint64_t> fail_once, fail_always;
  bool open_gate = true;
  uint64_t gate_from = 0;  // the closed gate holds reads at offsets from here on
  bool write_gate = true;
  int writes_waiting = 0;
  std::chrono::milliseconds delay{0};
};

std::string Pattern(size_t n, char salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4096 + salt) & 0xff);
  return s;
}

Result<proto::ReadReply> ReadAt(Layer& l, const Gfid& g, uint64_t off, uint32_t size) {
  proto::ReadRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(off);
  r.set_size(size);
  return l.Read(r).get();
}

// Polls (bounded) until pred holds.
template <typename P>
bool Eventually(P pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

TEST(ReadAhead, SequentialStreamIsPrefetchedInParallelAndCorrect) {
  FakeFiles fs;
  fs.delay = 20ms;
  std::string data = Pattern(24 * kMiB + 12345);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  std::string got;
  for (uint64_t off = 0;; off += kMiB) {
    auto r = ReadAt(ra, g, off, kMiB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    got += r->data();
    if (r->data().size() < kMiB) break;
  }
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  auto s = ra.stats();
  EXPECT_GE(s.hits, 20u);
  EXPECT_LE(s.misses, 3u);
  EXPECT_GE(fs.max_running, 4) << "prefetches were not in flight together";
  // Nothing read twice: one read per chunk, the first two reads, at most a window past the end.
  EXPECT_LE(fs.Reads(), 25 + 2 + 8);
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
}

TEST(ReadAhead, SmallUnalignedSequentialReadsAreServedExactly) {
  FakeFiles fs;
  std::string data = Pattern(5 * kMiB + 777, 3);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  std::string got;
  const uint32_t step = 128 * 1024 + 5;  // straddles chunk boundaries
  for (uint64_t off = 0; off < data.size() + step; off += step) {
    auto r = ReadAt(ra, g, off, step);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), data.substr(std::min<uint64_t>(off, data.size()), step)) << "at " << off;
    got += r->data();
  }
  EXPECT_TRUE(got == data);
  EXPECT_GT(ra.stats().hits, 30u);
}

TEST(ReadAhead, RandomReadsDoNotPrefetch) {
  FakeFiles fs;
  std::string data = Pattern(64 * kMiB);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  uint64_t offs[] = {40 * kMiB, 3 * kMiB, 17 * kMiB, 60 * kMiB, 9 * kMiB, 33 * kMiB, 0, 50 * kMiB};
  for (uint64_t off : offs) {
    auto r = ReadAt(ra, g, off, 64 * 1024);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), data.substr(off, 64 * 1024));
  }
  EXPECT_EQ(fs.Reads(), 8);
  EXPECT_EQ(ra.ChunksOf(g), 0u);
  EXPECT_EQ(ra.stats().hits, 0u);
}

TEST(ReadAhead, RandomReadDropsTheWindow) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(64 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());
  EXPECT_GT(ra.ChunksOf(g), 0u);
  ASSERT_TRUE(ReadAt(ra, g, 50 * kMiB, 4096).ok());
  EXPECT_EQ(ra.ChunksOf(g), 0u);
}

TEST(ReadAhead, OwnWriteAndTruncateDropPrefetchedData) {
  FakeFiles fs;
  std::string data = Pattern(16 * kMiB);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0 && fs.Reads() >= 6; }));
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_offset(3 * kMiB + 10);
  w.set_data("NEW BYTES");
  ASSERT_TRUE(ra.Write(w).get().ok());
  EXPECT_EQ(ra.ChunksOf(g), 0u);
  ASSERT_TRUE(ReadAt(ra, g, 2 * kMiB, kMiB).ok());
  auto r = ReadAt(ra, g, 3 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(10, 9), "NEW BYTES");
  // Truncate: the stream's data past the new end is gone.
  proto::SetattrRequest t;
  t.set_gfid(g.Bytes());
  t.set_valid(proto::SetattrRequest::SIZE);
  t.set_size(4 * kMiB + 100);
  ASSERT_TRUE(ra.Setattr(t).get().ok());
  r = ReadAt(ra, g, 4 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().size(), 100u);
  r = ReadAt(ra, g, 5 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().size(), 0u);
}

TEST(ReadAhead, InvalidationAndAttrChangeDropOtherClientsChanges) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(16 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0 && fs.Reads() >= 6; }));
  // Another client rewrites chunk 2: without a word the prefetched (old) data would be served.
  fs.Change(g, 2 * kMiB, "OTHER CLIENT");
  proto::Invalidate inv;
  inv.set_gfid(g.Bytes());
  ra.OnInvalidate(inv);
  auto r = ReadAt(ra, g, 2 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(0, 12), "OTHER CLIENT");

  // "Drop everything" (empty invalidate).
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0; }));
  ASSERT_TRUE(ReadAt(ra, g, 3 * kMiB, kMiB).ok());
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0 && ra.ChunksOf(g) > 0; }));
  fs.Change(g, 4 * kMiB, "EVERYTHING");
  ra.OnInvalidate(proto::Invalidate());
  EXPECT_EQ(ra.ChunksOf(g), 0u);
  r = ReadAt(ra, g, 4 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(0, 10), "EVERYTHING");

  // A getattr showing another size/mtime than seen before drops the chunks.
  proto::GfidRequest ga;
  ga.set_gfid(g.Bytes());
  ASSERT_TRUE(ra.Getattr(ga).get().ok());
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0 && ra.ChunksOf(g) > 0; }));
  fs.Change(g, 5 * kMiB, "ATTRS");  // no invalidation (lost), but the mtime moves
  ASSERT_TRUE(ra.Getattr(ga).get().ok());
  EXPECT_EQ(ra.ChunksOf(g), 0u);
  r = ReadAt(ra, g, 5 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(0, 5), "ATTRS");
}

TEST(ReadAhead, PrefetchRacingWithOwnWriteIsNotKept) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(16 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  {
    std::lock_guard lk(fs.mu);
    fs.gate_from = 2 * kMiB;
  }
  fs.SetGate(false);  // prefetches (from 2 MiB) take the old data, then wait
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());  // 2nd read: starts them
  ASSERT_TRUE(Eventually([&] { return fs.Running() >= 3; }));
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_offset(3 * kMiB);
  w.set_data("RACED");
  ASSERT_TRUE(ra.Write(w).get().ok());
  fs.SetGate(true);
  ASSERT_TRUE(ReadAt(ra, g, 2 * kMiB, kMiB).ok());
  auto r = ReadAt(ra, g, 3 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(0, 5), "RACED");
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
}

TEST(ReadAhead, PrefetchStartedWhileOwnWriteIsInFlightIsNotKept) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(16 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  fs.SetWriteGate(false);  // the write is sent but has not landed yet
  proto::WriteRequest w;
  w.set_gfid(g.Bytes());
  w.set_offset(3 * kMiB);
  w.set_data("IN FLIGHT");
  auto wf = ra.Write(w);
  std::thread t([&] { ASSERT_TRUE(wf.get().ok()); });
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lk(fs.mu);
    return fs.writes_waiting == 1;
  }));
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());  // prefetches now read the old bytes
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0 && fs.Reads() >= 6; }));
  fs.SetWriteGate(true);
  t.join();
  ASSERT_TRUE(ReadAt(ra, g, 2 * kMiB, kMiB).ok());
  auto r = ReadAt(ra, g, 3 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data().substr(0, 9), "IN FLIGHT");
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
}

TEST(ReadAhead, EofIsRespectedAndNothingPrefetchedPastIt) {
  FakeFiles fs;
  std::string data = Pattern(2 * kMiB + kMiB / 2);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  for (int pass = 0; pass < 2; ++pass) {
    std::string got;
    for (uint64_t off = 0; off < 6 * kMiB; off += kMiB) {
      auto r = ReadAt(ra, g, off, kMiB);
      ASSERT_TRUE(r.ok());
      got += r->data();
    }
    EXPECT_TRUE(got == data);
  }
  ASSERT_TRUE(Eventually([&] { return fs.Running() == 0; }));
  for (uint64_t off : fs.read_offsets) EXPECT_LE(off, 6 * kMiB);
  // Exactly at a chunk boundary: the empty chunk after the end.
  Gfid h = fs.Put(Pattern(3 * kMiB));
  std::string got;
  for (uint64_t off = 0; off < 5 * kMiB; off += kMiB) {
    auto r = ReadAt(ra, h, off, kMiB);
    ASSERT_TRUE(r.ok());
    got += r->data();
  }
  EXPECT_EQ(got.size(), 3 * kMiB);
}

TEST(ReadAhead, FailedPrefetchIsNotCachedAndTheReadIsRetried) {
  FakeFiles fs;
  std::string data = Pattern(12 * kMiB);
  Gfid g = fs.Put(data);
  fs.fail_once.insert(3 * kMiB);  // the prefetch of chunk 3 fails once
  fs.fail_always.insert(6 * kMiB);
  ReadAhead ra(fs, ReadAhead::Options{});
  for (uint64_t off = 0; off < 6 * kMiB; off += kMiB) {
    auto r = ReadAt(ra, g, off, kMiB);
    ASSERT_TRUE(r.ok()) << "at " << off << ": " << r.status().ToString();
    EXPECT_TRUE(r->data() == data.substr(off, kMiB)) << "at " << off;
  }
  EXPECT_GE(ra.stats().prefetch_errors, 1u);
  // Failing for good: the read reports the error (its own synchronous read failed too).
  auto r = ReadAt(ra, g, 6 * kMiB, kMiB);
  EXPECT_EQ(r.err(), EIO);
  {
    std::lock_guard lk(fs.mu);
    fs.fail_always.clear();
  }
  r = ReadAt(ra, g, 6 * kMiB, kMiB);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->data() == data.substr(6 * kMiB, kMiB));
}

TEST(ReadAhead, MemoryIsBoundedOverManyStreams) {
  FakeFiles fs;
  ReadAhead::Options o;
  o.max_bytes = 12 * kMiB;
  ReadAhead ra(fs, o);
  std::vector<Gfid> gs;
  std::vector<std::string> want;
  for (int i = 0; i < 6; ++i) want.push_back(Pattern(32 * kMiB, static_cast<char>(i)));
  for (int i = 0; i < 6; ++i) gs.push_back(fs.Put(want[i]));
  for (uint64_t off = 0; off < 8 * kMiB; off += kMiB)
    for (size_t i = 0; i < gs.size(); ++i) {
      auto r = ReadAt(ra, gs[i], off, kMiB);
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(r->data() == want[i].substr(off, kMiB));
      EXPECT_LE(ra.stats().bytes, o.max_bytes);
    }
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
}

TEST(ReadAhead, WindowBelowAChunkPassesThrough) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(8 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  ra.SetWindow(1);
  for (uint64_t off = 0; off < 4 * kMiB; off += kMiB) ASSERT_TRUE(ReadAt(ra, g, off, kMiB).ok());
  EXPECT_EQ(fs.Reads(), 4);
  EXPECT_EQ(ra.ChunksOf(g), 0u);
}

}  // namespace
}  // namespace hafs::client

namespace hafs::client {
namespace {

TEST(ReadAhead, AfterShutdownReadsPassThrough) {
  FakeFiles fs;
  fs.delay = 5ms;
  std::string data = Pattern(8 * kMiB);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  ASSERT_TRUE(ReadAt(ra, g, 0, kMiB).ok());
  ASSERT_TRUE(ReadAt(ra, g, kMiB, kMiB).ok());
  ra.Shutdown();  // waits for the prefetches in flight
  EXPECT_EQ(fs.Running(), 0);
  EXPECT_EQ(ra.ChunksOf(g), 0u);
  int before = fs.Reads();
  for (uint64_t off = 2 * kMiB; off < 5 * kMiB; off += kMiB) {
    auto r = ReadAt(ra, g, off, kMiB);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->data() == data.substr(off, kMiB));
  }
  EXPECT_EQ(fs.Reads(), before + 3);
  ra.OnInvalidate(proto::Invalidate());
}

}  // namespace
}  // namespace hafs::client

namespace hafs::client {
namespace {

TEST(ReadAhead, NearbyRandomReadsDoNotStartAStream) {
  FakeFiles fs;
  Gfid g = fs.Put(Pattern(64 * kMiB));
  ReadAhead ra(fs, ReadAhead::Options{});
  // 4 KiB reads that land close to each other but never where the previous one ended.
  uint64_t offs[] = {10 * kMiB, 10 * kMiB + 64 * 1024, 11 * kMiB, 10 * kMiB + 8192, 12 * kMiB - 4096, 11 * kMiB + 40960};
  for (uint64_t off : offs) ASSERT_TRUE(ReadAt(ra, g, off, 4096).ok());
  EXPECT_EQ(fs.Reads(), 6);
  EXPECT_EQ(ra.ChunksOf(g), 0u);
}

TEST(ReadAhead, SlightlyOutOfOrderReadsKeepTheStream) {
  FakeFiles fs;
  std::string data = Pattern(32 * kMiB);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  // As two kernel read-ahead requests may arrive: pairs swapped.
  uint64_t offs[] = {0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10};
  for (uint64_t i : offs) {
    auto r = ReadAt(ra, g, i * kMiB, kMiB);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->data() == data.substr(i * kMiB, kMiB)) << i;
  }
  EXPECT_GE(ra.stats().hits, 8u);
}

}  // namespace
}  // namespace hafs::client

namespace hafs::client {
namespace {

// Readers of one file at once (one stream per gfid: they disturb each other), a reader of
// another file, and invalidations meanwhile: every read returns exactly the file's bytes.
TEST(ReadAhead, ConcurrentReadersAndInvalidationsStayCorrect) {
  FakeFiles fs;
  std::string a = Pattern(16 * kMiB + 333, 1), b = Pattern(16 * kMiB, 2);
  Gfid ga = fs.Put(a), gb = fs.Put(b);
  ReadAhead::Options o;
  o.max_bytes = 12 * kMiB;
  ReadAhead ra(fs, o);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  auto reader = [&](const Gfid& g, const std::string& want, uint32_t step) {
    for (int pass = 0; pass < 3; ++pass)
      for (uint64_t off = 0; off < want.size(); off += step) {
        auto r = ReadAt(ra, g, off, step);
        if (!r.ok() || r->data() != want.substr(off, step)) ++bad;
      }
  };
  std::thread inval([&] {
    proto::Invalidate inv;
    inv.set_gfid(ga.Bytes());
    while (!stop) {
      ra.OnInvalidate(inv);
      std::this_thread::sleep_for(3ms);
      ra.OnInvalidate(proto::Invalidate());
      std::this_thread::sleep_for(7ms);
    }
  });
  std::vector<std::thread> ts;
  ts.emplace_back(reader, ga, a, kMiB);
  ts.emplace_back(reader, ga, a, kMiB);
  ts.emplace_back(reader, ga, a, 256 * 1024 + 3);
  ts.emplace_back(reader, gb, b, kMiB);
  for (auto& t : ts) t.join();
  stop = true;
  inval.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(ra.stats().bytes, o.max_bytes);
}

}  // namespace
}  // namespace hafs::client

namespace hafs::client {
namespace {

// A reader slower than the window: chunks age out before they are read. The stream's window
// shrinks instead of the whole window being fetched again every max_age.
TEST(ReadAhead, SlowReaderShrinksTheWindowInsteadOfRefetchingIt) {
  FakeFiles fs;
  std::string data = Pattern(24 * kMiB);
  Gfid g = fs.Put(data);
  ReadAhead::Options o;
  o.max_age = 40ms;
  ReadAhead ra(fs, o);
  for (uint64_t off = 0; off < 24 * kMiB; off += kMiB) {
    auto r = ReadAt(ra, g, off, kMiB);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->data() == data.substr(off, kMiB)) << off;
    std::this_thread::sleep_for(25ms);  // two chunks age out per window of reads
  }
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
  // Every chunk at most twice (prefetched and aged, then read), plus a window's worth.
  EXPECT_LE(fs.Reads(), 2 * 24 + 8) << "the window was fetched again and again";
}

}  // namespace
}  // namespace hafs::client

namespace hafs::client {
namespace {

// The kernel reads a small file in two pieces (the second at its end): that is no stream, and
// nothing is prefetched past the end a short read showed.
TEST(ReadAhead, SmallFileReadInTwoPiecesPrefetchesNothing) {
  FakeFiles fs;
  std::string data = Pattern(4096, 5);
  Gfid g = fs.Put(data);
  ReadAhead ra(fs, ReadAhead::Options{});
  for (int pass = 0; pass < 3; ++pass) {
    auto r = ReadAt(ra, g, 0, 128 * 1024);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), data);
    r = ReadAt(ra, g, 4096, 128 * 1024);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data().size(), 0u);
  }
  EXPECT_TRUE(Eventually([&] { return fs.Running() == 0; }));
  EXPECT_EQ(fs.Reads(), 6) << "prefetched past the end of a small file";
  EXPECT_EQ(ra.ChunksOf(g), 0u);
}

}  // namespace
}  // namespace hafs::client
