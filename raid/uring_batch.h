// Positional I/O batches through io_uring: all requests of a batch are in flight at
// once (one request per member of a stripe, or many stripes), which is how the RAID
// engine keeps every member busy. Short transfers are finished synchronously.
// Each thread owns its ring (thread_local, created on first use); a Batch must be
// used by one thread. Falls back to pread/pwrite if io_uring is unavailable.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hafs::raid {

struct IoReq {
  int fd = -1;
  bool write = false;
  void* buf = nullptr;
  size_t len = 0;
  uint64_t off = 0;
  int tag = 0;         // caller's (e.g. member role)
  bool inject_error = false;  // fault injection: fail with EIO without touching the device
  ssize_t result = 0;  // bytes done or -errno after Run()
};

class IoBatch {
 public:
  IoReq& Add(int fd, bool write, void* buf, size_t len, uint64_t off, int tag) {
    reqs_.push_back(IoReq{fd, write, buf, len, off, tag, false, 0});
    return reqs_.back();
  }
  // Runs every request; returns true if all transferred fully.
  bool Run();
  std::vector<IoReq>& reqs() { return reqs_; }
  bool empty() const { return reqs_.empty(); }
  void clear() { reqs_.clear(); }

 private:
  std::vector<IoReq> reqs_;
};

}  // namespace hafs::raid
