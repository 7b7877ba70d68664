// Format facts checked against MD-FORMAT.md's worked examples and the raw superblock
// observed from real Linux md (MD §1 tables, §3 hex dump).
#include "raid/md_format.h"

#include <gtest/gtest.h>

#include <cstring>

namespace hafs::raid {
namespace {

TEST(Layout, LeftSymmetricThreeMembersMatchesMdTable) {
  // MD §1 worked example n=3: stripe -> {role of D(3s), D(3s+1)}, parity role.
  EXPECT_EQ(ParityRole(Layout::kLeftSymmetric, 3, 0), 2);
  EXPECT_EQ(ParityRole(Layout::kLeftSymmetric, 3, 1), 1);
  EXPECT_EQ(ParityRole(Layout::kLeftSymmetric, 3, 2), 0);
  EXPECT_EQ(ParityRole(Layout::kLeftSymmetric, 3, 3), 2);
  EXPECT_EQ(PlaceChunk(Layout::kLeftSymmetric, 3, 2).member, 2);  // D2 on role 2 in stripe 1
  EXPECT_EQ(PlaceChunk(Layout::kLeftSymmetric, 3, 3).member, 0);  // D3 on role 0
  EXPECT_EQ(PlaceChunk(Layout::kLeftSymmetric, 3, 4).member, 1);  // D4 on role 1 in stripe 2
  EXPECT_EQ(PlaceChunk(Layout::kLeftSymmetric, 3, 5).member, 2);
}

TEST(Layout, LeftSymmetricFourMembersMatchesMdTable) {
  // MD §1 n=4 table, row by row: roles of the data chunks in logical order.
  const int want[5][3] = {{0, 1, 2}, {3, 0, 1}, {2, 3, 0}, {1, 2, 3}, {0, 1, 2}};
  const int parity[5] = {3, 2, 1, 0, 3};
  for (int s = 0; s < 5; ++s) {
    EXPECT_EQ(ParityRole(Layout::kLeftSymmetric, 4, uint64_t(s)), parity[s]);
    for (int d = 0; d < 3; ++d) EXPECT_EQ(PlaceChunk(Layout::kLeftSymmetric, 4, uint64_t(s * 3 + d)).member, want[s][d]);
  }
  // Byte example: L = 5 MiB + 100 -> chunk 10, stripe 3, role 2.
  const ChunkPlace p = PlaceChunk(Layout::kLeftSymmetric, 4, (5 * 1024 * 1024 + 100) / (512 * 1024));
  EXPECT_EQ(p.stripe, 3u);
  EXPECT_EQ(p.member, 2);
}

TEST(Layout, OtherLayoutsNeverPutDataOnParity) {
  for (auto l : {Layout::kLeftAsymmetric, Layout::kRightAsymmetric, Layout::kRightSymmetric, Layout::kLeftSymmetric}) {
    for (int n = 3; n <= 6; ++n) {
      for (uint64_t s = 0; s < 12; ++s) {
        std::vector<int> seen(size_t(n), 0);
        seen[size_t(ParityRole(l, n, s))]++;
        for (int d = 0; d < n - 1; ++d) seen[size_t(DataRole(l, n, s, d))]++;
        for (int c : seen) EXPECT_EQ(c, 1) << LayoutName(l) << " n=" << n << " s=" << s;
      }
    }
  }
  EXPECT_EQ(ParityRole(Layout::kRightAsymmetric, 3, 0), 0);
  EXPECT_EQ(DataRole(Layout::kLeftAsymmetric, 3, 1, 1), 2);  // pd = 1, dd 1 skips it
}

std::vector<uint8_t> ObservedSuperblock() {
  // MD §3: raw superblock of member 0 of a real md-created 3 x 64 MiB array.
  std::vector<uint8_t> b(4096, 0);
  auto put = [&](size_t off, std::initializer_list<int> bytes) {
    for (int x : bytes) b[off++] = uint8_t(x);
  };
  put(0, {0xfc, 0x4e, 0x2b, 0xa9, 1, 0, 0, 0});
  put(16, {0x4f, 0x3d, 0x27, 0x05, 0xb0, 0x1e, 0x20, 0xe1, 0x0f, 0xf9, 0x35, 0xee, 0xd5, 0x79, 0x39, 0xfd});
  std::memcpy(&b[32], "(none):0", 8);
  put(64, {0x43, 0x1f, 0x02, 0x6b, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0});
  put(80, {0x00, 0xf0, 0x01, 0, 0, 0, 0, 0, 0x00, 0x04, 0, 0, 3, 0, 0, 0});
  put(128, {0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x00, 0xf0, 0x01, 0, 0, 0, 0, 0});
  put(144, {8});
  put(168, {0xd5, 0x84, 0x9f, 0xf7, 0x12, 0xc9, 0x32, 0x7a, 0xb4, 0x23, 0x32, 0x6f, 0xfb, 0x82, 0x5e, 0xe7});
  put(184, {0, 0, 8, 0, 0x10, 0, 0, 0});
  put(192, {0x44, 0x1f, 0x02, 0x6b, 0, 0, 0, 0, 0x12});
  put(208, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x44, 0xdd, 0x02, 0xb8, 0x80});
  for (size_t i = 256; i < 512; ++i) b[i] = 0xff;
  put(256, {0, 0, 1, 0, 0xff, 0xff, 2, 0});
  return b;
}

TEST(Superblock, ChecksumMatchesRealMd) {
  auto raw = ObservedSuperblock();
  EXPECT_EQ(SuperblockChecksum(raw.data(), 128), 0xb802dd44u);
  auto sb = DecodeSuperblock(raw.data(), raw.size());
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  EXPECT_EQ(sb->size, 126976u);
  EXPECT_EQ(sb->chunksize, 1024u);
  EXPECT_EQ(sb->raid_disks, 3u);
  EXPECT_EQ(sb->data_offset, 4096u);
  EXPECT_EQ(sb->events, 18u);
  EXPECT_EQ(sb->set_name, "(none):0");
  EXPECT_EQ(sb->dev_roles[3], 2);
  EXPECT_EQ(sb->dev_roles[2], kRoleSpare);
  // Re-encoding what we decoded gives back the same bytes md wrote.
  auto again = EncodeSuperblock(*sb);
  ASSERT_EQ(again.size(), 512u);
  EXPECT_EQ(0, std::memcmp(again.data(), raw.data(), 512));
}

TEST(Superblock, CorruptionIsDetected) {
  auto raw = ObservedSuperblock();
  raw[100] ^= 1;
  auto sb = DecodeSuperblock(raw.data(), raw.size());
  EXPECT_EQ(sb.err(), EBADMSG);
  raw = ObservedSuperblock();
  raw[0] = 0;
  EXPECT_EQ(DecodeSuperblock(raw.data(), raw.size()).err(), ENOENT);
}

TEST(Superblock, DefaultDataOffsetMatchesMdadm) {
  // MD §2.1 table (observed values).
  const uint64_t MiB = 2048, GiB = 2048 * 1024;
  EXPECT_EQ(DefaultDataOffset(40 * MiB, 1024), 4096u);
  EXPECT_EQ(DefaultDataOffset(64 * MiB, 1024), 4096u);
  EXPECT_EQ(DefaultDataOffset(40 * MiB, 128), 2048u);
  EXPECT_EQ(DefaultDataOffset(1 * GiB, 1024), 4096u);
  EXPECT_EQ(DefaultDataOffset(10 * GiB, 1024), 18432u);
  EXPECT_EQ(DefaultDataOffset(100 * GiB, 1024), 133120u);
  EXPECT_EQ(DefaultDataOffset(1024 * GiB, 1024), 264192u);
}

TEST(Bitmap, HeaderRoundTrip) {
  BitmapHeader h;
  h.uuid[0] = 7;
  h.events = 9;
  h.sync_size = 1000;
  h.chunksize = 65536;
  uint8_t raw[256];
  EncodeBitmapHeader(h, raw);
  EXPECT_EQ(raw[0], 0x62);  // "bitm" little-endian
  auto d = DecodeBitmapHeader(raw);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->chunksize, 65536u);
  EXPECT_EQ(d->events, 9u);
  EXPECT_EQ(d->uuid[0], 7);
}

}  // namespace
}  // namespace hafs::raid
