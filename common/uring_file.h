// Positional file I/O through io_uring. Each calling thread gets its own small ring
// (created on first use), so there is no lock between threads; a request is submitted
// and waited for on that ring. Short transfers are continued until done, EOF or error.
// Returns bytes transferred or -errno. Falls back to pread/pwrite if the kernel refuses
// io_uring (e.g. seccomp), logging that once.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace hafs::uring {

ssize_t PRead(int fd, void* buf, size_t len, uint64_t offset);
ssize_t PWrite(int fd, const void* buf, size_t len, uint64_t offset);
// fsync (datasync=false) or fdatasync (datasync=true) through the ring.
int Fsync(int fd, bool datasync);
// True if this thread's I/O really goes through io_uring.
bool Active();

}  // namespace hafs::uring
