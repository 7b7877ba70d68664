// MdCache over a fake lower layer: a tiny in-memory file system that counts its calls.
#include "client-fuse/caches/md_cache.h"
#include "tests/unit/client/fake_layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <vector>

namespace hafs::client {
namespace {

class FakeFs : public fakes::FakeLayer {
 public:
  FakeFs() { attrs[Gfid::Root()] = MakeAttr(Gfid::Root(), S_IFDIR | 0755); dirs[Gfid::Root()]; }

  static proto::Attr MakeAttr(const Gfid& g, uint32_t mode) {
    proto::Attr a;
    a.set_gfid(g.Bytes());
    a.set_mode(mode);
    a.set_nlink(1);
    return a;
  }
  // Changes "behind the cache's back" (another mount).
  Gfid Add(const Gfid& parent, const std::string& name, uint32_t mode) {
    Gfid g = Gfid::Random();
    attrs[g] = MakeAttr(g, mode);
    dirs[parent][name] = g;
    if (S_ISDIR(mode)) dirs[g];
    return g;
  }

  std::map<std::string, int> calls;
  std::map<Gfid, proto::Attr> attrs;
  std::map<Gfid, std::map<std::string, Gfid>> dirs;
  int fail_next = 0;  // errno for the next call

  template <typename T>
  Future<T> Fail() {
    int e = fail_next;
    fail_next = 0;
    return Ready<T>(Status(e, "injected"));
  }
  Gfid G(const std::string& raw) { return *Gfid::FromBytes(raw); }

  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override {
    ++calls["lookup"];
    if (fail_next) return Fail<proto::EntryReply>();
    auto& d = dirs[G(req.parent())];
    auto it = d.find(req.name());
    if (it == d.end()) return Ready<proto::EntryReply>(Status(ENOENT, "no entry"));
    proto::EntryReply r;
    *r.mutable_attr() = attrs[it->second];
    if (req.want_data() > 0) {
      r.set_has_data(true);
      r.set_data("content");
    }
    return Ready(Result<proto::EntryReply>(r));
  }
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override {
    ++calls["getattr"];
    if (fail_next) return Fail<proto::AttrReply>();
    auto it = attrs.find(G(req.gfid()));
    if (it == attrs.end()) return Ready<proto::AttrReply>(Status(ENOENT, "no inode"));
    proto::AttrReply r;
    *r.mutable_attr() = it->second;
    return Ready(Result<proto::AttrReply>(r));
  }
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override {
    ++calls["setattr"];
    auto& a = attrs[G(req.gfid())];
    if (req.valid() & proto::SetattrRequest::MODE) a.set_mode((a.mode() & S_IFMT) | (req.mode() & 07777));
    if (req.valid() & proto::SetattrRequest::SIZE) a.set_size(req.size());
    proto::AttrReply r;
    *r.mutable_attr() = a;
    return Ready(Result<proto::AttrReply>(r));
  }
  Future<proto::EntryReply> New(const std::string& parent, const std::string& name, const std::string& gfid,
                                uint32_t mode) {
    if (fail_next) return Fail<proto::EntryReply>();
    auto& d = dirs[G(parent)];
    if (d.count(name)) return Ready<proto::EntryReply>(Status(EEXIST, "exists"));
    Gfid g = G(gfid);
    attrs[g] = MakeAttr(g, mode);
    d[name] = g;
    if (S_ISDIR(mode)) dirs[g];
    proto::EntryReply r;
    *r.mutable_attr() = attrs[g];
    *r.mutable_parent_attr() = attrs[G(parent)];
    return Ready(Result<proto::EntryReply>(r));
  }
  Future<proto::EntryReply> Mkdir(proto::MkdirRequest req) override {
    ++calls["mkdir"];
    return New(req.parent(), req.name(), req.gfid(), S_IFDIR | req.mode());
  }
  Future<proto::EntryReply> Create(proto::CreateRequest req) override {
    ++calls["create"];
    known_absent.push_back(req.known_absent());
    return New(req.parent(), req.name(), req.gfid(), S_IFREG | req.mode());
  }
  Future<proto::EntryReply> Mknod(proto::MknodRequest req) override {
    ++calls["mknod"];
    return New(req.parent(), req.name(), req.gfid(), req.mode());
  }
  Future<proto::EntryReply> Symlink(proto::SymlinkRequest req) override {
    ++calls["symlink"];
    return New(req.parent(), req.name(), req.gfid(), S_IFLNK | 0777);
  }
  Future<proto::EntryReply> Link(proto::LinkRequest req) override {
    ++calls["link"];
    Gfid g = G(req.gfid());
    dirs[G(req.new_parent())][req.new_name()] = g;
    attrs[g].set_nlink(attrs[g].nlink() + 1);
    proto::EntryReply r;
    *r.mutable_attr() = attrs[g];
    return Ready(Result<proto::EntryReply>(r));
  }
  Future<proto::EntryReply> Remove(const proto::NameRequest& req) {
    auto& d = dirs[G(req.parent())];
    auto it = d.find(req.name());
    if (it == d.end()) return Ready<proto::EntryReply>(Status(ENOENT, "no entry"));
    proto::EntryReply r;
    *r.mutable_attr() = attrs[it->second];
    attrs.erase(it->second);
    d.erase(it);
    return Ready(Result<proto::EntryReply>(r));
  }
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override {
    ++calls["unlink"];
    return Remove(req);
  }
  Future<proto::EntryReply> Rmdir(proto::NameRequest req) override {
    ++calls["rmdir"];
    return Remove(req);
  }
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override {
    ++calls["rename"];
    auto& od = dirs[G(req.old_parent())];
    auto it = od.find(req.old_name());
    if (it == od.end()) return Ready<proto::RenameReply>(Status(ENOENT, "no entry"));
    Gfid g = it->second;
    od.erase(it);
    proto::RenameReply r;
    auto& nd = dirs[G(req.new_parent())];
    if (auto old = nd.find(req.new_name()); old != nd.end()) {
      r.set_replaced_gfid(old->second.Bytes());
      attrs.erase(old->second);
    }
    nd[req.new_name()] = g;
    *r.mutable_attr() = attrs[g];
    return Ready(Result<proto::RenameReply>(r));
  }
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override {
    ++calls["readdir"];
    proto::ReaddirReply r;
    uint64_t k = 0;
    for (auto& [name, g] : dirs[G(req.gfid())]) {
      ++k;
      if (k <= req.cookie()) continue;
      if (r.entries_size() >= static_cast<int>(req.max_entries())) return Ready(Result<proto::ReaddirReply>(r));
      auto* e = r.add_entries();
      e->set_name(name);
      e->set_gfid(g.Bytes());
      e->set_next_cookie(k);
      if (req.plus()) *e->mutable_attr() = attrs[g];
    }
    r.set_eof(true);
    return Ready(Result<proto::ReaddirReply>(r));
  }
  Future<proto::WriteReply> Write(proto::WriteRequest req) override {
    ++calls["write"];
    auto& a = attrs[G(req.gfid())];
    a.set_size(std::max<uint64_t>(a.size(), req.offset() + req.data().size()));
    proto::WriteReply r;
    r.set_written(static_cast<uint32_t>(req.data().size()));
    *r.mutable_attr() = a;
    return Ready(Result<proto::WriteReply>(r));
  }
  Future<proto::ErrReply> Fsync(proto::FsyncRequest) override { return Ready(Result<proto::ErrReply>(proto::ErrReply())); }
  Future<proto::ErrReply> Setxattr(proto::SetxattrRequest req) override {
    ++calls["setxattr"];
    attrs[G(req.gfid())].set_ctime_ns(attrs[G(req.gfid())].ctime_ns() + 1);
    xattrs[G(req.gfid())][req.name()] = req.value();
    return Ready(Result<proto::ErrReply>(proto::ErrReply()));
  }
  Future<proto::XattrReply> Getxattr(proto::GetxattrRequest req) override {
    ++calls["getxattr"];
    if (refuse_security && req.name().rfind("security.", 0) == 0) return Ready<proto::XattrReply>(Status(EOPNOTSUPP, ""));
    auto& x = xattrs[G(req.gfid())];
    if (!x.count(req.name())) return Ready<proto::XattrReply>(Status(ENODATA, ""));
    proto::XattrReply r;
    r.set_value(x[req.name()]);
    return Ready(Result<proto::XattrReply>(r));
  }
  std::map<Gfid, std::map<std::string, std::string>> xattrs;
  bool refuse_security = false;
  std::vector<bool> known_absent;  // per create: the hint distribute gets
  Future<proto::ErrReply> Access(proto::AccessRequest) override { return Ready(Result<proto::ErrReply>(proto::ErrReply())); }
};

class MdCacheTest : public ::testing::Test {
 protected:
  MdCacheTest() : cache(fs, Opts()) {}
  MdCache::Options Opts() {
    MdCache::Options o;
    o.now_ms = [this] { return now; };
    o.max_items = 1000;
    return o;
  }
  Result<proto::EntryReply> Lookup(const Gfid& parent, const std::string& name, uint32_t want_data = 0) {
    proto::EntryRequest r;
    r.set_parent(parent.Bytes());
    r.set_name(name);
    r.set_want_data(want_data);
    return cache.Lookup(r).get();
  }
  Result<proto::AttrReply> Getattr(const Gfid& g) {
    proto::GfidRequest r;
    r.set_gfid(g.Bytes());
    return cache.Getattr(r).get();
  }
  Gfid Mkdir(const Gfid& parent, const std::string& name) {
    proto::MkdirRequest r;
    Gfid g = Gfid::Random();
    r.set_parent(parent.Bytes());
    r.set_name(name);
    r.set_gfid(g.Bytes());
    r.set_mode(0755);
    EXPECT_TRUE(cache.Mkdir(r).get().ok());
    return g;
  }
  Result<proto::EntryReply> Create(const Gfid& parent, const std::string& name, Gfid* out = nullptr) {
    proto::CreateRequest r;
    Gfid g = Gfid::Random();
    r.set_parent(parent.Bytes());
    r.set_name(name);
    r.set_gfid(g.Bytes());
    r.set_mode(0644);
    if (out) *out = g;
    return cache.Create(r).get();
  }
  Result<proto::ReaddirReply> Readdirplus(const Gfid& dir, uint64_t cookie = 0, uint32_t max = 1024) {
    proto::ReaddirRequest r;
    r.set_gfid(dir.Bytes());
    r.set_cookie(cookie);
    r.set_max_entries(max);
    r.set_plus(true);
    return cache.Readdir(r).get();
  }
  proto::Invalidate Inv(const Gfid& g, const Gfid& parent = Gfid(), const std::string& name = "") {
    proto::Invalidate inv;
    if (!g.IsNull()) inv.set_gfid(g.Bytes());
    if (!parent.IsNull()) inv.set_parent(parent.Bytes());
    inv.set_name(name);
    return inv;
  }

  int64_t now = 1000000;
  FakeFs fs;
  MdCache cache;
};

TEST_F(MdCacheTest, LookupAndGetattrHitAfterOneMiss) {
  Gfid f = fs.Add(Gfid::Root(), "f", S_IFREG | 0644);
  ASSERT_TRUE(Lookup(Gfid::Root(), "f").ok());
  auto again = Lookup(Gfid::Root(), "f");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*Gfid::FromBytes(again->attr().gfid()), f);
  ASSERT_TRUE(Getattr(f).ok());
  EXPECT_EQ(fs.calls["lookup"], 1);
  EXPECT_EQ(fs.calls["getattr"], 0);
  EXPECT_EQ(cache.stats().hits, 2u);
}

TEST_F(MdCacheTest, QuickReadDataPassesThroughButIsNotCached) {
  fs.Add(Gfid::Root(), "small", S_IFREG | 0644);
  auto first = Lookup(Gfid::Root(), "small", 4096);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->has_data());
  EXPECT_EQ(first->data(), "content");
  auto hit = Lookup(Gfid::Root(), "small", 4096);
  ASSERT_TRUE(hit.ok());
  EXPECT_FALSE(hit->has_data());  // the content cache above handles data
  EXPECT_EQ(fs.calls["lookup"], 1);
}

TEST_F(MdCacheTest, ErrorsAreNotCachedOutsideCompleteDirectories) {
  EXPECT_EQ(Lookup(Gfid::Root(), "absent").err(), ENOENT);
  EXPECT_EQ(Lookup(Gfid::Root(), "absent").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 2);
  fs.Add(Gfid::Root(), "f", S_IFREG | 0644);
  fs.fail_next = EIO;
  EXPECT_EQ(Lookup(Gfid::Root(), "f").err(), EIO);
  EXPECT_TRUE(Lookup(Gfid::Root(), "f").ok());
  EXPECT_EQ(fs.calls["lookup"], 4);
}

TEST_F(MdCacheTest, OwnMkdirMakesACompleteDirectory) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 0);
  EXPECT_EQ(cache.stats().negative_hits, 1u);
  Gfid a;
  ASSERT_TRUE(Create(d, "a", &a).ok());
  ASSERT_EQ(fs.known_absent.size(), 1u);
  EXPECT_TRUE(fs.known_absent[0]);  // distribute need not look on other subvolumes
  ASSERT_TRUE(Create(Gfid::Root(), "r").ok());
  EXPECT_FALSE(fs.known_absent[1]);  // the root is not known completely
  auto hit = Lookup(d, "a");
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(*Gfid::FromBytes(hit->attr().gfid()), a);
  EXPECT_EQ(fs.calls["lookup"], 0);
  // EEXIST from the bricks: the directory's completeness is not trusted any more.
  EXPECT_EQ(Create(d, "a").err(), EEXIST);
  EXPECT_FALSE(fs.known_absent[2]);  // a name the cache holds is not absent
  // Unlink: the name is gone, still answered locally.
  proto::NameRequest u;
  u.set_parent(d.Bytes());
  u.set_name("a");
  ASSERT_TRUE(cache.Unlink(u).get().ok());
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(Getattr(a).err(), ENOENT);  // its attributes were dropped: asked below
  EXPECT_EQ(fs.calls["getattr"], 1);
}

TEST_F(MdCacheTest, UnlinkKeepsCompletenessAndDropsTheName) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  ASSERT_TRUE(Create(d, "a").ok());
  proto::NameRequest u;
  u.set_parent(d.Bytes());
  u.set_name("a");
  ASSERT_TRUE(cache.Unlink(u).get().ok());
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 0);
}

TEST_F(MdCacheTest, ReaddirplusFillsEntriesNegativesAndTheListing) {
  Gfid d = fs.Add(Gfid::Root(), "d", S_IFDIR | 0755);
  Gfid x = fs.Add(d, "x", S_IFREG | 0644);
  fs.Add(d, "y", S_IFREG | 0644);
  fs.Add(d, "z", S_IFREG | 0644);
  // Two pages of two, as the bridge reads them (cookie of the last entry).
  auto p1 = Readdirplus(d, 0, 2);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->entries_size(), 2);
  auto p2 = Readdirplus(d, p1->entries(1).next_cookie(), 2);
  ASSERT_TRUE(p2.ok());
  EXPECT_TRUE(p2->eof());
  EXPECT_EQ(fs.calls["readdir"], 2);
  // Served from the cache now.
  auto again = Readdirplus(d, 0, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->entries_size(), 2);
  EXPECT_EQ(fs.calls["readdir"], 2);
  EXPECT_TRUE(Lookup(d, "x").ok());
  EXPECT_TRUE(Getattr(x).ok());
  EXPECT_EQ(Lookup(d, "nope").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 0);
  EXPECT_EQ(fs.calls["getattr"], 0);
  // Plain readdir is never served from the cache.
  proto::ReaddirRequest plain;
  plain.set_gfid(d.Bytes());
  plain.set_max_entries(10);
  ASSERT_TRUE(cache.Readdir(plain).get().ok());
  EXPECT_EQ(fs.calls["readdir"], 3);
}

TEST_F(MdCacheTest, AListingIsStaleOnceAChildChanged) {
  Gfid d = fs.Add(Gfid::Root(), "d", S_IFDIR | 0755);
  Gfid x = fs.Add(d, "x", S_IFREG | 0644);
  ASSERT_TRUE(Readdirplus(d).ok());
  fs.attrs[x].set_mode(S_IFREG | 0600);
  cache.OnInvalidate(Inv(x));
  auto r = Readdirplus(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs.calls["readdir"], 2);
  EXPECT_EQ(r->entries(0).attr().mode(), S_IFREG | 0600u);
}

TEST_F(MdCacheTest, OwnChangesUpdateBeforeTheyReturn) {
  Gfid f = fs.Add(Gfid::Root(), "f", S_IFREG | 0644);
  ASSERT_TRUE(Lookup(Gfid::Root(), "f").ok());
  proto::SetattrRequest s;
  s.set_gfid(f.Bytes());
  s.set_valid(proto::SetattrRequest::MODE);
  s.set_mode(0600);
  ASSERT_TRUE(cache.Setattr(s).get().ok());
  EXPECT_EQ(Getattr(f)->attr().mode(), S_IFREG | 0600u);
  proto::WriteRequest w;
  w.set_gfid(f.Bytes());
  w.set_offset(100);
  w.set_data("0123456789");
  ASSERT_TRUE(cache.Write(w).get().ok());
  EXPECT_EQ(Getattr(f)->attr().size(), 110u);
  EXPECT_EQ(Lookup(Gfid::Root(), "f")->attr().size(), 110u);
  proto::SetxattrRequest x;
  x.set_gfid(f.Bytes());
  x.set_name("user.a");
  ASSERT_TRUE(cache.Setxattr(x).get().ok());
  EXPECT_EQ(Getattr(f)->attr().ctime_ns(), 1);  // dropped, asked again
  EXPECT_EQ(fs.calls["getattr"], 1);
}

TEST_F(MdCacheTest, RenameOverMovesTheEntryAndDropsTheReplaced) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  Gfid a, b;
  ASSERT_TRUE(Create(d, "a", &a).ok());
  ASSERT_TRUE(Create(d, "b", &b).ok());
  ASSERT_TRUE(Getattr(b).ok());
  proto::RenameRequest r;
  r.set_old_parent(d.Bytes());
  r.set_old_name("a");
  r.set_new_parent(d.Bytes());
  r.set_new_name("b");
  ASSERT_TRUE(cache.Rename(r).get().ok());
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);  // complete directory: local
  int lookups = fs.calls["lookup"], getattrs = fs.calls["getattr"];
  auto nb = Lookup(d, "b");
  ASSERT_TRUE(nb.ok());
  EXPECT_EQ(*Gfid::FromBytes(nb->attr().gfid()), a);
  // The moved file under its new name and with the rename's attributes: nothing asked below.
  ASSERT_TRUE(Getattr(a).ok());
  EXPECT_EQ(fs.calls["lookup"], lookups);
  EXPECT_EQ(fs.calls["getattr"], getattrs);
  EXPECT_EQ(Getattr(b).err(), ENOENT);
}

TEST_F(MdCacheTest, RmdirForgetsTheDirectory) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  proto::NameRequest r;
  r.set_parent(Gfid::Root().Bytes());
  r.set_name("d");
  ASSERT_TRUE(cache.Rmdir(r).get().ok());
  EXPECT_EQ(Getattr(d).err(), ENOENT);
  EXPECT_EQ(fs.calls["getattr"], 1);
}

TEST_F(MdCacheTest, PushedInvalidationsDrop) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  Gfid a;
  ASSERT_TRUE(Create(d, "a", &a).ok());
  // Another mount: chmod a.
  fs.attrs[a].set_mode(S_IFREG | 0600);
  cache.OnInvalidate(Inv(a));
  EXPECT_EQ(Lookup(d, "a")->attr().mode(), S_IFREG | 0600u);
  EXPECT_EQ(fs.calls["lookup"], 1);
  // Another mount creates d/b: the directory is not complete here any more.
  fs.Add(d, "b", S_IFREG | 0644);
  cache.OnInvalidate(Inv(d, d, "b"));
  EXPECT_TRUE(Lookup(d, "b").ok());
  EXPECT_EQ(Lookup(d, "c").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 3);
  // Another mount unlinks a: entry and attributes go.
  fs.dirs[d].erase("a");
  fs.attrs.erase(a);
  cache.OnInvalidate(Inv(a, d, "a"));
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 4);
}

TEST_F(MdCacheTest, DropEverything) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  ASSERT_TRUE(Create(d, "a").ok());
  EXPECT_GT(cache.items(), 0u);
  cache.OnInvalidate(proto::Invalidate());
  EXPECT_EQ(cache.items(), 0u);
  EXPECT_TRUE(Lookup(d, "a").ok());
  EXPECT_EQ(Lookup(d, "b").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 2);
  EXPECT_EQ(cache.stats().drops_all, 1u);
}

TEST_F(MdCacheTest, AReplyThatRacedAChangeIsNotCached) {
  Gfid f = fs.Add(Gfid::Root(), "f", S_IFREG | 0644);
  proto::GfidRequest g;
  g.set_gfid(f.Bytes());
  auto pending = cache.Getattr(g);  // deferred below: the change lands while it is "in flight"
  cache.OnInvalidate(Inv(f));
  ASSERT_TRUE(pending.get().ok());
  ASSERT_TRUE(Getattr(f).ok());
  EXPECT_EQ(fs.calls["getattr"], 2);
}

TEST_F(MdCacheTest, TimeoutBoundsAge) {
  Gfid d = Mkdir(Gfid::Root(), "d");
  Gfid a;
  ASSERT_TRUE(Create(d, "a", &a).ok());
  now += 59000;
  EXPECT_TRUE(Getattr(a).ok());
  EXPECT_EQ(Lookup(d, "zz").err(), ENOENT);
  EXPECT_EQ(fs.calls["getattr"] + fs.calls["lookup"], 0);
  now += 2000;
  EXPECT_TRUE(Getattr(a).ok());
  EXPECT_EQ(Lookup(d, "zz").err(), ENOENT);
  EXPECT_EQ(fs.calls["getattr"], 1);
  EXPECT_EQ(fs.calls["lookup"], 1);
}

TEST_F(MdCacheTest, ZeroTimeoutPassesEverythingThrough) {
  cache.SetTimeout(std::chrono::milliseconds(0));
  Gfid d = Mkdir(Gfid::Root(), "d");
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(Lookup(d, "a").err(), ENOENT);
  EXPECT_EQ(fs.calls["lookup"], 2);
  EXPECT_EQ(cache.items(), 0u);
}

TEST_F(MdCacheTest, MemoryIsBounded) {
  for (int i = 0; i < 3000; ++i) fs.Add(Gfid::Root(), "f" + std::to_string(i), S_IFREG | 0644);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(Lookup(Gfid::Root(), "f" + std::to_string(i)).ok());
    ASSERT_LE(cache.items(), 1000u);
  }
  EXPECT_GE(cache.stats().drops_all, 1u);
  // A listing bigger than the cap is not kept either, and does not clear the rest.
  uint64_t drops = cache.stats().drops_all;
  ASSERT_TRUE(Readdirplus(Gfid::Root()).ok());
  EXPECT_LE(cache.items(), 1000u);
  EXPECT_EQ(cache.stats().drops_all, drops);
  EXPECT_EQ(Lookup(Gfid::Root(), "nope").err(), ENOENT);  // not complete: asked below
  ASSERT_TRUE(Readdirplus(Gfid::Root()).ok());
  EXPECT_EQ(fs.calls["readdir"], 2);
}

// A tree listed directory after directory (find) whose listings together pass the cap: the
// listings that fit stay cached and served, the rest are not kept, and nothing is cleared
// (the cache used to empty itself each time a find filled it). Once the kept ones expire, a
// new listing takes their room.
TEST_F(MdCacheTest, ListingsPastTheCapAreNotKeptAndClearNothing) {
  std::vector<Gfid> dirs;
  for (int j = 0; j < 8; ++j) {
    dirs.push_back(fs.Add(Gfid::Root(), "d" + std::to_string(j), S_IFDIR | 0755));
    for (int i = 0; i < 60; ++i) fs.Add(dirs.back(), "f" + std::to_string(i), S_IFREG | 0644);
  }
  for (const Gfid& d : dirs) {
    auto r = Readdirplus(d);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->entries_size(), 60);
    ASSERT_LE(cache.items(), 1000u);
  }
  EXPECT_EQ(cache.stats().drops_all, 0u) << "listing a tree emptied the cache";
  EXPECT_GE(cache.stats().listings_not_kept, 1u);
  EXPECT_EQ(fs.calls["readdir"], 8);
  auto again = Readdirplus(dirs[0]);  // the first listings are still served
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->entries_size(), 60);
  EXPECT_EQ(fs.calls["readdir"], 8);
  EXPECT_TRUE(Lookup(dirs[0], "f7").ok());
  EXPECT_EQ(fs.calls["lookup"], 0);
  ASSERT_TRUE(Readdirplus(dirs[7]).ok());  // not kept: asked below again
  EXPECT_EQ(fs.calls["readdir"], 9);

  now += 61000;  // everything expired: the next listing sweeps it out and is kept
  ASSERT_TRUE(Readdirplus(dirs[7]).ok());
  EXPECT_EQ(fs.calls["readdir"], 10);
  ASSERT_TRUE(Readdirplus(dirs[7]).ok());
  EXPECT_EQ(fs.calls["readdir"], 10);
  EXPECT_GE(cache.stats().sweeps, 1u);
  EXPECT_EQ(cache.stats().drops_all, 0u);
  EXPECT_LE(cache.items(), 1000u);
}

TEST_F(MdCacheTest, AbsentCapabilityIsKeptUntilAnXattrChange) {
  Gfid f = fs.Add(Gfid::Root(), "f", S_IFREG | 0644);
  auto cap = [&] {
    proto::GetxattrRequest r;
    r.set_gfid(f.Bytes());
    r.set_name("security.capability");
    return cache.Getxattr(r).get();
  };
  EXPECT_EQ(cap().err(), ENODATA);
  EXPECT_EQ(cap().err(), ENODATA);  // the kernel's question before each write(2): no round trip
  EXPECT_EQ(fs.calls["getxattr"], 1);
  proto::GetxattrRequest other;  // other names always go down
  other.set_gfid(f.Bytes());
  other.set_name("user.x");
  EXPECT_EQ(cache.Getxattr(other).get().err(), ENODATA);
  EXPECT_EQ(cache.Getxattr(other).get().err(), ENODATA);
  EXPECT_EQ(fs.calls["getxattr"], 3);
  // An own setxattr: asked again, and the value is seen.
  proto::SetxattrRequest set;
  set.set_gfid(f.Bytes());
  set.set_name("security.capability");
  set.set_value("cap");
  ASSERT_TRUE(cache.Setxattr(set).get().ok());
  auto now_set = cap();
  ASSERT_TRUE(now_set.ok());
  EXPECT_EQ(now_set->value(), "cap");
  // Another client's change arrives as a push: dropped too.
  fs.xattrs[f].clear();
  EXPECT_EQ(cap().err(), ENODATA);
  int asked = fs.calls["getxattr"];
  fs.xattrs[f]["security.capability"] = "cap2";
  cache.OnInvalidate(Inv(f));
  auto pushed = cap();
  ASSERT_TRUE(pushed.ok());
  EXPECT_EQ(pushed->value(), "cap2");
  EXPECT_EQ(fs.calls["getxattr"], asked + 1);
  // Bricks that keep no security.* names answer EOPNOTSUPP: kept as well, as it came.
  fs.refuse_security = true;
  fs.xattrs[f].clear();
  cache.OnInvalidate(Inv(f));
  EXPECT_EQ(cap().err(), EOPNOTSUPP);
  asked = fs.calls["getxattr"];
  EXPECT_EQ(cap().err(), EOPNOTSUPP);
  EXPECT_EQ(fs.calls["getxattr"], asked);
  fs.refuse_security = false;
  cache.OnInvalidate(Inv(f));
  // And the timeout bounds it.
  fs.xattrs[f].clear();
  EXPECT_EQ(cap().err(), ENODATA);
  fs.xattrs[f]["security.capability"] = "cap3";
  now += 61000;
  auto expired = cap();
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->value(), "cap3");
}

TEST_F(MdCacheTest, AFileMadeByAnExclusiveCreateHasNoCapability) {
  auto cap = [&](const Gfid& g) {
    proto::GetxattrRequest r;
    r.set_gfid(g.Bytes());
    r.set_name("security.capability");
    return cache.Getxattr(r).get();
  };
  fs.refuse_security = true;
  Gfid first;
  ASSERT_TRUE(Create(Gfid::Root(), "first", &first).ok());  // not exclusive, nothing learnt yet
  EXPECT_EQ(cap(first).err(), EOPNOTSUPP);
  EXPECT_EQ(fs.calls["getxattr"], 1);
  proto::CreateRequest r;
  Gfid g = Gfid::Random();
  r.set_parent(Gfid::Root().Bytes());
  r.set_name("new");
  r.set_gfid(g.Bytes());
  r.set_mode(0644);
  r.set_exclusive(true);
  ASSERT_TRUE(cache.Create(r).get().ok());
  EXPECT_EQ(cap(g).err(), EOPNOTSUPP);  // as the bricks answer, without asking them
  EXPECT_EQ(fs.calls["getxattr"], 1);
  // A non-exclusive create may have opened an existing file: asked.
  Gfid other;
  ASSERT_TRUE(Create(Gfid::Root(), "other", &other).ok());
  EXPECT_EQ(cap(other).err(), EOPNOTSUPP);
  EXPECT_EQ(fs.calls["getxattr"], 2);
}

TEST_F(MdCacheTest, EnvSwitch) {
  setenv("HAFS_MD_CACHE", "0", 1);
  EXPECT_FALSE(MdCache::EnabledByEnv());
  setenv("HAFS_MD_CACHE", "1", 1);
  EXPECT_TRUE(MdCache::EnabledByEnv());
  unsetenv("HAFS_MD_CACHE");
  EXPECT_TRUE(MdCache::EnabledByEnv());
}

}  // namespace
}  // namespace hafs::client
