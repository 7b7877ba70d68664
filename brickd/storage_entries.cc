// Storage: operations that change or read directory entries.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include "brickd/names.h"
#include "brickd/storage.h"
#include "brickd/storage_internal.h"
#include "common/log.h"

namespace hafs::brick {

int Storage::ValidateEntry(const Gfid& parent, const std::string& name) const {
  if (int err = ValidateName(name)) return err;
  if (IsPrivateName(parent.IsRoot(), name)) return EPERM;
  return 0;
}

// Gives a new object its owner and exact mode, skipping the syscalls that would change nothing
// (the brick runs as root with umask 0, so that is the common case).
static bool SetOwnerAndMode(int fd, const Credentials& owner, uint32_t mode) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  if ((st.st_uid != owner.uid || st.st_gid != owner.gid) && ::fchown(fd, owner.uid, owner.gid) != 0) return false;
  // chown may clear set-id bits, so the mode is checked after it.
  if ((st.st_mode & 07777) != (mode & 07777) || st.st_uid != owner.uid || st.st_gid != owner.gid)
    return ::fchmod(fd, mode & 07777) == 0;
  return true;
}

#define HAFS_CHECK_NAME(parent, name)                                              \
  do {                                                                             \
    if (int _e = ValidateEntry(parent, name)) return Status(_e, "invalid name");   \
  } while (0)

Result<Inode> Storage::AdoptEntry(const Gfid& parent, int parentfd, const std::string& name, const Gfid& gfid_req) {
  // An entry without a gfid was created on the brick directly (or a create crashed half way):
  // give it the gfid the client proposes so that all replicas can agree.
  struct stat st;
  if (::fstatat(parentfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::FromErrno(errno, name);
  Gfid gfid = gfid_req.IsNull() ? Gfid::Random() : gfid_req;
  HAFS_RETURN_IF_ERROR(SetGfidOfEntry(parentfd, name, gfid));
  if (S_ISDIR(st.st_mode)) {
    RememberDir(gfid, DirRecord{parent, name});
  } else {
    if (::linkat(parentfd, name.c_str(), objects_fd_, ObjectName(gfid).c_str(), 0) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "linking object");
  }
  HAFS_LOG_INFO("adopted {} in {} as gfid {}", name, parent.ToString(), gfid.ToString());
  return StatObject(gfid);
}

Result<EntryResult> Storage::Lookup(const Gfid& parent, const std::string& name, const Gfid& gfid_req) {
  if (int err = ValidateName(name)) return Status(err, "invalid name");
  if (IsPrivateName(parent.IsRoot(), name)) return Status(ENOENT, "no such entry");
  std::shared_lock ns(rename_mu_);
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  auto gfid = GfidOfEntry(pfd->get(), name);
  Result<Inode> inode = Status(EIO, "");
  if (gfid.ok()) {
    inode = StatObject(*gfid);
    if (inode.ok() && S_ISDIR(inode->st.st_mode)) {
      // Keep the (parent, name) record right if the directory was renamed behind our back.
      std::shared_lock lk(dirs_mu_);
      auto it = dirs_.find(*gfid);
      bool stale = it == dirs_.end() || it->second.parent != parent || it->second.name != name;
      lk.unlock();
      if (stale) RememberDir(*gfid, DirRecord{parent, name});
    } else if (!inode.ok() && inode.err() == ENOENT) {
      // A directory whose record is missing: resolve it by name instead.
      struct stat st;
      if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        RememberDir(*gfid, DirRecord{parent, name});
        inode = StatObject(*gfid);
      }
    }
  } else if (gfid.err() == ENODATA) {
    std::lock_guard stripe(StripeFor(parent));
    inode = AdoptEntry(parent, pfd->get(), name, gfid_req);
  } else {
    return gfid.status();
  }
  if (!inode.ok()) return inode.status();
  HAFS_ASSIGN_OR_RETURN(pin, StatDirFd(parent, pfd->get()));
  return EntryResult{*inode, pin};
}

Result<EntryResult> Storage::FinishNewEntry(const Gfid& parent, int parentfd, const std::string& /*name*/,
                                            const Gfid& gfid, const Credentials& /*owner*/, bool /*is_dir*/) {
  HAFS_ASSIGN_OR_RETURN(in, StatObject(gfid));
  HAFS_ASSIGN_OR_RETURN(pin, StatDirFd(parent, parentfd));
  return EntryResult{in, pin};
}

Result<EntryResult> Storage::Mkdir(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                                   const Credentials& owner) {
  HAFS_CHECK_NAME(parent, name);
  if (gfid.IsNull() || gfid.IsRoot()) return Status(EINVAL, "mkdir needs a new gfid");
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  if (IsDir(gfid)) {
    // A replayed mkdir (same gfid, same place) succeeds; a gfid in use elsewhere does not.
    auto existing = GfidOfEntry(pfd->get(), name);
    if (existing.ok() && *existing == gfid) return FinishNewEntry(parent, pfd->get(), name, gfid, owner, true);
    return Status(EEXIST, fmt::format("gfid {} is already a directory elsewhere", gfid.ToString()));
  }
  if (::mkdirat(pfd->get(), name.c_str(), mode & 07777) != 0) return Status::FromErrno(errno, name);
  int fd = ::openat(pfd->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, name);
  FdCloser closer(fd);
  std::string raw = gfid.Bytes();
  if (::fsetxattr(fd, kGfidXattr, raw.data(), raw.size(), 0) != 0 || !SetOwnerAndMode(fd, owner, mode)) {
    int err = errno;
    ::unlinkat(pfd->get(), name.c_str(), AT_REMOVEDIR);
    return Status::FromErrno(err, name);
  }
  RememberDir(gfid, DirRecord{parent, name});
  return FinishNewEntry(parent, pfd->get(), name, gfid, owner, true);
}

Result<EntryResult> Storage::Create(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                                    bool exclusive, const Credentials& owner) {
  HAFS_CHECK_NAME(parent, name);
  if (gfid.IsNull() || gfid.IsRoot()) return Status(EINVAL, "create needs a new gfid");
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));

  struct stat st;
  if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (exclusive) return Status(EEXIST, name);
    if (S_ISDIR(st.st_mode)) return Status(EISDIR, name);
    auto existing = GfidOfEntry(pfd->get(), name);
    if (!existing.ok()) return existing.status();
    return FinishNewEntry(parent, pfd->get(), name, *existing, owner, false);
  }
  if (IsDir(gfid)) return Status(EEXIST, "gfid in use by a directory");

  // The object is born under its gfid in the objects folder, gets its gfid xattr, owner and
  // mode, and only then gets its name: a crash never leaves a named file without its gfid
  // link (at worst a nameless object, which nothing can reach). Plain O_CREAT rather than
  // O_TMPFILE: ext4 serializes O_TMPFILE through its orphan list, four times slower here.
  std::string objname = ObjectName(gfid);
  int fd = ::openat(objects_fd_, objname.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
  if (fd < 0) {
    if (errno == EEXIST) return Status(EEXIST, fmt::format("gfid {} is already in use", gfid.ToString()));
    return Status::FromErrno(errno, "creating object");
  }
  FdCloser closer(fd);
  std::string raw = gfid.Bytes();
  if (::fsetxattr(fd, kGfidXattr, raw.data(), raw.size(), 0) != 0 || !SetOwnerAndMode(fd, owner, mode)) {
    int err = errno;
    ::unlinkat(objects_fd_, objname.c_str(), 0);
    return Status::FromErrno(err, "initializing object");
  }
  if (::linkat(objects_fd_, objname.c_str(), pfd->get(), name.c_str(), 0) != 0) {
    int err = errno;
    ::unlinkat(objects_fd_, objname.c_str(), 0);
    return Status::FromErrno(err, name);
  }
  {
    // Keep the fresh fd: the first write will want it.
    std::lock_guard lk(fds_mu_);
    if (file_fds_.size() < max_cached_fds_) {
      int keep = closer.release();
      file_fds_[gfid] = std::make_shared<Fd>(keep, true);
    }
  }
  return FinishNewEntry(parent, pfd->get(), name, gfid, owner, false);
}

Result<EntryResult> Storage::Mknod(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                                   uint64_t rdev, const Credentials& owner) {
  if (S_ISREG(mode) || (mode & S_IFMT) == 0) return Create(parent, name, gfid, mode & 07777, true, owner);
  if (S_ISDIR(mode) || S_ISLNK(mode)) return Status(EINVAL, "mknod cannot make directories or symlinks");
  HAFS_CHECK_NAME(parent, name);
  if (gfid.IsNull() || gfid.IsRoot()) return Status(EINVAL, "mknod needs a new gfid");
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  struct stat st;
  if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return Status(EEXIST, name);
  std::string objname = ObjectName(gfid);
  if (::mknodat(objects_fd_, objname.c_str(), mode, rdev) != 0) {
    if (errno == EEXIST) return Status(EEXIST, fmt::format("gfid {} is already in use", gfid.ToString()));
    return Status::FromErrno(errno, name);
  }
  std::string raw = gfid.Bytes();
  std::string path = ObjectPath(gfid);
  if (::lsetxattr(path.c_str(), kGfidXattr, raw.data(), raw.size(), 0) != 0 ||
      ::fchownat(objects_fd_, objname.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
      ::fchmodat(objects_fd_, objname.c_str(), mode & 07777, 0) != 0 ||
      ::linkat(objects_fd_, objname.c_str(), pfd->get(), name.c_str(), 0) != 0) {
    int err = errno;
    ::unlinkat(objects_fd_, objname.c_str(), 0);
    return Status::FromErrno(err, name);
  }
  return FinishNewEntry(parent, pfd->get(), name, gfid, owner, false);
}

Result<EntryResult> Storage::Symlink(const Gfid& parent, const std::string& name, const Gfid& gfid,
                                     const std::string& target, const Credentials& owner) {
  HAFS_CHECK_NAME(parent, name);
  if (gfid.IsNull() || gfid.IsRoot()) return Status(EINVAL, "symlink needs a new gfid");
  if (target.empty()) return Status(ENOENT, "empty symlink target");
  if (target.size() >= 4096 || target.find('\0') != std::string::npos) return Status(ENAMETOOLONG, "symlink target");
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  struct stat st;
  if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return Status(EEXIST, name);
  // The target is stored verbatim and never followed by the brick: it only means something
  // on the client's side of the mount.
  std::string objname = ObjectName(gfid);
  if (::symlinkat(target.c_str(), objects_fd_, objname.c_str()) != 0) {
    if (errno == EEXIST) return Status(EEXIST, fmt::format("gfid {} is already in use", gfid.ToString()));
    return Status::FromErrno(errno, name);
  }
  std::string raw = gfid.Bytes();
  std::string path = ObjectPath(gfid);
  if (::lsetxattr(path.c_str(), kGfidXattr, raw.data(), raw.size(), 0) != 0 ||
      ::fchownat(objects_fd_, objname.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
      ::linkat(objects_fd_, objname.c_str(), pfd->get(), name.c_str(), 0) != 0) {
    int err = errno;
    ::unlinkat(objects_fd_, objname.c_str(), 0);
    return Status::FromErrno(err, name);
  }
  return FinishNewEntry(parent, pfd->get(), name, gfid, owner, false);
}

Result<std::string> Storage::Readlink(const Gfid& gfid) {
  if (IsDir(gfid)) return Status(EINVAL, "not a symlink");
  std::string buf(4096, '\0');
  ssize_t n = ::readlinkat(objects_fd_, ObjectName(gfid).c_str(), buf.data(), buf.size());
  if (n < 0) return Status::FromErrno(errno, "readlink");
  buf.resize(n);
  return buf;
}

Result<EntryResult> Storage::Link(const Gfid& gfid, const Gfid& new_parent, const std::string& new_name) {
  HAFS_CHECK_NAME(new_parent, new_name);
  if (IsDir(gfid)) return Status(EPERM, "hard links to directories are not allowed");
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(new_parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(new_parent));
  if (::linkat(objects_fd_, ObjectName(gfid).c_str(), pfd->get(), new_name.c_str(), 0) != 0)
    return Status::FromErrno(errno, new_name);
  return FinishNewEntry(new_parent, pfd->get(), new_name, gfid, {}, false);
}

Result<EntryResult> Storage::Unlink(const Gfid& parent, const std::string& name) {
  HAFS_CHECK_NAME(parent, name);
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  struct stat st;
  if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::FromErrno(errno, name);
  if (S_ISDIR(st.st_mode)) return Status(EISDIR, name);
  auto gfid = GfidOfEntry(pfd->get(), name);
  if (::unlinkat(pfd->get(), name.c_str(), 0) != 0) return Status::FromErrno(errno, name);
  Inode gone{gfid.ok() ? *gfid : Gfid(), st};
  gone.st.st_nlink = st.st_nlink > 1 ? st.st_nlink - 2 : 0;  // minus this name and the gfid link
  if (gfid.ok()) DropIfUnlinked(*gfid);
  HAFS_ASSIGN_OR_RETURN(pin, StatDirFd(parent, pfd->get()));
  return EntryResult{gone, pin};
}

Result<EntryResult> Storage::Rmdir(const Gfid& parent, const std::string& name) {
  HAFS_CHECK_NAME(parent, name);
  std::shared_lock ns(rename_mu_);
  std::lock_guard stripe(StripeFor(parent));
  HAFS_ASSIGN_OR_RETURN(pfd, DirFd(parent));
  struct stat st;
  if (::fstatat(pfd->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::FromErrno(errno, name);
  if (!S_ISDIR(st.st_mode)) return Status(ENOTDIR, name);
  auto gfid = GfidOfEntry(pfd->get(), name);
  if (::unlinkat(pfd->get(), name.c_str(), AT_REMOVEDIR) != 0) return Status::FromErrno(errno, name);
  if (gfid.ok()) ForgetDir(*gfid);
  Inode gone{gfid.ok() ? *gfid : Gfid(), st};
  gone.st.st_nlink = 0;
  HAFS_ASSIGN_OR_RETURN(pin, StatDirFd(parent, pfd->get()));
  return EntryResult{gone, pin};
}

Result<RenameResult> Storage::Rename(const Gfid& old_parent, const std::string& old_name, const Gfid& new_parent,
                                     const std::string& new_name, uint32_t flags) {
  HAFS_CHECK_NAME(old_parent, old_name);
  HAFS_CHECK_NAME(new_parent, new_name);
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Status(EINVAL, "unknown rename flags");
  // Exclusive: a directory rename changes the paths every other resolution walks.
  std::unique_lock ns(rename_mu_);
  HAFS_ASSIGN_OR_RETURN(opfd, DirFd(old_parent));
  HAFS_ASSIGN_OR_RETURN(npfd, DirFd(new_parent));
  struct stat sst, dst;
  if (::fstatat(opfd->get(), old_name.c_str(), &sst, AT_SYMLINK_NOFOLLOW) != 0)
    return Status::FromErrno(errno, old_name);
  bool target_exists = ::fstatat(npfd->get(), new_name.c_str(), &dst, AT_SYMLINK_NOFOLLOW) == 0;
  auto sgfid = GfidOfEntry(opfd->get(), old_name);
  Result<Gfid> dgfid = target_exists ? GfidOfEntry(npfd->get(), new_name) : Result<Gfid>(Status(ENOENT, ""));
  if (::renameat2(opfd->get(), old_name.c_str(), npfd->get(), new_name.c_str(), flags) != 0)
    return Status::FromErrno(errno, fmt::format("rename {} -> {}", old_name, new_name));

  RenameResult out;
  bool same_inode = target_exists && sst.st_ino == dst.st_ino && sst.st_dev == dst.st_dev;
  if (sgfid.ok() && S_ISDIR(sst.st_mode)) RememberDir(*sgfid, DirRecord{new_parent, new_name});
  if (target_exists && dgfid.ok() && !same_inode) {
    if (flags & RENAME_EXCHANGE) {
      if (S_ISDIR(dst.st_mode)) RememberDir(*dgfid, DirRecord{old_parent, old_name});
    } else {
      out.replaced = *dgfid;
      if (S_ISDIR(dst.st_mode)) {
        ForgetDir(*dgfid);
      } else {
        DropIfUnlinked(*dgfid);
      }
    }
  }
  if (sgfid.ok()) {
    auto in = StatObject(*sgfid);
    if (in.ok()) out.inode = *in;
  }
  return out;
}

namespace {

// A readdir page's per-entry look-ups (the gfid xattr and, for readdirplus, the attributes)
// read each entry's inode: in a cold directory one disk read per inode, one after the other
// if done in order. From this many entries on they are done by several threads at once, so
// the disk gets them together (docs/brickd.md, "Cold directory listings"), by this thread and
// the WorkPool's. Smaller pages stay on this thread: handing them out would cost more than a
// warm page's look-ups. How many: Options::readdir_threads.
constexpr size_t kParallelLookupsFrom = 128;
// Entries a thread takes at a time: 500 entries make 32 chunks for 8 threads.
constexpr size_t kLookupChunk = 16;

}  // namespace

Result<DirListing> Storage::Readdir(const Gfid& gfid, uint64_t cookie, size_t max_entries, bool plus) {
  std::shared_lock ns(rename_mu_);
  if (!IsDir(gfid)) return Status(StatObject(gfid).ok() ? ENOTDIR : ENOENT, "readdir");
  HAFS_ASSIGN_OR_RETURN(dfd, DirFd(gfid));
  // A private fd per call: the position is the caller's cookie, not shared state.
  int fd = ::openat(dfd->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "opendir");
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "opendir");
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  if (cookie != 0) ::seekdir(dir, static_cast<long>(cookie));
  const int pfd = dirfd(dir);
  const bool root = gfid.IsRoot();
  DirListing out;
  if (max_entries == 0) return out;
  // Names first, then their look-ups (in parallel), then what needs a lock (adopting an entry
  // that has no gfid). An entry that vanished in between is left out; should a whole batch
  // vanish, the next one is read, so that an empty page still means the end.
  while (out.entries.empty() && !out.eof) {
    std::vector<DirListing::Entry> batch;
    while (batch.size() < max_entries) {
      errno = 0;
      struct dirent* d = ::readdir(dir);
      if (!d) {
        if (errno != 0) return Status::FromErrno(errno, "readdir");
        out.eof = true;
        break;
      }
      std::string_view n(d->d_name);
      if (n == "." || n == ".." || IsPrivateName(root, n)) continue;
      DirListing::Entry e;
      e.name = std::string(n);
      e.type = d->d_type;
      e.next_cookie = static_cast<uint64_t>(d->d_off);
      batch.push_back(std::move(e));
    }
    struct Probe {
      bool has_gfid = false;
      bool stat_ok = false;
    };
    std::vector<Probe> probe(batch.size());
    // In chunks: a thread enters the directory once per chunk for the gfid xattrs' bare names
    // (InDirectory), not twice per entry.
    const size_t chunks = (batch.size() + kLookupChunk - 1) / kLookupChunk;
    lookups_->ParallelFor(chunks, batch.size() >= kParallelLookupsFrom ? readdir_threads_ - 1 : 0, [&](size_t c) {
      InDirectory in(pfd);
      for (size_t i = c * kLookupChunk; i < std::min(batch.size(), (c + 1) * kLookupChunk); ++i) {
        DirListing::Entry& e = batch[i];
        if (auto eg = GfidOfEntry(pfd, e.name); eg.ok()) {
          e.gfid = *eg;
          probe[i].has_gfid = true;
        }
        if (plus) probe[i].stat_ok = ::fstatat(pfd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) == 0;
      }
    });
    for (size_t i = 0; i < batch.size(); ++i) {
      DirListing::Entry& e = batch[i];
      if (plus) {
        if (!probe[i].stat_ok) continue;  // raced with unlink
        if (!probe[i].has_gfid) {
          std::lock_guard stripe(StripeFor(gfid));
          auto adopted = AdoptEntry(gfid, pfd, e.name, Gfid());
          if (!adopted.ok()) continue;
          e.gfid = adopted->gfid;
          e.st = adopted->st;
        } else if (!S_ISDIR(e.st.st_mode) && e.st.st_nlink > 0) {
          e.st.st_nlink--;  // the brick's own gfid link is not the user's
        }
      }
      out.entries.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace hafs::brick
