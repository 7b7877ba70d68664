#include "client-fuse/fuse/fuse_bridge.h"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "common/thread_name.h"

namespace hafs::client {
namespace {

// Every request passes here first: libfuse's worker threads get their name on their first one
// (never the main thread: tools find hafs-fuse by its name).
FuseBridge* B(fuse_req_t req) {
  thread_local bool named = (::gettid() != ::getpid() && (NameThisThread("fuse-worker"), true));
  (void)named;
  return static_cast<FuseBridge*>(fuse_req_userdata(req));
}
Gfid GfidOf(const std::string& raw) { return Gfid::FromBytes(raw).value_or(Gfid()); }

struct timespec Ts(int64_t ns) {
  struct timespec t;
  t.tv_sec = ns / 1000000000LL;
  t.tv_nsec = ns % 1000000000LL;
  return t;
}

void ToStat(const proto::Attr& a, fuse_ino_t ino, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = a.mode();
  st->st_nlink = a.nlink();
  st->st_uid = a.uid();
  st->st_gid = a.gid();
  st->st_rdev = a.rdev();
  st->st_size = static_cast<off_t>(a.size());
  st->st_blocks = static_cast<blkcnt_t>(a.blocks());
  st->st_blksize = a.blksize() ? a.blksize() : 4096;
  st->st_atim = Ts(a.atime_ns());
  st->st_mtim = Ts(a.mtime_ns());
  st->st_ctim = Ts(a.ctime_ns());
}

proto::Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  proto::Caller c;
  c.set_uid(ctx->uid);
  c.set_gid(ctx->gid);
  return c;
}

void ReplyErr(fuse_req_t req, const Status& s) {
  int err = s.err() ? s.err() : EIO;
  fuse_reply_err(req, err);
}

// Resolves the node id or answers ESTALE.
#define GFID_OR_REPLY(var, ino)                      \
  Gfid var;                                          \
  if (!B(req)->GfidFor(ino, &var)) {                 \
    fuse_reply_err(req, ESTALE);                     \
    return;                                          \
  }

#define RO_GUARD()                                   \
  if (B(req)->options().read_only) {                 \
    fuse_reply_err(req, EROFS);                      \
    return;                                          \
  }

void ReplyEntry(fuse_req_t req, const proto::Attr& a) {
  FuseBridge* b = B(req);
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = b->NodeFor(GfidOf(a.gfid()), true);
  e.generation = 1;
  ToStat(a, e.ino, &e.attr);
  e.attr_timeout = b->options().attr_timeout;
  e.entry_timeout = b->options().entry_timeout;
  if (fuse_reply_entry(req, &e) != 0) b->Forget(e.ino, 1);  // the kernel did not take it
}

void ReplyAttr(fuse_req_t req, fuse_ino_t ino, const proto::Attr& a) {
  struct stat st;
  ToStat(a, ino, &st);
  fuse_reply_attr(req, &st, B(req)->options().attr_timeout);
}

// An open file.
struct FileHandle {
  Gfid gfid;
  bool append = false;
  bool writable = true;  // a read-only handle's close does not take write-behind's error
};

// An open directory: a snapshot taken at the first readdir.
struct DirHandle {
  std::mutex mu;
  bool loaded = false;
  std::vector<proto::DirEntry> entries;
};

// ---- callbacks ----

void Init(void* userdata, fuse_conn_info* conn) {
  auto* b = static_cast<FuseBridge*>(userdata);
  conn->max_write = b->options().max_write;
  conn->max_readahead = 1u << 20;
  conn->want |= FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // other clients must see writes at once
  // open(O_TRUNC) of an existing file: the kernel truncates with a setattr first (OpenFile
  // does not truncate; with ATOMIC_O_TRUNC, which libfuse asks for by default, the file kept
  // its old content past the new end).
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto op_clock = B(req)->Time(FuseBridge::kLookup);
  GFID_OR_REPLY(p, parent);
  proto::EntryRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  r.set_gfid_req(Gfid::Random().Bytes());
  // Quick read: a small file's content comes with its lookup into the content cache (the
  // layer keeps it; a read is then answered from memory). Without the layer, nothing asks.
  if (B(req)->graph().content_cache()) r.set_want_data(B(req)->options().quick_read_max);
  auto res = B(req)->graph().top().Lookup(r).get();
  if (!res.ok()) {
    if (res.err() == ENOENT && B(req)->options().negative_timeout > 0) {
      fuse_entry_param e;
      std::memset(&e, 0, sizeof e);
      e.entry_timeout = B(req)->options().negative_timeout;
      fuse_reply_entry(req, &e);
      return;
    }
    return ReplyErr(req, res.status());
  }
  ReplyEntry(req, res->attr());
}

void ForgetOne(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  B(req)->Forget(ino, nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) B(req)->Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto op_clock = B(req)->Time(FuseBridge::kGetattr);
  GFID_OR_REPLY(g, ino);
  proto::GfidRequest r;
  r.set_gfid(g.Bytes());
  if (proto::Attr a; B(req)->ParentGet(g, &a)) return ReplyAttr(req, ino, a);
  auto res = B(req)->graph().top().Getattr(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  ReplyAttr(req, ino, res->attr());
}

void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  proto::SetattrRequest r;
  r.set_gfid(g.Bytes());
  uint32_t v = 0;
  if (to_set & FUSE_SET_ATTR_MODE) v |= proto::SetattrRequest::MODE, r.set_mode(attr->st_mode);
  if (to_set & FUSE_SET_ATTR_UID) v |= proto::SetattrRequest::UID, r.set_uid(attr->st_uid);
  if (to_set & FUSE_SET_ATTR_GID) v |= proto::SetattrRequest::GID, r.set_gid(attr->st_gid);
  if (to_set & FUSE_SET_ATTR_SIZE) v |= proto::SetattrRequest::SIZE, r.set_size(attr->st_size);
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) v |= proto::SetattrRequest::ATIME_NOW;
  else if (to_set & FUSE_SET_ATTR_ATIME) {
    v |= proto::SetattrRequest::ATIME;
    r.set_atime_ns(attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) v |= proto::SetattrRequest::MTIME_NOW;
  else if (to_set & FUSE_SET_ATTR_MTIME) {
    v |= proto::SetattrRequest::MTIME;
    r.set_mtime_ns(attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec);
  }
  r.set_valid(v);
  if (v & proto::SetattrRequest::SIZE) B(req)->QuickDrop(g);  // times, mode, owner: same content
  B(req)->ParentDrop(g);
  auto res = B(req)->graph().top().Setattr(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  ReplyAttr(req, ino, res->attr());
}

void Readlink(fuse_req_t req, fuse_ino_t ino) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  GFID_OR_REPLY(g, ino);
  proto::GfidRequest r;
  r.set_gfid(g.Bytes());
  auto res = B(req)->graph().top().Readlink(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  fuse_reply_readlink(req, res->target().c_str());
}

void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  proto::MknodRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  r.set_gfid(Gfid::Random().Bytes());
  r.set_mode(mode);
  r.set_rdev(rdev);
  *r.mutable_caller() = CallerOf(req);
  auto res = B(req)->graph().top().Mknod(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  B(req)->ParentPut(res->parent_attr(), /*new_entry=*/true);
  ReplyEntry(req, res->attr());
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  proto::MkdirRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  r.set_gfid(Gfid::Random().Bytes());
  r.set_mode(mode & 07777);
  *r.mutable_caller() = CallerOf(req);
  auto res = B(req)->graph().top().Mkdir(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  B(req)->ParentPut(res->parent_attr(), /*new_entry=*/true);
  ReplyEntry(req, res->attr());
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  proto::SymlinkRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  r.set_gfid(Gfid::Random().Bytes());
  r.set_target(link);
  *r.mutable_caller() = CallerOf(req);
  auto res = B(req)->graph().top().Symlink(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  B(req)->ParentPut(res->parent_attr(), /*new_entry=*/true);
  ReplyEntry(req, res->attr());
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  GFID_OR_REPLY(p, newparent);
  proto::LinkRequest r;
  r.set_gfid(g.Bytes());
  r.set_new_parent(p.Bytes());
  r.set_new_name(newname);
  auto res = B(req)->graph().top().Link(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  B(req)->ParentPut(res->parent_attr(), /*new_entry=*/true);
  ReplyEntry(req, res->attr());
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  B(req)->PinIfOpen(p, name);
  proto::NameRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  auto res = B(req)->graph().top().Unlink(r).get();
  if (res.ok()) B(req)->ParentPut(res->parent_attr(), /*new_entry=*/false);
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void Rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  proto::NameRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  auto res = B(req)->graph().top().Rmdir(r).get();
  if (res.ok()) B(req)->ParentPut(res->parent_attr(), /*new_entry=*/false);
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned int flags) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  GFID_OR_REPLY(np, newparent);
  B(req)->PinIfOpen(np, newname);
  proto::RenameRequest r;
  r.set_old_parent(p.Bytes());
  r.set_old_name(name);
  r.set_new_parent(np.Bytes());
  r.set_new_name(newname);
  r.set_flags(flags);
  auto res = B(req)->graph().top().Rename(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void OpenFile(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kOpen);
  if (B(req)->options().read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  GFID_OR_REPLY(g, ino);
  // An open for writing (O_TRUNC included) ends any quick-read content of the file.
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) B(req)->QuickDrop(g);
  // No-open: ENOSYS is success for the kernel, which from now on opens and closes regular
  // files of this mount without asking (fh = 0, FOPEN_KEEP_CACHE; no RELEASE). Nothing below
  // needs the open: reads and writes go by node id, O_APPEND comes with every write, and the
  // quick-read content is dropped by the setattr/write that follows an open for writing.
  if (B(req)->options().no_open) return (void)fuse_reply_err(req, ENOSYS);
  auto* h = new FileHandle{g, (fi->flags & O_APPEND) != 0, (fi->flags & O_ACCMODE) != O_RDONLY};
  fi->fh = reinterpret_cast<uint64_t>(h);
  // The kernel keeps cached pages across opens; bricks push invalidations on change and
  // attribute changes (mtime/size) drop the cache too (FUSE_CAP_AUTO_INVAL_DATA).
  fi->keep_cache = 1;
  // close() of a read-only file has nothing to flush: no FLUSH request at all (FOPEN_NOFLUSH),
  // which triples the rate of a web server opening and closing small files.
  if ((fi->flags & O_ACCMODE) == O_RDONLY) fi->noflush = 1;
  B(req)->NoteOpen(g);
  if (fuse_reply_open(req, fi) != 0) {
    B(req)->NoteRelease(g);
    delete h;
  }
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kCreate);
  RO_GUARD();
  GFID_OR_REPLY(p, parent);
  proto::CreateRequest r;
  r.set_parent(p.Bytes());
  r.set_name(name);
  r.set_gfid(Gfid::Random().Bytes());
  r.set_mode(mode & 07777);
  r.set_exclusive((fi->flags & O_EXCL) != 0);
  *r.mutable_caller() = CallerOf(req);
  auto res = B(req)->graph().top().Create(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  B(req)->ParentPut(res->parent_attr(), /*new_entry=*/true);
  Gfid created = GfidOf(res->attr().gfid());
  auto* h = new FileHandle{created, (fi->flags & O_APPEND) != 0};
  fi->fh = reinterpret_cast<uint64_t>(h);
  FuseBridge* b = B(req);
  b->NoteOpen(created);
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = b->NodeFor(GfidOf(res->attr().gfid()), true);
  e.generation = 1;
  ToStat(res->attr(), e.ino, &e.attr);
  e.attr_timeout = b->options().attr_timeout;
  e.entry_timeout = b->options().entry_timeout;
  if (fuse_reply_create(req, &e, fi) != 0) {
    b->Forget(e.ino, 1);
    b->NoteRelease(created);
    delete h;
  }
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  auto op_clock = B(req)->Time(FuseBridge::kRead);
  GFID_OR_REPLY(g, ino);
  proto::ReadRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(static_cast<uint64_t>(off));
  r.set_size(static_cast<uint32_t>(size));
  auto res = B(req)->graph().top().Read(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  fuse_reply_buf(req, res->data().data(), res->data().size());
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kWrite);
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  proto::WriteRequest r;
  r.set_gfid(g.Bytes());
  r.set_offset(static_cast<uint64_t>(off));
  r.set_data(buf, size);
  // O_APPEND: the kernel passes the file's flags with every write (fh is 0 under no-open).
  auto* h = reinterpret_cast<FileHandle*>(fi->fh);
  if ((h && h->append) || (fi->flags & O_APPEND)) r.set_append(true);
  B(req)->QuickDrop(g);
  auto res = B(req)->graph().top().Write(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  fuse_reply_write(req, res->written());
}

// close(): the replicate layers release the file's eager lock (if any): its delayed post-op
// and unlock go out at once, without close waiting for them (ReplicateLayer::CloseEager), so
// the changelog settles within a round trip and other clients need not ask for the lock.
// Write-behind first: close waits for the file's pending writes and reports a failed one.
// Under no-open (fh = 0) the file is known by its node id only and any close of it takes
// the file's pending writes and latched error (there is no per-open state to tell a reader
// from a writer); under no_flush (read-only mounts; no-open with flush-behind) ENOSYS stops
// FLUSH for good.
void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseBridge* b = B(req);
  auto op_clock = b->Time(FuseBridge::kFlush);
  if (b->options().no_flush) return (void)fuse_reply_err(req, ENOSYS);
  auto* h = reinterpret_cast<FileHandle*>(fi->fh);
  Gfid g;
  bool writable = false;
  if (h) {
    g = h->gfid;
    writable = h->writable;
  } else if (b->options().no_open && b->GfidFor(ino, &g)) {
    writable = true;
  } else {
    return (void)fuse_reply_err(req, 0);
  }
  Status wb;
  if (h && writable && b->options().flush_behind && b->graph().write_behind()) {
    // Flush-behind: the writes go on after close returns; Release waits for them.
    wb = b->graph().write_behind()->FlushBehind(g);
    return (void)fuse_reply_err(req, wb.ok() ? 0 : wb.err());
  }
  if (writable && b->graph().write_behind()) wb = b->graph().write_behind()->Flush(g);
  for (ReplicateLayer* set : b->graph().replica_sets()) set->CloseEager(g);
  fuse_reply_err(req, wb.ok() ? 0 : wb.err());
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kRelease);
  auto* h = reinterpret_cast<FileHandle*>(fi->fh);
  // Writes issued after close (mmap) finish before the last close returns; a read-only
  // handle has none.
  if (h && h->writable && B(req)->graph().write_behind()) {
    B(req)->graph().write_behind()->Wait(h->gfid);
    // Under flush-behind the close did not let the eager lock go: now its writes are done.
    if (B(req)->options().flush_behind)
      for (ReplicateLayer* set : B(req)->graph().replica_sets()) set->CloseEager(h->gfid);
  }
  if (h) B(req)->NoteRelease(h->gfid);
  delete h;
  fuse_reply_err(req, 0);
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  GFID_OR_REPLY(g, ino);
  proto::FsyncRequest r;
  r.set_gfid(g.Bytes());
  r.set_datasync(datasync != 0);
  auto res = B(req)->graph().top().Fsync(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kOpendir);
  GFID_OR_REPLY(g, ino);
  (void)g;
  fi->fh = reinterpret_cast<uint64_t>(new DirHandle());
  fi->cache_readdir = 0;
  if (fuse_reply_open(req, fi) != 0) delete reinterpret_cast<DirHandle*>(fi->fh);
}

// A directory's whole listing, page by page, from the top of the stack.
Status ReadListing(Graph& graph, const Gfid& g, std::vector<proto::DirEntry>* out) {
  uint64_t cookie = 0;
  for (int page = 0; page < 1000000; ++page) {
    proto::ReaddirRequest r;
    r.set_gfid(g.Bytes());
    r.set_cookie(cookie);
    r.set_max_entries(1024);
    r.set_plus(true);
    auto res = graph.top().Readdir(r).get();
    if (!res.ok()) return res.status();
    for (auto& e : *res->mutable_entries()) {
      cookie = e.next_cookie();
      out->push_back(std::move(e));
    }
    if (res->eof() || res->entries().empty()) break;
  }
  return Status::Ok();
}

Status LoadDir(FuseBridge* b, const Gfid& g, DirHandle* d) {
  DirPrefetcher* prefetch = b->dir_prefetch();
  if (prefetch) prefetch->Claim(g);  // a prefetch of it in flight fills md-cache: wait, then read that
  Status s = ReadListing(b->graph(), g, &d->entries);
  if (!s.ok()) return s;
  d->loaded = true;
  if (prefetch) {
    std::vector<Gfid> subdirs;
    for (const auto& e : d->entries)
      if (S_ISDIR(e.attr().mode()) && e.gfid().size() == 16) subdirs.push_back(GfidOf(e.gfid()));
    if (!subdirs.empty()) prefetch->Enqueue(subdirs);
  }
  return Status::Ok();
}

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  auto op_clock = B(req)->Time(FuseBridge::kReaddir);
  GFID_OR_REPLY(g, ino);
  FuseBridge* b = B(req);
  auto* d = reinterpret_cast<DirHandle*>(fi->fh);
  // The reply is sent after the lock is released: once the kernel has the last reply it may
  // release (and we delete) the handle at once, on another thread.
  std::unique_lock lk(d->mu);
  if (!d->loaded || off == 0) {
    d->entries.clear();
    Status s = LoadDir(b, g, d);
    if (!s.ok()) {
      lk.unlock();
      return ReplyErr(req, s);
    }
  }
  std::string buf(size, '\0');
  size_t used = 0;
  // Offsets: 1 = ".", 2 = "..", k + 3 = entries[k].
  for (size_t pos = static_cast<size_t>(off); pos < d->entries.size() + 2; ++pos) {
    struct stat st;
    std::memset(&st, 0, sizeof st);
    const char* name;
    const proto::DirEntry* e = nullptr;
    if (pos == 0) {
      name = ".";
      st.st_mode = S_IFDIR;
      st.st_ino = ino;
    } else if (pos == 1) {
      name = "..";
      st.st_mode = S_IFDIR;
      st.st_ino = 1;
    } else {
      e = &d->entries[pos - 2];
      name = e->name().c_str();
      st.st_mode = e->attr().mode() ? e->attr().mode() : (static_cast<mode_t>(e->type()) << 12);
    }
    size_t need;
    if (plus) {
      fuse_entry_param ep;
      std::memset(&ep, 0, sizeof ep);
      ep.attr = st;
      if (e && !e->gfid().empty()) {
        // Only count a lookup for an entry that really fits in this reply.
        need = fuse_add_direntry_plus(req, nullptr, 0, name, &ep, static_cast<off_t>(pos + 1));
        if (used + need > size) break;
        ep.ino = b->NodeFor(GfidOf(e->gfid()), true);
        ep.generation = 1;
        ToStat(e->attr(), ep.ino, &ep.attr);
        ep.attr_timeout = b->options().attr_timeout;
        ep.entry_timeout = b->options().entry_timeout;
      }
      need = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &ep, static_cast<off_t>(pos + 1));
    } else {
      if (e) st.st_ino = e->gfid().empty() ? 0 : b->NodeFor(GfidOf(e->gfid()), false);
      need = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, static_cast<off_t>(pos + 1));
    }
    if (used + need > size) break;
    used += need;
  }
  lk.unlock();
  fuse_reply_buf(req, buf.data(), used);
}

void Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, false);
}
void Readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, true);
}

void Releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto op_clock = B(req)->Time(FuseBridge::kReleasedir);
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

void Fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) { Fsync(req, ino, datasync, fi); }

void Statfs(fuse_req_t req, fuse_ino_t) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  proto::GfidRequest r;
  r.set_gfid(Gfid::Root().Bytes());
  auto res = B(req)->graph().top().Statfs(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  struct statvfs sv;
  std::memset(&sv, 0, sizeof sv);
  sv.f_bsize = res->bsize();
  sv.f_frsize = res->frsize();
  sv.f_blocks = res->blocks();
  sv.f_bfree = res->bfree();
  sv.f_bavail = res->bavail();
  sv.f_files = res->files();
  sv.f_ffree = res->ffree();
  sv.f_favail = res->ffree();
  sv.f_namemax = res->namemax();
  fuse_reply_statfs(req, &sv);
}

void Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  proto::SetxattrRequest r;
  r.set_gfid(g.Bytes());
  r.set_name(name);
  r.set_value(value, size);
  r.set_flags(static_cast<uint32_t>(flags));
  auto res = B(req)->graph().top().Setxattr(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

constexpr char kStatsXattr[] = "trusted.hafs.fuse-stats";

void Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  if (ino == FUSE_ROOT_ID && std::strcmp(name, kStatsXattr) == 0) {
    std::string text = B(req)->StatsText();
    // The size asked first is the text's now plus room to grow: counters and clocks move
    // between that call and the read (this very request adds to them), and a read into a
    // buffer of the older size failed with ERANGE.
    if (size == 0) return (void)fuse_reply_xattr(req, text.size() + 512);
    if (text.size() > size) return (void)fuse_reply_err(req, ERANGE);
    return (void)fuse_reply_buf(req, text.data(), text.size());
  }
  GFID_OR_REPLY(g, ino);
  proto::GetxattrRequest r;
  r.set_gfid(g.Bytes());
  r.set_name(name);
  auto res = B(req)->graph().top().Getxattr(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  if (size == 0) return (void)fuse_reply_xattr(req, res->value().size());
  if (res->value().size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, res->value().data(), res->value().size());
}

void Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  GFID_OR_REPLY(g, ino);
  proto::GfidRequest r;
  r.set_gfid(g.Bytes());
  auto res = B(req)->graph().top().Listxattr(r).get();
  if (!res.ok()) return ReplyErr(req, res.status());
  std::string all;
  for (auto& n : res->names()) {
    all += n;
    all.push_back('\0');
  }
  if (size == 0) return (void)fuse_reply_xattr(req, all.size());
  if (all.size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, all.data(), all.size());
}

void Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  proto::RemovexattrRequest r;
  r.set_gfid(g.Bytes());
  r.set_name(name);
  auto res = B(req)->graph().top().Removexattr(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  auto op_clock = B(req)->Time(FuseBridge::kOther);
  GFID_OR_REPLY(g, ino);
  if ((mask & W_OK) && B(req)->options().read_only) return (void)fuse_reply_err(req, EROFS);
  proto::AccessRequest r;
  r.set_gfid(g.Bytes());
  r.set_mask(static_cast<uint32_t>(mask));
  *r.mutable_caller() = CallerOf(req);
  auto res = B(req)->graph().top().Access(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info*) {
  RO_GUARD();
  GFID_OR_REPLY(g, ino);
  proto::FallocateRequest r;
  r.set_gfid(g.Bytes());
  r.set_mode(static_cast<uint32_t>(mode));
  r.set_offset(static_cast<uint64_t>(offset));
  r.set_length(static_cast<uint64_t>(length));
  B(req)->QuickDrop(g);
  auto res = B(req)->graph().top().Fallocate(r).get();
  fuse_reply_err(req, res.ok() ? 0 : (res.err() ? res.err() : EIO));
}

}  // namespace

const fuse_lowlevel_ops& FuseBridge::Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o;
    std::memset(&o, 0, sizeof o);
    o.init = Init;
    o.lookup = Lookup;
    o.forget = ForgetOne;
    o.forget_multi = ForgetMulti;
    o.getattr = Getattr;
    o.setattr = Setattr;
    o.readlink = Readlink;
    o.mknod = Mknod;
    o.mkdir = Mkdir;
    o.symlink = Symlink;
    o.link = Link;
    o.unlink = Unlink;
    o.rmdir = Rmdir;
    o.rename = Rename;
    o.open = OpenFile;
    o.create = Create;
    o.read = Read;
    o.write = Write;
    o.flush = Flush;
    o.release = Release;
    o.fsync = Fsync;
    o.opendir = Opendir;
    o.readdir = Readdir;
    o.readdirplus = Readdirplus;
    o.releasedir = Releasedir;
    o.fsyncdir = Fsyncdir;
    o.statfs = Statfs;
    o.setxattr = Setxattr;
    o.getxattr = Getxattr;
    o.listxattr = Listxattr;
    o.removexattr = Removexattr;
    o.access = Access;
    o.fallocate = Fallocate;
    return o;
  }();
  return ops;
}

FuseBridge::FuseBridge(Graph& graph, Options options) : graph_(graph), options_(options) {
  Shard& s = ShardOfIno(FUSE_ROOT_ID);
  s.by_ino[FUSE_ROOT_ID] = Node{Gfid::Root(), 1};
  ShardOfGfid(Gfid::Root()).by_gfid[Gfid::Root()] = FUSE_ROOT_ID;
  if (const char* env = std::getenv("HAFS_QUICK_READ"); env && std::string(env) == "0") options_.quick_read_max = 0;
  if (const char* env = std::getenv("HAFS_PARENT_ATTR"); env && std::string(env) == "0") options_.parent_attr = false;
  // No-open: the mount decides (on by default for read-only mounts: nothing there needs OPEN,
  // RELEASE or FLUSH); HAFS_NO_OPEN=0/1 overrides it (benchmarks compare both in one run).
  if (const char* env = std::getenv("HAFS_NO_OPEN"); env && (std::string(env) == "0" || std::string(env) == "1"))
    options_.no_open = std::string(env) == "1";
  // close() has nothing to report on a read-only mount; on a read-write one it reports
  // write-behind's latched error and lets go of the eager lock, so FLUSH stays, unless the
  // mount asked for flush-behind too: then close would only answer at once, and with no
  // FLUSH a web server's open + read + close of a cached file is no request at all.
  options_.no_flush = options_.no_open && (options_.read_only || options_.flush_behind);
  HAFS_LOG_INFO("fuse bridge: no-open {}, no-flush {}, readdir-prefetch {}", options_.no_open ? "on" : "off",
                options_.no_flush ? "on" : "off", options_.readdir_prefetch);
  if (options_.readdir_prefetch > 0) {
    dir_prefetch_ = std::make_unique<DirPrefetcher>(options_.readdir_prefetch, /*max_queued=*/4096, [this](const Gfid& g) {
      std::vector<proto::DirEntry> ignored;  // what matters is md-cache keeping it
      (void)ReadListing(graph_, g, &ignored);
    });
  }
  graph_.OnInvalidate([this](const proto::Invalidate& inv) {
    if (auto g = Gfid::FromBytes(inv.gfid())) ParentDrop(*g);
    if (auto p = Gfid::FromBytes(inv.parent())) ParentDrop(*p);
    {
      std::lock_guard lk(notify_mu_);
      if (notify_q_.size() < 100000) notify_q_.push_back(inv);
    }
    notify_cv_.notify_one();
  });
  notifier_ = std::thread([this] { NotifyLoop(); });
}

FuseBridge::~FuseBridge() {
  dir_prefetch_.reset();
  graph_.OnInvalidate(nullptr);
  {
    std::lock_guard lk(notify_mu_);
    stopping_ = true;
  }
  notify_cv_.notify_all();
  notifier_.join();
}

std::string FuseBridge::StatsText() const {
  static const char* kNames[kNumOps] = {"lookup", "getattr", "open",    "release",    "flush", "read",
                                        "write",  "create",  "opendir", "readdir", "releasedir", "other"};
  std::string out;
  for (int i = 0; i < kNumOps; ++i)
    out += std::string(kNames[i]) + " " + std::to_string(counts_[i].load(std::memory_order_relaxed)) + "\n";
  for (int i = 0; i < kNumOps; ++i)
    out += std::string(kNames[i]) + "-us " + std::to_string(micros_[i].load(std::memory_order_relaxed)) + "\n";
  if (dir_prefetch_) {
    auto p = dir_prefetch_->stats();
    out += fmt::format("prefetch-queued {}\nprefetch-listed {}\nprefetch-claimed {}\nprefetch-waited {}\nprefetch-dropped {}\n",
                       p.queued, p.listed, p.claimed, p.waited, p.dropped);
  }
  return out;
}

void FuseBridge::AttachSession(fuse_session* se) {
  std::lock_guard lk(notify_mu_);
  se_ = se;
}

std::pair<std::unique_lock<std::mutex>, std::unique_lock<std::mutex>> FuseBridge::LockBoth(Shard& gs, Shard& is) {
  std::unique_lock a(gs.mu, std::defer_lock), b(is.mu, std::defer_lock);
  if (&gs == &is) {
    a.lock();
  } else {
    std::lock(a, b);  // deadlock-free whatever order other threads take them in
  }
  return {std::move(a), std::move(b)};
}

fuse_ino_t FuseBridge::NodeFor(const Gfid& gfid, bool count_lookup) {
  if (gfid.IsRoot()) return FUSE_ROOT_ID;
  Shard& gs = ShardOfGfid(gfid);
  for (;;) {
    // The ino (known, or a new one reserved for the gfid), then both shards at once; a Forget
    // between the two may have taken the mapping away: then again.
    fuse_ino_t ino;
    {
      std::lock_guard lk(gs.mu);
      auto it = gs.by_gfid.find(gfid);
      if (it != gs.by_gfid.end()) {
        ino = it->second;
      } else {
        ino = next_ino_.fetch_add(1);
        gs.by_gfid[gfid] = ino;
      }
    }
    Shard& is = ShardOfIno(ino);
    auto locks = LockBoth(gs, is);
    auto it = gs.by_gfid.find(gfid);
    if (it == gs.by_gfid.end() || it->second != ino) continue;
    auto& node = is.by_ino[ino];
    node.gfid = gfid;
    if (count_lookup) node.nlookup++;
    return ino;
  }
}

bool FuseBridge::GfidFor(fuse_ino_t ino, Gfid* out) const {
  if (ino == FUSE_ROOT_ID) {
    *out = Gfid::Root();
    return true;
  }
  const Shard& s = ShardOfIno(ino);
  std::lock_guard lk(s.mu);
  auto it = s.by_ino.find(ino);
  if (it == s.by_ino.end()) return false;
  *out = it->second.gfid;
  return true;
}

void FuseBridge::Forget(fuse_ino_t ino, uint64_t nlookup) {
  if (ino == FUSE_ROOT_ID) return;
  Gfid gfid;
  {
    Shard& s = ShardOfIno(ino);
    std::lock_guard lk(s.mu);
    auto it = s.by_ino.find(ino);
    if (it == s.by_ino.end()) return;
    if (it->second.nlookup > nlookup) {
      it->second.nlookup -= nlookup;
      return;
    }
    gfid = it->second.gfid;
  }
  {
    Shard& gs = ShardOfGfid(gfid);
    Shard& is = ShardOfIno(ino);
    auto locks = LockBoth(gs, is);
    auto it = is.by_ino.find(ino);
    if (it == is.by_ino.end() || it->second.nlookup > nlookup) {
      if (it != is.by_ino.end()) it->second.nlookup -= nlookup;
      return;
    }
    is.by_ino.erase(it);
    auto g = gs.by_gfid.find(gfid);
    if (g != gs.by_gfid.end() && g->second == ino) gs.by_gfid.erase(g);
  }
  // The kernel holds the file no more (no-open: its last close, or it was never open).
  if (options_.no_open) DropForgetPin(gfid);
}

void FuseBridge::DropForgetPin(const Gfid& gfid) {
  std::shared_ptr<FileRef> drop;  // released outside the lock (it may send a release)
  std::lock_guard lk(open_mu_);
  if (forget_pins_.empty()) return;
  auto it = forget_pins_.find(gfid);
  if (it == forget_pins_.end()) return;
  drop = std::move(it->second);
  forget_pins_.erase(it);
}

void FuseBridge::NoteOpen(const Gfid& gfid) {
  std::lock_guard lk(open_mu_);
  open_[gfid].count++;
}

void FuseBridge::NoteRelease(const Gfid& gfid) {
  std::shared_ptr<FileRef> drop;  // released outside the lock
  std::lock_guard lk(open_mu_);
  auto it = open_.find(gfid);
  if (it == open_.end()) return;
  if (--it->second.count > 0) return;
  drop = std::move(it->second.pin);
  open_.erase(it);
}

void FuseBridge::PinIfOpen(const Gfid& parent, const std::string& name) {
  if (!options_.no_open) {
    std::lock_guard lk(open_mu_);
    if (open_.empty()) return;  // the common case costs nothing
  }
  proto::EntryRequest r;
  r.set_parent(parent.Bytes());
  r.set_name(name);
  auto l = graph_.top().Lookup(r).get();
  if (!l.ok()) return;
  Gfid g = GfidOf(l->attr().gfid());
  if (options_.no_open) {
    // Only regular files are ever open; only a node the kernel holds can be.
    if (!S_ISREG(l->attr().mode()) || g.IsNull()) return;
    {
      Shard& s = ShardOfGfid(g);
      std::lock_guard lk(s.mu);
      if (!s.by_gfid.count(g)) return;
    }
    {
      std::lock_guard lk(open_mu_);
      if (forget_pins_.count(g)) return;
    }
    auto ref = graph_.top().Open(g).get();
    if (!ref.ok()) return;
    std::shared_ptr<FileRef> drop;  // a pin that lost a race goes outside the lock
    {
      std::lock_guard lk(open_mu_);
      auto [it, added] = forget_pins_.emplace(g, *ref);
      if (!added) drop = *ref;
    }
    // The kernel may have forgotten the node meanwhile: then nothing will drop the pin.
    Shard& s = ShardOfGfid(g);
    bool known;
    {
      std::lock_guard lk(s.mu);
      known = s.by_gfid.count(g) != 0;
    }
    if (!known) DropForgetPin(g);
    return;
  }
  {
    std::lock_guard lk(open_mu_);
    auto it = open_.find(g);
    if (it == open_.end() || it->second.pin) return;
  }
  auto ref = graph_.top().Open(g).get();
  if (!ref.ok()) return;
  std::lock_guard lk(open_mu_);
  auto it = open_.find(g);
  if (it != open_.end() && !it->second.pin) it->second.pin = *ref;
}

// The content cache is a layer (caches/content_cache.h); the bridge only tells it at once
// of a change it is about to make (before write-behind sends it down).
void FuseBridge::QuickDrop(const Gfid& gfid) {
  if (auto* cc = graph_.content_cache()) cc->Drop(gfid);
}

void FuseBridge::ParentPut(const proto::Attr& a, bool new_entry) {
  if (!options_.parent_attr) return;
  // md-cache keeps the parent's attributes that a create/mkdir/mknod/symlink/link returns
  // (and answers the getattr itself); it drops them on unlink and rmdir, which is what is
  // left to this copy.
  if (new_entry && graph_.md_cache() && graph_.md_cache()->enabled()) return;
  auto g = Gfid::FromBytes(a.gfid());
  if (!g || g->IsNull() || !S_ISDIR(a.mode())) return;
  auto ttl = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options_.attr_timeout));
  std::lock_guard lk(parent_mu_);
  if (parent_attr_.size() >= 4096) parent_attr_.clear();
  parent_attr_[*g] = ParentAttr{a, std::chrono::steady_clock::now() + ttl};
}

bool FuseBridge::ParentGet(const Gfid& gfid, proto::Attr* out) {
  std::lock_guard lk(parent_mu_);
  if (parent_attr_.empty()) return false;
  auto it = parent_attr_.find(gfid);
  if (it == parent_attr_.end()) return false;
  if (it->second.until <= std::chrono::steady_clock::now()) {
    parent_attr_.erase(it);
    return false;
  }
  *out = it->second.attr;
  return true;
}

void FuseBridge::ParentDrop(const Gfid& gfid) {
  std::lock_guard lk(parent_mu_);
  if (!parent_attr_.empty()) parent_attr_.erase(gfid);
}

void FuseBridge::NotifyLoop() {
  NameThisThread("fuse-notify");
  std::unique_lock lk(notify_mu_);
  while (!stopping_) {
    notify_cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stopping_ || !notify_q_.empty(); });
    while (!notify_q_.empty() && !stopping_) {
      proto::Invalidate inv = std::move(notify_q_.front());
      notify_q_.pop_front();
      fuse_session* se = se_;
      lk.unlock();
      if (se) {
        Gfid g = GfidOf(inv.gfid());
        Gfid p = GfidOf(inv.parent());
        fuse_ino_t ino = 0, pino = 0;
        auto known = [&](const Gfid& x) -> fuse_ino_t {
          if (x.IsNull()) return 0;
          if (x.IsRoot()) return FUSE_ROOT_ID;
          Shard& s = ShardOfGfid(x);
          std::lock_guard l(s.mu);
          auto it = s.by_gfid.find(x);
          return it == s.by_gfid.end() ? 0 : it->second;
        };
        ino = known(g);
        pino = known(p);
        // Only what the kernel knows can be stale; -ENOENT from the kernel is harmless.
        if (ino) fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
        if (pino && !inv.name().empty())
          fuse_lowlevel_notify_inval_entry(se, pino, inv.name().c_str(), inv.name().size());
      }
      lk.lock();
    }
  }
}

}  // namespace hafs::client
