// Private pieces of Array shared by its .cc files (not part of the public API).
#pragma once

#include <unistd.h>

#include <atomic>
#include <string>

#include "raid/array.h"

namespace hafs::raid {

struct Array::Slot {
  int fd = -1;
  // Same file opened O_DSYNC: superblock and bitmap writes become durable on their own,
  // without an fdatasync that would also flush every dirty data page of the member.
  int sync_fd = -1;
  std::string path;
  Superblock sb;  // this device's own fields: dev_number, device_uuid, data_size
  std::atomic<int> state{int(MemberState::kMissing)};
  std::atomic<uint64_t> rebuilt{0};  // stripes already rebuilt while kRebuilding
  MemberState st() const { return MemberState(state.load()); }
  void Close() {
    if (fd >= 0) ::close(fd);
    if (sync_fd >= 0) ::close(sync_fd);
    fd = sync_fd = -1;
  }
  ~Slot() { Close(); }
};

// Opens a member and returns its size in bytes (files: st_size, block devices: BLKGETSIZE64).
Result<int> OpenMember(const std::string& path, bool readonly);
// The O_DSYNC companion descriptor of a member (-1 if it cannot be opened).
int OpenSyncFd(const std::string& path);
Result<uint64_t> MemberBytes(int fd);
// Reads the v1.2 superblock of an open member (MD §2: 4096 bytes at byte 4096).
Result<Superblock> ReadSuperblock(int fd, const std::string& path);

}  // namespace hafs::raid
