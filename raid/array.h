// hafs::raid::Array — the RAID5 engine: an md-compatible array (v1.2 superblocks,
// md RAID5 layouts, internal write-intent bitmap) over member files or block devices.
//
// Ownership: an Array owns the member file descriptors and its background threads
// (rebuild, bitmap cleaner); destroying it stops them and marks the array clean.
// Thread-safety: Read/Write/Flush may be called from many threads at once. Writes to
// one stripe are serialized by a per-stripe lock, writes to different stripes run in
// parallel. Fail/Remove/Add/Check/GetStatus may be called concurrently with I/O.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "raid/md_format.h"

namespace hafs::raid {

class WriteIntentBitmap;

struct CreateOptions {
  std::string name = "0";
  std::string homehost;        // empty: this host's name
  int raid_devices = 0;
  uint64_t chunk_bytes = 512 * 1024;  // MD §1 default 512 KiB
  Layout layout = Layout::kLeftSymmetric;
  bool bitmap = true;           // internal write-intent bitmap (MD §3.6)
  bool assume_clean = false;    // skip the initial parity sync
  uint64_t bitmap_chunk_bytes = 0;  // 0: chosen from the member size
};

struct AssembleOptions {
  bool force = false;           // start a dirty degraded array anyway
  bool readonly = false;        // never write superblocks or data (examine/detail)
  bool resync = true;           // resync dirty bitmap regions while assembling
  int bitmap_daemon_ms = 2000;  // how long a bitmap region must be idle before its bit is cleared
};

enum class MemberState { kInSync, kRebuilding, kFaulty, kMissing };
const char* MemberStateName(MemberState s);

struct MemberStatus {
  int role = -1;
  std::string path;
  MemberState state = MemberState::kMissing;
  uint32_t dev_number = 0;
};

struct ArrayStatus {
  std::string name;
  std::array<uint8_t, 16> uuid{};
  Layout layout = Layout::kLeftSymmetric;
  uint64_t chunk_bytes = 0;
  int raid_disks = 0;
  uint64_t member_bytes = 0;  // used bytes per member
  uint64_t array_bytes = 0;
  uint64_t data_offset_bytes = 0;
  uint64_t events = 0;
  uint64_t ctime = 0, utime = 0;
  bool bitmap = false;
  bool degraded = false;
  bool failed = false;
  std::vector<MemberStatus> members;  // by role; faulty members keep their role here
  // Rebuild (recovery) progress.
  bool rebuilding = false;
  int rebuild_role = -1;
  uint64_t rebuild_done_bytes = 0;  // per member
  double rebuild_bytes_per_s = 0;
  uint64_t dirty_bitmap_bits = 0;
  std::string StateString() const;  // mdadm --detail "State :" words
  std::string Letters() const;      // /proc/mdstat [UU_]
};

struct CheckResult {
  uint64_t mismatch_sectors = 0;  // MD §1: 8 per inconsistent 4 KiB unit, like md's mismatch_cnt
  uint64_t stripes_checked = 0;
  uint64_t stripes_skipped = 0;   // degraded stripes that cannot be checked
  bool repaired = false;
};

class Array {
 public:
  // Writes fresh superblocks (and bitmap) to `devs`, in role order, then syncs parity
  // unless assume_clean. Refuses devices that already carry an md superblock unless force.
  static Result<std::unique_ptr<Array>> Create(const CreateOptions& opt, const std::vector<std::string>& devs,
                                               bool force = false);
  // Reads and cross-checks the members' superblocks; stale/faulty members are left out.
  static Result<std::unique_ptr<Array>> Assemble(const std::vector<std::string>& devs,
                                                 const AssembleOptions& opt = {});
  ~Array();
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;

  uint64_t Size() const { return array_bytes_; }
  Status Read(uint64_t off, size_t len, void* buf);
  Status Write(uint64_t off, size_t len, const void* buf);
  Status Flush();  // fdatasync every member

  // Member management, by path (as given to Create/Assemble/Add).
  Status Fail(const std::string& path);
  Status Remove(const std::string& path);
  // Adds a blank device into the missing role and starts a background rebuild.
  Status Add(const std::string& path);
  bool WaitRebuild(int timeout_ms);  // true when no rebuild is running
  void SetRebuildSpeedLimit(uint64_t bytes_per_s) { rebuild_limit_ = bytes_per_s; }

  // Scrub: counts parity mismatches per 4 KiB unit, rewrites parity if repair.
  Result<CheckResult> Check(bool repair);
  // Recomputes parity for the regions the write-intent bitmap marks dirty (or everything).
  Status ResyncDirty(bool everything = false);
  // Marks the array clean on every member (superblock resync_offset = MaxSector).
  Status Stop();

  ArrayStatus GetStatus() const;
  // Fault injection for tests: every later I/O to this role fails with EIO.
  void InjectFault(int role) { inject_fault_mask_ |= 1u << role; }

  struct Geometry {
    int n = 0;
    int k = 0;
    uint64_t chunk = 0;
    Layout layout = Layout::kLeftSymmetric;
    uint64_t data_offset = 0;   // bytes
    uint64_t member_bytes = 0;  // used bytes per member (stripes * chunk)
    uint64_t stripes = 0;
  };
  const Geometry& geometry() const { return geo_; }

 private:
  struct Slot;
  struct StripePlan;
  Array();

  bool Present(int role, uint64_t stripe) const;
  int UnavailableCount() const;
  void MarkFaulty(int role, const std::string& why);
  Status SyncSuperblocksLocked(bool clean);
  Status SyncSuperblocks(bool clean);
  Status ReconstructSegment(uint64_t stripe, int role, uint64_t in_chunk, size_t len, uint8_t* dst);
  Status WriteStripes(uint64_t first_stripe, uint64_t off, size_t len, const uint8_t* buf);
  Status RunWritePlan(std::vector<StripePlan>& plans);
  Status CheckRange(uint64_t s0, uint64_t s1, bool repair, bool resync_only, CheckResult* out);
  void RebuildLoop();
  void BitmapLoop();
  Status WriteBitmapToMembers(const std::vector<uint8_t>& image);
  std::vector<std::unique_lock<std::mutex>> LockStripes(uint64_t s0, uint64_t s1);

  Geometry geo_;
  uint64_t array_bytes_ = 0;
  Superblock proto_;  // array-wide superblock fields (roles, events, uuid…)
  std::vector<std::unique_ptr<Slot>> slots_;  // by role
  std::vector<int> retired_fds_;              // of removed members, closed with the array
  bool readonly_ = false;
  std::atomic<bool> failed_{false};
  std::atomic<uint32_t> inject_fault_mask_{0};

  mutable std::mutex sb_mu_;  // superblock contents, roles, membership changes
  static constexpr size_t kStripeLocks = 1024;
  std::unique_ptr<std::mutex[]> stripe_locks_;

  std::unique_ptr<WriteIntentBitmap> bitmap_;
  int bitmap_daemon_ms_ = 2000;

  std::thread rebuild_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> rebuild_role_{-1};
  std::atomic<uint64_t> rebuild_limit_{0};
  std::atomic<double> rebuild_rate_{0};
  std::thread bitmap_thread_;
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
};

}  // namespace hafs::raid
