// Storage: the POSIX surface of one brick, addressed by gfid.
//
// On disk (docs/brick-format.md): the volume namespace is mirrored as plain files and
// directories under the brick root, so an operator can always read data off a brick. Every
// object carries its gfid in the `trusted.hafs.gfid` xattr. Non-directories also have a hard
// link `.hafs/objects/<xx>/<gfid>`, which resolves them by gfid whatever their names are;
// directories are resolved through their (parent, name) record in the MetadataStore, and open
// directory fds are cached by gfid (an fd stays right across renames).
//
// Every name is validated (names.h) and every operation is an *at() call on a directory fd
// with a single validated name, never following a symlink, so nothing outside the brick and
// nothing under `.hafs/` is reachable from a request.
//
// Errors are errno values (Status::err()); the client returns them unchanged.
// Thread-safety: all methods are safe to call concurrently. Entry changes in one directory
// are serialized by a striped lock on the parent; renames of directories are exclusive with
// respect to path resolution.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "brickd/metadata_store.h"
#include "brickd/migration_gate.h"
#include "common/gfid.h"
#include "common/status.h"
#include "common/work_pool.h"

namespace hafs::brick {

struct Inode {
  Gfid gfid;
  struct stat st {};
};

struct Credentials {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;
};

struct EntryResult {
  Inode inode;
  Inode parent;
};

struct DirListing {
  struct Entry {
    std::string name;
    Gfid gfid;  // null if the entry has no gfid (only when plus == false)
    uint8_t type = 0;
    uint64_t next_cookie = 0;
    struct stat st {};
  };
  std::vector<Entry> entries;
  bool eof = false;
};

struct RenameResult {
  Inode inode;
  Gfid replaced;  // null if nothing was replaced
};

struct SetattrArgs {
  bool set_mode = false, set_uid = false, set_gid = false, set_size = false;
  bool set_atime = false, set_mtime = false, atime_now = false, mtime_now = false;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  struct timespec atime {}, mtime {};
};

class Storage {
 public:
  struct Options {
    std::string root;          // brick directory (must exist)
    std::string volume_id;     // refused if the brick already belongs to another volume
    uint32_t brick_id = 0;
    size_t max_cached_fds = 4096;
    // Writes at least this large, at 4 KiB-aligned offsets and lengths, bypass the page cache
    // (O_DIRECT): no page allocation and no copy in the kernel, the costs that bound a
    // replica set's streaming writes when its bricks share one machine. 0: page cache only.
    size_t direct_write_min = 128 * 1024;
    // Threads that look up a readdir page's entries at once (pages of 128 entries or more):
    // a cold directory's inode reads reach the disk together. 1: one at a time.
    size_t readdir_threads = 8;
  };

  // Opens (and on first use initializes) the brick at options.root.
  static Result<std::unique_ptr<Storage>> Open(const Options& options);
  ~Storage();

  const std::string& volume_id() const { return volume_id_; }
  MetadataStore& metadata() { return *meta_; }

  Result<EntryResult> Lookup(const Gfid& parent, const std::string& name, const Gfid& gfid_req);
  Result<Inode> Getattr(const Gfid& gfid);
  // A directory the brick knows or an object with its gfid link: what changelog counters may be
  // kept for (no locks beyond the directory map's; the metadata store calls it under a stripe).
  bool Exists(const Gfid& gfid) const;
  Result<Inode> Setattr(const Gfid& gfid, const SetattrArgs& args);
  Result<EntryResult> Mkdir(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                            const Credentials& owner);
  Result<EntryResult> Create(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                             bool exclusive, const Credentials& owner);
  Result<EntryResult> Mknod(const Gfid& parent, const std::string& name, const Gfid& gfid, uint32_t mode,
                            uint64_t rdev, const Credentials& owner);
  Result<EntryResult> Symlink(const Gfid& parent, const std::string& name, const Gfid& gfid,
                              const std::string& target, const Credentials& owner);
  Result<std::string> Readlink(const Gfid& gfid);
  Result<EntryResult> Link(const Gfid& gfid, const Gfid& new_parent, const std::string& new_name);
  Result<EntryResult> Unlink(const Gfid& parent, const std::string& name);
  Result<EntryResult> Rmdir(const Gfid& parent, const std::string& name);
  Result<RenameResult> Rename(const Gfid& old_parent, const std::string& old_name, const Gfid& new_parent,
                              const std::string& new_name, uint32_t flags);
  Result<DirListing> Readdir(const Gfid& gfid, uint64_t cookie, size_t max_entries, bool plus);

  // Opens are counted so that an unlinked file that is still open keeps its data.
  Status OpenRef(const Gfid& gfid);
  void CloseRef(const Gfid& gfid);

  Result<size_t> Read(const Gfid& gfid, uint64_t offset, size_t size, std::string* out);
  // With `after`, also the file's attributes once written (from its open fd: no path lookup);
  // left empty if they cannot be had (the file is gone), as Getattr would fail then.
  Result<size_t> Write(const Gfid& gfid, uint64_t offset, std::string_view data, bool append, bool datasync,
                       std::optional<Inode>* after = nullptr);
  Result<Inode> Truncate(const Gfid& gfid, uint64_t size);
  Result<Inode> Fallocate(const Gfid& gfid, int mode, uint64_t offset, uint64_t length);
  Status Fsync(const Gfid& gfid, bool datasync);
  Result<struct statvfs> Statfs();

  Status Setxattr(const Gfid& gfid, const std::string& name, std::string_view value, int flags);
  // An xattr a directory is made with (MkdirRequest.xattrs): the layout or a user xattr, never
  // a command such as hafs.migrate (EPERM).
  Status SetNewDirXattr(const Gfid& gfid, const std::string& name, std::string_view value);
  Result<std::string> Getxattr(const Gfid& gfid, const std::string& name);
  Result<std::vector<std::string>> Listxattr(const Gfid& gfid);
  Status Removexattr(const Gfid& gfid, const std::string& name);
  Status Access(const Gfid& gfid, uint32_t mask, const Credentials& who);

  uint64_t bytes_read() const { return bytes_read_.load(); }
  uint64_t bytes_written() const { return bytes_written_.load(); }
  uint64_t bytes_written_direct() const { return bytes_written_direct_.load(); }

 private:
  // An fd, closed when the last user drops it (cache eviction never closes an fd in use).
  class Fd {
   public:
    Fd(int fd, bool owned) : fd_(fd), owned_(owned) {}
    ~Fd();
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    // The same file opened again with O_DIRECT, on first use; -errno if that cannot be done.
    int Direct();

   private:
    int fd_;
    bool owned_;
    std::once_flag direct_once_;
    int direct_fd_ = -EBADF;
  };
  using FdRef = std::shared_ptr<Fd>;

  Storage() = default;
  Status Init(const Options& options);

  bool IsDir(const Gfid& gfid) const;
  Result<FdRef> DirFd(const Gfid& gfid);
  Result<FdRef> OpenDirUncached(const Gfid& gfid, int depth);
  Result<FdRef> FileFd(const Gfid& gfid);
  ssize_t DirectWrite(Fd& fd, std::string_view data, uint64_t offset);
  std::string ObjectName(const Gfid& gfid) const;   // "<xx>/<gfid>" relative to objects_fd_
  std::string ObjectPath(const Gfid& gfid) const;   // absolute, for the l*xattr calls
  Result<Inode> StatObject(const Gfid& gfid);
  Result<Inode> StatDirFd(const Gfid& gfid, int fd);
  Result<Gfid> GfidOfEntry(int dirfd, const std::string& name) const;
  Status SetGfidOfEntry(int dirfd, const std::string& name, const Gfid& gfid) const;
  Result<EntryResult> FinishNewEntry(const Gfid& parent, int parentfd, const std::string& name, const Gfid& gfid,
                                     const Credentials& owner, bool is_dir);
  Result<Inode> AdoptEntry(const Gfid& parent, int parentfd, const std::string& name, const Gfid& gfid_req);
  void DropIfUnlinked(const Gfid& gfid);
  void RememberDir(const Gfid& gfid, const DirRecord& rec);
  void ForgetDir(const Gfid& gfid);
  void EvictFd(const Gfid& gfid);
  int ValidateEntry(const Gfid& parent, const std::string& name) const;
  std::mutex& StripeFor(const Gfid& g) { return stripes_[g.Hash() % stripes_.size()]; }
  Status MigrationCommand(const Gfid& gfid, std::string_view value);

  std::string root_;
  std::string volume_id_;
  int root_fd_ = -1;
  int objects_fd_ = -1;
  std::unique_ptr<MetadataStore> meta_;

  mutable std::shared_mutex dirs_mu_;
  std::unordered_map<Gfid, DirRecord, GfidHash> dirs_;

  // Directory renames take this exclusively; every other path resolution shares it.
  std::shared_mutex rename_mu_;
  std::array<std::mutex, 128> stripes_;
  MigrationGate gate_;  // rebalance: frozen and moved-away files

  std::mutex fds_mu_;
  std::unordered_map<Gfid, FdRef, GfidHash> dir_fds_;
  std::unordered_map<Gfid, FdRef, GfidHash> file_fds_;
  size_t max_cached_fds_ = 4096;

  std::mutex opens_mu_;
  std::unordered_map<Gfid, int, GfidHash> open_counts_;
  std::unordered_map<Gfid, bool, GfidHash> orphans_;  // unlinked while open

  size_t direct_write_min_ = 0;
  size_t readdir_threads_ = 1;
  std::unique_ptr<WorkPool> lookups_;  // readdir_threads_ - 1 helpers
  std::atomic<bool> direct_failed_{false};  // the brick's file system refused O_DIRECT once

  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, bytes_written_direct_{0};
};

}  // namespace hafs::brick
