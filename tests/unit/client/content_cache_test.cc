// ContentCache over a fake lower layer holding a tiny file system (names -> files), which
// counts what reaches it: lookups with data asked, reads.
#include "client-fuse/caches/content_cache.h"
#include "tests/unit/client/fake_layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

namespace hafs::client {
namespace {

using namespace std::chrono_literals;

class FakeFs : public fakes::FakeLayer {
 public:
  struct File {
    Gfid gfid;
    std::string data;
    int64_t mtime = 1;
    bool dir = false;
  };

  // A file under the root; returns its gfid.
  Gfid Put(const std::string& name, std::string data) {
    auto it = names.find(name);
    Gfid g = it != names.end() ? it->second : Gfid::Random();
    names[name] = g;
    File& f = files[g];
    f.gfid = g;
    f.data = std::move(data);
    f.mtime = ++clock;
    return g;
  }
  proto::Attr AttrOf(const File& f) {
    proto::Attr a;
    a.set_gfid(f.gfid.Bytes());
    a.set_mode(f.dir ? (S_IFDIR | 0755) : (S_IFREG | 0644));
    a.set_size(f.data.size());
    a.set_mtime_ns(f.mtime);
    a.set_ctime_ns(f.mtime);
    return a;
  }

  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override {
    return Deferred([this, req]() -> Result<proto::EntryReply> {
      ++lookups;
      if (req.want_data() > 0) ++lookups_with_data;
      if (during_lookup) during_lookup();
      auto it = names.find(req.name());
      if (it == names.end()) return Status(ENOENT, "no such entry");
      File& f = files[it->second];
      proto::EntryReply r;
      *r.mutable_attr() = AttrOf(f);
      if (req.want_data() > 0 && !attr_only && f.data.size() <= req.want_data()) {
        r.set_has_data(true);
        r.set_data(f.data);
      }
      return r;
    });
  }
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override {
    auto it = files.find(*Gfid::FromBytes(req.gfid()));
    if (it == files.end()) return Ready<proto::AttrReply>(Status(ENOENT, "gone"));
    proto::AttrReply r;
    *r.mutable_attr() = AttrOf(it->second);
    return Ready<proto::AttrReply>(r);
  }
  Future<proto::ReadReply> Read(proto::ReadRequest req) override {
    return Deferred([this, req]() -> Result<proto::ReadReply> {
      ++reads;
      last_read_size = req.size();
      auto it = files.find(*Gfid::FromBytes(req.gfid()));
      if (it == files.end()) return Status(ENOENT, "gone");
      const std::string& d = it->second.data;
      proto::ReadReply r;
      if (req.offset() < d.size()) r.set_data(d.substr(req.offset(), req.size()));
      r.set_eof(req.offset() + req.size() >= d.size());
      return r;
    });
  }
  // Deferred like the real layers: the write lands when its future is waited for (a test can
  // complete writes out of order). The reply carries the post-write attributes.
  Future<proto::WriteReply> Write(proto::WriteRequest req) override {
    return Deferred([this, req]() -> Result<proto::WriteReply> {
      ++writes;
      if (fail_write) return Status(fail_write, "injected");
      File& f = files[*Gfid::FromBytes(req.gfid())];
      if (f.data.size() < req.offset() + req.data().size()) f.data.resize(req.offset() + req.data().size());
      f.data.replace(req.offset(), req.data().size(), req.data());
      f.mtime = ++clock;
      proto::WriteReply r;
      r.set_written(static_cast<uint32_t>(req.data().size()) - (short_write ? 1 : 0));
      if (write_attr) *r.mutable_attr() = AttrOf(f);
      return r;
    });
  }
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override {
    File& f = files[*Gfid::FromBytes(req.gfid())];
    if (req.valid() & proto::SetattrRequest::SIZE) f.data.resize(req.size());
    f.mtime = ++clock;
    proto::AttrReply r;
    *r.mutable_attr() = AttrOf(f);
    return Ready<proto::AttrReply>(r);
  }
  Future<proto::EntryReply> Create(proto::CreateRequest req) override {
    Gfid g = Put(req.name(), "");
    proto::EntryReply r;
    *r.mutable_attr() = AttrOf(files[g]);
    return Ready<proto::EntryReply>(r);
  }
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override {
    auto it = names.find(req.name());
    if (it == names.end()) return Ready<proto::EntryReply>(Status(ENOENT, "no such entry"));
    proto::EntryReply r;
    *r.mutable_attr() = AttrOf(files[it->second]);
    files.erase(it->second);
    names.erase(it);
    return Ready<proto::EntryReply>(r);
  }
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override {
    proto::RenameReply r;
    Gfid g = names.at(req.old_name());
    if (auto it = names.find(req.new_name()); it != names.end()) {
      r.set_replaced_gfid(it->second.Bytes());
      files.erase(it->second);
    }
    names.erase(req.old_name());
    names[req.new_name()] = g;
    files[g].mtime = ++clock;  // a brick's rename changes the inode's ctime: new attributes
    *r.mutable_attr() = AttrOf(files[g]);
    return Ready<proto::RenameReply>(r);
  }
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest) override {
    proto::ReaddirReply r;
    for (auto& [name, g] : names) {
      auto* e = r.add_entries();
      e->set_name(name);
      e->set_gfid(g.Bytes());
      *e->mutable_attr() = AttrOf(files[g]);
    }
    r.set_eof(true);
    return Ready<proto::ReaddirReply>(r);
  }

  std::map<std::string, Gfid> names;
  std::map<Gfid, File> files;
  int64_t clock = 100;
  int lookups = 0, lookups_with_data = 0, reads = 0, writes = 0;
  int fail_write = 0;       // errno of every write (0: they succeed)
  bool short_write = false; // writes report one byte fewer than sent
  bool write_attr = true;   // write replies carry the post-write attributes
  uint32_t last_read_size = 0;
  bool attr_only = false;  // as md_cache answers a hit: attributes, no data
  std::function<void()> during_lookup;
};

class ContentCacheTest : public ::testing::Test {
 protected:
  ContentCacheTest() { Make(ContentCache::Options{}); }
  // Most tests: every lookup that wants data asks for it (only_where_read has its own test).
  void Make(ContentCache::Options o, bool only_where_read = false) {
    o.now = [this] { return now; };
    o.only_where_read = only_where_read;
    cache = std::make_unique<ContentCache>(fs, o);
  }
  Result<proto::EntryReply> Lookup(const std::string& name, uint32_t want = 64u << 10) {
    proto::EntryRequest r;
    r.set_parent(Gfid::Root().Bytes());
    r.set_name(name);
    r.set_want_data(want);
    return cache->Lookup(r).get();
  }
  std::string Read(const Gfid& g, uint64_t off = 0, uint32_t size = 128u << 10) {
    proto::ReadRequest r;
    r.set_gfid(g.Bytes());
    r.set_offset(off);
    r.set_size(size);
    auto res = cache->Read(r).get();
    EXPECT_TRUE(res.ok());
    return res.ok() ? res->data() : "";
  }
  Status Write(const Gfid& g, uint64_t off, const std::string& data) {
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_offset(off);
    w.set_data(data);
    return cache->Write(w).get().status();
  }

  Gfid Create(const std::string& name) {
    proto::CreateRequest c;
    c.set_parent(Gfid::Root().Bytes());
    c.set_name(name);
    c.set_mode(S_IFREG | 0644);
    auto r = cache->Create(c).get();
    EXPECT_TRUE(r.ok());
    return r.ok() ? *Gfid::FromBytes(r->attr().gfid()) : Gfid();
  }
  Future<proto::WriteReply> StartWrite(const Gfid& g, uint64_t off, const std::string& data) {
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_offset(off);
    w.set_data(data);
    return cache->Write(w);
  }

  FakeFs fs;
  ContentCache::Clock::time_point now = ContentCache::Clock::now();
  std::unique_ptr<ContentCache> cache;
};

TEST_F(ContentCacheTest, LookupWithDataFillsAndReadsAreHits) {
  Gfid g = fs.Put("a", std::string(4096, 'a'));
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_data());
  EXPECT_TRUE(cache->Has(g));
  EXPECT_EQ(Read(g), std::string(4096, 'a'));
  EXPECT_EQ(Read(g, 4000, 500), std::string(96, 'a'));
  EXPECT_EQ(Read(g, 5000, 10), "");
  EXPECT_EQ(fs.reads, 0);
  EXPECT_EQ(cache->stats().hits, 3u);
}

TEST_F(ContentCacheTest, SecondLookupDoesNotAskForDataAndGetsItAttached) {
  Gfid g = fs.Put("a", "hello");
  ASSERT_TRUE(Lookup("a").ok());
  EXPECT_EQ(fs.lookups_with_data, 1);
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs.lookups_with_data, 1) << "the content is cached: the brick need not read it again";
  EXPECT_TRUE(r->has_data());
  EXPECT_EQ(r->data(), "hello");
  EXPECT_EQ(Read(g), "hello");
  EXPECT_EQ(fs.reads, 0);
}

TEST_F(ContentCacheTest, AttrOnlyReplyOfAnUpperCacheGetsTheContentAttached) {
  fs.Put("a", "hello");
  ASSERT_TRUE(Lookup("a").ok());
  fs.attr_only = true;
  cache->OnInvalidate([] {
    proto::Invalidate inv;  // an unrelated name: the name index is not what decides
    inv.set_parent(Gfid::Root().Bytes());
    inv.set_name("zzz");
    return inv;
  }());
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_data());
  EXPECT_EQ(r->data(), "hello");
}

TEST_F(ContentCacheTest, StatsDoNotReadAFileTheCacheLacksOnlyReadsDo) {
  Gfid g = fs.Put("a", std::string(10000, 'x'));
  fs.attr_only = true;  // e.g. md_cache hit: no data comes
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_data());
  EXPECT_EQ(fs.reads, 0) << "a lookup (stat) must not read the file";
  // The first read fetches the whole small file (its attributes are known) in one call.
  EXPECT_EQ(Read(g, 0, 4096), std::string(4096, 'x'));
  EXPECT_EQ(fs.reads, 1);
  EXPECT_EQ(fs.last_read_size, 64u << 10);
  EXPECT_EQ(Read(g, 4096, 8192), std::string(10000 - 4096, 'x'));
  EXPECT_EQ(fs.reads, 1);
}

TEST_F(ContentCacheTest, QuickReadOffStillCachesWholeReads) {
  Gfid g = fs.Put("a", "abc");
  ASSERT_TRUE(Lookup("a", 0).ok());
  EXPECT_EQ(fs.lookups_with_data, 0);
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(fs.reads, 1);
}

TEST_F(ContentCacheTest, ReadOfAFileWhoseAttributesWereNeverSeenIsNotKept) {
  Gfid g = fs.Put("a", "abc");
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(fs.reads, 2);
  EXPECT_FALSE(cache->Has(g));
}

TEST_F(ContentCacheTest, LargeFilesAreNotCached) {
  Gfid g = fs.Put("big", std::string(100000, 'b'));
  auto r = Lookup("big");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_data());
  EXPECT_EQ(Read(g, 0, 128u << 10).size(), 100000u);
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(fs.reads, 1);
}

TEST_F(ContentCacheTest, InvalidationsDrop) {
  Gfid a = fs.Put("a", "1"), b = fs.Put("b", "2"), c = fs.Put("c", "3");
  for (auto n : {"a", "b", "c"}) ASSERT_TRUE(Lookup(n).ok());
  ASSERT_TRUE(cache->Has(a) && cache->Has(b) && cache->Has(c));
  proto::Invalidate inv;
  inv.set_gfid(a.Bytes());
  cache->OnInvalidate(inv);
  EXPECT_FALSE(cache->Has(a));
  EXPECT_TRUE(cache->Has(b));
  proto::Invalidate entry;  // an entry change: the inode the name pointed at is dropped too
  entry.set_parent(Gfid::Root().Bytes());
  entry.set_name("b");
  cache->OnInvalidate(entry);
  EXPECT_FALSE(cache->Has(b));
  EXPECT_TRUE(cache->Has(c));
  cache->OnInvalidate(proto::Invalidate());  // drop everything
  EXPECT_FALSE(cache->Has(c));
  EXPECT_EQ(cache->stats().entries, 0u);
  EXPECT_EQ(cache->stats().bytes, 0u);
  // And the next read of an invalidated file goes down and sees the new content.
  fs.Put("a", "new");
  ASSERT_TRUE(Lookup("a").ok());
  EXPECT_EQ(Read(a), "new");
}

TEST_F(ContentCacheTest, OwnChangesDrop) {
  Gfid g = fs.Put("a", "aaaa");
  ASSERT_TRUE(Lookup("a").ok());
  ASSERT_TRUE(Write(g, 0, "bb").ok());
  EXPECT_FALSE(cache->Has(g));
  ASSERT_TRUE(Lookup("a").ok());
  EXPECT_EQ(Read(g), "bbaa");

  proto::SetattrRequest t;  // truncate
  t.set_gfid(g.Bytes());
  t.set_valid(proto::SetattrRequest::SIZE);
  t.set_size(1);
  ASSERT_TRUE(cache->Setattr(t).get().ok());
  EXPECT_FALSE(cache->Has(g));
  ASSERT_TRUE(Lookup("a").ok());
  EXPECT_EQ(Read(g), "b");

  Gfid other = fs.Put("o", "other");  // rename over a cached file
  ASSERT_TRUE(Lookup("o").ok());
  ASSERT_TRUE(cache->Has(g) && cache->Has(other));
  proto::RenameRequest rn;
  rn.set_old_parent(Gfid::Root().Bytes());
  rn.set_old_name("o");
  rn.set_new_parent(Gfid::Root().Bytes());
  rn.set_new_name("a");
  ASSERT_TRUE(cache->Rename(rn).get().ok());
  EXPECT_FALSE(cache->Has(g));
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data(), "other");

  proto::NameRequest u;
  u.set_parent(Gfid::Root().Bytes());
  u.set_name("a");
  ASSERT_TRUE(cache->Unlink(u).get().ok());
  EXPECT_FALSE(cache->Has(other));
  EXPECT_EQ(Lookup("a").err(), ENOENT);
}

TEST_F(ContentCacheTest, AttributesSeenLaterThatDifferDrop) {
  Gfid g = fs.Put("a", "1111");
  ASSERT_TRUE(Lookup("a").ok());
  fs.Put("a", "2222");  // same size, changed behind the cache's back (no invalidation)
  proto::GfidRequest ga;
  ga.set_gfid(g.Bytes());
  ASSERT_TRUE(cache->Getattr(ga).get().ok());
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "2222");

  fs.Put("a", "3333");
  auto r = Lookup("a");  // cached: asked without data; the attributes differ: not attached
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_data() && r->data() != "3333");
  EXPECT_EQ(Read(g), "3333");

  fs.Put("a", "44444");  // a listing shows another size
  ASSERT_TRUE(Lookup("a").ok());
  fs.Put("a", "555555");
  ASSERT_TRUE(cache->Readdir(proto::ReaddirRequest()).get().ok());
  EXPECT_FALSE(cache->Has(g));
}

TEST_F(ContentCacheTest, AFillThatRacedWithAnInvalidationIsNotKept) {
  Gfid g = fs.Put("a", "old");
  fs.during_lookup = [&] {  // the brick answered, then the push overtook the reply
    proto::Invalidate inv;
    inv.set_gfid(g.Bytes());
    cache->OnInvalidate(inv);
  };
  auto r = Lookup("a");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(cache->Has(g));
  fs.during_lookup = nullptr;
  ASSERT_TRUE(Lookup("a").ok());
  EXPECT_TRUE(cache->Has(g));
}

TEST_F(ContentCacheTest, LeastRecentlyUsedIsEvictedAtTheCap) {
  ContentCache::Options o;
  o.max_bytes = 3 * (4096 + 200);
  Make(o);
  std::vector<Gfid> g;
  for (int i = 0; i < 3; ++i) {
    g.push_back(fs.Put("f" + std::to_string(i), std::string(4096, static_cast<char>('a' + i))));
    ASSERT_TRUE(Lookup("f" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(cache->Has(g[0]) && cache->Has(g[1]) && cache->Has(g[2]));
  Read(g[0]);  // f0 used: f1 is the least recently used now
  g.push_back(fs.Put("f3", std::string(4096, 'd')));
  ASSERT_TRUE(Lookup("f3").ok());
  EXPECT_TRUE(cache->Has(g[0]));
  EXPECT_FALSE(cache->Has(g[1]));
  EXPECT_TRUE(cache->Has(g[3]));
  EXPECT_LE(cache->stats().bytes, o.max_bytes);
  EXPECT_GE(cache->stats().evictions, 1u);
}

TEST_F(ContentCacheTest, ContentExpiresAfterTheTimeout) {
  ContentCache::Options o;
  o.timeout = 60s;
  Make(o);
  Gfid g = fs.Put("a", "abc");
  ASSERT_TRUE(Lookup("a").ok());
  now += 59s;
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(fs.reads, 0);
  now += 2s;
  auto r = Lookup("a");
  EXPECT_EQ(fs.lookups_with_data, 2) << "expired: the lookup asks for the content again";
  EXPECT_EQ(Read(g), "abc");
  EXPECT_EQ(fs.reads, 0);
}

TEST_F(ContentCacheTest, LookupsAskForContentOnlyWhereFilesAreRead) {
  Make(ContentCache::Options{}, /*only_where_read=*/true);
  Gfid a = fs.Put("a", "aaa");
  fs.Put("b", "bbb");
  fs.Put("c", "ccc");
  ASSERT_TRUE(Lookup("a").ok());  // a stat: nobody reads here yet, the brick reads nothing
  ASSERT_TRUE(Lookup("b").ok());
  EXPECT_EQ(fs.lookups_with_data, 0);
  EXPECT_EQ(Read(a), "aaa");  // the first read in the directory fetches the file
  EXPECT_EQ(fs.reads, 1);
  auto r = Lookup("c");  // from now on lookups here bring the content
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs.lookups_with_data, 1);
  EXPECT_TRUE(r->has_data());
  now += 61s;  // the directory's mark ends with the timeout
  fs.Put("d", "ddd");
  ASSERT_TRUE(Lookup("d").ok());
  EXPECT_EQ(fs.lookups_with_data, 1);
}

// Every call of the fake file system runs under one lock (it is not thread-safe itself).
class LockedFs : public Layer {
 public:
  explicit LockedFs(Layer& inner) : inner_(inner) {}
#define LOCKED_OP(Method, Req, Rep)                          \
  Future<proto::Rep> Method(proto::Req req) override {       \
    std::lock_guard lk(mu_);                                 \
    return Ready<proto::Rep>(inner_.Method(std::move(req)).get()); \
  }
  HAFS_LAYER_OPS(LOCKED_OP)
#undef LOCKED_OP
  Future<std::shared_ptr<FileRef>> Open(Gfid g) override { return inner_.Open(g); }

 private:
  Layer& inner_;
  std::mutex mu_;
};

// Readers racing with this client's own writes never read a version older than the last
// write that had returned before their read started (and never a torn one).
TEST(ContentCacheConcurrency, ReadersNeverSeeContentOlderThanAFinishedWrite) {
  FakeFs fs;
  Gfid g = fs.Put("a", "v0000");
  LockedFs locked(fs);
  ContentCache::Options o;
  o.only_where_read = false;
  ContentCache cache(locked, o);
  std::atomic<int> committed{0};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  auto reader = [&] {
    while (!done) {
      int floor = committed.load();
      proto::EntryRequest l;
      l.set_parent(Gfid::Root().Bytes());
      l.set_name("a");
      l.set_want_data(64u << 10);
      auto lr = cache.Lookup(l).get();
      proto::ReadRequest r;
      r.set_gfid(g.Bytes());
      r.set_size(4096);
      auto rr = cache.Read(r).get();
      if (!lr.ok() || !rr.ok() || rr->data().size() != 5 || rr->data()[0] != 'v') {
        ++bad;
        continue;
      }
      if (std::stoi(rr->data().substr(1)) < floor) ++bad;
      if (lr->has_data() && (lr->data().size() != 5 || std::stoi(lr->data().substr(1)) < floor)) ++bad;
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  auto wait_reads = [&](int n) {  // bounded: the readers really run between the writes
    auto end = std::chrono::steady_clock::now() + 5s;
    while (reads < n && std::chrono::steady_clock::now() < end) std::this_thread::yield();
  };
  for (int k = 1; k <= 300; ++k) {
    if (k % 10 == 1) wait_reads(reads + 5);
    char buf[8];
    std::snprintf(buf, sizeof buf, "v%04d", k);
    proto::WriteRequest w;
    w.set_gfid(g.Bytes());
    w.set_data(buf, 5);
    ASSERT_TRUE(cache.Write(w).get().ok());
    committed = k;
    proto::ReadRequest r;  // read-your-writes
    r.set_gfid(g.Bytes());
    r.set_size(4096);
    auto rr = cache.Read(r).get();
    ASSERT_TRUE(rr.ok());
    EXPECT_EQ(rr->data(), std::string(buf, 5));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 100);
  EXPECT_GT(cache.stats().hits, 0u);
}

TEST_F(ContentCacheTest, ErrorsPassThrough) {
  EXPECT_EQ(Lookup("missing").err(), ENOENT);
  proto::ReadRequest r;
  r.set_gfid(Gfid::Random().Bytes());
  r.set_size(10);
  EXPECT_EQ(cache->Read(r).get().err(), ENOENT);
  EXPECT_EQ(cache->stats().entries, 0u);
}

// ---- write-through: the content this client writes to a file it created ----

TEST_F(ContentCacheTest, WriteThroughKeepsWhatThisClientWroteToANewFile) {
  Gfid g = Create("n");
  ASSERT_EQ(Write(g, 0, "hello").err(), 0);
  cache->Drop(g);  // the bridge drops at once on every write, before write-behind sends it
  ASSERT_EQ(Write(g, 5, " world").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  EXPECT_EQ(cache->stats().written, 2u);
  EXPECT_EQ(Read(g), "hello world");
  EXPECT_EQ(fs.reads, 0);
  // A lookup (after the kernel forgot everything) does not ask for the data and gets it.
  auto r = Lookup("n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_data());
  EXPECT_EQ(r->data(), "hello world");
  EXPECT_EQ(fs.lookups_with_data, 0);
  EXPECT_EQ(fs.reads, 0);
}

TEST_F(ContentCacheTest, WriteThroughAnEmptyNewFileIsKnownEmpty) {
  Gfid g = Create("e");
  EXPECT_TRUE(cache->Has(g));
  EXPECT_EQ(Read(g), "");
  EXPECT_EQ(fs.reads, 0);
}

TEST_F(ContentCacheTest, WriteThroughWritesInFlightAtOnceGoDownOneAfterTheOther) {
  Gfid g = Create("o");
  auto first = StartWrite(g, 0, "aaaa");
  auto second = StartWrite(g, 4, "bbbb");  // write-behind sends it while the first is in flight
  Result<proto::WriteReply> r2 = Status(EIO, "not run");
  std::thread t([&] { r2 = second.get(); });  // waits for the first to be answered
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(fs.writes, 0);
  EXPECT_FALSE(cache->Has(g));
  ASSERT_TRUE(first.get().ok());
  t.join();
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(fs.writes, 2);
  EXPECT_TRUE(cache->Has(g));
  EXPECT_EQ(Read(g), "aaaabbbb");
  EXPECT_EQ(fs.reads, 0);
}

TEST_F(ContentCacheTest, WriteThroughAWriteWaitingTooLongGoesAnywayAndEndsIt) {
  Gfid g = Create("w");
  auto first = StartWrite(g, 0, "aaaa");
  auto second = StartWrite(g, 4, "bbbb");
  ASSERT_TRUE(second.get().ok());  // the first is never waited for before: 2 s, then it goes
  ASSERT_TRUE(first.get().ok());
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "aaaabbbb");
}

TEST_F(ContentCacheTest, WriteThroughAGapEndsIt) {
  Gfid g = Create("g");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  ASSERT_EQ(Write(g, 8, "cccc").err(), 0);  // bytes 4..8 a hole
  EXPECT_FALSE(cache->Has(g));
  ASSERT_EQ(Write(g, 4, "bbbb").err(), 0);  // filling it later does not bring it back
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "aaaabbbbcccc");
  EXPECT_EQ(fs.reads, 1);
}

TEST_F(ContentCacheTest, WriteThroughAnOverlapEndsIt) {
  Gfid g = Create("v");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  ASSERT_EQ(Write(g, 2, "bb").err(), 0);
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "aabb");
}

TEST_F(ContentCacheTest, WriteThroughAFailedOrShortWriteEndsIt) {
  Gfid g = Create("f");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  fs.fail_write = EIO;
  EXPECT_EQ(Write(g, 4, "bbbb").err(), EIO);
  EXPECT_FALSE(cache->Has(g));
  fs.fail_write = 0;
  ASSERT_EQ(Write(g, 4, "bbbb").err(), 0);  // ended: a later good write does not revive it
  EXPECT_FALSE(cache->Has(g));

  Gfid h = Create("s");
  fs.short_write = true;
  ASSERT_EQ(Write(h, 0, "aaaa").err(), 0);
  EXPECT_FALSE(cache->Has(h));
  fs.short_write = false;

  Gfid k = Create("na");  // a reply without attributes: nothing to validate it by
  fs.write_attr = false;
  ASSERT_EQ(Write(k, 0, "aaaa").err(), 0);
  EXPECT_FALSE(cache->Has(k));
  EXPECT_GE(cache->stats().wt_aborted, 3u);
}

TEST_F(ContentCacheTest, WriteThroughAnotherClientsInvalidationEndsIt) {
  Gfid g = Create("i");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  proto::Invalidate inv;
  inv.set_gfid(g.Bytes());
  cache->OnInvalidate(inv);  // another client wrote it
  EXPECT_FALSE(cache->Has(g));
  ASSERT_EQ(Write(g, 4, "bbbb").err(), 0);  // our append does not make the rest known
  EXPECT_FALSE(cache->Has(g));

  Gfid h = Create("j");
  auto inflight = StartWrite(h, 0, "aaaa");
  cache->OnInvalidate(proto::Invalidate());  // a session lost while the write was in flight
  ASSERT_TRUE(inflight.get().ok());
  EXPECT_FALSE(cache->Has(h));
}

TEST_F(ContentCacheTest, WriteThroughAttributesThatDifferEndIt) {
  Gfid g = Create("m");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  fs.files[g].data = "zzzz";  // changed elsewhere, same size, push lost
  fs.files[g].mtime = ++fs.clock;
  proto::GfidRequest ga;
  ga.set_gfid(g.Bytes());
  ASSERT_TRUE(cache->Getattr(ga).get().ok());
  EXPECT_FALSE(cache->Has(g));
  ASSERT_EQ(Write(g, 4, "bbbb").err(), 0);
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "zzzzbbbb");
}

TEST_F(ContentCacheTest, WriteThroughGoesOnThroughChmodTruncateToZeroRestartsIt) {
  Gfid g = Create("t");
  proto::SetattrRequest chmod;  // rsync: fchmod right after the create, before any write
  chmod.set_gfid(g.Bytes());
  chmod.set_valid(proto::SetattrRequest::MODE);
  ASSERT_TRUE(cache->Setattr(chmod).get().ok());
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  ASSERT_TRUE(cache->Setattr(chmod).get().ok());
  EXPECT_TRUE(cache->Has(g));  // the content stays (a chmod does not change it)
  ASSERT_EQ(Write(g, 4, "bbbb").err(), 0);
  EXPECT_TRUE(cache->Has(g));  // and the write-through goes on
  int before = fs.reads;
  EXPECT_EQ(Read(g), "aaaabbbb");
  EXPECT_EQ(fs.reads, before);

  proto::SetattrRequest trunc;
  trunc.set_gfid(g.Bytes());
  trunc.set_valid(proto::SetattrRequest::SIZE);
  trunc.set_size(0);
  ASSERT_TRUE(cache->Setattr(trunc).get().ok());
  ASSERT_EQ(Write(g, 0, "new").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  int reads = fs.reads;
  EXPECT_EQ(Read(g), "new");
  EXPECT_EQ(fs.reads, reads);
}

// Written under a temporary name and renamed into place (rsync, editors), then given its
// times (cp -p, tar): the content stays kept under the new name and the replies' attributes,
// so later lookups (which see those attributes) get it and nothing is read from the bricks.
TEST_F(ContentCacheTest, RenameAndSetattrOfTimesKeepTheContent) {
  Gfid old_final = fs.Put("final", "old");
  ASSERT_TRUE(Lookup("final").ok());
  ASSERT_TRUE(cache->Has(old_final));
  Gfid g = Create(".final.tmp");
  ASSERT_EQ(Write(g, 0, "new content").err(), 0);
  ASSERT_TRUE(cache->Has(g));
  proto::RenameRequest rn;
  rn.set_old_parent(Gfid::Root().Bytes());
  rn.set_old_name(".final.tmp");
  rn.set_new_parent(Gfid::Root().Bytes());
  rn.set_new_name("final");
  ASSERT_TRUE(cache->Rename(rn).get().ok());
  EXPECT_FALSE(cache->Has(old_final));  // renamed over: gone
  EXPECT_TRUE(cache->Has(g));
  int reads = fs.reads, with_data = fs.lookups_with_data;
  auto r = Lookup("final");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data(), "new content");
  EXPECT_EQ(Read(g), "new content");

  proto::SetattrRequest times;
  times.set_gfid(g.Bytes());
  times.set_valid(proto::SetattrRequest::MTIME | proto::SetattrRequest::ATIME);
  ASSERT_TRUE(cache->Setattr(times).get().ok());
  EXPECT_TRUE(cache->Has(g));
  r = Lookup("final");  // the bricks' attributes now carry the new times: they match
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data(), "new content");
  EXPECT_EQ(fs.reads, reads);
  EXPECT_EQ(fs.lookups_with_data, with_data);

  // A setattr of the size (even the same size) changes the content: dropped.
  proto::SetattrRequest same_size;
  same_size.set_gfid(g.Bytes());
  same_size.set_valid(proto::SetattrRequest::SIZE);
  same_size.set_size(11);
  ASSERT_TRUE(cache->Setattr(same_size).get().ok());
  EXPECT_FALSE(cache->Has(g));
  // A kept file another client changes is still dropped on the brick's word.
  ASSERT_TRUE(Lookup("final").ok());
  ASSERT_TRUE(cache->Has(g));
  proto::Invalidate inv;
  inv.set_gfid(g.Bytes());
  cache->OnInvalidate(inv);
  EXPECT_FALSE(cache->Has(g));
}

TEST_F(ContentCacheTest, WriteThroughStopsPastQuickReadMaxAndForAppends) {
  ContentCache::Options o;
  o.max_file = 8;
  Make(o);
  Gfid g = Create("big");
  ASSERT_EQ(Write(g, 0, "aaaaaaaa").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  ASSERT_EQ(Write(g, 8, "b").err(), 0);
  EXPECT_FALSE(cache->Has(g));

  Gfid h = Create("app");
  proto::WriteRequest w;
  w.set_gfid(h.Bytes());
  w.set_append(true);
  w.set_data("xx");
  ASSERT_TRUE(cache->Write(w).get().ok());
  EXPECT_FALSE(cache->Has(h));
}

TEST_F(ContentCacheTest, WriteThroughSwitchedOff) {
  ContentCache::Options o;
  o.write_through = false;
  Make(o);
  Gfid g = Create("off");
  ASSERT_EQ(Write(g, 0, "aaaa").err(), 0);
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), "aaaa");
  EXPECT_EQ(fs.reads, 1);
}


// A write sent before the file was truncated to 0 (no write-behind to order them) lands after
// the truncate: the new write-through does not know those bytes and ends.
TEST_F(ContentCacheTest, WriteThroughAnOlderWriteLandingAfterATruncateEndsIt) {
  Gfid g = Create("late");
  ASSERT_EQ(Write(g, 0, "aaaaaaaa").err(), 0);
  auto late = StartWrite(g, 8, "zz");  // sent, not answered yet
  proto::SetattrRequest trunc;
  trunc.set_gfid(g.Bytes());
  trunc.set_valid(proto::SetattrRequest::SIZE);
  trunc.set_size(0);
  ASSERT_TRUE(cache->Setattr(trunc).get().ok());
  ASSERT_EQ(Write(g, 0, "new").err(), 0);
  EXPECT_TRUE(cache->Has(g));
  ASSERT_TRUE(late.get().ok());  // lands now: the file is "new" + zeros + "zz"
  EXPECT_FALSE(cache->Has(g));
  ASSERT_EQ(Write(g, 10, "x").err(), 0);
  EXPECT_FALSE(cache->Has(g));
  EXPECT_EQ(Read(g), std::string("new") + std::string(5, '\0') + "zzx");
}

}  // namespace
}  // namespace hafs::client
