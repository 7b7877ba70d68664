#include "raid/md_format.h"

#include <sys/time.h>

#include <cstring>
#include <random>

#include <fmt/format.h>

namespace hafs::raid {
namespace {

void Put16(uint8_t* p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
void Put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = v >> (8 * i); }
void Put64(uint8_t* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = v >> (8 * i); }
uint16_t Get16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t Get32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
uint64_t Get64(const uint8_t* p) { return uint64_t(Get32(p)) | uint64_t(Get32(p + 4)) << 32; }

}  // namespace

const char* LayoutName(Layout l) {
  switch (l) {
    case Layout::kLeftAsymmetric: return "left-asymmetric";
    case Layout::kRightAsymmetric: return "right-asymmetric";
    case Layout::kLeftSymmetric: return "left-symmetric";
    case Layout::kRightSymmetric: return "right-symmetric";
  }
  return "unknown";
}

Result<Layout> ParseLayout(const std::string& name) {
  // Names and short forms as mdadm's r5layout table (MD §1 [map]).
  if (name == "left-symmetric" || name == "ls" || name == "default") return Layout::kLeftSymmetric;
  if (name == "left-asymmetric" || name == "la") return Layout::kLeftAsymmetric;
  if (name == "right-symmetric" || name == "rs") return Layout::kRightSymmetric;
  if (name == "right-asymmetric" || name == "ra") return Layout::kRightAsymmetric;
  return Status(EINVAL, fmt::format("layout {} not understood for raid5", name));
}

int ParityRole(Layout l, int n, uint64_t stripe) {
  const int s = int(stripe % uint64_t(n));
  switch (l) {
    case Layout::kLeftAsymmetric:
    case Layout::kLeftSymmetric: return n - 1 - s;  // MD §1: parity starts on the last member
    case Layout::kRightAsymmetric:
    case Layout::kRightSymmetric: return s;
  }
  return n - 1 - s;
}

int DataRole(Layout l, int n, uint64_t stripe, int dd) {
  const int pd = ParityRole(l, n, stripe);
  switch (l) {
    case Layout::kLeftSymmetric:
    case Layout::kRightSymmetric: return (pd + 1 + dd) % n;  // MD §1: symmetric wraps after parity
    case Layout::kLeftAsymmetric:
    case Layout::kRightAsymmetric: return dd + (dd >= pd ? 1 : 0);  // asymmetric skips parity
  }
  return (pd + 1 + dd) % n;
}

ChunkPlace PlaceChunk(Layout l, int n, uint64_t chunk_no) {
  const uint64_t k = uint64_t(n - 1);
  ChunkPlace p;
  p.stripe = chunk_no / k;
  p.data_index = int(chunk_no % k);
  p.parity = ParityRole(l, n, p.stripe);
  p.member = DataRole(l, n, p.stripe, p.data_index);
  return p;
}

uint32_t SuperblockChecksum(const uint8_t* raw, uint32_t max_dev) {
  // MD §3.1: sum of LE u32 words with sb_csum as zero, folded once.
  const uint32_t len = 256 + 2 * max_dev;
  uint64_t sum = 0;
  uint32_t i = 0;
  for (; i + 4 <= len; i += 4) {
    if (i == 216) continue;  // sb_csum itself
    sum += Get32(raw + i);
  }
  if (len - i == 2) sum += Get16(raw + i);
  return uint32_t((sum & 0xffffffffULL) + (sum >> 32));
}

std::vector<uint8_t> EncodeSuperblock(const Superblock& sb) {
  std::vector<uint8_t> b(256 + 2 * size_t(sb.max_dev), 0);
  uint8_t* p = b.data();
  // Offsets: MD §3 table.
  Put32(p + 0, kMdMagic);
  Put32(p + 4, 1);
  Put32(p + 8, sb.feature_map);
  std::memcpy(p + 16, sb.set_uuid.data(), 16);
  std::memcpy(p + 32, sb.set_name.data(), std::min<size_t>(32, sb.set_name.size()));
  Put64(p + 64, sb.ctime);
  Put32(p + 72, uint32_t(sb.level));
  Put32(p + 76, uint32_t(sb.layout));
  Put64(p + 80, sb.size);
  Put32(p + 88, sb.chunksize);
  Put32(p + 92, sb.raid_disks);
  Put32(p + 96, uint32_t(sb.bitmap_offset));
  Put64(p + 128, sb.data_offset);
  Put64(p + 136, sb.data_size);
  Put64(p + 144, sb.super_offset);
  Put64(p + 152, sb.recovery_offset);
  Put32(p + 160, sb.dev_number);
  Put32(p + 164, sb.cnt_corrected_read);
  std::memcpy(p + 168, sb.device_uuid.data(), 16);
  p[184] = sb.devflags;
  p[185] = sb.bblog_shift;
  Put16(p + 186, sb.bblog_size);
  Put32(p + 188, uint32_t(sb.bblog_offset));
  Put64(p + 192, sb.utime);
  Put64(p + 200, sb.events);
  Put64(p + 208, sb.resync_offset);
  Put32(p + 220, sb.max_dev);
  for (uint32_t i = 0; i < sb.max_dev; ++i) {
    Put16(p + 256 + 2 * i, i < sb.dev_roles.size() ? sb.dev_roles[i] : kRoleSpare);
  }
  Put32(p + 216, SuperblockChecksum(p, sb.max_dev));
  return b;
}

Result<Superblock> DecodeSuperblock(const uint8_t* p, size_t len) {
  if (len < 256) return Status(EINVAL, "short superblock");
  if (Get32(p) != kMdMagic) return Status(ENOENT, "no md superblock detected");
  if (Get32(p + 4) != 1) return Status(EINVAL, fmt::format("unsupported md major version {}", Get32(p + 4)));
  Superblock sb;
  sb.max_dev = Get32(p + 220);
  if (sb.max_dev > 1920 || 256 + 2 * size_t(sb.max_dev) > len) {  // MD §3.3
    return Status(EINVAL, fmt::format("superblock max_dev {} out of range", sb.max_dev));
  }
  const uint32_t want = SuperblockChecksum(p, sb.max_dev);
  const uint32_t have = Get32(p + 216);
  if (want != have) {
    return Status(EBADMSG, fmt::format("superblock checksum {:08x} - expected {:08x}", have, want));
  }
  sb.feature_map = Get32(p + 8);
  if (Get32(p + 12) != 0) return Status(EINVAL, "superblock pad0 not zero");
  for (int i = 224; i < 256; ++i) {
    if (p[i] != 0) return Status(EINVAL, "superblock pad3 not zero");
  }
  if (sb.feature_map & ~kFeatureAll) {
    return Status(EINVAL, fmt::format("unknown superblock feature bits {:#x}", sb.feature_map));
  }
  std::memcpy(sb.set_uuid.data(), p + 16, 16);
  sb.set_name.assign(reinterpret_cast<const char*>(p + 32), strnlen(reinterpret_cast<const char*>(p + 32), 32));
  sb.ctime = Get64(p + 64);
  sb.level = int32_t(Get32(p + 72));
  sb.layout = int32_t(Get32(p + 76));
  sb.size = Get64(p + 80);
  sb.chunksize = Get32(p + 88);
  sb.raid_disks = Get32(p + 92);
  sb.bitmap_offset = int32_t(Get32(p + 96));
  sb.data_offset = Get64(p + 128);
  sb.data_size = Get64(p + 136);
  sb.super_offset = Get64(p + 144);
  sb.recovery_offset = Get64(p + 152);
  sb.dev_number = Get32(p + 160);
  sb.cnt_corrected_read = Get32(p + 164);
  std::memcpy(sb.device_uuid.data(), p + 168, 16);
  sb.devflags = p[184];
  sb.bblog_shift = p[185];
  sb.bblog_size = Get16(p + 186);
  sb.bblog_offset = int32_t(Get32(p + 188));
  sb.utime = Get64(p + 192);
  sb.events = Get64(p + 200);
  sb.resync_offset = Get64(p + 208);
  if (sb.super_offset != kSuperOffsetSectors) {
    return Status(EINVAL, fmt::format("super_offset {} is not where it was found (8)", sb.super_offset));
  }
  if (sb.data_size < 10) return Status(EINVAL, "superblock data_size too small");
  sb.dev_roles.resize(sb.max_dev);
  for (uint32_t i = 0; i < sb.max_dev; ++i) sb.dev_roles[i] = Get16(p + 256 + 2 * i);
  return sb;
}

uint64_t BitmapSpaceSectors(uint64_t dev_sectors) {
  // MD §2.1 choose_bm_space.
  if (dev_sectors < 128) return 0;
  if (dev_sectors - 128 >= 200ULL * 1024 * 1024 * 2) return 256;
  if (dev_sectors - 8 > 8ULL * 1024 * 1024 * 2) return 128;
  return 8;
}

uint64_t DefaultDataOffset(uint64_t dev_sectors, uint64_t chunk_sectors) {
  // MD §2.1: 12K sb area + bitmap space + reshape headroom, rounded up to 1 MiB.
  uint64_t headroom = 262144;
  while (headroom * 1024 > dev_sectors && headroom / 2 >= 2 * chunk_sectors) headroom /= 2;
  const uint64_t raw = 24 + BitmapSpaceSectors(dev_sectors) + headroom;
  return (raw + 2047) / 2048 * 2048;
}

void EncodeBitmapHeader(const BitmapHeader& h, uint8_t* p) {
  // bitmap_super_t (MD §3.6): magic, version, uuid, events, events_cleared, sync_size,
  // state, chunksize, daemon_sleep, write_behind, sectors_reserved, nodes, cluster_name.
  std::memset(p, 0, 256);
  Put32(p + 0, kBitmapMagic);
  Put32(p + 4, kBitmapVersion);
  std::memcpy(p + 8, h.uuid.data(), 16);
  Put64(p + 24, h.events);
  Put64(p + 32, h.events_cleared);
  Put64(p + 40, h.sync_size);
  Put32(p + 48, h.state);
  Put32(p + 52, h.chunksize);
  Put32(p + 56, h.daemon_sleep);
  Put32(p + 60, h.write_behind);
  Put32(p + 64, h.sectors_reserved);
}

Result<BitmapHeader> DecodeBitmapHeader(const uint8_t* p) {
  if (Get32(p) != kBitmapMagic) return Status(EINVAL, "no write-intent bitmap (bad magic)");
  if (Get32(p + 4) != kBitmapVersion) return Status(EINVAL, "unsupported bitmap version");
  BitmapHeader h;
  std::memcpy(h.uuid.data(), p + 8, 16);
  h.events = Get64(p + 24);
  h.events_cleared = Get64(p + 32);
  h.sync_size = Get64(p + 40);
  h.state = Get32(p + 48);
  h.chunksize = Get32(p + 52);
  h.daemon_sleep = Get32(p + 56);
  h.write_behind = Get32(p + 60);
  h.sectors_reserved = Get32(p + 64);
  if (h.chunksize == 0 || (h.chunksize & (h.chunksize - 1)) != 0) {
    return Status(EINVAL, "bitmap chunksize is not a power of two");
  }
  return h;
}

uint64_t MdNow() { return uint64_t(time(nullptr)) & ((1ULL << 40) - 1); }

std::string UuidString(const std::array<uint8_t, 16>& u) {
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i && i % 4 == 0) s += ':';
    s += fmt::format("{:02x}", u[i]);
  }
  return s;
}

std::array<uint8_t, 16> RandomUuid() {
  std::random_device rd;
  std::array<uint8_t, 16> u{};
  for (auto& b : u) b = uint8_t(rd());
  return u;
}

}  // namespace hafs::raid
