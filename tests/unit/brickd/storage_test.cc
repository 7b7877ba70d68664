// Storage, in-process, on a real directory (needs root for trusted.* xattrs, as bricks do).
#include "brickd/storage.h"
#include "brickd/storage_internal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <map>
#include <optional>
#include <set>

#include "temp_dir.h"

namespace hafs::brick {
namespace {

const char* kVol = "6f1c5e1a-0000-4000-8000-000000000001";

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto s = Storage::Open(Storage::Options{dir_.path(), kVol, 0});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  Gfid MakeFile(const Gfid& parent, const std::string& name, const std::string& content = "") {
    Gfid g = Gfid::Random();
    auto r = store_->Create(parent, name, g, 0644, true, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!content.empty()) {
      EXPECT_TRUE(store_->Write(g, 0, content, false, false).ok());
    }
    return g;
  }
  Gfid MakeDir(const Gfid& parent, const std::string& name) {
    Gfid g = Gfid::Random();
    auto r = store_->Mkdir(parent, name, g, 0755, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return g;
  }
  std::string ReadAll(const Gfid& g) {
    std::string out;
    EXPECT_TRUE(store_->Read(g, 0, 1 << 20, &out).ok());
    return out;
  }
  std::string Slurp(const std::string& rel) {
    std::ifstream f(dir_ / rel);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

  hafs::testing::TempDir dir_;
  std::unique_ptr<Storage> store_;
  const Gfid root_ = Gfid::Root();
};

TEST_F(StorageTest, CreateWriteReadAndPlainFilesOnDisk) {
  Gfid www = MakeDir(root_, "www");
  Gfid f = MakeFile(www, "index.html", "<h1>hello</h1>");
  EXPECT_EQ(ReadAll(f), "<h1>hello</h1>");
  // An operator reads the same bytes off the brick with plain tools.
  EXPECT_EQ(Slurp("www/index.html"), "<h1>hello</h1>");
  auto l = store_->Lookup(www, "index.html", Gfid());
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->inode.gfid, f);
  EXPECT_EQ(l->inode.st.st_size, 14);
  EXPECT_EQ(l->inode.st.st_nlink, 1u);  // the gfid link is hidden
  EXPECT_EQ(l->inode.st.st_mode & 07777, 0644u);
}

// The attributes a write answers with (from the open fd) are Getattr's: size, hidden gfid
// link, hard links.
TEST_F(StorageTest, WriteAnswersTheAttributesGetattrWould) {
  Gfid f = MakeFile(root_, "a");
  std::optional<Inode> after;
  ASSERT_TRUE(store_->Write(f, 10, "hello", false, false, &after).ok());
  ASSERT_TRUE(after.has_value());
  auto g = store_->Getattr(f);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(after->gfid, f);
  EXPECT_EQ(after->st.st_size, 15);
  EXPECT_EQ(after->st.st_nlink, 1u);
  EXPECT_EQ(after->st.st_ino, g->st.st_ino);
  EXPECT_EQ(after->st.st_mode, g->st.st_mode);
  EXPECT_EQ(after->st.st_mtim.tv_sec, g->st.st_mtim.tv_sec);
  EXPECT_EQ(after->st.st_mtim.tv_nsec, g->st.st_mtim.tv_nsec);
  ASSERT_TRUE(store_->Link(f, root_, "b").ok());
  after.reset();
  ASSERT_TRUE(store_->Write(f, 0, "x", true, false, &after).ok());  // append
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->st.st_size, 16);
  EXPECT_EQ(after->st.st_nlink, 2u);
  EXPECT_EQ(ReadAll(f), std::string(10, '\0') + "hellox");
}

// Whether the file system under `dir` takes O_DIRECT (statx STATX_DIOALIGN of a regular file,
// Linux 6.1+).
bool TakesDirectIo(const std::string& dir) {
  std::string probe = dir + "/dio-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  struct statx sx {};
  bool yes = ::statx(AT_FDCWD, probe.c_str(), 0, 0x2000 /* STATX_DIOALIGN */, &sx) == 0 && (sx.stx_mask & 0x2000) &&
             sx.stx_dio_offset_align > 0 && sx.stx_dio_offset_align <= 4096;
  ::unlink(probe.c_str());
  return yes;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + seed) % 251);
  return s;
}

TEST_F(StorageTest, LargeAlignedWritesBypassThePageCacheAndMixWithBufferedOnes) {
  const bool direct = TakesDirectIo(dir_.path());
  const size_t big = 256 * 1024;
  Gfid f = MakeFile(root_, "big");
  // A buffered write leaves a dirty page; the direct write over it must win.
  ASSERT_TRUE(store_->Write(f, 5000, "old", false, false).ok());
  std::string a = Pattern(big, 1);
  std::optional<Inode> after;
  ASSERT_TRUE(store_->Write(f, 0, a, false, false, &after).ok());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->st.st_size, static_cast<off_t>(big));
  EXPECT_EQ(store_->bytes_written_direct(), direct ? big : 0u);
  std::string out;
  ASSERT_TRUE(store_->Read(f, 0, big, &out).ok());
  EXPECT_TRUE(out == a) << "direct write over a dirty page";
  // A small buffered write inside it, then an extending direct write past a hole.
  ASSERT_TRUE(store_->Write(f, 100, "XYZ", false, false).ok());
  a.replace(100, 3, "XYZ");
  std::string b = Pattern(big, 2);
  after.reset();
  ASSERT_TRUE(store_->Write(f, 1 << 20, b, false, true /* datasync */, &after).ok());
  EXPECT_EQ(after->st.st_size, static_cast<off_t>((1 << 20) + big));
  EXPECT_EQ(store_->bytes_written_direct(), direct ? 2 * big : 0u);
  // Unaligned or small writes stay buffered, and are still right.
  std::string c = Pattern(big, 3);
  ASSERT_TRUE(store_->Write(f, (1 << 20) + 4097, c, false, false).ok());
  EXPECT_EQ(store_->bytes_written_direct(), direct ? 2 * big : 0u);
  std::string want = a + std::string((1 << 20) - big, '\0') + b.substr(0, 4097) + c;
  ASSERT_TRUE(store_->Read(f, 0, want.size() + 10, &out).ok());
  EXPECT_EQ(out.size(), want.size());
  EXPECT_TRUE(out == want) << "mixed direct and buffered writes";
  // An open file that lost its last name still takes direct writes (reopened through /proc).
  ASSERT_TRUE(store_->OpenRef(f).ok());
  ASSERT_TRUE(store_->Unlink(root_, "big").ok());
  ASSERT_TRUE(store_->Write(f, 0, b, false, false).ok());
  ASSERT_TRUE(store_->Read(f, 0, big, &out).ok());
  EXPECT_TRUE(out == b);
  store_->CloseRef(f);
}

TEST_F(StorageTest, DirectWritesCanBeSwitchedOff) {
  Storage::Options o{dir_.path(), kVol, 0};
  o.direct_write_min = 0;
  store_.reset();
  auto s = Storage::Open(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  store_ = std::move(s).value();
  Gfid f = MakeFile(root_, "big");
  std::string a = Pattern(1 << 20, 4);
  ASSERT_TRUE(store_->Write(f, 0, a, false, false).ok());
  EXPECT_EQ(store_->bytes_written_direct(), 0u);
  EXPECT_TRUE(ReadAll(f) == a);
}

TEST_F(StorageTest, GfidsSurviveRestart) {
  Gfid d = MakeDir(root_, "a");
  Gfid d2 = MakeDir(d, "b");
  Gfid f = MakeFile(d2, "c.txt", "data");
  Reopen();
  auto a = store_->Getattr(d2);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(S_ISDIR(a->st.st_mode));
  EXPECT_EQ(ReadAll(f), "data");
  auto l = store_->Lookup(d2, "c.txt", Gfid());
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->inode.gfid, f);
}

TEST_F(StorageTest, EntryErrorsArePosix) {
  Gfid d = MakeDir(root_, "d");
  MakeFile(d, "f");
  Gfid g = Gfid::Random();
  EXPECT_EQ(store_->Create(d, "f", g, 0644, true, {}).err(), EEXIST);
  EXPECT_EQ(store_->Mkdir(root_, "d", Gfid::Random(), 0755, {}).err(), EEXIST);
  EXPECT_EQ(store_->Lookup(d, "missing", Gfid()).err(), ENOENT);
  EXPECT_EQ(store_->Unlink(d, "missing").err(), ENOENT);
  EXPECT_EQ(store_->Rmdir(root_, "d").err(), ENOTEMPTY);
  EXPECT_EQ(store_->Unlink(root_, "d").err(), EISDIR);
  EXPECT_EQ(store_->Rmdir(d, "f").err(), ENOTDIR);
  Gfid f = store_->Lookup(d, "f", Gfid())->inode.gfid;
  EXPECT_EQ(store_->Mkdir(f, "x", Gfid::Random(), 0755, {}).err(), ENOENT);  // a file is no parent
  EXPECT_EQ(store_->Readdir(f, 0, 10, false).err(), ENOTDIR);
  EXPECT_EQ(store_->Getattr(Gfid::Random()).err(), ENOENT);
  EXPECT_EQ(store_->Link(d, root_, "dirlink").err(), EPERM);
  std::string buf;
  EXPECT_EQ(store_->Read(d, 0, 10, &buf).err(), EISDIR);
  MakeDir(d, "sub");
  EXPECT_EQ(store_->Rename(d, "f", d, "sub", 0).err(), EISDIR);
  EXPECT_EQ(store_->Rename(root_, "d", d, "inside", 0).err(), EINVAL);  // into itself
}

TEST_F(StorageTest, HostileNamesNeverEscape) {
  Gfid d = MakeDir(root_, "d");
  const std::vector<std::string> hostile = {"..", ".", "../x", "a/b", "/etc/passwd", std::string("a\0b", 3),
                                            std::string(256, 'x')};
  for (const std::string& bad : hostile) {
    EXPECT_NE(store_->Create(d, bad, Gfid::Random(), 0644, true, {}).err(), 0) << bad;
    EXPECT_NE(store_->Lookup(d, bad, Gfid()).err(), 0) << bad;
    EXPECT_NE(store_->Mkdir(d, bad, Gfid::Random(), 0755, {}).err(), 0) << bad;
  }
  EXPECT_EQ(store_->Create(d, std::string(256, 'x'), Gfid::Random(), 0644, true, {}).err(), ENAMETOOLONG);
  // The private folder is invisible and untouchable.
  EXPECT_EQ(store_->Lookup(root_, ".hafs", Gfid()).err(), ENOENT);
  EXPECT_EQ(store_->Mkdir(root_, ".hafs", Gfid::Random(), 0755, {}).err(), EPERM);
  EXPECT_EQ(store_->Unlink(root_, ".hafs").err(), EPERM);
  EXPECT_EQ(store_->Rename(d, "x", root_, ".hafs", 0).err(), EPERM);
  auto list = store_->Readdir(root_, 0, 100, true);
  ASSERT_TRUE(list.ok());
  for (auto& e : list->entries) EXPECT_NE(e.name, ".hafs");
  // A symlink pointing outside is stored, never followed by the brick.
  Gfid s = Gfid::Random();
  ASSERT_TRUE(store_->Symlink(d, "evil", s, "/etc", {}).ok());
  EXPECT_EQ(*store_->Readlink(s), "/etc");
  EXPECT_NE(store_->Create(s, "passwd", Gfid::Random(), 0644, false, {}).err(), 0);
  EXPECT_NE(store_->Lookup(s, "passwd", Gfid()).err(), 0);
  std::string buf;
  EXPECT_NE(store_->Read(s, 0, 100, &buf).err(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "d/evil/hafs-probe"));
}

TEST_F(StorageTest, RenameDirectoryKeepsChildrenResolvable) {
  Gfid a = MakeDir(root_, "a");
  Gfid b = MakeDir(a, "b");
  Gfid f = MakeFile(b, "f", "x");
  Gfid z = MakeDir(root_, "z");
  ASSERT_TRUE(store_->Rename(root_, "a", z, "a2", 0).ok());
  Reopen();  // cold caches: resolution walks the updated records
  Gfid c = Gfid::Random();
  ASSERT_TRUE(store_->Create(b, "new", c, 0600, true, {}).ok());
  EXPECT_TRUE(std::filesystem::exists(dir_ / "z/a2/b/new"));
  EXPECT_EQ(ReadAll(f), "x");
}

TEST_F(StorageTest, RenameOverExistingFileDropsIt) {
  Gfid f1 = MakeFile(root_, "one", "1");
  Gfid f2 = MakeFile(root_, "two", "2");
  auto r = store_->Rename(root_, "one", root_, "two", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->replaced, f2);
  EXPECT_EQ(store_->Getattr(f2).err(), ENOENT);
  EXPECT_EQ(ReadAll(f1), "1");
  EXPECT_EQ(store_->Lookup(root_, "two", Gfid())->inode.gfid, f1);
  MakeFile(root_, "three", "3");
  EXPECT_EQ(store_->Rename(root_, "two", root_, "three", RENAME_NOREPLACE).err(), EEXIST);
}

TEST_F(StorageTest, HardLinksAndUnlinkOfOpenFile) {
  Gfid f = MakeFile(root_, "a", "payload");
  ASSERT_TRUE(store_->Link(f, root_, "b").ok());
  EXPECT_EQ(store_->Getattr(f)->st.st_nlink, 2u);
  ASSERT_TRUE(store_->Unlink(root_, "a").ok());
  EXPECT_EQ(ReadAll(f), "payload");
  ASSERT_TRUE(store_->OpenRef(f).ok());
  ASSERT_TRUE(store_->Unlink(root_, "b").ok());
  EXPECT_EQ(ReadAll(f), "payload");  // still open: data stays
  store_->CloseRef(f);
  EXPECT_EQ(store_->Getattr(f).err(), ENOENT);
}

TEST_F(StorageTest, ReaddirCookiesResume) {
  Gfid d = MakeDir(root_, "many");
  std::set<std::string> want;
  for (int i = 0; i < 300; ++i) {
    std::string n = "f" + std::to_string(i);
    MakeFile(d, n);
    want.insert(n);
  }
  std::set<std::string> got;
  uint64_t cookie = 0;
  for (int pages = 0; pages < 100; ++pages) {
    auto r = store_->Readdir(d, cookie, 64, pages % 2 == 0);
    ASSERT_TRUE(r.ok());
    for (auto& e : r->entries) {
      EXPECT_TRUE(got.insert(e.name).second) << "duplicate " << e.name;
      EXPECT_FALSE(e.gfid.IsNull());
      cookie = e.next_cookie;
    }
    if (r->eof) break;
  }
  EXPECT_EQ(got, want);
}

// Readdirplus looks entries up several at a time in pages of at least kParallelLookupsFrom
// (128) entries, one at a time in smaller ones: every name must get its own gfid and
// attributes either way, whatever order the look-ups finish in.
TEST_F(StorageTest, ReaddirplusGivesEachEntryItsOwnAttributes) {
  Gfid d = MakeDir(root_, "big");
  std::map<std::string, Gfid> made;
  for (int i = 0; i < 200; ++i) {  // sizes tell the entries apart
    std::string n = "f" + std::to_string(i);
    made[n] = MakeFile(d, n, std::string(static_cast<size_t>(i), 'x'));
  }
  ASSERT_TRUE(store_->Link(made["f7"], d, "f7-link").ok());
  Gfid sub = MakeDir(d, "sub");
  for (int i = 0; i < 40; ++i)  // copied in by hand: no gfid until listed
    std::ofstream(dir_ / ("big/hand" + std::to_string(i))) << std::string(static_cast<size_t>(1000 + i), 'h');
  std::map<std::string, DirListing::Entry> got;
  uint64_t cookie = 0;
  for (int pages = 0; pages < 20; ++pages) {
    auto r = store_->Readdir(d, cookie, 150, true);  // 150 in parallel, then 92 in order
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (auto& e : r->entries) {
      cookie = e.next_cookie;
      EXPECT_TRUE(got.emplace(e.name, e).second) << "duplicate " << e.name;
    }
    if (r->eof) break;
  }
  ASSERT_EQ(got.size(), 200u + 1 + 1 + 40);
  std::set<Gfid> gfids;
  for (int i = 0; i < 200; ++i) {
    std::string n = "f" + std::to_string(i);
    const auto& e = got.at(n);
    EXPECT_EQ(e.gfid, made[n]) << n;
    EXPECT_EQ(e.st.st_size, i) << n;
    EXPECT_EQ(e.st.st_nlink, n == "f7" ? 2u : 1u) << n;  // the gfid link is not counted
    gfids.insert(e.gfid);
  }
  EXPECT_EQ(got.at("f7-link").gfid, made["f7"]);
  EXPECT_EQ(got.at("sub").gfid, sub);
  EXPECT_TRUE(S_ISDIR(got.at("sub").st.st_mode));
  for (int i = 0; i < 40; ++i) {
    std::string n = "hand" + std::to_string(i);
    const auto& e = got.at(n);
    EXPECT_FALSE(e.gfid.IsNull()) << n;
    EXPECT_EQ(e.st.st_size, 1000 + i) << n;
    EXPECT_EQ(e.st.st_nlink, 1u) << n;
    EXPECT_TRUE(gfids.insert(e.gfid).second) << n << " shares a gfid";
    // Adopted for good: a lookup finds the same gfid.
    auto l = store_->Lookup(d, n, Gfid());
    ASSERT_TRUE(l.ok()) << n;
    EXPECT_EQ(l->inode.gfid, e.gfid) << n;
  }
  // A page size of 0 returns nothing (and does not loop).
  auto none = store_->Readdir(d, 0, 0, true);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->entries.empty());
}

TEST_F(StorageTest, AdoptsEntriesCreatedBehindItsBack) {
  { std::ofstream(dir_ / "manual.txt") << "by hand"; }
  std::filesystem::create_directory(dir_ / "manualdir");
  Gfid want = Gfid::Random();
  auto l = store_->Lookup(root_, "manual.txt", want);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->inode.gfid, want);
  EXPECT_EQ(ReadAll(want), "by hand");
  auto d = store_->Lookup(root_, "manualdir", Gfid());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(store_->Create(d->inode.gfid, "x", Gfid::Random(), 0644, true, {}).ok());
}

// Entry xattrs (the gfid) are read by name after fchdir into the entry's directory, on
// threads with a working directory of their own (EntryPath): every thread must still reach the
// entry of the directory it asked about, come back to the working directory it had, and
// path-based calls must work (the brick was opened by a relative path here).
TEST_F(StorageTest, EntryXattrsAreReadInTheirOwnDirectoryFromAnyThread) {
  std::filesystem::path where = dir_.path();
  std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(where.parent_path());
  store_.reset();
  auto opened = Storage::Open(Storage::Options{where.filename().string(), kVol, 0});
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();

  Gfid a = MakeDir(root_, "a"), b = MakeDir(root_, "b");
  Gfid af = MakeFile(a, "f"), bf = MakeFile(b, "f");
  Gfid as = Gfid::Random();
  ASSERT_TRUE(store_->Symlink(a, "s", as, "f", {}).ok());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      struct stat before {}, after {};
      if (::stat(".", &before) != 0) wrong++;
      for (int i = 0; i < 300; ++i) {
        auto la = store_->Lookup(a, "f", Gfid());
        auto lb = store_->Lookup(b, "f", Gfid());
        auto ls = store_->Lookup(a, "s", Gfid());  // the link itself, never its target
        if (!la.ok() || la->inode.gfid != af || !lb.ok() || lb->inode.gfid != bf || !ls.ok() || ls->inode.gfid != as)
          wrong++;
      }
      if (::stat(".", &after) != 0 || after.st_ino != before.st_ino || after.st_dev != before.st_dev) wrong++;
      if (!store_->Setxattr(t % 2 ? af : bf, "user.k", "v", 0).ok()) wrong++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(*store_->Getxattr(af, "user.k"), "v");
  EXPECT_EQ(*store_->Getxattr(bf, "user.k"), "v");
}

// A readdir page's threads enter the directory once per chunk of entries (InDirectory); an
// entry of another directory read meanwhile comes back to it, and the scope leaves the thread
// where it was. Pages of 300 entries (threads at work) list each entry with its own gfid.
TEST_F(StorageTest, ReaddirEntersEachDirectoryOncePerChunkAndComesBack) {
  Gfid a = MakeDir(root_, "a"), b = MakeDir(root_, "b");
  std::map<std::string, Gfid> want_a, want_b;
  for (int i = 0; i < 300; ++i) {
    std::string n = "f" + std::to_string(i);
    want_a[n] = MakeFile(a, n);
    want_b[n] = MakeFile(b, n);
  }
  auto gfid_at = [](const char* path) {
    std::string raw(Gfid::kSize, '\0');
    ssize_t n = ::lgetxattr(path, kGfidXattr, raw.data(), raw.size());
    return n == static_cast<ssize_t>(Gfid::kSize) ? Gfid::FromBytes(raw).value_or(Gfid()) : Gfid();
  };
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      struct stat before {}, after {};
      if (::stat(".", &before) != 0) wrong++;
      int fa = ::open((dir_.path() + "/a").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      int fb = ::open((dir_.path() + "/b").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      {
        InDirectory in(fa);
        std::string f = "f7";
        for (int i = 0; i < 50; ++i) {
          if (gfid_at(EntryPath(fa, f).c_str()) != want_a[f]) wrong++;
          if (gfid_at(EntryPath(fb, f).c_str()) != want_b[f]) wrong++;  // and back into a
          if (gfid_at(f.c_str()) != want_a[f]) wrong++;                   // still in a
        }
      }
      ::close(fa);
      ::close(fb);
      for (int round = 0; round < 5; ++round) {
        for (auto [d, want] : {std::pair{a, &want_a}, std::pair{b, &want_b}}) {
          auto page = store_->Readdir(d, 0, 1000, round % 2 == 0);
          if (!page.ok() || page->entries.size() != 300) {
            wrong++;
            continue;
          }
          for (const auto& e : page->entries)
            if (want->at(e.name) != e.gfid) wrong++;
        }
      }
      if (::stat(".", &after) != 0 || after.st_ino != before.st_ino || after.st_dev != before.st_dev) wrong++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(StorageTest, SetattrTruncateFallocateXattrs) {
  Gfid f = MakeFile(root_, "f", "0123456789");
  SetattrArgs a;
  a.set_mode = true;
  a.mode = 0600;
  a.set_uid = a.set_gid = true;
  a.uid = 1234;
  a.gid = 5678;
  a.set_mtime = true;
  a.mtime = {1000000, 5};
  auto r = store_->Setattr(f, a);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->st.st_mode & 07777, 0600u);
  EXPECT_EQ(r->st.st_uid, 1234u);
  EXPECT_EQ(r->st.st_mtim.tv_sec, 1000000);
  EXPECT_EQ(store_->Truncate(f, 4)->st.st_size, 4);
  EXPECT_EQ(ReadAll(f), "0123");
  EXPECT_EQ(store_->Fallocate(f, 0, 0, 1 << 20)->st.st_size, 1 << 20);
  EXPECT_EQ(store_->Truncate(root_, 0).err(), EISDIR);

  EXPECT_TRUE(store_->Setxattr(f, "user.color", "blue", 0).ok());
  EXPECT_EQ(*store_->Getxattr(f, "user.color"), "blue");
  EXPECT_EQ(store_->Setxattr(f, "user.color", "red", XATTR_CREATE).err(), EEXIST);
  EXPECT_EQ(store_->Setxattr(f, "user.none", "x", XATTR_REPLACE).err(), ENODATA);
  EXPECT_EQ(store_->Setxattr(f, "hafs.pending", "x", 0).err(), EPERM);
  EXPECT_EQ(store_->Setxattr(f, "trusted.hafs.gfid", "x", 0).err(), EPERM);
  EXPECT_EQ(store_->Setxattr(f, "trusted.other", "x", 0).err(), EOPNOTSUPP);
  EXPECT_EQ(store_->Getxattr(f, "trusted.hafs.gfid").err(), ENODATA);  // never leaks
  auto names = store_->Listxattr(f);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"user.color"});
  EXPECT_TRUE(store_->Removexattr(f, "user.color").ok());
  EXPECT_EQ(store_->Getxattr(f, "user.color").err(), ENODATA);
  EXPECT_TRUE(store_->Setxattr(root_, "user.dir", "yes", 0).ok());
  EXPECT_EQ(*store_->Getxattr(root_, "user.dir"), "yes");
}

TEST_F(StorageTest, AccessChecksModeBits) {
  Gfid f = MakeFile(root_, "f");
  SetattrArgs a;
  a.set_mode = a.set_uid = a.set_gid = true;
  a.mode = 0640;
  a.uid = 1000;
  a.gid = 100;
  ASSERT_TRUE(store_->Setattr(f, a).ok());
  EXPECT_TRUE(store_->Access(f, R_OK | W_OK, {1000, 1, {}}).ok());
  EXPECT_EQ(store_->Access(f, X_OK, {1000, 1, {}}).err(), EACCES);
  EXPECT_TRUE(store_->Access(f, R_OK, {2000, 2, {100}}).ok());  // supplementary group
  EXPECT_EQ(store_->Access(f, W_OK, {2000, 100, {}}).err(), EACCES);
  EXPECT_EQ(store_->Access(f, R_OK, {3000, 3, {}}).err(), EACCES);
  EXPECT_TRUE(store_->Access(f, R_OK | W_OK, {0, 0, {}}).ok());
  EXPECT_EQ(store_->Access(f, X_OK, {0, 0, {}}).err(), EACCES);
}

TEST_F(StorageTest, RefusesAnotherVolumesBrick) {
  store_.reset();
  auto other = Storage::Open(Storage::Options{dir_.path(), "6f1c5e1a-0000-4000-8000-000000000002", 0});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.err(), EEXIST);
  EXPECT_NE(other.status().message().find("belongs to volume"), std::string::npos);
  Reopen();
}

TEST_F(StorageTest, SpecialFiles) {
  Gfid fifo = Gfid::Random();
  auto r = store_->Mknod(root_, "pipe", fifo, S_IFIFO | 0600, 0, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(S_ISFIFO(r->inode.st.st_mode));
  std::string buf;
  EXPECT_EQ(store_->Read(fifo, 0, 10, &buf).err(), EINVAL);  // never opened by the brick
  EXPECT_TRUE(store_->Unlink(root_, "pipe").ok());
  EXPECT_EQ(store_->Getattr(fifo).err(), ENOENT);
}

}  // namespace
}  // namespace hafs::brick
