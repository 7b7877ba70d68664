// Array: the data path — direct and degraded reads, full-stripe, read-modify-write and
// reconstruct-write parity updates, per-stripe serialization, member failure handling.
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"
#include "raid/array_internal.h"
#include "raid/bitmap.h"
#include "raid/parity.h"
#include "raid/uring_batch.h"

namespace hafs::raid {
namespace {

// Per-thread reusable aligned buffers, so the hot path does not allocate per request.
class Scratch {
 public:
  uint8_t* Get(size_t i, size_t len) {
    if (i >= bufs_.size()) bufs_.resize(i + 1);
    auto& b = bufs_[i];
    if (b.second < len) {
      b.first = AllocAligned(len);
      b.second = len;
    }
    return b.first.get();
  }

 private:
  std::vector<std::pair<AlignedBuf, size_t>> bufs_;
};

Scratch& ReadScratch() {
  thread_local Scratch s;
  return s;
}
Scratch& WriteScratch() {
  thread_local Scratch s;
  return s;
}

constexpr uint64_t kWriteBatchStripes = 4;

}  // namespace

struct Array::StripePlan {
  uint64_t stripe = 0;
  uint64_t lo = 0, hi = 0;         // union of touched in-chunk ranges
  std::vector<uint64_t> s, e;      // per data index: touched [s,e) (s == e: untouched)
  std::vector<const uint8_t*> src; // per data index: new data for [s,e)
  bool Touched(int d) const { return s[d] < e[d]; }
};

bool Array::Present(int role, uint64_t stripe) const {
  const Slot& s = *slots_[role];
  const MemberState st = s.st();
  return st == MemberState::kInSync || (st == MemberState::kRebuilding && stripe < s.rebuilt.load());
}

std::vector<std::unique_lock<std::mutex>> Array::LockStripes(uint64_t s0, uint64_t s1) {
  // Ascending lock index order everywhere multiple stripes are held: no deadlock.
  std::vector<size_t> idx;
  for (uint64_t s = s0; s <= s1; ++s) idx.push_back(s % kStripeLocks);
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  for (size_t i : idx) locks.emplace_back(stripe_locks_[i]);
  return locks;
}

Status Array::ReconstructSegment(uint64_t stripe, int role, uint64_t in_chunk, size_t len, uint8_t* dst) {
  auto locks = LockStripes(stripe, stripe);  // parity and data must not move under us
  const uint64_t moff = geo_.data_offset + stripe * geo_.chunk + in_chunk;
  for (int attempt = 0; attempt <= geo_.n; ++attempt) {
    IoBatch b;
    if (Present(role, stripe)) {
      b.Add(slots_[role]->fd, false, dst, len, moff, role).inject_error = inject_fault_mask_ & (1u << role);
    } else {
      Scratch& sc = ReadScratch();
      for (int r = 0; r < geo_.n; ++r) {
        if (r == role) continue;
        if (!Present(r, stripe)) {
          return Status(EIO, fmt::format("array has failed: stripe {} has two unavailable members", stripe));
        }
        b.Add(slots_[r]->fd, false, sc.Get(size_t(r), len), len, moff, r).inject_error =
            inject_fault_mask_ & (1u << r);
      }
    }
    if (!b.Run()) {
      for (auto& q : b.reqs()) {
        if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("read error {}", -q.result));
      }
      continue;
    }
    if (b.reqs().size() > 1) {
      std::vector<const uint8_t*> srcs;
      for (auto& q : b.reqs()) srcs.push_back(static_cast<const uint8_t*>(q.buf));
      XorGen(srcs, dst, len);
    }
    return Status::Ok();
  }
  return Status(EIO, "read failed on every retry");
}

Status Array::Read(uint64_t off, size_t len, void* out) {
  if (off > array_bytes_ || len > array_bytes_ - off) return Status(EINVAL, "read beyond the end of the array");
  struct Seg {
    uint64_t stripe, in_chunk;
    int role;
    size_t len;
    uint8_t* dst;
  };
  std::vector<Seg> segs;
  uint8_t* dst = static_cast<uint8_t*>(out);
  for (uint64_t pos = off; pos < off + len;) {
    const uint64_t chunk_no = pos / geo_.chunk, in_chunk = pos % geo_.chunk;
    const size_t n = size_t(std::min<uint64_t>(geo_.chunk - in_chunk, off + len - pos));
    const ChunkPlace p = PlaceChunk(geo_.layout, geo_.n, chunk_no);
    segs.push_back({p.stripe, in_chunk, p.member, n, dst + (pos - off)});
    pos += n;
  }
  // Degraded segments are reconstructed in the same batch as the direct reads, under
  // the locks of their stripes so no writer moves parity and data between our reads.
  std::vector<size_t> degraded;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (!Present(segs[i].role, segs[i].stripe)) degraded.push_back(i);
  }
  std::vector<std::unique_lock<std::mutex>> locks;
  if (!degraded.empty()) {
    const uint64_t s0 = segs[degraded.front()].stripe, s1 = segs[degraded.back()].stripe;
    if (s1 - s0 >= kStripeLocks / 2) {
      // Huge read: reconstruct segment by segment (each takes its own lock).
      IoBatch b;
      for (size_t i = 0; i < segs.size(); ++i) {
        const Seg& s = segs[i];
        if (!Present(s.role, s.stripe)) continue;
        b.Add(slots_[s.role]->fd, false, s.dst, s.len, geo_.data_offset + s.stripe * geo_.chunk + s.in_chunk, int(i))
            .inject_error = inject_fault_mask_ & (1u << s.role);
      }
      std::vector<size_t> redo = degraded;
      if (!b.Run()) {
        for (auto& q : b.reqs()) {
          if (q.result == ssize_t(q.len)) continue;
          MarkFaulty(segs[size_t(q.tag)].role, fmt::format("read error {}", -q.result));
          redo.push_back(size_t(q.tag));
        }
      }
      for (size_t i : redo) {
        const Seg& s = segs[i];
        HAFS_RETURN_IF_ERROR(ReconstructSegment(s.stripe, s.role, s.in_chunk, s.len, s.dst));
      }
      return Status::Ok();
    }
    locks = LockStripes(s0, s1);
  }
  IoBatch b;
  Scratch& sc = ReadScratch();
  size_t scratch_i = 0;
  std::vector<std::pair<size_t, size_t>> recon;  // (segment, first request of its sources)
  for (size_t i = 0; i < segs.size(); ++i) {
    const Seg& s = segs[i];
    const uint64_t moff = geo_.data_offset + s.stripe * geo_.chunk + s.in_chunk;
    if (Present(s.role, s.stripe)) {
      b.Add(slots_[s.role]->fd, false, s.dst, s.len, moff, int(i)).inject_error = inject_fault_mask_ & (1u << s.role);
      continue;
    }
    recon.push_back({i, b.reqs().size()});
    for (int r = 0; r < geo_.n; ++r) {
      if (r == s.role) continue;
      if (!Present(r, s.stripe)) {
        return Status(EIO, fmt::format("array has failed: stripe {} has two unavailable members", s.stripe));
      }
      b.Add(slots_[r]->fd, false, sc.Get(scratch_i++, s.len), s.len, moff, int(i)).inject_error =
          inject_fault_mask_ & (1u << r);
    }
  }
  if (!b.Run()) {
    // A member failed under us: note it, then redo every segment the slow, careful way.
    for (auto& q : b.reqs()) {
      if (q.result == ssize_t(q.len)) continue;
      const int role = q.buf == segs[size_t(q.tag)].dst ? segs[size_t(q.tag)].role : -1;
      if (role >= 0) {
        MarkFaulty(role, fmt::format("read error {}", -q.result));
      } else {
        // A source read of a reconstruction: find its member by descriptor.
        for (int r = 0; r < geo_.n; ++r) {
          if (slots_[r]->fd == q.fd) MarkFaulty(r, fmt::format("read error {}", -q.result));
        }
      }
    }
    locks.clear();
    for (const Seg& s : segs) HAFS_RETURN_IF_ERROR(ReconstructSegment(s.stripe, s.role, s.in_chunk, s.len, s.dst));
    return Status::Ok();
  }
  for (auto [i, first] : recon) {
    std::vector<const uint8_t*> srcs;
    for (int j = 0; j < geo_.n - 1; ++j) srcs.push_back(static_cast<const uint8_t*>(b.reqs()[first + size_t(j)].buf));
    XorGen(srcs, segs[i].dst, segs[i].len);
  }
  return Status::Ok();
}

Status Array::Write(uint64_t off, size_t len, const void* in) {
  if (readonly_) return Status(EROFS, "array is not writable");
  if (off > array_bytes_ || len > array_bytes_ - off) return Status(ENOSPC, "write beyond the end of the array");
  const uint8_t* buf = static_cast<const uint8_t*>(in);
  const uint64_t stripe_data = geo_.chunk * uint64_t(geo_.k);
  for (uint64_t pos = off; pos < off + len;) {
    const uint64_t s0 = pos / stripe_data;
    const uint64_t end = std::min(off + len, (s0 + kWriteBatchStripes) * stripe_data);
    HAFS_RETURN_IF_ERROR(WriteStripes(s0, pos, size_t(end - pos), buf + (pos - off)));
    pos = end;
  }
  return Status::Ok();
}

Status Array::WriteStripes(uint64_t s0, uint64_t off, size_t len, const uint8_t* buf) {
  const uint64_t stripe_data = geo_.chunk * uint64_t(geo_.k);
  std::vector<StripePlan> plans;
  for (uint64_t pos = off; pos < off + len;) {
    const uint64_t s = pos / stripe_data;
    if (plans.empty() || plans.back().stripe != s) {
      StripePlan p;
      p.stripe = s;
      p.lo = geo_.chunk;
      p.hi = 0;
      p.s.assign(size_t(geo_.k), 0);
      p.e.assign(size_t(geo_.k), 0);
      p.src.assign(size_t(geo_.k), nullptr);
      plans.push_back(std::move(p));
    }
    StripePlan& p = plans.back();
    const uint64_t in_stripe = pos - s * stripe_data;
    const int d = int(in_stripe / geo_.chunk);
    const uint64_t in_chunk = in_stripe % geo_.chunk;
    const uint64_t n = std::min<uint64_t>(geo_.chunk - in_chunk, off + len - pos);
    p.s[size_t(d)] = in_chunk;
    p.e[size_t(d)] = in_chunk + n;
    p.src[size_t(d)] = buf + (pos - off);
    p.lo = std::min(p.lo, in_chunk);
    p.hi = std::max(p.hi, in_chunk + n);
    pos += n;
  }
  const uint64_t s1 = plans.back().stripe;
  const uint64_t moff0 = s0 * geo_.chunk + plans.front().lo;
  const uint64_t moff1 = s1 * geo_.chunk + plans.back().hi;
  if (bitmap_) HAFS_RETURN_IF_ERROR(bitmap_->StartWrite(moff0, moff1 - moff0));
  Status st;
  {
    auto locks = LockStripes(s0, s1);
    st = RunWritePlan(plans);
  }
  if (bitmap_) bitmap_->EndWrite(moff0, moff1 - moff0);
  return st;
}

Status Array::RunWritePlan(std::vector<StripePlan>& plans) {
  enum class Mode { kDataOnly, kRmw, kRcw, kReconstruct };
  const int k = geo_.k;
  const size_t per_plan = size_t(k) + 2;  // scratch slots: k data, old parity, new parity
  Scratch& sc = WriteScratch();
  for (int attempt = 0; attempt <= geo_.n; ++attempt) {
    if (failed_) return Status(EIO, "array has failed (two members unavailable): write refused");
    const uint32_t inject = inject_fault_mask_;
    auto add = [&](IoBatch& b, int role, bool write, const void* p, uint64_t len, uint64_t stripe, uint64_t in_chunk) {
      b.Add(slots_[role]->fd, write, const_cast<void*>(p), size_t(len),
            geo_.data_offset + stripe * geo_.chunk + in_chunk, role)
          .inject_error = inject & (1u << role);
    };
    std::vector<Mode> modes(plans.size());
    std::vector<int> missing(plans.size(), -1);
    IoBatch reads;
    for (size_t i = 0; i < plans.size(); ++i) {
      StripePlan& p = plans[i];
      const uint64_t w = p.hi - p.lo;
      const int pd = ParityRole(geo_.layout, geo_.n, p.stripe);
      int unavailable = 0;
      for (int d = 0; d < k; ++d) {
        if (!Present(DataRole(geo_.layout, geo_.n, p.stripe, d), p.stripe)) {
          missing[i] = d;
          ++unavailable;
        }
      }
      if (!Present(pd, p.stripe)) ++unavailable;
      if (unavailable >= 2) {
        failed_ = true;
        return Status(EIO, "array has failed (two members unavailable): write refused");
      }
      uint8_t* slot0 = nullptr;
      (void)slot0;
      if (!Present(pd, p.stripe)) {
        modes[i] = Mode::kDataOnly;
      } else if (missing[i] >= 0) {
        modes[i] = p.Touched(missing[i]) ? Mode::kReconstruct : Mode::kRmw;
      } else {
        uint64_t touched = 0;
        for (int d = 0; d < k; ++d) touched += p.e[d] - p.s[d];
        const uint64_t rmw = touched + w, rcw = w * uint64_t(k) - touched;
        modes[i] = rcw <= rmw ? Mode::kRcw : Mode::kRmw;
      }
      uint8_t* oldp = sc.Get(i * per_plan + size_t(k), geo_.chunk);
      switch (modes[i]) {
        case Mode::kDataOnly: break;
        case Mode::kRmw:
          add(reads, pd, false, oldp, w, p.stripe, p.lo);
          for (int d = 0; d < k; ++d) {
            if (!p.Touched(d)) continue;
            add(reads, DataRole(geo_.layout, geo_.n, p.stripe, d), false, sc.Get(i * per_plan + size_t(d), geo_.chunk),
                p.e[d] - p.s[d], p.stripe, p.s[d]);
          }
          break;
        case Mode::kRcw:
          for (int d = 0; d < k; ++d) {
            if (p.s[d] == p.lo && p.e[d] == p.hi) continue;  // fully new: nothing to read
            uint8_t* db = sc.Get(i * per_plan + size_t(d), geo_.chunk);
            const int role = DataRole(geo_.layout, geo_.n, p.stripe, d);
            if (!p.Touched(d)) {
              add(reads, role, false, db, w, p.stripe, p.lo);
              continue;
            }
            if (p.s[d] > p.lo) add(reads, role, false, db, p.s[d] - p.lo, p.stripe, p.lo);
            if (p.e[d] < p.hi) add(reads, role, false, db + (p.e[d] - p.lo), p.hi - p.e[d], p.stripe, p.e[d]);
          }
          break;
        case Mode::kReconstruct:
          add(reads, pd, false, oldp, w, p.stripe, p.lo);
          for (int d = 0; d < k; ++d) {
            if (d == missing[i]) continue;
            add(reads, DataRole(geo_.layout, geo_.n, p.stripe, d), false, sc.Get(i * per_plan + size_t(d), geo_.chunk),
                w, p.stripe, p.lo);
          }
          break;
      }
    }
    if (!reads.empty() && !reads.Run()) {
      for (auto& q : reads.reqs()) {
        if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("read error {}", -q.result));
      }
      continue;  // nothing written yet: plan again with the new membership
    }
    // Parity computation.
    std::vector<uint8_t*> newp(plans.size(), nullptr);
    for (size_t i = 0; i < plans.size(); ++i) {
      StripePlan& p = plans[i];
      const uint64_t w = p.hi - p.lo;
      uint8_t* oldp = sc.Get(i * per_plan + size_t(k), geo_.chunk);
      uint8_t* outp = sc.Get(i * per_plan + size_t(k) + 1, geo_.chunk);
      auto dbuf = [&](int d) { return sc.Get(i * per_plan + size_t(d), geo_.chunk); };
      switch (modes[i]) {
        case Mode::kDataOnly: break;
        case Mode::kRmw:
          // new P = old P ^ old D ^ new D over each touched range.
          for (int d = 0; d < k; ++d) {
            if (!p.Touched(d)) continue;
            XorInto(oldp + (p.s[d] - p.lo), dbuf(d), p.e[d] - p.s[d]);
            XorInto(oldp + (p.s[d] - p.lo), p.src[d], p.e[d] - p.s[d]);
          }
          newp[i] = oldp;
          break;
        case Mode::kRcw: {
          std::vector<const uint8_t*> srcs;
          for (int d = 0; d < k; ++d) {
            if (p.s[d] == p.lo && p.e[d] == p.hi) {
              srcs.push_back(p.src[d]);
              continue;
            }
            if (p.Touched(d)) std::memcpy(dbuf(d) + (p.s[d] - p.lo), p.src[d], p.e[d] - p.s[d]);
            srcs.push_back(dbuf(d));
          }
          XorGen(srcs, outp, w);
          newp[i] = outp;
          break;
        }
        case Mode::kReconstruct: {
          const int m = missing[i];
          std::vector<const uint8_t*> srcs{oldp};
          for (int d = 0; d < k; ++d) {
            if (d != m) srcs.push_back(dbuf(d));
          }
          XorGen(srcs, dbuf(m), w);  // the missing member's current contents
          srcs.clear();
          for (int d = 0; d < k; ++d) {
            if (p.Touched(d)) std::memcpy(dbuf(d) + (p.s[d] - p.lo), p.src[d], p.e[d] - p.s[d]);
            srcs.push_back(dbuf(d));
          }
          XorGen(srcs, outp, w);
          newp[i] = outp;
          break;
        }
      }
    }
    IoBatch writes;
    for (size_t i = 0; i < plans.size(); ++i) {
      StripePlan& p = plans[i];
      for (int d = 0; d < k; ++d) {
        if (!p.Touched(d) || d == missing[i]) continue;
        add(writes, DataRole(geo_.layout, geo_.n, p.stripe, d), true, p.src[d], p.e[d] - p.s[d], p.stripe, p.s[d]);
      }
      if (newp[i]) add(writes, ParityRole(geo_.layout, geo_.n, p.stripe), true, newp[i], p.hi - p.lo, p.stripe, p.lo);
    }
    if (writes.Run()) return Status::Ok();
    // Every write of the batch has finished (done or failed); replanning with the failed
    // member left out recomputes the same stripe contents, so the retry is idempotent.
    for (auto& q : writes.reqs()) {
      if (q.result != ssize_t(q.len)) MarkFaulty(q.tag, fmt::format("write error {}", -q.result));
    }
  }
  return Status(EIO, "write failed on every retry");
}

Status Array::Flush() {
  std::vector<std::pair<int, int>> fds;
  {
    std::lock_guard<std::mutex> g(sb_mu_);
    for (int r = 0; r < geo_.n; ++r) {
      auto st = slots_[r]->st();
      if (st == MemberState::kInSync || st == MemberState::kRebuilding) fds.push_back({r, slots_[r]->fd});
    }
  }
  for (auto [r, fd] : fds) {
    if (fdatasync(fd) != 0 || (inject_fault_mask_ & (1u << r))) MarkFaulty(r, "flush failed");
  }
  if (failed_) return Status(EIO, "array has failed");
  return Status::Ok();
}

}  // namespace hafs::raid
