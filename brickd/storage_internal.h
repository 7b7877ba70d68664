// Small helpers shared by the storage_*.cc files; not part of the brick's interface.
#pragma once

#include <unistd.h>

#include <string>

#include <fmt/format.h>

namespace hafs::brick {

// Every object on a brick carries its gfid here (trusted.*: only root can read or forge it).
inline constexpr const char* kGfidXattr = "trusted.hafs.gfid";

// "/proc/self/fd/<dirfd>/<name>": lets the l*xattr calls act on a single entry of an open
// directory without following a symlink in the final component.
inline std::string ProcPath(int dirfd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dirfd, name);
}
inline std::string ProcPath(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

// The path by which the l*xattr calls (which take no directory fd) reach the entry `name`
// (a single component) of the open directory `dirfd`. On a thread with a working directory
// of its own (unshare(CLONE_FS), once per thread) it is the bare name after fchdir(dirfd):
// one component to look up. Otherwise, ProcPath: its walk through /proc cost more than the
// xattr read itself, and a readdir reads one xattr per entry (docs/brickd.md, "Entry
// xattrs"). The thread is back in its working directory when this is destroyed (+0.9 us a
// call); `name` must outlive this.
class EntryPath {
 public:
  EntryPath(int dirfd, const std::string& name);
  ~EntryPath();
  EntryPath(const EntryPath&) = delete;
  EntryPath& operator=(const EntryPath&) = delete;
  const char* c_str() const { return path_; }

 private:
  std::string proc_;
  const char* path_;
  int back_ = -1;  // where to fchdir back to; -1: nothing to undo
};

// Keeps the calling thread in directory `dirfd` while it lives: EntryPaths of that directory
// made meanwhile on this thread take the bare name without their two fchdirs (a readdir page
// enters once per chunk of entries, not twice per entry). Not nested; an EntryPath of another
// directory meanwhile comes back here.
class InDirectory {
 public:
  explicit InDirectory(int dirfd);
  ~InDirectory();
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

 private:
  int home_ = -1;  // the thread's own working directory; -1: not entered
};

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace hafs::brick
