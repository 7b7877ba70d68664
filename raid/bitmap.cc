#include "raid/bitmap.h"

#include <algorithm>
#include <cstring>

namespace hafs::raid {

uint64_t ChooseBitmapChunk(uint64_t member_bytes, uint64_t raid_chunk, uint64_t reserved_sectors) {
  const uint64_t max_bits = (reserved_sectors * kSector - 256) * 8;
  // mdadm's default for internal bitmaps: 64 MiB per bit, more if needed to fit. A new
  // bit costs a synchronous bitmap write in front of the data, so bits must be coarse.
  uint64_t c = std::max<uint64_t>(raid_chunk, 64ULL * 1024 * 1024);
  while ((member_bytes + c - 1) / c > max_bits) c *= 2;
  return c;
}

WriteIntentBitmap::WriteIntentBitmap(BitmapHeader header, std::vector<uint8_t> bits, Persist persist)
    : header_(header), persist_(std::move(persist)) {
  nbits_ = (header_.sync_size * kSector + header_.chunksize - 1) / header_.chunksize;
  bits.resize((nbits_ + 7) / 8, 0);
  bits_ = std::move(bits);
  inflight_.assign(nbits_, 0);
  touched_.assign(nbits_, 0);
}

std::vector<uint8_t> WriteIntentBitmap::ImageLocked() const {
  // Header then bits, padded to whole sectors (md writes the bitmap in sectors).
  std::vector<uint8_t> img((256 + bits_.size() + kSector - 1) / kSector * kSector, 0);
  EncodeBitmapHeader(header_, img.data());
  std::memcpy(img.data() + 256, bits_.data(), bits_.size());
  return img;
}

Status WriteIntentBitmap::StartWrite(uint64_t off, uint64_t len) {
  std::lock_guard<std::mutex> g(mu_);
  const uint64_t b0 = off / header_.chunksize, b1 = (off + len - 1) / header_.chunksize;
  bool changed = false;
  for (uint64_t b = b0; b <= b1 && b < nbits_; ++b) {
    ++inflight_[b];
    touched_[b] = 1;
    if (!Test(b)) {
      Set(b);
      changed = true;
    }
  }
  // Persisting under the lock orders every later writer of these bits after the
  // bits are on disk: no data reaches a member before its region is marked.
  if (changed) {
    Status st = persist_(ImageLocked());
    if (!st.ok()) {
      for (uint64_t b = b0; b <= b1 && b < nbits_; ++b) --inflight_[b];
      return st;
    }
  }
  return Status::Ok();
}

void WriteIntentBitmap::EndWrite(uint64_t off, uint64_t len) {
  std::lock_guard<std::mutex> g(mu_);
  const uint64_t b0 = off / header_.chunksize, b1 = (off + len - 1) / header_.chunksize;
  for (uint64_t b = b0; b <= b1 && b < nbits_; ++b) --inflight_[b];
}

Status WriteIntentBitmap::ClearIdle(const std::function<Status()>& flush) {
  std::vector<uint64_t> candidates;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (uint64_t b = 0; b < nbits_; ++b) {
      if (Test(b) && inflight_[b] == 0 && !touched_[b]) candidates.push_back(b);
      touched_[b] = 0;
    }
  }
  if (candidates.empty()) return Status::Ok();
  // Data of the candidate regions must be durable before their bits go.
  HAFS_RETURN_IF_ERROR(flush());
  std::lock_guard<std::mutex> g(mu_);
  bool changed = false;
  for (uint64_t b : candidates) {
    if (inflight_[b] == 0 && !touched_[b]) {
      Clr(b);
      changed = true;
    }
  }
  if (changed) {
    header_.events_cleared = header_.events;
    return persist_(ImageLocked());
  }
  return Status::Ok();
}

std::vector<uint64_t> WriteIntentBitmap::DirtyBits() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<uint64_t> out;
  for (uint64_t b = 0; b < nbits_; ++b) {
    if (Test(b)) out.push_back(b);
  }
  return out;
}

uint64_t WriteIntentBitmap::DirtyCount() const {
  std::lock_guard<std::mutex> g(mu_);
  uint64_t n = 0;
  for (uint64_t b = 0; b < nbits_; ++b) n += Test(b);
  return n;
}

Status WriteIntentBitmap::ClearBits(const std::vector<uint64_t>& bits) {
  std::lock_guard<std::mutex> g(mu_);
  bool changed = false;
  for (uint64_t b : bits) {
    if (b >= nbits_ || !Test(b) || inflight_[b] != 0) continue;
    Clr(b);
    changed = true;
  }
  return changed ? persist_(ImageLocked()) : Status::Ok();
}

Status WriteIntentBitmap::SetAll() {
  std::lock_guard<std::mutex> g(mu_);
  for (uint64_t b = 0; b < nbits_; ++b) Set(b);
  return persist_(ImageLocked());
}

void WriteIntentBitmap::SetEvents(uint64_t events) {
  std::lock_guard<std::mutex> g(mu_);
  header_.events = events;
}

}  // namespace hafs::raid
