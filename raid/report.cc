#include "raid/report.h"

#include <ctime>

#include <fmt/format.h>

namespace hafs::raid {
namespace {

std::string Human(uint64_t bytes) {
  // mdadm prints "(126.00 MiB 132.12 MB)".
  const double b = double(bytes);
  if (bytes >= (1ULL << 30)) return fmt::format("{:.2f} GiB {:.2f} GB", b / (1ULL << 30), b / 1e9);
  return fmt::format("{:.2f} MiB {:.2f} MB", b / (1ULL << 20), b / 1e6);
}

std::string Time(uint64_t md_time) {
  const time_t t = time_t(md_time & ((1ULL << 40) - 1));  // MD §3 ctime: low 40 bits seconds
  char buf[64];
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

std::string ChunkK(uint64_t bytes) { return fmt::format("{}K", bytes / 1024); }

}  // namespace

std::string FormatDetail(const std::string& name, const ArrayStatus& st, bool running) {
  int active = 0, working = 0, failed = 0, rebuilding = 0;
  for (const auto& m : st.members) {
    active += m.state == MemberState::kInSync;
    working += m.state == MemberState::kInSync || m.state == MemberState::kRebuilding;
    failed += m.state == MemberState::kFaulty;
    rebuilding += m.state == MemberState::kRebuilding;
  }
  std::string o = fmt::format("/dev/md/{}:\n", name);
  o += fmt::format("           Version : 1.2\n");
  o += fmt::format("     Creation Time : {}\n", Time(st.ctime));
  o += fmt::format("        Raid Level : raid5\n");
  o += fmt::format("        Array Size : {} ({})\n", st.array_bytes / 1024, Human(st.array_bytes));
  o += fmt::format("     Used Dev Size : {} ({})\n", st.member_bytes / 1024, Human(st.member_bytes));
  o += fmt::format("      Raid Devices : {}\n", st.raid_disks);
  o += fmt::format("     Total Devices : {}\n", working + failed);
  o += fmt::format("       Persistence : Superblock is persistent\n\n");
  if (st.bitmap) o += "     Intent Bitmap : Internal\n\n";
  o += fmt::format("       Update Time : {}\n", Time(st.utime));
  o += fmt::format("             State : {}{}\n", st.StateString(), running ? "" : " (not running)");
  o += fmt::format("    Active Devices : {}\n", active);
  o += fmt::format("   Working Devices : {}\n", working);
  o += fmt::format("    Failed Devices : {}\n", failed);
  o += fmt::format("     Spare Devices : {}\n\n", rebuilding);
  o += fmt::format("            Layout : {}\n", LayoutName(st.layout));
  o += fmt::format("        Chunk Size : {}\n\n", ChunkK(st.chunk_bytes));
  o += fmt::format("Consistency Policy : {}\n\n", st.bitmap ? "bitmap" : "resync");
  if (st.rebuilding && st.member_bytes) {
    o += fmt::format("    Rebuild Status : {}% complete\n\n", st.rebuild_done_bytes * 100 / st.member_bytes);
  }
  o += fmt::format("              Name : {}\n", name);
  o += fmt::format("              UUID : {}\n", UuidString(st.uuid));
  o += fmt::format("            Events : {}\n\n", st.events);
  o += "    Number   RaidDevice State\n";
  for (const auto& m : st.members) {
    if (m.state == MemberState::kMissing) {
      o += fmt::format("       -        {:>3}      removed\n", m.role);
    } else if (m.state == MemberState::kFaulty) {
      o += fmt::format("       -        {:>3}      faulty   {}\n", m.role, m.path);
    } else {
      o += fmt::format("    {:>4}        {:>3}      {:<16} {}\n", m.dev_number, m.role, MemberStateName(m.state),
                       m.path);
    }
  }
  return o;
}

std::string FormatExamine(const std::string& path, const Superblock& sb, uint64_t dev_bytes,
                          const std::optional<BitmapHeader>& bitmap) {
  const uint64_t avail = dev_bytes / kSector - sb.data_offset;
  std::string o = fmt::format("{}:\n", path);
  o += fmt::format("          Magic : {:x}\n", kMdMagic);
  o += fmt::format("        Version : 1.2\n");
  o += fmt::format("    Feature Map : {:#x}\n", sb.feature_map);
  o += fmt::format("     Array UUID : {}\n", UuidString(sb.set_uuid));
  o += fmt::format("           Name : {}\n", sb.set_name);
  o += fmt::format("  Creation Time : {}\n", Time(sb.ctime));
  o += fmt::format("     Raid Level : raid{}\n", sb.level);
  o += fmt::format("   Raid Devices : {}\n\n", sb.raid_disks);
  o += fmt::format(" Avail Dev Size : {} sectors ({})\n", avail, Human(avail * kSector));
  o += fmt::format("     Array Size : {} KiB ({})\n", sb.size * (sb.raid_disks - 1) / 2,
                   Human(sb.size * (sb.raid_disks - 1) * kSector));
  o += fmt::format("  Used Dev Size : {} sectors ({})\n", sb.size, Human(sb.size * kSector));
  o += fmt::format("    Data Offset : {} sectors\n", sb.data_offset);
  o += fmt::format("   Super Offset : {} sectors\n", sb.super_offset);
  if (sb.feature_map & kFeatureRecovery) o += fmt::format("Recovery Offset : {} sectors\n", sb.recovery_offset);
  o += fmt::format("          State : {}\n", sb.resync_offset == kMaxSector ? "clean" : "active");
  o += fmt::format("    Device UUID : {}\n\n", UuidString(sb.device_uuid));
  if (sb.feature_map & kFeatureBitmap) o += fmt::format("Internal Bitmap : {} sectors from superblock\n", sb.bitmap_offset);
  o += fmt::format("    Update Time : {}\n", Time(sb.utime));
  const uint32_t csum = SuperblockChecksum(EncodeSuperblock(sb).data(), sb.max_dev);
  o += fmt::format("       Checksum : {:x} - correct\n", csum);
  o += fmt::format("         Events : {}\n\n", sb.events);
  o += fmt::format("         Layout : {}\n", LayoutName(Layout(sb.layout)));
  o += fmt::format("     Chunk Size : {}\n\n", ChunkK(uint64_t(sb.chunksize) * kSector));
  const uint16_t role = sb.OwnRole();
  if (role == kRoleSpare) o += "   Device Role : spare\n";
  else if (role == kRoleFaulty) o += "   Device Role : faulty\n";
  else o += fmt::format("   Device Role : Active device {}\n", role);
  // MD §3.4: per role, A if exactly one device holds it, . if none, R if two.
  std::string letters;
  for (uint32_t d = 0; d < sb.raid_disks; ++d) {
    int cnt = 0;
    for (uint16_t r : sb.dev_roles) cnt += r == d;
    letters += cnt == 0 ? '.' : cnt == 1 ? 'A' : 'R';
  }
  o += fmt::format("   Array State : {} ('A' == active, '.' == missing, 'R' == replacing)\n", letters);
  if (bitmap) {
    o += fmt::format("\n   Bitmap Chunk : {}K, events {} (cleared {})\n", bitmap->chunksize / 1024, bitmap->events,
                     bitmap->events_cleared);
  }
  return o;
}

std::string FormatMdstat(const std::string& name, const ArrayStatus& st, bool running) {
  std::string devs;
  for (auto it = st.members.rbegin(); it != st.members.rend(); ++it) {
    if (it->state == MemberState::kMissing) continue;
    const auto slash = it->path.rfind('/');
    devs += fmt::format(" {}[{}]{}", it->path.substr(slash == std::string::npos ? 0 : slash + 1), it->dev_number,
                        it->state == MemberState::kFaulty ? "(F)" : "");
  }
  int up = 0;
  for (const auto& m : st.members) up += m.state == MemberState::kInSync;
  std::string o = fmt::format("{} : {} raid5{}\n", name, running ? "active" : "inactive", devs);
  o += fmt::format("      {} blocks super 1.2 level 5, {}k chunk, algorithm {} [{}/{}] {}\n", st.array_bytes / 1024,
                   st.chunk_bytes / 1024, int(st.layout), st.raid_disks, up, st.Letters());
  if (st.rebuilding && st.member_bytes) {
    const double frac = double(st.rebuild_done_bytes) / double(st.member_bytes);
    const int bars = int(frac * 20);
    std::string bar = "[" + std::string(size_t(bars), '=') + ">" + std::string(size_t(19 - std::min(bars, 19)), '.') + "]";
    const double speed = st.rebuild_bytes_per_s;
    const double eta_min = speed > 0 ? double(st.member_bytes - st.rebuild_done_bytes) / speed / 60.0 : 0;
    o += fmt::format("      {}  recovery = {:.1f}% ({}/{}) finish={:.1f}min speed={}K/sec\n", bar, frac * 100,
                     st.rebuild_done_bytes / 1024, st.member_bytes / 1024, eta_min, uint64_t(speed / 1024));
  }
  if (st.bitmap) o += fmt::format("      bitmap: {} dirty region(s)\n", st.dirty_bitmap_bits);
  return o + "\n";
}

}  // namespace hafs::raid
