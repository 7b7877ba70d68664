// Array: background and maintenance work — rebuild onto an added member, resync of
// dirty regions after a crash, scrub (check/repair), and the bitmap cleaner.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "raid/array_internal.h"
#include "raid/bitmap.h"
#include "raid/parity.h"
#include "raid/uring_batch.h"

namespace hafs::raid {
namespace {
constexpr uint64_t kRecoveryBatchStripes = 16;
using Clock = std::chrono::steady_clock;
}  // namespace

Status Array::CheckRange(uint64_t s0, uint64_t s1, bool repair, bool resync_only, CheckResult* out) {
  const int n = geo_.n;
  const uint64_t C = geo_.chunk;
  std::vector<AlignedBuf> bufs;
  for (uint64_t i = 0; i < kRecoveryBatchStripes * uint64_t(n + 1); ++i) bufs.push_back(AllocAligned(C));
  for (uint64_t base = s0; base < s1 && !stop_;) {
    const uint64_t end = std::min(s1, base + kRecoveryBatchStripes);
    auto locks = LockStripes(base, end - 1);
    IoBatch reads;
    std::vector<bool> usable(end - base, true);
    for (uint64_t s = base; s < end; ++s) {
      for (int r = 0; r < n; ++r) usable[s - base] = usable[s - base] && Present(r, s);
      if (!usable[s - base]) continue;
      for (int r = 0; r < n; ++r) {
        reads.Add(slots_[r]->fd, false, bufs[(s - base) * uint64_t(n + 1) + uint64_t(r)].get(), C,
                  geo_.data_offset + s * C, r)
            .inject_error = inject_fault_mask_ & (1u << r);
      }
    }
    if (!reads.Run()) {
      for (auto& q : reads.reqs()) {
        if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("read error {}", -q.result));
      }
      continue;  // same batch again with the new membership (its stripes become skipped)
    }
    IoBatch writes;
    for (uint64_t s = base; s < end; ++s) {
      if (!usable[s - base]) {
        if (out) out->stripes_skipped++;
        continue;
      }
      const int pd = ParityRole(geo_.layout, n, s);
      std::vector<uint8_t*> row(size_t(n + 1));
      for (int r = 0; r <= n; ++r) row[size_t(r)] = bufs[(s - base) * uint64_t(n + 1) + uint64_t(r)].get();
      std::vector<const uint8_t*> data;
      for (int r = 0; r < n; ++r) {
        if (r != pd) data.push_back(row[size_t(r)]);
      }
      uint8_t* computed = row[size_t(n)];
      XorGen(data, computed, C);
      uint64_t bad_units = 0;
      for (uint64_t u = 0; u < C; u += kStripeUnit) {
        bad_units += std::memcmp(computed + u, row[size_t(pd)] + u, kStripeUnit) != 0;
      }
      if (out) {
        out->stripes_checked++;
        if (!resync_only) out->mismatch_sectors += bad_units * (kStripeUnit / kSector);  // MD §1 mismatch_cnt
      }
      if (bad_units && (repair || resync_only)) {
        writes.Add(slots_[pd]->fd, true, computed, C, geo_.data_offset + s * C, pd).inject_error =
            inject_fault_mask_ & (1u << pd);
      }
    }
    if (!writes.empty() && !writes.Run()) {
      for (auto& q : writes.reqs()) {
        if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("write error {}", -q.result));
      }
      if (failed_) return Status(EIO, "array failed during resync");
    }
    base = end;
  }
  if (out && (repair || resync_only)) out->repaired = true;
  return Status::Ok();
}

Result<CheckResult> Array::Check(bool repair) {
  if (repair && readonly_) return Status(EROFS, "array is read-only");
  CheckResult r;
  HAFS_RETURN_IF_ERROR(CheckRange(0, geo_.stripes, repair, false, &r));
  return r;
}

Status Array::ResyncDirty(bool everything) {
  if (readonly_) return Status(EROFS, "array is read-only");
  if (UnavailableCount() > 0) return Status(EIO, "cannot resync a degraded array");
  if (everything || !bitmap_) {
    HAFS_RETURN_IF_ERROR(CheckRange(0, geo_.stripes, false, true, nullptr));
    if (bitmap_) {
      HAFS_RETURN_IF_ERROR(Flush());
      HAFS_RETURN_IF_ERROR(bitmap_->ClearBits(bitmap_->DirtyBits()));
    }
    return Status::Ok();
  }
  const uint64_t bc = bitmap_->chunk();
  const auto dirty = bitmap_->DirtyBits();
  if (!dirty.empty()) HAFS_LOG_INFO("raid: resyncing {} dirty bitmap region(s) of {} KiB", dirty.size(), bc / 1024);
  for (uint64_t b : dirty) {
    const uint64_t s0 = b * bc / geo_.chunk;
    const uint64_t s1 = std::min(geo_.stripes, ((b + 1) * bc + geo_.chunk - 1) / geo_.chunk);
    HAFS_RETURN_IF_ERROR(CheckRange(s0, s1, false, true, nullptr));
    if (stop_) return Status(EINTR, "resync interrupted");
  }
  // Parity of the regions now matches their data; make that durable, then drop the bits.
  HAFS_RETURN_IF_ERROR(Flush());
  return bitmap_->ClearBits(dirty);
}

void Array::RebuildLoop() {
  const int role = rebuild_role_;
  if (role < 0) return;
  const int n = geo_.n;
  const uint64_t C = geo_.chunk;
  Slot& tgt = *slots_[role];
  std::vector<AlignedBuf> bufs;
  for (uint64_t i = 0; i < kRecoveryBatchStripes * uint64_t(n); ++i) bufs.push_back(AllocAligned(C));
  auto t0 = Clock::now(), last_sb = t0;
  const uint64_t start = tgt.rebuilt;
  HAFS_LOG_INFO("raid: recovery of role {} ({}) from stripe {} of {}", role, tgt.path, start, geo_.stripes);
  while (!stop_ && tgt.st() == MemberState::kRebuilding) {
    const uint64_t base = tgt.rebuilt;
    if (base >= geo_.stripes) break;
    const uint64_t end = std::min(geo_.stripes, base + kRecoveryBatchStripes);
    {
      auto locks = LockStripes(base, end - 1);
      IoBatch reads;
      for (uint64_t s = base; s < end; ++s) {
        int j = 0;
        for (int r = 0; r < n; ++r) {
          if (r == role) continue;
          reads.Add(slots_[r]->fd, false, bufs[(s - base) * uint64_t(n) + uint64_t(j++)].get(), C,
                    geo_.data_offset + s * C, r)
              .inject_error = inject_fault_mask_ & (1u << r);
        }
      }
      bool ok = true;
      for (int r = 0; r < n; ++r) ok = ok && (r == role || slots_[r]->st() == MemberState::kInSync);
      if (!ok || !reads.Run()) {
        for (auto& q : reads.reqs()) {
          if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("read error {} during recovery", -q.result));
        }
        HAFS_LOG_ERROR("raid: recovery of role {} aborted: a second member is unavailable", role);
        break;
      }
      IoBatch writes;
      for (uint64_t s = base; s < end; ++s) {
        std::vector<const uint8_t*> src;
        for (int j = 0; j < n - 1; ++j) src.push_back(bufs[(s - base) * uint64_t(n) + uint64_t(j)].get());
        uint8_t* out = bufs[(s - base) * uint64_t(n) + uint64_t(n - 1)].get();
        XorGen(src, out, C);
        writes.Add(tgt.fd, true, out, C, geo_.data_offset + s * C, role).inject_error =
            inject_fault_mask_ & (1u << role);
      }
      if (!writes.Run()) {
        MarkFaulty(role, "write error during recovery");
        break;
      }
      tgt.rebuilt = end;  // under the stripe locks: writers see the new member from here on
    }
    const auto now = Clock::now();
    const double secs = std::chrono::duration<double>(now - t0).count();
    if (secs > 0) rebuild_rate_ = double((end - start) * C) / secs;
    if (now - last_sb > std::chrono::seconds(1)) {
      last_sb = now;
      Status st = SyncSuperblocks(false);  // records recovery_offset (MD §3.4) so a restart resumes
      if (!st.ok()) HAFS_LOG_WARN("raid: recovery checkpoint: {}", st.ToString());
    }
    const uint64_t limit = rebuild_limit_;
    if (limit > 0) {
      const double due = double((end - start) * C) / double(limit);
      if (due > secs) std::this_thread::sleep_for(std::chrono::duration<double>(due - secs));
    }
  }
  if (tgt.st() == MemberState::kRebuilding && tgt.rebuilt >= geo_.stripes) {
    Status fl = Flush();
    {
      std::lock_guard<std::mutex> g(sb_mu_);
      tgt.state = int(MemberState::kInSync);
      Status st = SyncSuperblocksLocked(false);
      if (!st.ok()) HAFS_LOG_ERROR("raid: superblock update after recovery: {}", st.ToString());
    }
    HAFS_LOG_INFO("raid: recovery of role {} ({}) done", role, tgt.path);
  }
  rebuild_role_ = -1;
}

bool Array::WaitRebuild(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (rebuild_role_ >= 0) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Array::BitmapLoop() {
  std::unique_lock<std::mutex> g(bg_mu_);
  while (!stop_) {
    bg_cv_.wait_for(g, std::chrono::milliseconds(bitmap_daemon_ms_), [this] { return stop_.load(); });
    if (stop_) break;
    g.unlock();
    Status st = bitmap_->ClearIdle([this] { return Flush(); });
    if (!st.ok()) HAFS_LOG_WARN("raid: bitmap cleaner: {}", st.ToString());
    g.lock();
  }
}

}  // namespace hafs::raid
