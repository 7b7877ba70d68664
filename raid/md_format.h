// Linux md on-disk format pieces hafs-raid shares with the kernel and mdadm:
// the RAID5 address mapping, the v1.2 superblock and the internal write-intent
// bitmap header. Every constant cites /work/shared/MD-FORMAT.md (section numbers
// below as "MD §n"). Pure functions and value types; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::raid {

constexpr uint64_t kSector = 512;                 // MD §0: every offset field counts 512-byte sectors
constexpr uint32_t kMdMagic = 0xa92b4efc;         // MD §3 magic
constexpr uint64_t kSuperOffsetSectors = 8;       // MD §2: v1.2 superblock at byte 4096
constexpr uint32_t kMaxDev = 128;                 // MD §3: mdadm's max_dev for <=128 devices
constexpr size_t kSuperBytes = 256 + 2 * kMaxDev; // MD §3: what mdadm writes (512 bytes)
constexpr uint64_t kMaxSector = ~0ULL;            // MD §3.5: resync_offset "clean"
constexpr uint16_t kRoleSpare = 0xffff;           // MD §3 dev_roles
constexpr uint16_t kRoleFaulty = 0xfffe;
constexpr uint32_t kFeatureBitmap = 1;            // MD §3.2
constexpr uint32_t kFeatureRecovery = 2;          // MD §3.2
constexpr uint32_t kFeatureAll = 0x1fff;          // MD §3.2 MD_FEATURE_ALL
constexpr int32_t kBitmapOffsetSectors = 8;       // MD §3.6: bitmap 4 KiB after the superblock
constexpr uint32_t kBitmapMagic = 0x6d746962;     // MD §3.6 "bitm"
constexpr uint32_t kBitmapVersion = 4;            // MD §3.6
constexpr uint64_t kStripeUnit = 4096;            // MD §1: md's STRIPE_SIZE, unit of mismatch_cnt

// RAID5 layouts by md's ALGORITHM_* number (MD §1).
enum class Layout : int32_t {
  kLeftAsymmetric = 0,
  kRightAsymmetric = 1,
  kLeftSymmetric = 2,
  kRightSymmetric = 3,
};
const char* LayoutName(Layout l);
Result<Layout> ParseLayout(const std::string& name);

// Where one logical chunk lives (MD §1 raid5_compute_sector).
struct ChunkPlace {
  uint64_t stripe;   // row of chunks; member byte offset = data_offset + stripe*C + in_chunk
  int data_index;    // dd: index of the data chunk inside the stripe
  int member;        // role holding this chunk
  int parity;        // role holding the stripe's parity
};
int ParityRole(Layout l, int n, uint64_t stripe);
// Role holding data chunk dd of `stripe`.
int DataRole(Layout l, int n, uint64_t stripe, int dd);
ChunkPlace PlaceChunk(Layout l, int n, uint64_t chunk_no);

// struct mdp_superblock_1 (MD §3), decoded. Field names follow the kernel header.
struct Superblock {
  uint32_t feature_map = 0;
  std::array<uint8_t, 16> set_uuid{};
  std::string set_name;  // "homehost:name", at most 32 bytes
  uint64_t ctime = 0;
  int32_t level = 5;
  int32_t layout = 2;
  uint64_t size = 0;       // sectors used per member
  uint32_t chunksize = 0;  // sectors
  uint32_t raid_disks = 0;
  int32_t bitmap_offset = 0;
  uint64_t data_offset = 0;
  uint64_t data_size = 0;
  uint64_t super_offset = kSuperOffsetSectors;
  uint64_t recovery_offset = 0;
  uint32_t dev_number = 0;
  uint32_t cnt_corrected_read = 0;
  std::array<uint8_t, 16> device_uuid{};
  uint8_t devflags = 0;
  uint8_t bblog_shift = 0;
  uint16_t bblog_size = 0;
  int32_t bblog_offset = 0;
  uint64_t utime = 0;
  uint64_t events = 0;
  uint64_t resync_offset = kMaxSector;
  uint32_t max_dev = kMaxDev;
  std::vector<uint16_t> dev_roles;  // max_dev entries

  uint16_t OwnRole() const { return dev_number < dev_roles.size() ? dev_roles[dev_number] : kRoleSpare; }
};

// MD §3.1 checksum over the first 256 + 2*max_dev bytes of `raw` (sb_csum taken as 0).
uint32_t SuperblockChecksum(const uint8_t* raw, uint32_t max_dev);
// Encodes into kSuperBytes bytes, computing sb_csum.
std::vector<uint8_t> EncodeSuperblock(const Superblock& sb);
// Decodes and validates what the kernel checks (MD §3.3): magic, version, checksum, pads,
// feature bits, super_offset. `raw` must hold at least 4096 bytes read at byte 4096.
Result<Superblock> DecodeSuperblock(const uint8_t* raw, size_t len);

// MD §2.1: default data_offset (sectors) mdadm picks for a member of dev_sectors.
uint64_t DefaultDataOffset(uint64_t dev_sectors, uint64_t chunk_sectors);
// MD §2.1 choose_bm_space: sectors reserved after the superblock for the bitmap.
uint64_t BitmapSpaceSectors(uint64_t dev_sectors);

// bitmap_super_t (MD §3.6), the 256-byte header in front of the write-intent bits.
struct BitmapHeader {
  std::array<uint8_t, 16> uuid{};
  uint64_t events = 0;
  uint64_t events_cleared = 0;
  uint64_t sync_size = 0;   // sectors per member covered
  uint32_t state = 0;
  uint32_t chunksize = 0;   // bytes of member data per bit
  uint32_t daemon_sleep = 5;
  uint32_t write_behind = 0;
  uint32_t sectors_reserved = 0;
};
void EncodeBitmapHeader(const BitmapHeader& h, uint8_t* out256);
Result<BitmapHeader> DecodeBitmapHeader(const uint8_t* raw256);

// ctime/utime encoding (MD §3: low 40 bits seconds).
uint64_t MdNow();
std::string UuidString(const std::array<uint8_t, 16>& u);  // mdadm style aaaaaaaa:bbbbbbbb:...
std::array<uint8_t, 16> RandomUuid();

}  // namespace hafs::raid
