// Exposes an Array as one regular file (its block image) in a FUSE mount, so losetup,
// mkfs and mount work on it. The mount lives while the FuseExport object does.
// Ownership: borrows the Array (it must outlive the export). Thread-safety: Start/Stop
// from one thread; FUSE requests are served by libfuse worker threads calling the
// Array's thread-safe Read/Write/Flush.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/status.h"

struct fuse;

namespace hafs::raid {

class Array;

class FuseExport {
 public:
  FuseExport(Array* array, std::string file_name);
  ~FuseExport();
  // Mounts at `dir` (must exist) and serves in background threads.
  Status Start(const std::string& dir);
  // Unmounts if nothing holds the export open (EBUSY otherwise, e.g. an attached loop device).
  Status TryUnmount();
  // Unmounts (forcefully if busy: lazy unmount + FUSE connection abort) and joins; idempotent.
  void Stop();

 private:
  Array* array_;
  std::string file_name_;
  std::string dir_;
  unsigned conn_id_ = 0;  // /sys/fs/fuse/connections/<id>
  bool unmounted_ = false;
  struct fuse* fuse_ = nullptr;
  std::thread loop_;
};

}  // namespace hafs::raid
