// RAID5 engine behaviour on real member files: md placement and parity (checked by
// decoding the member files independently), degraded reads, partial-write parity
// paths, concurrent writers, rebuild, member failure and bad input.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>

#include "raid/array.h"
#include "test_util.h"

namespace hafs::raid {
namespace {

using testing::MdImage;
using testing::RandomBytes;
using testing::ReadAll;
using testing::TempDir;

constexpr uint64_t MiB = 1024 * 1024;

std::vector<std::string> Members(const TempDir& d, int n, uint64_t bytes, const std::string& prefix = "m") {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(d.File(prefix + std::to_string(i), bytes + uint64_t(i) * 12345));
  return v;
}

std::unique_ptr<Array> MustCreate(const std::vector<std::string>& devs, uint64_t chunk, bool bitmap = true) {
  CreateOptions o;
  o.raid_devices = int(devs.size());
  o.chunk_bytes = chunk;
  o.bitmap = bitmap;
  auto a = Array::Create(o, devs);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? std::move(*a) : nullptr;
}

// Writes `model` to the array in random-sized pieces (full stripes, partial chunks, 4K bits).
void WriteInPieces(Array& a, const std::vector<uint8_t>& model, uint32_t seed) {
  std::mt19937 rng(seed);
  for (uint64_t pos = 0; pos < model.size();) {
    const uint64_t piece = std::min<uint64_t>(model.size() - pos, 1 + rng() % (3 * MiB / 2));
    ASSERT_TRUE(a.Write(pos, piece, &model[pos]).ok());
    pos += piece;
  }
}

class Placement : public ::testing::TestWithParam<std::tuple<int, uint64_t>> {};

TEST_P(Placement, EveryByteWhereMdPutsItAndParityIsXor) {
  const auto [n, chunk] = GetParam();
  TempDir d;
  auto devs = Members(d, n, 6 * MiB);
  std::vector<uint8_t> model;
  {
    auto a = MustCreate(devs, chunk);
    ASSERT_TRUE(a);
    // MD §1: array = (n-1) x smallest member's data area rounded down to the chunk.
    const uint64_t per_member = (6 * MiB - a->geometry().data_offset) / chunk * chunk;
    EXPECT_EQ(a->Size(), uint64_t(n - 1) * per_member);
    model = RandomBytes(a->Size(), uint32_t(n * 1000 + chunk));
    WriteInPieces(*a, model, 7);
    std::vector<uint8_t> back(model.size());
    ASSERT_TRUE(a->Read(0, back.size(), back.data()).ok());
    EXPECT_TRUE(back == model);
  }
  MdImage img = MdImage::Load(devs);
  EXPECT_EQ(img.chunk, chunk);
  EXPECT_EQ(img.Logical(), model);
  EXPECT_EQ(img.ParityMismatches(), 0u);
  // Degraded: the engine, assembled without any one member, reads every byte back.
  for (int missing = 0; missing < n; ++missing) {
    std::vector<std::string> some;
    for (int i = 0; i < n; ++i) {
      if (i != missing) some.push_back(devs[size_t(i)]);
    }
    AssembleOptions ro;
    ro.readonly = true;
    auto a = Array::Assemble(some, ro);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_TRUE((*a)->GetStatus().degraded);
    std::vector<uint8_t> back(model.size());
    ASSERT_TRUE((*a)->Read(0, back.size(), back.data()).ok());
    EXPECT_TRUE(back == model) << "missing role " << missing;
    // Unaligned small reads through reconstruction too.
    for (uint64_t off : {uint64_t(1), chunk - 3, chunk * 5 + 17}) {
      std::vector<uint8_t> small(100);
      ASSERT_TRUE((*a)->Read(off, small.size(), small.data()).ok());
      EXPECT_EQ(0, std::memcmp(small.data(), &model[off], small.size()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Md, Placement,
                         ::testing::Combine(::testing::Values(3, 4, 5),
                                            ::testing::Values(uint64_t(4096), uint64_t(64 * 1024), uint64_t(512 * 1024))));

TEST(Engine, OtherLayoutsRoundTripAndVerify) {
  for (Layout l : {Layout::kLeftAsymmetric, Layout::kRightSymmetric, Layout::kRightAsymmetric}) {
    TempDir d;
    auto devs = Members(d, 4, 4 * MiB);
    CreateOptions o;
    o.raid_devices = 4;
    o.chunk_bytes = 64 * 1024;
    o.layout = l;
    auto a = Array::Create(o, devs);
    ASSERT_TRUE(a.ok());
    auto model = RandomBytes((*a)->Size(), 3);
    WriteInPieces(**a, model, 3);
    auto c = (*a)->Check(false);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->mismatch_sectors, 0u);
    (*a)->InjectFault(1);
    std::vector<uint8_t> back(model.size());
    ASSERT_TRUE((*a)->Read(0, back.size(), back.data()).ok());
    EXPECT_TRUE(back == model) << LayoutName(l);
  }
}

TEST(Engine, ConcurrentWritersOnSharedAndSeparateStripes) {
  TempDir d;
  auto devs = Members(d, 4, 8 * MiB);
  auto a = MustCreate(devs, 64 * 1024);
  ASSERT_TRUE(a);
  // Each thread owns interleaved 4 KiB blocks, so threads collide on the same stripes.
  const uint64_t blocks = a->Size() / 4096;
  std::vector<uint8_t> model(a->Size());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng{uint32_t(t)};
      for (int i = 0; i < 400; ++i) {
        uint64_t b = (rng() % (blocks / 4)) * 4 + uint64_t(t);
        uint64_t len = 4096 * (1 + rng() % 3);
        if (b * 4096 + len > model.size()) len = 4096;
        // Only this thread writes blocks == t mod 4: write one block at a time.
        for (uint64_t x = 0; x < len / 4096 && b + x * 4 < blocks; ++x) {
          const uint64_t off = (b + x * 4) * 4096;
          auto data = RandomBytes(4096, rng());
          std::memcpy(&model[off], data.data(), 4096);
          ASSERT_TRUE(a->Write(off, 4096, data.data()).ok());
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  std::vector<uint8_t> back(model.size());
  ASSERT_TRUE(a->Read(0, back.size(), back.data()).ok());
  EXPECT_TRUE(back == model);
  auto c = a->Check(false);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->mismatch_sectors, 0u);
}

TEST(Engine, FailDegradedWritesThenRebuildOntoBlankMember) {
  TempDir d;
  auto devs = Members(d, 3, 6 * MiB);
  auto a = MustCreate(devs, 64 * 1024);
  ASSERT_TRUE(a);
  auto model = RandomBytes(a->Size(), 11);
  WriteInPieces(*a, model, 1);
  ASSERT_TRUE(a->Fail(devs[1]).ok());
  EXPECT_EQ(a->GetStatus().Letters(), "[U_U]");
  // Degraded writes of every kind (parity-only stripes, reconstruct-writes, rmw).
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % model.size(), len = std::min<uint64_t>(model.size() - off, 1 + rng() % 200000);
    auto data = RandomBytes(len, rng());
    std::memcpy(&model[off], data.data(), len);
    ASSERT_TRUE(a->Write(off, len, data.data()).ok());
  }
  EXPECT_EQ(a->Add(devs[1]).err(), EEXIST);  // still listed as faulty
  ASSERT_TRUE(a->Remove(devs[1]).ok());
  auto blank = d.File("blank", 6 * MiB);
  ASSERT_TRUE(a->Add(blank).ok());
  // Writes during the rebuild.
  for (int i = 0; i < 100; ++i) {
    uint64_t off = rng() % model.size(), len = std::min<uint64_t>(model.size() - off, 1 + rng() % 100000);
    auto data = RandomBytes(len, rng());
    std::memcpy(&model[off], data.data(), len);
    ASSERT_TRUE(a->Write(off, len, data.data()).ok());
  }
  ASSERT_TRUE(a->WaitRebuild(60000));
  EXPECT_EQ(a->GetStatus().Letters(), "[UUU]");
  a.reset();
  MdImage img = MdImage::Load({devs[0], blank, devs[2]});
  EXPECT_EQ(img.ParityMismatches(), 0u);
  EXPECT_TRUE(img.Logical() == model);
  // The new member is in the superblocks: assembling the new set works and is clean.
  auto again = Array::Assemble({devs[0], blank, devs[2]});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)->GetStatus().degraded);
  // The removed member is stale/removed and is not taken back.
  auto stale = Array::Assemble({devs[0], devs[1]}, AssembleOptions{.readonly = true});
  EXPECT_FALSE(stale.ok() && !(*stale)->GetStatus().degraded);
}

TEST(Engine, IoErrorMarksFaultyAndSecondFailureStopsWrites) {
  TempDir d;
  auto devs = Members(d, 3, 4 * MiB);
  auto a = MustCreate(devs, 64 * 1024);
  ASSERT_TRUE(a);
  auto model = RandomBytes(a->Size(), 2);
  WriteInPieces(*a, model, 2);
  a->InjectFault(0);
  auto more = RandomBytes(300000, 9);
  ASSERT_TRUE(a->Write(100000, more.size(), more.data()).ok());  // goes on degraded
  std::memcpy(&model[100000], more.data(), more.size());
  EXPECT_EQ(a->GetStatus().members[0].state, MemberState::kFaulty);
  std::vector<uint8_t> back(model.size());
  ASSERT_TRUE(a->Read(0, back.size(), back.data()).ok());
  EXPECT_TRUE(back == model);
  a->InjectFault(2);
  Status st = a->Write(0, 4096, more.data());
  EXPECT_EQ(st.err(), EIO);
  EXPECT_NE(st.message().find("failed"), std::string::npos) << st.message();
  EXPECT_TRUE(a->GetStatus().failed);
  a.reset();
  // Everything acknowledged is on the surviving disks: role 0 reconstructed from 1 and 2.
  MdImage img = MdImage::Load(devs);
  EXPECT_TRUE(img.Logical(0) == model);
}

TEST(Engine, BadInputIsRefusedAndNothingWritten) {
  TempDir d;
  auto devs = Members(d, 3, 4 * MiB);
  CreateOptions o;
  o.raid_devices = 4;
  auto r = Array::Create(o, devs);
  EXPECT_EQ(r.err(), EINVAL);  // wrong member count
  o.raid_devices = 3;
  o.chunk_bytes = 3000;
  EXPECT_EQ(Array::Create(o, devs).err(), EINVAL);
  o.chunk_bytes = 64 * 1024;
  auto tiny = d.File("tiny", 1 * MiB);
  auto r2 = Array::Create(o, {devs[0], devs[1], tiny});
  EXPECT_EQ(r2.err(), ENOSPC) << r2.status().ToString();
  for (auto& p : devs) {
    auto b = ReadAll(p);
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; })) << p << " was written";
  }
  // Two different arrays.
  auto other = Members(d, 3, 4 * MiB, "o");
  { auto a = Array::Create(o, devs); ASSERT_TRUE(a.ok()); }
  { auto b = Array::Create(o, other); ASSERT_TRUE(b.ok()); }
  auto before = ReadAll(devs[0]);
  auto mixed = Array::Assemble({devs[0], devs[1], other[2]});
  EXPECT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("different array"), std::string::npos) << mixed.status().message();
  // Corrupt superblock: one flipped byte breaks the checksum.
  {
    int fd = ::open(devs[2].c_str(), O_RDWR);
    uint8_t x = 0;
    ASSERT_EQ(pread(fd, &x, 1, 4096 + 100), 1);
    x ^= 0x40;
    ASSERT_EQ(pwrite(fd, &x, 1, 4096 + 100), 1);
    ::close(fd);
  }
  auto bad = Array::Assemble(devs);
  EXPECT_EQ(bad.err(), EBADMSG) << bad.status().ToString();
  EXPECT_TRUE(ReadAll(devs[0]) == before);
  // Creating over an existing member needs --force.
  EXPECT_EQ(Array::Create(o, other).err(), EEXIST);
}

TEST(Engine, CheckCountsAndRepairsATornStripe) {
  TempDir d;
  auto devs = Members(d, 3, 8 * MiB);
  CreateOptions o;
  o.raid_devices = 3;
  o.chunk_bytes = 64 * 1024;
  o.bitmap_chunk_bytes = 256 * 1024;
  auto a = Array::Create(o, devs);
  ASSERT_TRUE(a.ok());
  auto model = RandomBytes((*a)->Size(), 4);
  WriteInPieces(**a, model, 4);
  a->reset();
  // Simulate a torn stripe: data written, parity not (what a crash between the two leaves),
  // with the region's bit set in the bitmap as the engine does before writing.
  MdImage img = MdImage::Load(devs);
  {
    int fd = ::open(devs[0].c_str(), O_RDWR);
    std::vector<uint8_t> junk(4096, 0x5a);
    ASSERT_EQ(pwrite(fd, junk.data(), 4096, off_t(img.data_offset + 2 * 64 * 1024)), 4096);  // stripe 2 parity is role 0
    // Mark bit 0 (member bytes 0..256K) dirty and the superblock active, like a crash.
    uint8_t bit = 1;
    ASSERT_EQ(pwrite(fd, &bit, 1, 8192 + 256), 1);
    ::close(fd);
  }
  // Data of role 0 at stripe 2 is parity (left-symmetric n=3: stripe 2 -> role 0), so contents
  // are unchanged but parity mismatches until resync.
  EXPECT_EQ(MdImage::Load(devs).ParityMismatches(), 1u);
  // Clean superblock means no resync; mark active by assembling, dropping without Stop.
  {
    auto b = Array::Assemble(devs);
    ASSERT_TRUE(b.ok());
    auto c = (*b)->Check(false);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->mismatch_sectors, 8u);  // MD §1: one bad 4 KiB unit = 8 sectors
    auto r = (*b)->Check(true);
    ASSERT_TRUE(r.ok());
    auto c2 = (*b)->Check(false);
    EXPECT_EQ(c2->mismatch_sectors, 0u);
  }
  EXPECT_EQ(MdImage::Load(devs).ParityMismatches(), 0u);
}

}  // namespace
}  // namespace hafs::raid
