// Write-intent bitmap (md's internal bitmap, MD §3.6): one bit per `chunk` bytes of
// member offset space. A bit is set and persisted on the members *before* any data
// or parity of its region is written, and cleared only after the region has been idle
// for a daemon period and the members were fdatasync'ed. After a crash, the set bits
// are exactly the regions whose parity may disagree with their data.
// Thread-safety: all methods are internally locked.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "raid/md_format.h"

namespace hafs::raid {

class WriteIntentBitmap {
 public:
  // `persist` writes the whole on-disk image (header + bits) to every live member.
  using Persist = std::function<Status(const std::vector<uint8_t>&)>;
  WriteIntentBitmap(BitmapHeader header, std::vector<uint8_t> bits, Persist persist);

  uint64_t chunk() const { return header_.chunksize; }
  uint64_t nbits() const { return nbits_; }
  // Marks [off, off+len) of member space as being written; persists new bits first.
  Status StartWrite(uint64_t off, uint64_t len);
  void EndWrite(uint64_t off, uint64_t len);
  // Clears bits idle since the previous call. `flush` must make prior data durable.
  Status ClearIdle(const std::function<Status()>& flush);
  // Bits set on disk right now (regions needing resync after a crash).
  std::vector<uint64_t> DirtyBits() const;
  // Clears the given bits (those without writes in flight) with one bitmap write.
  Status ClearBits(const std::vector<uint64_t>& bits);
  Status SetAll();
  uint64_t DirtyCount() const;
  void SetEvents(uint64_t events);
  std::vector<uint8_t> ImageLocked() const;

 private:
  bool Test(uint64_t b) const { return bits_[b / 8] >> (b % 8) & 1; }
  void Set(uint64_t b) { bits_[b / 8] |= uint8_t(1u << (b % 8)); }
  void Clr(uint64_t b) { bits_[b / 8] &= uint8_t(~(1u << (b % 8))); }

  mutable std::mutex mu_;
  BitmapHeader header_;
  uint64_t nbits_;
  std::vector<uint8_t> bits_;           // on-disk image of the bits (little-endian bit order)
  std::vector<uint32_t> inflight_;      // writes in progress per bit
  std::vector<uint8_t> touched_;        // written since the last ClearIdle pass
  Persist persist_;
};

// Bytes of member space per bit for a member of `member_bytes` with `reserved_sectors`
// of bitmap space: 64 MiB (mdadm's default), or the smallest power of two above it that fits.
uint64_t ChooseBitmapChunk(uint64_t member_bytes, uint64_t raid_chunk, uint64_t reserved_sectors);

}  // namespace hafs::raid
