// The brick's POSIX surface through a real gRPC channel to a real hafs-brickd.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <map>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <atomic>

#include "tests/support/brickd_process.h"

namespace hafs::testing {
namespace {

using grpc::ClientContext;
using grpc::StatusCode;

class BrickRpcTest : public ::testing::Test {
 protected:
  proto::Brick::Stub& stub() { return brick_.stub(); }

  proto::EntryReply Mkdir(const Gfid& parent, const std::string& name, Gfid* out = nullptr, uint32_t mode = 0755,
                          const std::map<std::string, std::string>& xattrs = {}) {
    proto::MkdirRequest req;
    Gfid g = Gfid::Random();
    req.set_parent(G(parent));
    req.set_name(name);
    req.set_gfid(G(g));
    req.set_mode(mode);
    req.mutable_xattrs()->insert(xattrs.begin(), xattrs.end());
    proto::EntryReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Mkdir(&ctx, req, &rep).ok());
    if (out) *out = g;
    return rep;
  }
  proto::EntryReply Create(const Gfid& parent, const std::string& name, Gfid* out = nullptr, bool excl = true) {
    proto::CreateRequest req;
    Gfid g = Gfid::Random();
    req.set_parent(G(parent));
    req.set_name(name);
    req.set_gfid(G(g));
    req.set_mode(0644);
    req.set_exclusive(excl);
    proto::EntryReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Create(&ctx, req, &rep).ok());
    if (out) *out = g;
    return rep;
  }
  proto::WriteReply Write(const Gfid& g, uint64_t off, const std::string& data) {
    proto::WriteRequest req;
    req.set_gfid(G(g));
    req.set_offset(off);
    req.set_data(data);
    proto::WriteReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Write(&ctx, req, &rep).ok());
    return rep;
  }
  std::string Read(const Gfid& g, uint64_t off, uint32_t size, int* err = nullptr) {
    proto::ReadRequest req;
    req.set_gfid(G(g));
    req.set_offset(off);
    req.set_size(size);
    proto::ReadReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Read(&ctx, req, &rep).ok());
    if (err) *err = rep.err();
    return rep.data();
  }
  proto::EntryReply Lookup(const Gfid& parent, const std::string& name) {
    proto::EntryRequest req;
    req.set_parent(G(parent));
    req.set_name(name);
    proto::EntryReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Lookup(&ctx, req, &rep).ok());
    return rep;
  }
  int Unlink(const Gfid& parent, const std::string& name, bool dir = false) {
    proto::NameRequest req;
    req.set_parent(G(parent));
    req.set_name(name);
    proto::EntryReply rep;
    ClientContext ctx;
    EXPECT_TRUE((dir ? stub().Rmdir(&ctx, req, &rep) : stub().Unlink(&ctx, req, &rep)).ok());
    return rep.err();
  }
  int Rename(const Gfid& op, const std::string& on, const Gfid& np, const std::string& nn, uint32_t flags = 0) {
    proto::RenameRequest req;
    req.set_old_parent(G(op));
    req.set_old_name(on);
    req.set_new_parent(G(np));
    req.set_new_name(nn);
    req.set_flags(flags);
    proto::RenameReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Rename(&ctx, req, &rep).ok());
    return rep.err();
  }
  std::vector<proto::DirEntry> ReaddirAll(const Gfid& g, bool plus, uint32_t page = 100) {
    std::vector<proto::DirEntry> out;
    uint64_t cookie = 0;
    for (int i = 0; i < 10000; ++i) {
      proto::ReaddirRequest req;
      req.set_gfid(G(g));
      req.set_cookie(cookie);
      req.set_max_entries(page);
      req.set_plus(plus);
      proto::ReaddirReply rep;
      ClientContext ctx;
      EXPECT_TRUE(stub().Readdir(&ctx, req, &rep).ok());
      EXPECT_EQ(rep.err(), 0);
      for (auto& e : rep.entries()) {
        out.push_back(e);
        cookie = e.next_cookie();
      }
      if (rep.eof() || rep.err()) break;
    }
    return out;
  }

  BrickdProcess brick_;
  const Gfid root_ = Gfid::Root();
};

TEST_F(BrickRpcTest, PingAndStats) {
  proto::PingReply ping;
  ClientContext c1;
  ASSERT_TRUE(stub().Ping(&c1, proto::PingRequest(), &ping).ok());
  EXPECT_EQ(ping.volume_id(), kVolumeId);
  Create(root_, "f");
  proto::StatsReply stats;
  ClientContext c2;
  ASSERT_TRUE(stub().Stats(&c2, proto::PingRequest(), &stats).ok());
  bool saw_create = false;
  for (auto& op : stats.ops()) {
    if (op.op() == "create") {
      saw_create = true;
      EXPECT_EQ(op.count(), 1u);
      uint64_t in_buckets = 0;
      for (auto b : op.latency_buckets()) in_buckets += b;
      EXPECT_EQ(in_buckets, 1u);
    }
  }
  EXPECT_TRUE(saw_create);
}

TEST_F(BrickRpcTest, EveryPosixOperationRoundTrips) {
  Gfid www, f, sub;
  ASSERT_EQ(Mkdir(root_, "www", &www).err(), 0);
  auto cr = Create(www, "index.html", &f);
  ASSERT_EQ(cr.err(), 0);
  EXPECT_EQ(cr.attr().gfid(), G(f));
  EXPECT_TRUE(S_ISREG(cr.attr().mode()));
  EXPECT_TRUE(S_ISDIR(cr.parent_attr().mode()));

  // 1 MiB write and read back, unchanged, in one call each.
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 3);
  auto wr = Write(f, 0, big);
  ASSERT_EQ(wr.err(), 0);
  EXPECT_EQ(wr.written(), big.size());
  EXPECT_EQ(wr.attr().size(), big.size());
  EXPECT_EQ(Read(f, 0, 1 << 20), big);
  EXPECT_EQ(Read(f, 100, 10), big.substr(100, 10));

  {  // getattr + setattr
    proto::SetattrRequest req;
    req.set_gfid(G(f));
    req.set_valid(proto::SetattrRequest::MODE | proto::SetattrRequest::UID | proto::SetattrRequest::MTIME);
    req.set_mode(0600);
    req.set_uid(33);
    req.set_mtime_ns(1234567890123456789LL);
    proto::AttrReply rep;
    ClientContext ctx;
    ASSERT_TRUE(stub().Setattr(&ctx, req, &rep).ok());
    ASSERT_EQ(rep.err(), 0);
    EXPECT_EQ(rep.attr().mode() & 07777, 0600u);
    EXPECT_EQ(rep.attr().uid(), 33u);
    EXPECT_EQ(rep.attr().mtime_ns(), 1234567890123456789LL);
    proto::GfidRequest greq;
    greq.set_gfid(G(f));
    ClientContext c2;
    ASSERT_TRUE(stub().Getattr(&c2, greq, &rep).ok());
    EXPECT_EQ(rep.attr().uid(), 33u);
  }
  {  // truncate, fallocate, fsync
    proto::TruncateRequest t;
    t.set_gfid(G(f));
    t.set_size(10);
    proto::AttrReply rep;
    ClientContext c1;
    ASSERT_TRUE(stub().Truncate(&c1, t, &rep).ok());
    EXPECT_EQ(rep.attr().size(), 10u);
    proto::FallocateRequest fa;
    fa.set_gfid(G(f));
    fa.set_offset(0);
    fa.set_length(65536);
    ClientContext c2;
    ASSERT_TRUE(stub().Fallocate(&c2, fa, &rep).ok());
    EXPECT_EQ(rep.attr().size(), 65536u);
    proto::FsyncRequest fs;
    fs.set_gfid(G(f));
    proto::ErrReply er;
    ClientContext c3;
    ASSERT_TRUE(stub().Fsync(&c3, fs, &er).ok());
    EXPECT_EQ(er.err(), 0);
  }
  {  // symlink + readlink, link, mknod
    proto::SymlinkRequest s;
    Gfid sg = Gfid::Random();
    s.set_parent(G(www));
    s.set_name("latest");
    s.set_gfid(G(sg));
    s.set_target("index.html");
    proto::EntryReply rep;
    ClientContext c1;
    ASSERT_TRUE(stub().Symlink(&c1, s, &rep).ok());
    ASSERT_EQ(rep.err(), 0);
    EXPECT_TRUE(S_ISLNK(rep.attr().mode()));
    proto::GfidRequest r;
    r.set_gfid(G(sg));
    proto::ReadlinkReply rl;
    ClientContext c2;
    ASSERT_TRUE(stub().Readlink(&c2, r, &rl).ok());
    EXPECT_EQ(rl.target(), "index.html");

    proto::LinkRequest l;
    l.set_gfid(G(f));
    l.set_new_parent(G(root_));
    l.set_new_name("hard");
    ClientContext c3;
    ASSERT_TRUE(stub().Link(&c3, l, &rep).ok());
    ASSERT_EQ(rep.err(), 0);
    EXPECT_EQ(rep.attr().nlink(), 2u);

    proto::MknodRequest m;
    m.set_parent(G(www));
    m.set_name("fifo");
    m.set_gfid(G(Gfid::Random()));
    m.set_mode(S_IFIFO | 0644);
    ClientContext c4;
    ASSERT_TRUE(stub().Mknod(&c4, m, &rep).ok());
    ASSERT_EQ(rep.err(), 0);
    EXPECT_TRUE(S_ISFIFO(rep.attr().mode()));
  }
  {  // readdir and readdirplus
    auto plain = ReaddirAll(www, false);
    std::set<std::string> names;
    for (auto& e : plain) names.insert(e.name());
    EXPECT_EQ(names, (std::set<std::string>{"index.html", "latest", "fifo"}));
    auto plus = ReaddirAll(www, true);
    for (auto& e : plus) {
      EXPECT_EQ(e.attr().gfid(), e.gfid());
      if (e.name() == "index.html") {
        EXPECT_EQ(e.attr().size(), 65536u);
      }
    }
  }
  {  // xattrs
    proto::SetxattrRequest s;
    s.set_gfid(G(f));
    s.set_name("user.etag");
    s.set_value("abc");
    proto::ErrReply er;
    ClientContext c1;
    ASSERT_TRUE(stub().Setxattr(&c1, s, &er).ok());
    EXPECT_EQ(er.err(), 0);
    proto::GetxattrRequest g;
    g.set_gfid(G(f));
    g.set_name("user.etag");
    proto::XattrReply xr;
    ClientContext c2;
    ASSERT_TRUE(stub().Getxattr(&c2, g, &xr).ok());
    EXPECT_EQ(xr.value(), "abc");
    proto::GfidRequest lr;
    lr.set_gfid(G(f));
    proto::ListxattrReply ll;
    ClientContext c3;
    ASSERT_TRUE(stub().Listxattr(&c3, lr, &ll).ok());
    ASSERT_EQ(ll.names_size(), 1);
    EXPECT_EQ(ll.names(0), "user.etag");
    proto::RemovexattrRequest rx;
    rx.set_gfid(G(f));
    rx.set_name("user.etag");
    ClientContext c4;
    ASSERT_TRUE(stub().Removexattr(&c4, rx, &er).ok());
    EXPECT_EQ(er.err(), 0);
    s.set_name("hafs.pending");
    ClientContext c5;
    ASSERT_TRUE(stub().Setxattr(&c5, s, &er).ok());
    EXPECT_EQ(er.err(), EPERM);
  }
  {  // access, opendir, statfs
    proto::AccessRequest a;
    a.set_gfid(G(f));
    a.set_mask(W_OK);
    a.mutable_caller()->set_uid(1000);
    a.mutable_caller()->set_gid(1000);
    proto::ErrReply er;
    ClientContext c1;
    ASSERT_TRUE(stub().Access(&c1, a, &er).ok());
    EXPECT_EQ(er.err(), EACCES);  // 0600 owned by 33
    a.mutable_caller()->set_uid(33);
    ClientContext c2;
    ASSERT_TRUE(stub().Access(&c2, a, &er).ok());
    EXPECT_EQ(er.err(), 0);
    proto::GfidRequest od;
    od.set_gfid(G(f));
    proto::AttrReply ar;
    ClientContext c3;
    ASSERT_TRUE(stub().Opendir(&c3, od, &ar).ok());
    EXPECT_EQ(ar.err(), ENOTDIR);
    proto::StatfsReply sf;
    ClientContext c4;
    ASSERT_TRUE(stub().Statfs(&c4, od, &sf).ok());
    EXPECT_EQ(sf.err(), 0);
    EXPECT_GT(sf.blocks(), 0u);
    EXPECT_EQ(sf.namemax(), 255u);
  }
  // rename, unlink, rmdir
  ASSERT_EQ(Mkdir(root_, "sub", &sub).err(), 0);
  EXPECT_EQ(Rename(www, "index.html", sub, "moved.html"), 0);
  EXPECT_EQ(Lookup(sub, "moved.html").attr().gfid(), G(f));
  EXPECT_EQ(Lookup(www, "index.html").err(), ENOENT);
  EXPECT_EQ(Unlink(www, "latest"), 0);
  EXPECT_EQ(Unlink(www, "fifo"), 0);
  EXPECT_EQ(Unlink(root_, "www", true), 0);
  // The namespace on disk is plain files and directories.
  EXPECT_TRUE(std::filesystem::is_regular_file(brick_.dir() + "/sub/moved.html"));
  EXPECT_FALSE(std::filesystem::exists(brick_.dir() + "/www"));
}

// A mkdir may carry xattrs (distribute's layout): set before the reply on a directory this
// request made, never on one that existed under the name; a name mkdir may not set (a
// hafs.* command, a non-user xattr) leaves the directory made and xattrs_set false.
TEST_F(BrickRpcTest, MkdirCarriesXattrsOntoTheDirectoryItMakes) {
  auto xattr = [&](const Gfid& g, const std::string& name) {
    proto::GetxattrRequest req;
    req.set_gfid(G(g));
    req.set_name(name);
    proto::XattrReply rep;
    ClientContext ctx;
    EXPECT_TRUE(stub().Getxattr(&ctx, req, &rep).ok());
    return rep.err() == 0 ? rep.value() : "errno " + std::to_string(rep.err());
  };
  Gfid d;
  auto made = Mkdir(root_, "laid-out", &d, 0755, {{"hafs.layout", "layout-1"}, {"user.note", "hello"}});
  ASSERT_EQ(made.err(), 0);
  EXPECT_TRUE(made.xattrs_set());
  EXPECT_EQ(xattr(d, "hafs.layout"), "layout-1");
  EXPECT_EQ(xattr(d, "user.note"), "hello");
  // The name exists: the existing directory is answered and keeps its xattrs.
  auto again = Mkdir(root_, "laid-out", nullptr, 0755, {{"hafs.layout", "layout-2"}});
  EXPECT_EQ(again.err(), EEXIST);
  EXPECT_FALSE(again.xattrs_set());
  EXPECT_EQ(xattr(d, "hafs.layout"), "layout-1");
  // Names mkdir may not set: the directory is made, they are not set, and the reply says so.
  Gfid e, f;
  auto command = Mkdir(root_, "frozen", &e, 0755, {{"hafs.migrate", "freeze 600000"}});
  ASSERT_EQ(command.err(), 0);
  EXPECT_FALSE(command.xattrs_set());
  auto other = Mkdir(root_, "other", &f, 0755, {{"security.x", "y"}});
  ASSERT_EQ(other.err(), 0);
  EXPECT_FALSE(other.xattrs_set());
  EXPECT_EQ(xattr(f, "security.x"), "errno " + std::to_string(EOPNOTSUPP));
}

TEST_F(BrickRpcTest, PosixErrorPaths) {
  Gfid d, f;
  Mkdir(root_, "d", &d);
  Create(d, "f", &f);
  EXPECT_EQ(Create(d, "f").err(), EEXIST);
  EXPECT_EQ(Create(d, "f", nullptr, false).attr().gfid(), G(f));  // non-exclusive: the existing file
  EXPECT_EQ(Mkdir(d, "f").err(), EEXIST);
  EXPECT_EQ(Lookup(d, "nope").err(), ENOENT);
  EXPECT_EQ(Unlink(d, "nope"), ENOENT);
  EXPECT_EQ(Unlink(root_, "d", true), ENOTEMPTY);
  EXPECT_EQ(Unlink(root_, "d"), EISDIR);
  EXPECT_EQ(Unlink(d, "f", true), ENOTDIR);
  EXPECT_EQ(Mkdir(f, "x").err(), ENOENT);  // a file gfid as parent
  EXPECT_EQ(Rename(d, "nope", d, "x"), ENOENT);
  Gfid e;
  Mkdir(d, "e", &e);
  EXPECT_EQ(Rename(d, "f", d, "e"), EISDIR);
  EXPECT_EQ(Rename(d, "e", d, "f"), ENOTDIR);
  Create(e, "inner");
  Gfid e2;
  Mkdir(d, "e2", &e2);
  EXPECT_EQ(Rename(d, "e2", d, "e"), ENOTEMPTY);
  EXPECT_EQ(Rename(root_, "d", e, "loop"), EINVAL);
  EXPECT_EQ(Rename(d, "f", d, "e2", RENAME_NOREPLACE), EEXIST);
  int err = 0;
  Read(d, 0, 10, &err);
  EXPECT_EQ(err, EISDIR);
  Read(Gfid::Random(), 0, 10, &err);
  EXPECT_EQ(err, ENOENT);
  proto::GfidRequest g;
  g.set_gfid(G(Gfid::Random()));
  proto::AttrReply ar;
  ClientContext ctx;
  ASSERT_TRUE(stub().Getattr(&ctx, g, &ar).ok());
  EXPECT_EQ(ar.err(), ENOENT);
}

TEST_F(BrickRpcTest, HostileNamesAndTraversal) {
  for (const std::string& bad : {std::string(".."), std::string("."), std::string("../../etc"),
                                 std::string("a/b"), std::string("x\0y", 3), std::string(256, 'n'), std::string()}) {
    auto r = Create(root_, bad);
    EXPECT_NE(r.err(), 0) << "create accepted '" << bad << "'";
    EXPECT_NE(Lookup(root_, bad).err(), 0);
    EXPECT_NE(Mkdir(root_, bad).err(), 0);
  }
  EXPECT_EQ(Create(root_, std::string(256, 'n')).err(), ENAMETOOLONG);
  EXPECT_EQ(Lookup(root_, ".hafs").err(), ENOENT);
  EXPECT_EQ(Mkdir(root_, ".hafs").err(), EPERM);
  EXPECT_EQ(Unlink(root_, ".hafs", true), EPERM);
  Gfid d;
  Mkdir(root_, "d", &d);
  EXPECT_EQ(Rename(root_, "d", root_, ".hafs"), EPERM);
  EXPECT_EQ(Mkdir(d, ".hafs").err(), 0);  // only the root's .hafs is private

  // A symlink to the outside world is data, never a path the brick follows.
  proto::SymlinkRequest s;
  Gfid sg = Gfid::Random();
  s.set_parent(G(root_));
  s.set_name("etc");
  s.set_gfid(G(sg));
  s.set_target("/etc");
  proto::EntryReply rep;
  ClientContext c1;
  ASSERT_TRUE(stub().Symlink(&c1, s, &rep).ok());
  ASSERT_EQ(rep.err(), 0);
  EXPECT_NE(Lookup(sg, "passwd").err(), 0);
  EXPECT_NE(Create(sg, "hafs-should-not-exist").err(), 0);
  EXPECT_FALSE(std::filesystem::exists("/etc/hafs-should-not-exist"));
  int err = 0;
  Read(sg, 0, 100, &err);
  EXPECT_NE(err, 0);
  // A symlink planted on the brick by hand is not followed either.
  std::filesystem::create_directory_symlink("/etc", brick_.dir() + "/planted");
  auto planted = Lookup(root_, "planted");
  ASSERT_EQ(planted.err(), 0);
  EXPECT_TRUE(S_ISLNK(planted.attr().mode()));
  EXPECT_NE(Lookup(*Gfid::FromBytes(planted.attr().gfid()), "passwd").err(), 0);
  // The root listing never shows the private folder.
  for (auto& e : ReaddirAll(root_, true)) EXPECT_NE(e.name(), ".hafs");
}

TEST_F(BrickRpcTest, MalformedAndOversizedRequestsAreRefused) {
  proto::GfidRequest g;
  g.set_gfid(std::string(15, 'x'));
  proto::AttrReply ar;
  ClientContext c1;
  auto st = stub().Getattr(&c1, g, &ar);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("16 bytes"), std::string::npos);

  Gfid f;
  Create(root_, "f", &f);
  proto::ReadRequest r;
  r.set_gfid(G(f));
  r.set_size(64 << 20);
  proto::ReadReply rr;
  ClientContext c2;
  st = stub().Read(&c2, r, &rr);
  EXPECT_EQ(st.error_code(), StatusCode::OUT_OF_RANGE);
  EXPECT_NE(st.error_message().find("limit"), std::string::npos);

  proto::WriteRequest w;
  w.set_gfid(G(f));
  w.set_data(std::string((4 << 20) + 1, 'a'));
  proto::WriteReply wr;
  ClientContext c3;
  st = stub().Write(&c3, w, &wr);
  EXPECT_EQ(st.error_code(), StatusCode::OUT_OF_RANGE);

  w.set_data(std::string(8 << 20, 'a'));  // beyond the transport limit: gRPC itself refuses
  ClientContext c4;
  st = stub().Write(&c4, w, &wr);
  EXPECT_EQ(st.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  // Nothing was written by the refused requests.
  EXPECT_EQ(std::filesystem::file_size(brick_.dir() + "/f"), 0u);

  proto::InodelkRequest lk;
  lk.set_session_id("never-opened");
  lk.set_gfid(G(f));
  lk.set_type(proto::WRITE);
  proto::ErrReply er;
  ClientContext c5;
  st = stub().Inodelk(&c5, lk, &er);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);

  // The brick is still healthy after all that.
  proto::PingReply ping;
  ClientContext c6;
  EXPECT_TRUE(stub().Ping(&c6, proto::PingRequest(), &ping).ok());
}

// Many maximal writes at once (the brick's CPU tuning: plain pwrite, a flow-control window
// that holds a whole write, more idle gRPC threads): every byte lands where it was sent, and
// the brick does not grow a thread per call.
TEST_F(BrickRpcTest, ConcurrentMaximalWritesLandIntact) {
  Gfid f;
  Create(root_, "big", &f);
  constexpr int kCallers = 12, kPerCaller = 3;
  constexpr size_t kSize = 4u << 20;  // the brick's default --max-io-kib
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      auto stub = proto::Brick::NewStub(brick_.NewChannel());
      for (int k = 0; k < kPerCaller; ++k) {
        int block = t * kPerCaller + k;
        proto::WriteRequest w;
        w.set_gfid(G(f));
        w.set_offset(static_cast<uint64_t>(block) * kSize);
        w.set_data(std::string(kSize, static_cast<char>('A' + block % 26)));
        w.set_datasync(k == kPerCaller - 1);
        proto::WriteReply wr;
        ClientContext c;
        if (!stub->Write(&c, w, &wr).ok() || wr.err() != 0 || wr.written() != kSize) failures++;
      }
    });
  }
  for (auto& c : callers) c.join();
  ASSERT_EQ(failures.load(), 0);
  std::ifstream in(brick_.dir() + "/big", std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(got.size(), kSize * kCallers * kPerCaller);
  for (int block = 0; block < kCallers * kPerCaller; ++block) {
    char want = static_cast<char>('A' + block % 26);
    EXPECT_EQ(got.find_first_not_of(want, block * kSize), (block + 1) * kSize == got.size() ? std::string::npos
                                                                                               : (block + 1) * kSize)
        << "block " << block;
  }
  // Idle gRPC threads are kept (up to 32 pollers) instead of made per call; the count is bounded.
  std::ifstream status("/proc/" + std::to_string(brick_.pid()) + "/status");
  std::string line;
  int threads = -1;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) threads = std::stoi(line.substr(8));
  EXPECT_GT(threads, 0);
  EXPECT_LT(threads, 64);
}

TEST_F(BrickRpcTest, GfidsPersistAcrossRestart) {
  Gfid a, b, f;
  Mkdir(root_, "a", &a);
  Mkdir(a, "b", &b);
  Create(b, "f", &f);
  Write(f, 0, "persist me");
  EXPECT_EQ(brick_.Stop(), 0);  // SIGTERM: clean exit
  brick_.Restart();
  ASSERT_TRUE(brick_.running());
  EXPECT_EQ(Read(f, 0, 100), "persist me");
  proto::GfidRequest g;
  g.set_gfid(G(b));
  proto::AttrReply ar;
  ClientContext ctx;
  ASSERT_TRUE(stub().Getattr(&ctx, g, &ar).ok());
  EXPECT_EQ(ar.err(), 0);
  EXPECT_TRUE(S_ISDIR(ar.attr().mode()));
  EXPECT_EQ(Create(b, "g").err(), 0);  // a directory resolves by gfid after restart
}

TEST_F(BrickRpcTest, RefusesAnotherVolumesDirectory) {
  std::string out;
  int rc = RunToCompletion({BrickdPath(), "--brick-path", brick_.dir(), "--volume-id",
                            "99999999-1111-4222-8333-444455556666", "--listen", "127.0.0.1:0"},
                           &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("belongs to volume " + std::string(kVolumeId)), std::string::npos) << out;
  rc = RunToCompletion({BrickdPath(), "--brick-path", "/nonexistent/brick", "--volume-id", kVolumeId}, &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("No such file or directory"), std::string::npos) << out;
  rc = RunToCompletion({BrickdPath(), "--brick-path", brick_.dir(), "--volume-id", "not-a-uuid"}, &out);
  EXPECT_EQ(rc, 2);
  // Bad arguments of any kind exit 2 (docs/brickd.md), with the reason.
  rc = RunToCompletion({BrickdPath(), "--brick-path", brick_.dir(), "--volume-id", kVolumeId, "--direct-write-kib",
                        "99999"},
                       &out);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("--direct-write-kib"), std::string::npos) << out;
  rc = RunToCompletion({BrickdPath(), "--brick-path", brick_.dir(), "--volume-id", kVolumeId, "--no-such-flag"}, &out);
  EXPECT_EQ(rc, 2);
  rc = RunToCompletion({BrickdPath(), "--volume-id", kVolumeId}, &out);  // --brick-path missing
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(RunToCompletion({BrickdPath(), "--help"}, &out), 0);
}

}  // namespace
}  // namespace hafs::testing
