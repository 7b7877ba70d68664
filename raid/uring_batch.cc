#include "raid/uring_batch.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "common/log.h"

namespace hafs::raid {
namespace {

constexpr unsigned kRingDepth = 128;

struct Ring {
  io_uring ring{};
  bool ok = false;
  Ring() {
    int rc = io_uring_queue_init(kRingDepth, &ring, 0);
    ok = rc == 0;
    if (!ok) {
      static std::once_flag once;
      std::call_once(once, [rc] { HAFS_LOG_WARN("raid: io_uring unavailable ({}), using pread/pwrite", -rc); });
    }
  }
  ~Ring() {
    if (ok) io_uring_queue_exit(&ring);
  }
};

Ring& ThreadRing() {
  thread_local Ring r;
  return r;
}

// Finishes a request synchronously from `done` bytes on.
void Finish(IoReq& r, size_t done) {
  while (done < r.len) {
    char* p = static_cast<char*>(r.buf) + done;
    ssize_t n = r.write ? pwrite(r.fd, p, r.len - done, off_t(r.off + done))
                        : pread(r.fd, p, r.len - done, off_t(r.off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      r.result = -errno;
      return;
    }
    if (n == 0) {
      r.result = r.write ? -ENOSPC : ssize_t(done);  // EOF on read: caller sees a short read
      if (!r.write) return;
      return;
    }
    done += size_t(n);
  }
  r.result = ssize_t(done);
}

}  // namespace

bool IoBatch::Run() {
  Ring& ring = ThreadRing();
  size_t next = 0;
  for (auto& r : reqs_) r.result = r.inject_error ? -EIO : 0;
  if (!ring.ok) {
    for (auto& r : reqs_) {
      if (!r.inject_error) Finish(r, 0);
    }
  } else {
    size_t inflight = 0;
    while (next < reqs_.size() || inflight > 0) {
      while (next < reqs_.size() && inflight < kRingDepth) {
        IoReq& r = reqs_[next];
        if (r.inject_error) {
          ++next;
          continue;
        }
        io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
        if (!sqe) break;
        if (r.write) {
          io_uring_prep_write(sqe, r.fd, r.buf, unsigned(r.len), r.off);
        } else {
          io_uring_prep_read(sqe, r.fd, r.buf, unsigned(r.len), r.off);
        }
        io_uring_sqe_set_data64(sqe, next);
        ++next;
        ++inflight;
      }
      if (inflight == 0) break;  // only injected failures were left
      int rc = io_uring_submit(&ring.ring);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        HAFS_LOG_ERROR("raid: io_uring_submit: {}", -rc);
      }
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_wait_cqe(&ring.ring, &cqe);
      if (rc == -EINTR) continue;
      if (rc < 0) {
        HAFS_LOG_ERROR("raid: io_uring_wait_cqe: {}", -rc);
        break;
      }
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring.ring, head, cqe) {
        IoReq& r = reqs_[cqe->user_data];
        if (cqe->res < 0) {
          r.result = cqe->res;
        } else if (size_t(cqe->res) < r.len) {
          Finish(r, size_t(cqe->res));
        } else {
          r.result = cqe->res;
        }
        ++seen;
      }
      io_uring_cq_advance(&ring.ring, seen);
      inflight -= seen;
    }
  }
  bool all = true;
  for (auto& r : reqs_) all = all && r.result == ssize_t(r.len);
  return all;
}

}  // namespace hafs::raid
