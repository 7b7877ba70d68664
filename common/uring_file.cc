#include "common/uring_file.h"

#include <liburing.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/log.h"

namespace hafs::uring {
namespace {

struct ThreadRing {
  io_uring ring{};
  bool ok = false;
  ThreadRing() {
    int rc = io_uring_queue_init(8, &ring, 0);
    ok = rc == 0;
    if (!ok) {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) HAFS_LOG_WARN("io_uring unavailable ({}); using pread/pwrite", -rc);
    }
  }
  ~ThreadRing() {
    if (ok) io_uring_queue_exit(&ring);
  }
};

ThreadRing& Ring() {
  thread_local ThreadRing r;
  return r;
}

// Submits one prepared SQE and returns its result.
template <typename Prep>
int SubmitOne(ThreadRing& r, Prep prep) {
  io_uring_sqe* sqe = io_uring_get_sqe(&r.ring);
  if (!sqe) return -EAGAIN;
  prep(sqe);
  int rc = io_uring_submit(&r.ring);
  if (rc < 0) return rc;
  io_uring_cqe* cqe = nullptr;
  do {
    rc = io_uring_wait_cqe(&r.ring, &cqe);
  } while (rc == -EINTR);
  if (rc < 0) return rc;
  int res = cqe->res;
  io_uring_cqe_seen(&r.ring, cqe);
  return res;
}

}  // namespace

bool Active() { return Ring().ok; }

ssize_t PRead(int fd, void* buf, size_t len, uint64_t offset) {
  ThreadRing& r = Ring();
  size_t done = 0;
  auto* p = static_cast<char*>(buf);
  while (done < len) {
    ssize_t n;
    if (r.ok) {
      n = SubmitOne(r, [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, p + done, len - done, offset + done); });
    } else {
      n = ::pread(fd, p + done, len - done, offset + done);
      if (n < 0) n = -errno;
    }
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) return done > 0 ? static_cast<ssize_t>(done) : n;
    if (n == 0) break;
    done += n;
  }
  return done;
}

ssize_t PWrite(int fd, const void* buf, size_t len, uint64_t offset) {
  ThreadRing& r = Ring();
  size_t done = 0;
  auto* p = static_cast<const char*>(buf);
  while (done < len) {
    ssize_t n;
    if (r.ok) {
      n = SubmitOne(r, [&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd, p + done, len - done, offset + done); });
    } else {
      n = ::pwrite(fd, p + done, len - done, offset + done);
      if (n < 0) n = -errno;
    }
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) return done > 0 ? static_cast<ssize_t>(done) : n;
    if (n == 0) return -EIO;
    done += n;
  }
  return done;
}

int Fsync(int fd, bool datasync) {
  ThreadRing& r = Ring();
  if (!r.ok) return (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : -errno;
  return SubmitOne(r, [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0); });
}

}  // namespace hafs::uring
