// Storage: attributes, data, xattrs and permission checks.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "brickd/storage.h"
#include "brickd/storage_internal.h"
#include "common/log.h"
#include "common/uring_file.h"

namespace hafs::brick {
namespace {

// Buffered writes (and fsyncs) go through plain pwrite: ext4 cannot do a buffered write without blocking,
// so io_uring hands each one to a kernel worker thread (iou-wrk), a thread hop per call.
// HAFS_BRICK_URING_WRITE=1 brings io_uring back (for before/after measurements).
bool UringWrites() {
  static const bool on = [] {
    const char* e = std::getenv("HAFS_BRICK_URING_WRITE");
    if (e && *e) return std::string_view(e) == "1";
    return std::getenv("HAFS_BRICK_TUNE") && std::string_view(std::getenv("HAFS_BRICK_TUNE")) == "0";
  }();
  return on;
}

ssize_t PWriteAll(int fd, const char* p, size_t len, uint64_t offset) {
  if (UringWrites()) return uring::PWrite(fd, p, len, offset);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd, p + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return done > 0 ? static_cast<ssize_t>(done) : -errno;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// fsync is never done without blocking either: io_uring would hand it to iou-wrk as well.
int FsyncFd(int fd, bool datasync) {
  if (UringWrites()) return uring::Fsync(fd, datasync);
  return (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : -errno;
}

// O_DIRECT needs the buffer aligned too (512 bytes on most disks; 4 KiB covers them all): each
// thread copies the payload into a buffer of its own, kept between calls (no page faults).
constexpr size_t kDirectAlign = 4096;

const char* AlignedCopy(std::string_view data) {
  struct Buffer {
    char* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buf;
  if (buf.size < data.size()) {
    std::free(buf.p);
    buf.p = static_cast<char*>(std::aligned_alloc(kDirectAlign, data.size()));
    buf.size = buf.p ? data.size() : 0;
    if (!buf.p) return nullptr;
  }
  std::memcpy(buf.p, data.data(), data.size());
  return buf.p;
}

}  // namespace

// A large aligned write goes around the page cache; anything it cannot do there (a file system
// without O_DIRECT, a read-only object) falls back to the buffered write. Returns -EAGAIN when
// the write was not attempted.
ssize_t Storage::DirectWrite(Fd& fd, std::string_view data, uint64_t offset) {
  if (direct_write_min_ == 0 || data.size() < direct_write_min_ || offset % kDirectAlign != 0 ||
      data.size() % kDirectAlign != 0 || direct_failed_.load(std::memory_order_relaxed))
    return -EAGAIN;
  int dfd = fd.Direct();
  if (dfd == -EINVAL && !direct_failed_.exchange(true))
    HAFS_LOG_WARN("brick {}: the file system refuses O_DIRECT; large writes stay in the page cache", root_);
  if (dfd < 0) return -EAGAIN;
  const char* p = AlignedCopy(data);
  if (!p) return -EAGAIN;
  ssize_t n = PWriteAll(dfd, p, data.size(), offset);
  if (n == -EINVAL) {
    if (!direct_failed_.exchange(true))
      HAFS_LOG_WARN("brick {}: O_DIRECT write refused (alignment); large writes stay in the page cache", root_);
    return -EAGAIN;
  }
  if (n > 0) bytes_written_direct_ += static_cast<uint64_t>(n);
  return n;
}

Result<Inode> Storage::Getattr(const Gfid& gfid) {
  // A file moved away by rebalance answers ESTALE, so that no changelog pre-op (which checks
  // the file exists with Getattr) lands on it and clients look for it elsewhere.
  auto pass = gate_.Access(gfid);
  if (pass.err()) return Status(pass.err(), "getattr: file has been migrated");
  std::shared_lock ns(rename_mu_);
  return StatObject(gfid);
}

Result<Inode> Storage::Setattr(const Gfid& gfid, const SetattrArgs& a) {
  auto pass = gate_.Change(gfid);
  if (pass.err()) return Status(pass.err(), "setattr: file is being migrated");
  std::shared_lock ns(rename_mu_);
  bool dir = IsDir(gfid);
  FdRef dfd;
  int at_fd;
  std::string at_name;
  if (dir) {
    HAFS_ASSIGN_OR_RETURN(d, DirFd(gfid));
    dfd = d;
    at_fd = d->get();
    at_name = "";
  } else {
    at_fd = objects_fd_;
    at_name = ObjectName(gfid);
  }
  int empty_flag = dir ? AT_EMPTY_PATH : 0;
  struct stat st;
  if (::fstatat(at_fd, at_name.c_str(), &st, AT_SYMLINK_NOFOLLOW | empty_flag) != 0)
    return Status::FromErrno(errno, "setattr");
  if (a.set_size) {
    if (dir) return Status(EISDIR, "truncate of a directory");
    if (!S_ISREG(st.st_mode)) return Status(EINVAL, "truncate of a special file");
    HAFS_ASSIGN_OR_RETURN(fd, FileFd(gfid));
    if (::ftruncate(fd->get(), static_cast<off_t>(a.size)) != 0) return Status::FromErrno(errno, "truncate");
  }
  if (a.set_uid || a.set_gid) {
    uid_t uid = a.set_uid ? a.uid : static_cast<uid_t>(-1);
    gid_t gid = a.set_gid ? a.gid : static_cast<gid_t>(-1);
    if (::fchownat(at_fd, at_name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW | empty_flag) != 0)
      return Status::FromErrno(errno, "chown");
  }
  if (a.set_mode && !S_ISLNK(st.st_mode)) {
    // chown above may have cleared set-id bits; mode is applied after it on purpose.
    int rc = dir ? ::fchmod(at_fd, a.mode & 07777) : ::fchmodat(at_fd, at_name.c_str(), a.mode & 07777, 0);
    if (rc != 0) return Status::FromErrno(errno, "chmod");
  }
  if (a.set_atime || a.set_mtime || a.atime_now || a.mtime_now) {
    struct timespec ts[2];
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_OMIT;
    if (a.atime_now) ts[0].tv_nsec = UTIME_NOW;
    else if (a.set_atime) ts[0] = a.atime;
    if (a.mtime_now) ts[1].tv_nsec = UTIME_NOW;
    else if (a.set_mtime) ts[1] = a.mtime;
    int rc = dir ? ::futimens(at_fd, ts) : ::utimensat(at_fd, at_name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return Status::FromErrno(errno, "utimens");
  }
  return StatObject(gfid);
}

Result<size_t> Storage::Read(const Gfid& gfid, uint64_t offset, size_t size, std::string* out) {
  auto pass = gate_.Access(gfid);
  if (pass.err()) return Status(pass.err(), "read: file has been migrated");
  HAFS_ASSIGN_OR_RETURN(fd, FileFd(gfid));
  // Read straight into the reply buffer: no intermediate copy.
  out->resize(size);
  ssize_t n = uring::PRead(fd->get(), out->data(), size, offset);
  if (n < 0) {
    out->clear();
    return Status(static_cast<int>(-n), "read");
  }
  out->resize(n);
  bytes_read_ += n;
  return static_cast<size_t>(n);
}

Result<size_t> Storage::Write(const Gfid& gfid, uint64_t offset, std::string_view data, bool append, bool datasync,
                              std::optional<Inode>* after) {
  auto pass = gate_.Change(gfid);
  if (pass.err()) return Status(pass.err(), "write: file is being migrated");
  HAFS_ASSIGN_OR_RETURN(fd, FileFd(gfid));
  ssize_t n;
  if (append) {
    // Appends of one file are serialized so that each lands after the previous one.
    std::lock_guard stripe(StripeFor(gfid));
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return Status::FromErrno(errno, "fstat");
    n = PWriteAll(fd->get(), data.data(), data.size(), st.st_size);
  } else {
    n = DirectWrite(*fd, data, offset);
    if (n == -EAGAIN) n = PWriteAll(fd->get(), data.data(), data.size(), offset);
  }
  if (n < 0) return Status(static_cast<int>(-n), "write");
  if (datasync) {
    int rc = FsyncFd(fd->get(), true);
    if (rc < 0) return Status(-rc, "fdatasync");
  }
  bytes_written_ += n;
  if (after) {
    Inode in{gfid, {}};
    // nlink 0: the file has no name and no gfid link left (Getattr would answer ENOENT).
    if (::fstat(fd->get(), &in.st) == 0 && in.st.st_nlink > 0) {
      in.st.st_nlink--;  // the brick's own gfid link is not the user's (as StatObject)
      *after = in;
    }
  }
  return static_cast<size_t>(n);
}

Result<Inode> Storage::Truncate(const Gfid& gfid, uint64_t size) {
  SetattrArgs a;
  a.set_size = true;
  a.size = size;
  return Setattr(gfid, a);
}

Result<Inode> Storage::Fallocate(const Gfid& gfid, int mode, uint64_t offset, uint64_t length) {
  auto pass = gate_.Change(gfid);
  if (pass.err()) return Status(pass.err(), "fallocate: file is being migrated");
  if (length == 0) return Status(EINVAL, "fallocate of zero bytes");
  HAFS_ASSIGN_OR_RETURN(fd, FileFd(gfid));
  if (::fallocate(fd->get(), mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0)
    return Status::FromErrno(errno, "fallocate");
  return StatObject(gfid);
}

Status Storage::Fsync(const Gfid& gfid, bool datasync) {
  std::shared_lock ns(rename_mu_);
  if (IsDir(gfid)) {
    auto d = DirFd(gfid);
    if (!d.ok()) return d.status();
    return ::fsync((*d)->get()) == 0 ? Status::Ok() : Status::FromErrno(errno, "fsync");
  }
  auto fd = FileFd(gfid);
  if (!fd.ok()) return fd.status();
  int rc = FsyncFd((*fd)->get(), datasync);
  return rc == 0 ? Status::Ok() : Status(-rc, "fsync");
}

Result<struct statvfs> Storage::Statfs() {
  struct statvfs sv;
  if (::fstatvfs(root_fd_, &sv) != 0) return Status::FromErrno(errno, "statfs");
  return sv;
}

// Reserved names a client may use: the distribute layout of a directory (kept on disk as
// trusted.hafs.layout) and the migration commands (never stored). The kernel never sends a
// name without a namespace prefix, so applications cannot reach them through a mount.
static constexpr const char* kLayoutName = "hafs.layout";
static constexpr const char* kLayoutOnDisk = "trusted.hafs.layout";
static constexpr const char* kMigrateName = "hafs.migrate";

// Only the user namespace is passed through; hafs.* names are the brick's own.
static int CheckXattrName(const std::string& name) {
  if (name.empty() || name.size() > XATTR_NAME_MAX) return name.empty() ? EINVAL : ERANGE;
  if (name.rfind("hafs.", 0) == 0 || name.rfind("user.hafs.", 0) == 0 || name.rfind("trusted.hafs.", 0) == 0)
    return EPERM;
  if (name.rfind("user.", 0) != 0) return EOPNOTSUPP;
  return 0;
}

// hafs.migrate = "freeze MS" | "thaw" | "gone" | "live" (docs/rebalance.md).
Status Storage::MigrationCommand(const Gfid& gfid, std::string_view value) {
  if (value.starts_with("freeze ")) {
    int ms = std::atoi(std::string(value.substr(7)).c_str());
    if (ms <= 0 || ms > 600000) return Status(EINVAL, "hafs.migrate: freeze needs 1..600000 ms");
    gate_.Freeze(gfid, std::chrono::milliseconds(ms));
    return Status::Ok();
  }
  if (value == "thaw") {
    gate_.Thaw(gfid);
    return Status::Ok();
  }
  if (value == "gone") {
    int err = gate_.MarkGone(gfid);
    if (err) return Status(err, "hafs.migrate: the freeze expired");
    // Changelog counters of a file leaving this brick (pre-ops of changes refused during the
    // freeze, delayed post-ops of clients that wrote before it) describe nothing any more:
    // drop them and ignore later ones, else heal info would list the file forever.
    meta_->Retire(gfid);
    return Status::Ok();
  }
  if (value == "live") {
    gate_.Revive(gfid);
    meta_->Revive(gfid);
    return Status::Ok();
  }
  return Status(EINVAL, "hafs.migrate: unknown command");
}

Status Storage::Setxattr(const Gfid& gfid, const std::string& name, std::string_view value, int flags) {
  if (name == kMigrateName) return MigrationCommand(gfid, value);
  auto pass = gate_.Change(gfid);
  if (pass.err()) return Status(pass.err(), "setxattr: file is being migrated");
  if (name == kLayoutName) {
    if (value.size() > 65536) return Status(E2BIG, "layout too large");
    std::shared_lock ns(rename_mu_);
    HAFS_ASSIGN_OR_RETURN(d, DirFd(gfid));
    int rc = ::fsetxattr(d->get(), kLayoutOnDisk, value.data(), value.size(), 0);
    return rc == 0 ? Status::Ok() : Status::FromErrno(errno, "setxattr");
  }
  if (int err = CheckXattrName(name)) return Status(err, "xattr name");
  if (value.size() > XATTR_SIZE_MAX) return Status(E2BIG, "xattr value too large");
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) return Status(EINVAL, "xattr flags");
  std::shared_lock ns(rename_mu_);
  int rc;
  if (IsDir(gfid)) {
    HAFS_ASSIGN_OR_RETURN(d, DirFd(gfid));
    rc = ::fsetxattr(d->get(), name.c_str(), value.data(), value.size(), flags);
  } else {
    rc = ::lsetxattr(ObjectPath(gfid).c_str(), name.c_str(), value.data(), value.size(), flags);
  }
  return rc == 0 ? Status::Ok() : Status::FromErrno(errno, "setxattr");
}

Status Storage::SetNewDirXattr(const Gfid& gfid, const std::string& name, std::string_view value) {
  if (name != kLayoutName)
    if (int err = CheckXattrName(name)) return Status(err, "not settable when a directory is made");
  return Setxattr(gfid, name, value, 0);
}

Result<std::string> Storage::Getxattr(const Gfid& gfid, const std::string& name) {
  if (name == kLayoutName) {
    std::shared_lock ns(rename_mu_);
    HAFS_ASSIGN_OR_RETURN(d, DirFd(gfid));
    std::string value(65536, '\0');
    ssize_t n = ::fgetxattr(d->get(), kLayoutOnDisk, value.data(), value.size());
    if (n < 0) return Status::FromErrno(errno, "getxattr");
    value.resize(n);
    return value;
  }
  if (int err = CheckXattrName(name)) return Status(err == EPERM ? ENODATA : err, "xattr name");
  std::shared_lock ns(rename_mu_);
  FdRef d;
  std::string path;
  if (IsDir(gfid)) {
    HAFS_ASSIGN_OR_RETURN(dd, DirFd(gfid));
    d = dd;
  } else {
    path = ObjectPath(gfid);
  }
  std::string value(XATTR_SIZE_MAX, '\0');
  ssize_t n = d ? ::fgetxattr(d->get(), name.c_str(), value.data(), value.size())
                : ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0) return Status::FromErrno(errno, "getxattr");
  value.resize(n);
  return value;
}

Result<std::vector<std::string>> Storage::Listxattr(const Gfid& gfid) {
  std::shared_lock ns(rename_mu_);
  FdRef d;
  std::string path;
  if (IsDir(gfid)) {
    HAFS_ASSIGN_OR_RETURN(dd, DirFd(gfid));
    d = dd;
  } else {
    path = ObjectPath(gfid);
  }
  std::string buf(XATTR_LIST_MAX, '\0');
  ssize_t n = d ? ::flistxattr(d->get(), buf.data(), buf.size()) : ::llistxattr(path.c_str(), buf.data(), buf.size());
  if (n < 0) return Status::FromErrno(errno, "listxattr");
  std::vector<std::string> names;
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    std::string name(buf.data() + i);
    i += name.size() + 1;
    if (CheckXattrName(name) == 0) names.push_back(name);
  }
  return names;
}

Status Storage::Removexattr(const Gfid& gfid, const std::string& name) {
  if (int err = CheckXattrName(name)) return Status(err, "xattr name");
  auto pass = gate_.Change(gfid);
  if (pass.err()) return Status(pass.err(), "removexattr: file is being migrated");
  std::shared_lock ns(rename_mu_);
  int rc;
  if (IsDir(gfid)) {
    auto d = DirFd(gfid);
    if (!d.ok()) return d.status();
    rc = ::fremovexattr((*d)->get(), name.c_str());
  } else {
    rc = ::lremovexattr(ObjectPath(gfid).c_str(), name.c_str());
  }
  return rc == 0 ? Status::Ok() : Status::FromErrno(errno, "removexattr");
}

Status Storage::Access(const Gfid& gfid, uint32_t mask, const Credentials& who) {
  auto in = Getattr(gfid);
  if (!in.ok()) return in.status();
  if (mask == F_OK) return Status::Ok();
  if (mask & ~(R_OK | W_OK | X_OK)) return Status(EINVAL, "access mask");
  const struct stat& st = in->st;
  if (who.uid == 0) {
    // root may read and write anything; execute needs some x bit (or a directory).
    if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
      return Status(EACCES, "access");
    return Status::Ok();
  }
  uint32_t bits;
  bool in_group = who.gid == st.st_gid;
  for (uint32_t g : who.groups) in_group = in_group || g == st.st_gid;
  if (who.uid == st.st_uid) bits = (st.st_mode >> 6) & 7;
  else if (in_group) bits = (st.st_mode >> 3) & 7;
  else bits = st.st_mode & 7;
  return (bits & mask) == mask ? Status::Ok() : Status(EACCES, "access");
}

}  // namespace hafs::brick
