// Storage: opening the brick, gfid resolution and the fd caches. Entry operations are in
// storage_entries.cc, data and attribute operations in storage_data.cc.
#include "brickd/storage.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "brickd/names.h"
#include "brickd/storage_internal.h"
#include "common/log.h"

namespace hafs::brick {

Storage::~Storage() {
  {
    std::lock_guard lk(fds_mu_);
    dir_fds_.clear();
    file_fds_.clear();
  }
  if (objects_fd_ >= 0) ::close(objects_fd_);
  if (root_fd_ >= 0) ::close(root_fd_);
}

Result<std::unique_ptr<Storage>> Storage::Open(const Options& options) {
  std::unique_ptr<Storage> s(new Storage());
  HAFS_RETURN_IF_ERROR(s->Init(options));
  return s;
}

static Status ReadWholeFile(int dirfd, const char* name, std::string* out) {
  int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno(errno, name);
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  int err = errno;
  ::close(fd);
  if (n < 0) return Status::FromErrno(err, name);
  out->assign(buf, n);
  while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
  return Status::Ok();
}

static Status WriteFileDurably(int dirfd, const char* name, const std::string& content) {
  std::string tmp = std::string(name) + ".tmp";
  int fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Status::FromErrno(errno, tmp);
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::renameat(dirfd, tmp.c_str(), dirfd, name) != 0) return Status::FromErrno(ok ? errno : err, name);
  ::fsync(dirfd);
  return Status::Ok();
}

Status Storage::Init(const Options& options) {
  // Absolute: paths built on it (ObjectPath) must not depend on a thread's working directory,
  // which EntryPath moves.
  char* real = ::realpath(options.root.c_str(), nullptr);
  if (!real) return Status::FromErrno(errno, fmt::format("brick directory {}", options.root));
  root_ = real;
  ::free(real);
  max_cached_fds_ = options.max_cached_fds;
  direct_write_min_ = options.direct_write_min;
  readdir_threads_ = std::clamp<size_t>(options.readdir_threads, 1, 64);
  lookups_ = std::make_unique<WorkPool>(readdir_threads_ - 1, "readdir-lookup");
  if (options.volume_id.empty()) return Status(EINVAL, "a volume id is required");
  root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) return Status::FromErrno(errno, fmt::format("brick directory {}", root_));

  if (::mkdirat(root_fd_, kPrivateDir.data(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, fmt::format("{}/{}", root_, kPrivateDir));
  int priv = ::openat(root_fd_, kPrivateDir.data(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (priv < 0) return Status::FromErrno(errno, fmt::format("{}/{}", root_, kPrivateDir));
  FdCloser priv_closer(priv);

  // The volume-id marker: a brick never serves a directory that belongs to another volume.
  std::string existing;
  if (ReadWholeFile(priv, "volume-id", &existing).ok()) {
    if (existing != options.volume_id) {
      return Status(EEXIST, fmt::format("brick {} belongs to volume {}, refusing to serve it for volume {}", root_,
                                        existing, options.volume_id));
    }
  } else {
    HAFS_RETURN_IF_ERROR(WriteFileDurably(priv, "volume-id", options.volume_id + "\n"));
  }
  volume_id_ = options.volume_id;

  auto meta = MetadataStore::Open(root_ + "/" + std::string(kPrivateDir) + "/db");
  if (!meta.ok()) return meta.status();
  meta_ = std::move(meta).value();
  HAFS_RETURN_IF_ERROR(meta_->PutMeta("volume-id", volume_id_));
  HAFS_RETURN_IF_ERROR(meta_->PutMeta("brick-id", std::to_string(options.brick_id)));

  if (::mkdirat(priv, "objects", 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "objects dir");
  objects_fd_ = ::openat(priv, "objects", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (objects_fd_ < 0) return Status::FromErrno(errno, "objects dir");
  for (int i = 0; i < 256; ++i) {
    char sub[3];
    snprintf(sub, sizeof sub, "%02x", i);
    if (::mkdirat(objects_fd_, sub, 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "objects subdir");
  }

  // The root directory's gfid is fixed; a root carrying another gfid is not ours.
  std::string raw(Gfid::kSize, '\0');
  ssize_t n = ::fgetxattr(root_fd_, kGfidXattr, raw.data(), raw.size());
  if (n < 0 && errno == ENODATA) {
    std::string root_bytes = Gfid::Root().Bytes();
    if (::fsetxattr(root_fd_, kGfidXattr, root_bytes.data(), root_bytes.size(), 0) != 0)
      return Status::FromErrno(errno, fmt::format("setting the gfid xattr on {} (trusted xattrs need root)", root_));
  } else if (n != static_cast<ssize_t>(Gfid::kSize) || !Gfid::FromBytes(raw)->IsRoot()) {
    return Status(EINVAL, fmt::format("{} carries a foreign gfid; it is not a brick root", root_));
  }

  dirs_[Gfid::Root()] = DirRecord{Gfid(), ""};
  HAFS_RETURN_IF_ERROR(meta_->ForEachDir([this](const Gfid& g, const DirRecord& r) { dirs_[g] = r; }));
  HAFS_LOG_INFO("brick {} ready: volume {}, {} directories known, {} gfids pending heal", root_, volume_id_,
                dirs_.size(), meta_->HealPending());
  return Status::Ok();
}

// ---- gfid resolution ----

Storage::Fd::~Fd() {
  if (owned_ && fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

int Storage::Fd::Direct() {
  // Through /proc: the same inode even if the object was renamed or unlinked since.
  std::call_once(direct_once_, [this] {
    std::string self = fmt::format("/proc/self/fd/{}", fd_);
    int fd = ::open(self.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    direct_fd_ = fd >= 0 ? fd : -errno;
  });
  return direct_fd_;
}

bool Storage::IsDir(const Gfid& gfid) const {
  std::shared_lock lk(dirs_mu_);
  return dirs_.count(gfid) > 0;
}

bool Storage::Exists(const Gfid& gfid) const {
  struct stat st;
  return IsDir(gfid) || ::fstatat(objects_fd_, ObjectName(gfid).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void Storage::RememberDir(const Gfid& gfid, const DirRecord& rec) {
  {
    std::unique_lock lk(dirs_mu_);
    dirs_[gfid] = rec;
  }
  Status s = meta_->PutDir(gfid, rec);
  if (!s.ok()) HAFS_LOG_ERROR("recording directory {}: {}", gfid.ToString(), s.ToString());
}

void Storage::ForgetDir(const Gfid& gfid) {
  {
    std::unique_lock lk(dirs_mu_);
    dirs_.erase(gfid);
  }
  EvictFd(gfid);
  Status s = meta_->Forget(gfid);
  if (!s.ok()) HAFS_LOG_ERROR("forgetting directory {}: {}", gfid.ToString(), s.ToString());
}

void Storage::EvictFd(const Gfid& gfid) {
  std::lock_guard lk(fds_mu_);
  dir_fds_.erase(gfid);
  file_fds_.erase(gfid);
}

std::string Storage::ObjectName(const Gfid& gfid) const {
  std::string s = gfid.ToString();
  return s.substr(0, 2) + "/" + s;
}

std::string Storage::ObjectPath(const Gfid& gfid) const {
  return root_ + "/" + std::string(kPrivateDir) + "/objects/" + ObjectName(gfid);
}

Result<Storage::FdRef> Storage::DirFd(const Gfid& gfid) {
  {
    std::lock_guard lk(fds_mu_);
    auto it = dir_fds_.find(gfid);
    if (it != dir_fds_.end()) return it->second;
  }
  return OpenDirUncached(gfid, 0);
}

Result<Storage::FdRef> Storage::OpenDirUncached(const Gfid& gfid, int depth) {
  if (gfid.IsRoot()) return std::make_shared<Fd>(root_fd_, false);
  if (depth > 4096) return Status(ELOOP, "directory chain too deep");
  DirRecord rec;
  {
    std::shared_lock lk(dirs_mu_);
    auto it = dirs_.find(gfid);
    if (it == dirs_.end()) return Status(ENOENT, fmt::format("no directory with gfid {}", gfid.ToString()));
    rec = it->second;
  }
  FdRef parent;
  {
    std::unique_lock lk(fds_mu_);
    auto it = dir_fds_.find(rec.parent);
    if (it != dir_fds_.end()) parent = it->second;
  }
  if (!parent) {
    auto p = OpenDirUncached(rec.parent, depth + 1);
    if (!p.ok()) return p.status();
    parent = *p;
  }
  int fd = ::openat(parent->get(), rec.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno == ENOTDIR ? ESTALE : errno, fmt::format("directory {}", gfid.ToString()));
  auto ref = std::make_shared<Fd>(fd, true);
  // The name may have been reused by another directory behind our back: check identity.
  std::string raw(Gfid::kSize, '\0');
  if (::fgetxattr(fd, kGfidXattr, raw.data(), raw.size()) != static_cast<ssize_t>(Gfid::kSize) ||
      raw != gfid.Bytes()) {
    return Status(ESTALE, fmt::format("directory {} moved behind the brick's back", gfid.ToString()));
  }
  std::lock_guard lk(fds_mu_);
  if (dir_fds_.size() >= max_cached_fds_) dir_fds_.clear();
  dir_fds_[gfid] = ref;
  return ref;
}

Result<Storage::FdRef> Storage::FileFd(const Gfid& gfid) {
  {
    std::lock_guard lk(fds_mu_);
    auto it = file_fds_.find(gfid);
    if (it != file_fds_.end()) return it->second;
  }
  if (IsDir(gfid)) return Status(EISDIR, "is a directory");
  std::string name = ObjectName(gfid);
  struct stat st;
  if (::fstatat(objects_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return Status::FromErrno(errno, fmt::format("gfid {}", gfid.ToString()));
  // Only regular files are opened: opening a FIFO or a device could block or have side effects.
  if (!S_ISREG(st.st_mode)) return Status(EINVAL, "not a regular file");
  int fd = ::openat(objects_fd_, name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM))
    fd = ::openat(objects_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, fmt::format("gfid {}", gfid.ToString()));
  auto ref = std::make_shared<Fd>(fd, true);
  std::lock_guard lk(fds_mu_);
  if (file_fds_.size() >= max_cached_fds_) file_fds_.clear();
  file_fds_.emplace(gfid, ref);
  return ref;
}

Result<Inode> Storage::StatDirFd(const Gfid& gfid, int fd) {
  Inode in{gfid, {}};
  if (::fstat(fd, &in.st) != 0) return Status::FromErrno(errno, "fstat");
  return in;
}

Result<Inode> Storage::StatObject(const Gfid& gfid) {
  if (IsDir(gfid)) {
    auto fd = DirFd(gfid);
    if (!fd.ok()) return fd.status();
    return StatDirFd(gfid, (*fd)->get());
  }
  Inode in{gfid, {}};
  if (::fstatat(objects_fd_, ObjectName(gfid).c_str(), &in.st, AT_SYMLINK_NOFOLLOW) != 0)
    return Status::FromErrno(errno, fmt::format("gfid {}", gfid.ToString()));
  if (in.st.st_nlink > 0) in.st.st_nlink--;  // the brick's own gfid link is not the user's
  return in;
}

namespace {

// This thread's working directory as it was when it first needed an EntryPath, from then on
// its own (unshare(CLONE_FS)); fd -1 if either step failed.
struct OwnWorkingDirectory {
  int home = -1;
  OwnWorkingDirectory() {
    home = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (home >= 0 && ::unshare(CLONE_FS) != 0) {
      ::close(home);
      home = -1;
    }
  }
  ~OwnWorkingDirectory() {
    if (home >= 0) ::close(home);
  }
};

// This thread's own working directory (-1 if it could not have one), and the directory an
// InDirectory keeps it in (-1: none).
int OwnHome() {
  thread_local const OwnWorkingDirectory own;
  return own.home;
}
thread_local int entered_dirfd = -1;

}  // namespace

EntryPath::EntryPath(int dirfd, const std::string& name) {
  if (entered_dirfd >= 0 && entered_dirfd == dirfd) {
    path_ = name.c_str();
    return;
  }
  int home = OwnHome();
  if (home >= 0 && ::fchdir(dirfd) == 0) {
    back_ = entered_dirfd >= 0 ? entered_dirfd : home;
    path_ = name.c_str();
  } else {
    proc_ = ProcPath(dirfd, name);
    path_ = proc_.c_str();
  }
}

EntryPath::~EntryPath() {
  if (back_ >= 0 && ::fchdir(back_) != 0) HAFS_LOG_WARN("cannot return to the thread's working directory: {}", std::strerror(errno));
}

InDirectory::InDirectory(int dirfd) {
  int home = OwnHome();
  if (entered_dirfd >= 0 || home < 0 || ::fchdir(dirfd) != 0) return;  // EntryPaths do their own
  home_ = home;
  entered_dirfd = dirfd;
}

InDirectory::~InDirectory() {
  if (home_ < 0) return;
  entered_dirfd = -1;
  if (::fchdir(home_) != 0) HAFS_LOG_WARN("cannot return to the thread's working directory: {}", std::strerror(errno));
}

Result<Gfid> Storage::GfidOfEntry(int dirfd, const std::string& name) const {
  std::string raw(Gfid::kSize, '\0');
  EntryPath path(dirfd, name);
  ssize_t n = ::lgetxattr(path.c_str(), kGfidXattr, raw.data(), raw.size());
  if (n < 0) return Status(errno == ERANGE ? EIO : errno, "gfid xattr");
  auto g = Gfid::FromBytes(std::string_view(raw.data(), n));
  if (!g) return Status(EIO, "malformed gfid xattr");
  return *g;
}

Status Storage::SetGfidOfEntry(int dirfd, const std::string& name, const Gfid& gfid) const {
  EntryPath path(dirfd, name);
  std::string raw = gfid.Bytes();
  if (::lsetxattr(path.c_str(), kGfidXattr, raw.data(), raw.size(), 0) != 0)
    return Status::FromErrno(errno, "setting gfid xattr");
  return Status::Ok();
}

void Storage::DropIfUnlinked(const Gfid& gfid) {
  if (gfid.IsNull()) return;
  struct stat st;
  std::string name = ObjectName(gfid);
  if (::fstatat(objects_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (st.st_nlink > 1) return;  // other names still point at it
  {
    std::lock_guard lk(opens_mu_);
    if (open_counts_.count(gfid)) {
      orphans_[gfid] = true;  // data stays until the last open is released
      return;
    }
  }
  ::unlinkat(objects_fd_, name.c_str(), 0);
  EvictFd(gfid);
  Status s = meta_->Forget(gfid);
  if (!s.ok()) HAFS_LOG_ERROR("forgetting {}: {}", gfid.ToString(), s.ToString());
}

Status Storage::OpenRef(const Gfid& gfid) {
  auto in = StatObject(gfid);
  if (!in.ok()) return in.status();
  std::lock_guard lk(opens_mu_);
  open_counts_[gfid]++;
  return Status::Ok();
}

void Storage::CloseRef(const Gfid& gfid) {
  bool orphan = false;
  {
    std::lock_guard lk(opens_mu_);
    auto it = open_counts_.find(gfid);
    if (it == open_counts_.end()) return;
    if (--it->second > 0) return;
    open_counts_.erase(it);
    orphan = orphans_.erase(gfid) > 0;
  }
  if (orphan) DropIfUnlinked(gfid);
}

}  // namespace hafs::brick
