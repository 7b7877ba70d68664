// Array: creation, assembly, superblock maintenance and membership changes.
#include "raid/array.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "common/log.h"
#include "raid/array_internal.h"
#include "raid/bitmap.h"
#include "raid/parity.h"

namespace hafs::raid {

const char* MemberStateName(MemberState s) {
  switch (s) {
    case MemberState::kInSync: return "active sync";
    case MemberState::kRebuilding: return "spare rebuilding";
    case MemberState::kFaulty: return "faulty";
    case MemberState::kMissing: return "removed";
  }
  return "?";
}

std::string ArrayStatus::StateString() const {
  // mdadm --detail wording: "clean", "active", ", degraded", ", recovering", "FAILED".
  std::string s = "clean";
  if (failed) s += ", FAILED";
  else if (degraded) s += ", degraded";
  if (rebuilding) s += ", recovering";
  return s;
}

std::string ArrayStatus::Letters() const {
  std::string s = "[";
  for (const auto& m : members) s += m.state == MemberState::kInSync ? 'U' : '_';
  return s + "]";
}

Result<int> OpenMember(const std::string& path, bool readonly) {
  int fd = ::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, fmt::format("cannot open {}", path));
  return fd;
}

int OpenSyncFd(const std::string& path) { return ::open(path.c_str(), O_RDWR | O_DSYNC | O_CLOEXEC); }

Result<uint64_t> MemberBytes(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat");
  if (S_ISBLK(st.st_mode)) {
    uint64_t b = 0;
    if (ioctl(fd, BLKGETSIZE64, &b) != 0) return Status::FromErrno(errno, "BLKGETSIZE64");
    return b;
  }
  if (!S_ISREG(st.st_mode)) return Status(EINVAL, "not a regular file or block device");
  return uint64_t(st.st_size);
}

Result<Superblock> ReadSuperblock(int fd, const std::string& path) {
  std::vector<uint8_t> raw(4096);
  ssize_t n = pread(fd, raw.data(), raw.size(), kSuperOffsetSectors * kSector);
  if (n < 0) return Status::FromErrno(errno, fmt::format("cannot read superblock of {}", path));
  if (n < 512) return Status(ENOENT, fmt::format("No md superblock detected on {}.", path));
  auto sb = DecodeSuperblock(raw.data(), size_t(n));
  if (!sb.ok()) {
    if (sb.err() == ENOENT) return Status(ENOENT, fmt::format("No md superblock detected on {}.", path));
    return Status(sb.err(), fmt::format("{}: invalid md superblock: {}", path, sb.status().message()));
  }
  return sb;
}

Array::Array() : stripe_locks_(new std::mutex[kStripeLocks]) {}

Array::~Array() {
  Status st = Stop();
  if (!st.ok()) HAFS_LOG_WARN("raid: stop: {}", st.ToString());
  for (int fd : retired_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

Result<std::unique_ptr<Array>> Array::Create(const CreateOptions& opt, const std::vector<std::string>& devs,
                                             bool force) {
  // All checks come before the first byte is written.
  if (opt.raid_devices < 3) return Status(EINVAL, "RAID5 needs at least 3 raid-devices");
  if (int(devs.size()) < opt.raid_devices) {
    return Status(EINVAL, fmt::format("You haven't given enough devices (real or missing) for this array "
                                      "({} listed, raid-devices={}).", devs.size(), opt.raid_devices));
  }
  if (int(devs.size()) > opt.raid_devices) {
    return Status(EINVAL, fmt::format("You have listed more devices ({}) than are in the array({})!",
                                      devs.size(), opt.raid_devices));
  }
  if (opt.raid_devices > int(kMaxDev) / 2) return Status(EINVAL, "too many raid-devices");
  // MD §1: md refuses a chunk that is not a power of two multiple of 4 KiB.
  if (opt.chunk_bytes < 4096 || (opt.chunk_bytes & (opt.chunk_bytes - 1)) != 0) {
    return Status(EINVAL, fmt::format("invalid chunk size {}: must be a power of two, at least 4K",
                                      opt.chunk_bytes));
  }
  if (opt.bitmap_chunk_bytes &&
      (opt.bitmap_chunk_bytes < 4096 || (opt.bitmap_chunk_bytes & (opt.bitmap_chunk_bytes - 1)) != 0)) {
    return Status(EINVAL, "bitmap chunk must be a power of two, at least 4K");
  }
  std::map<std::string, int> seen;
  std::vector<int> fds;
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  std::vector<uint64_t> sizes;
  for (const auto& d : devs) {
    if (seen[d]++) {
      close_all();
      return Status(EINVAL, fmt::format("{} is listed twice", d));
    }
    auto fd = OpenMember(d, false);
    if (!fd.ok()) {
      close_all();
      return fd.status();
    }
    fds.push_back(*fd);
    auto bytes = MemberBytes(*fd);
    if (!bytes.ok()) {
      close_all();
      return Status(bytes.err(), fmt::format("{}: {}", d, bytes.status().message()));
    }
    sizes.push_back(*bytes);
    auto old = ReadSuperblock(*fd, d);
    if (old.ok() && !force) {
      close_all();
      return Status(EEXIST, fmt::format("{} appears to be part of a raid array (uuid {}); use --force to "
                                        "overwrite", d, UuidString(old->set_uuid)));
    }
  }
  const uint64_t chunk_sectors = opt.chunk_bytes / kSector;
  const uint64_t data_offset = DefaultDataOffset(sizes[0] / kSector, chunk_sectors);  // MD §2.1: first member
  uint64_t min_data = UINT64_MAX;
  for (size_t i = 0; i < devs.size(); ++i) {
    const uint64_t sec = sizes[i] / kSector;
    if (sec <= data_offset || (sec - data_offset) * kSector < opt.chunk_bytes) {
      close_all();
      return Status(ENOSPC, fmt::format("{} is too small: {} bytes, need at least {} (data offset {} + one "
                                        "{}K chunk)", devs[i], sizes[i], data_offset * kSector + opt.chunk_bytes,
                                        data_offset * kSector, opt.chunk_bytes / 1024));
    }
    min_data = std::min(min_data, sec - data_offset);
  }
  const uint64_t size_sectors = min_data / chunk_sectors * chunk_sectors;  // MD §2: chunk multiple
  const uint64_t bmspace = BitmapSpaceSectors(sizes[0] / kSector);

  Superblock sb;
  sb.set_uuid = RandomUuid();
  std::string host = opt.homehost;
  if (host.empty()) {
    char h[256] = {};
    gethostname(h, sizeof(h) - 1);
    host = h;
  }
  sb.set_name = opt.name.find(':') == std::string::npos ? host + ":" + opt.name : opt.name;
  if (sb.set_name.size() > 32) sb.set_name = opt.name.substr(0, 32);
  sb.ctime = sb.utime = MdNow();
  sb.level = 5;
  sb.layout = int32_t(opt.layout);
  sb.size = size_sectors;
  sb.chunksize = uint32_t(chunk_sectors);
  sb.raid_disks = uint32_t(opt.raid_devices);
  sb.data_offset = data_offset;
  sb.bblog_size = 8;                          // MD §3.6
  sb.bblog_offset = int32_t(8 + bmspace);     // MD §3.6: after the bitmap space
  sb.events = 1;
  sb.resync_offset = opt.assume_clean ? kMaxSector : 0;  // MD §3.5
  sb.dev_roles.assign(kMaxDev, kRoleSpare);
  for (int i = 0; i < opt.raid_devices; ++i) sb.dev_roles[i] = uint16_t(i);
  BitmapHeader bh;
  if (opt.bitmap && bmspace > 0) {
    sb.feature_map |= kFeatureBitmap;
    sb.bitmap_offset = kBitmapOffsetSectors;  // MD §3.6
    bh.uuid = sb.set_uuid;
    bh.events = sb.events;
    bh.events_cleared = sb.events;
    bh.sync_size = size_sectors;
    bh.chunksize = uint32_t(opt.bitmap_chunk_bytes ? opt.bitmap_chunk_bytes
                                                   : ChooseBitmapChunk(size_sectors * kSector, opt.chunk_bytes,
                                                                       bmspace));
    bh.sectors_reserved = uint32_t(bmspace);
    if ((size_sectors * kSector + bh.chunksize - 1) / bh.chunksize > (bmspace * kSector - 256) * 8) {
      close_all();
      return Status(EINVAL, "bitmap chunk too small: the bitmap does not fit its reserved space");
    }
  }
  for (size_t i = 0; i < devs.size(); ++i) {
    Superblock s = sb;
    s.dev_number = uint32_t(i);
    s.device_uuid = RandomUuid();
    s.data_size = sizes[i] / kSector - data_offset;  // MD §2: dev_sectors - data_offset
    if (s.feature_map & kFeatureBitmap) {
      const uint64_t nbits = (size_sectors * kSector + bh.chunksize - 1) / bh.chunksize;
      std::vector<uint8_t> img((256 + (nbits + 7) / 8 + kSector - 1) / kSector * kSector, 0);
      EncodeBitmapHeader(bh, img.data());
      // A fresh array needs its parity made: every region starts dirty unless assume_clean.
      if (!opt.assume_clean) {
        for (uint64_t b = 0; b < nbits; ++b) img[256 + b / 8] |= uint8_t(1u << (b % 8));
      }
      if (pwrite(fds[i], img.data(), img.size(), (kSuperOffsetSectors + kBitmapOffsetSectors) * kSector) !=
          ssize_t(img.size())) {
        Status st = Status::FromErrno(errno, fmt::format("write bitmap to {}", devs[i]));
        close_all();
        return st;
      }
    }
    auto raw = EncodeSuperblock(s);
    if (pwrite(fds[i], raw.data(), raw.size(), kSuperOffsetSectors * kSector) != ssize_t(raw.size()) ||
        fdatasync(fds[i]) != 0) {
      Status st = Status::FromErrno(errno, fmt::format("write superblock to {}", devs[i]));
      close_all();
      return st;
    }
  }
  close_all();
  AssembleOptions ao;
  ao.resync = false;
  auto arr = Assemble(devs, ao);
  if (!arr.ok()) return arr.status();
  if (!opt.assume_clean) HAFS_RETURN_IF_ERROR((*arr)->ResyncDirty(!(sb.feature_map & kFeatureBitmap)));
  return arr;
}

Result<std::unique_ptr<Array>> Array::Assemble(const std::vector<std::string>& devs, const AssembleOptions& opt) {
  struct Cand {
    std::string path;
    int fd;
    Superblock sb;
    uint64_t bytes;
  };
  std::vector<Cand> cands;
  auto close_all = [&] {
    for (auto& c : cands) ::close(c.fd);
  };
  if (devs.empty()) return Status(EINVAL, "no devices given to assemble");
  for (const auto& d : devs) {
    auto fd = OpenMember(d, opt.readonly);
    if (!fd.ok()) {
      close_all();
      return fd.status();
    }
    auto bytes = MemberBytes(*fd);
    auto sb = ReadSuperblock(*fd, d);
    if (!bytes.ok() || !sb.ok()) {
      ::close(*fd);
      close_all();
      if (!bytes.ok()) return Status(bytes.err(), fmt::format("{}: {}", d, bytes.status().message()));
      return Status(sb.err(), fmt::format("no recogniseable superblock on {}: {}", d, sb.status().message()));
    }
    cands.push_back({d, *fd, *sb, *bytes});
  }
  const Superblock& first = cands[0].sb;
  for (auto& c : cands) {
    const Superblock& s = c.sb;
    // MD §3.3: members combine only if uuid, level, layout, chunk (and for mdadm ctime, size, disks) agree.
    if (s.set_uuid != first.set_uuid) {
      close_all();
      return Status(EINVAL, fmt::format("{} belongs to a different array (UUID {} vs {} on {})", c.path,
                                        UuidString(s.set_uuid), UuidString(first.set_uuid), cands[0].path));
    }
    if (s.level != 5 || s.layout < 0 || s.layout > 3 || s.chunksize != first.chunksize ||
        s.raid_disks != first.raid_disks || s.size != first.size || s.ctime != first.ctime ||
        s.layout != first.layout) {
      close_all();
      return Status(EINVAL, fmt::format("{}: superblock geometry disagrees with {} or is not RAID5 "
                                        "(level {}, layout {}, disks {})", c.path, cands[0].path, s.level,
                                        s.layout, s.raid_disks));
    }
    if (s.chunksize == 0 || (s.chunksize & (s.chunksize - 1)) != 0 || s.chunksize % 8 != 0 ||
        s.raid_disks < 3 || s.size == 0 || s.size % s.chunksize != 0) {
      close_all();
      return Status(EINVAL, fmt::format("{}: superblock has invalid geometry", c.path));
    }
    if ((s.data_offset + s.size) * kSector > c.bytes) {
      close_all();
      return Status(ENOSPC, fmt::format("{} is too small for the array recorded on it", c.path));
    }
  }
  auto fresh = std::max_element(cands.begin(), cands.end(),
                                [](const Cand& a, const Cand& b) { return a.sb.events < b.sb.events; });
  const Superblock proto = fresh->sb;
  const int n = int(proto.raid_disks);

  std::unique_ptr<Array> a(new Array());
  a->readonly_ = opt.readonly;
  a->bitmap_daemon_ms_ = opt.bitmap_daemon_ms;
  a->proto_ = proto;
  a->geo_.n = n;
  a->geo_.k = n - 1;
  a->geo_.chunk = uint64_t(proto.chunksize) * kSector;
  a->geo_.layout = Layout(proto.layout);
  a->geo_.data_offset = proto.data_offset * kSector;
  a->geo_.member_bytes = proto.size * kSector;
  a->geo_.stripes = a->geo_.member_bytes / a->geo_.chunk;
  a->array_bytes_ = a->geo_.member_bytes * uint64_t(n - 1);
  for (int i = 0; i < n; ++i) a->slots_.push_back(std::make_unique<Slot>());
  // Roles come from the freshest superblock (MD §3.4); members more than one event behind are stale.
  // Members the array marked faulty keep their old role as faulty slots, so they can be removed.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& c : cands) {
      if (c.fd < 0) continue;
      const uint16_t role =
          c.sb.dev_number < proto.dev_roles.size() ? proto.dev_roles[c.sb.dev_number] : kRoleSpare;
      if ((role == kRoleFaulty) != (pass == 1)) continue;
      const int slot = role == kRoleFaulty ? int(c.sb.OwnRole()) : int(role);
      std::string why;
      if (role != kRoleFaulty && c.sb.events + 1 < proto.events) {
        why = fmt::format("is out of date (events {} < {})", c.sb.events, proto.events);
      } else if (slot >= n) {
        why = "is not an active member (spare or removed)";
      } else if (a->slots_[slot]->fd >= 0) {
        why = fmt::format("claims role {} which another member holds", slot);
      }
      if (!why.empty()) {
        HAFS_LOG_WARN("raid: not using {}: {}", c.path, why);
        ::close(c.fd);
        c.fd = -1;
        continue;
      }
      Slot& s = *a->slots_[slot];
      s.fd = c.fd;
      c.fd = -1;
      s.path = c.path;
      if (!opt.readonly) s.sync_fd = OpenSyncFd(c.path);
      s.sb = c.sb;
      if (role == kRoleFaulty) {
        s.state = int(MemberState::kFaulty);
      } else if (c.sb.feature_map & kFeatureRecovery) {
        s.rebuilt = c.sb.recovery_offset * kSector / a->geo_.chunk;  // MD §3.2: resume recovery
        s.state = int(MemberState::kRebuilding);
      } else {
        s.state = int(MemberState::kInSync);
      }
    }
  }
  std::erase_if(cands, [](const Cand& c) { return c.fd < 0; });
  int missing = 0, rebuilding = 0;
  for (auto& s : a->slots_) {
    missing += s->st() == MemberState::kMissing || s->st() == MemberState::kFaulty;
    rebuilding += s->st() == MemberState::kRebuilding;
  }
  if (missing + rebuilding >= 2) {
    return Status(EIO, fmt::format("not enough operational devices to start the array ({} of {} in sync)",
                                   n - missing - rebuilding, n));
  }
  const bool dirty = proto.resync_offset != kMaxSector;
  if (dirty && missing + rebuilding > 0 && !opt.force) {
    // MD §3.5: md refuses a dirty degraded RAID5 — its parity cannot be trusted to rebuild.
    return Status(EIO, "cannot start dirty degraded array (use --force to start it anyway)");
  }
  if (proto.feature_map & kFeatureBitmap) {
    const Slot* src = nullptr;
    for (auto& s : a->slots_) {
      if (s->st() == MemberState::kInSync && (!src || s->sb.events > src->sb.events)) src = s.get();
    }
    if (!src) return Status(EIO, "no in-sync member to read the write-intent bitmap from");
    const uint64_t bm_off = (kSuperOffsetSectors + kBitmapOffsetSectors) * kSector;  // MD §3.6
    std::vector<uint8_t> raw(256);
    if (pread(src->fd, raw.data(), 256, off_t(bm_off)) != 256) return Status(EIO, "cannot read the write-intent bitmap");
    auto bh = DecodeBitmapHeader(raw.data());
    if (!bh.ok()) return Status(bh.err(), fmt::format("{}: {}", src->path, bh.status().message()));
    bh->sync_size = proto.size;
    const uint64_t nbits = (proto.size * kSector + bh->chunksize - 1) / bh->chunksize;
    if (256 + (nbits + 7) / 8 > bh->sectors_reserved * kSector ||
        bm_off + bh->sectors_reserved * kSector > a->geo_.data_offset) {
      return Status(EINVAL, "write-intent bitmap larger than its reserved space");
    }
    raw.resize(256 + (nbits + 7) / 8);
    if (pread(src->fd, raw.data(), raw.size(), off_t(bm_off)) != ssize_t(raw.size())) {
      return Status(EIO, "cannot read the write-intent bitmap");
    }
    std::vector<uint8_t> bits(raw.begin() + 256, raw.begin() + 256 + long((nbits + 7) / 8));
    Array* self = a.get();
    a->bitmap_ = std::make_unique<WriteIntentBitmap>(
        *bh, std::move(bits), [self](const std::vector<uint8_t>& img) { return self->WriteBitmapToMembers(img); });
  }
  if (!opt.readonly) {
    HAFS_RETURN_IF_ERROR(a->SyncSuperblocks(/*clean=*/false));
    if (dirty && opt.resync && missing + rebuilding == 0) {
      HAFS_LOG_INFO("raid: array was not shut down cleanly, resyncing {}",
                    a->bitmap_ ? "dirty bitmap regions" : "everything");
      HAFS_RETURN_IF_ERROR(a->ResyncDirty(!a->bitmap_));
    }
    if (a->bitmap_) a->bitmap_thread_ = std::thread([self = a.get()] { self->BitmapLoop(); });
    for (int r = 0; r < n; ++r) {
      if (a->slots_[r]->st() == MemberState::kRebuilding) {
        a->rebuild_role_ = r;
        a->rebuild_thread_ = std::thread([self = a.get()] { self->RebuildLoop(); });
      }
    }
  }
  return a;
}

Status Array::WriteBitmapToMembers(const std::vector<uint8_t>& image) {
  if (readonly_) return Status::Ok();
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> g(sb_mu_);
    for (auto& s : slots_) {
      if (s->st() == MemberState::kInSync || s->st() == MemberState::kRebuilding) fds.push_back(s->sync_fd);
    }
  }
  int ok = 0;
  for (int fd : fds) {
    // The bit must be durable before the data it covers is written (power loss, not only
    // kill -9): sync_fd is O_DSYNC, so the write returns once the bitmap block is stable.
    if (pwrite(fd, image.data(), image.size(), (kSuperOffsetSectors + kBitmapOffsetSectors) * kSector) ==
        ssize_t(image.size())) {
      ++ok;
    }
  }
  if (ok == 0) return Status(EIO, "cannot write the write-intent bitmap to any member");
  return Status::Ok();
}

Status Array::SyncSuperblocks(bool clean) {
  std::lock_guard<std::mutex> g(sb_mu_);
  return SyncSuperblocksLocked(clean);
}

Status Array::SyncSuperblocksLocked(bool clean) {
  if (readonly_) return Status::Ok();
  // MD §3.4 super_1_sync: rewrite the whole roles table from the current membership.
  std::vector<uint16_t> roles(kMaxDev, kRoleSpare);
  for (int r = 0; r < geo_.n; ++r) {
    const Slot& s = *slots_[r];
    if (s.st() == MemberState::kMissing) continue;
    roles[s.sb.dev_number] = s.st() == MemberState::kFaulty ? kRoleFaulty : uint16_t(r);
  }
  proto_.dev_roles = roles;
  proto_.events++;
  proto_.utime = MdNow();
  proto_.resync_offset = clean ? kMaxSector : 0;
  if (bitmap_) {
    proto_.feature_map |= kFeatureBitmap;
    bitmap_->SetEvents(proto_.events);
  }
  int written = 0;
  for (int r = 0; r < geo_.n; ++r) {
    Slot& s = *slots_[r];
    if (s.st() != MemberState::kInSync && s.st() != MemberState::kRebuilding) continue;
    Superblock sb = proto_;
    sb.dev_number = s.sb.dev_number;
    sb.device_uuid = s.sb.device_uuid;
    sb.data_size = s.sb.data_size;
    sb.cnt_corrected_read = s.sb.cnt_corrected_read;
    sb.feature_map &= ~kFeatureRecovery;
    sb.recovery_offset = 0;
    if (s.st() == MemberState::kRebuilding) {
      sb.feature_map |= kFeatureRecovery;  // MD §3.4: recovering member carries its offset
      sb.recovery_offset = s.rebuilt.load() * geo_.chunk / kSector;
    }
    auto raw = EncodeSuperblock(sb);
    if ((inject_fault_mask_ & (1u << r)) ||
        pwrite(s.sync_fd, raw.data(), raw.size(), kSuperOffsetSectors * kSector) != ssize_t(raw.size())) {
      HAFS_LOG_ERROR("raid: cannot write superblock to {} (role {})", s.path, r);
      continue;
    }
    s.sb = sb;
    ++written;
  }
  if (written == 0) return Status(EIO, "no member accepted the superblock update");
  return Status::Ok();
}

int Array::UnavailableCount() const {
  int bad = 0;
  for (auto& s : slots_) bad += s->st() != MemberState::kInSync;
  return bad;
}

void Array::MarkFaulty(int role, const std::string& why) {
  std::lock_guard<std::mutex> g(sb_mu_);
  Slot& s = *slots_[role];
  const MemberState was = s.st();
  if (was == MemberState::kFaulty || was == MemberState::kMissing) return;
  s.state = int(MemberState::kFaulty);
  if (was == MemberState::kRebuilding) rebuild_role_ = -1;
  // A rebuilding member still lacks its not-yet-rebuilt stripes, so it counts as unavailable.
  const bool failed = UnavailableCount() >= 2;
  HAFS_LOG_ERROR("raid: member {} (role {}) marked faulty: {}{}", s.path, role, why,
                 failed ? " - array has FAILED, writes stopped" : ", continuing degraded");
  if (failed) failed_ = true;
  Status st = SyncSuperblocksLocked(false);
  if (!st.ok()) HAFS_LOG_ERROR("raid: superblock update after failure: {}", st.ToString());
}

Status Array::Fail(const std::string& path) {
  for (int r = 0; r < geo_.n; ++r) {
    if (slots_[r]->path == path && slots_[r]->st() != MemberState::kMissing) {
      if (slots_[r]->st() == MemberState::kFaulty) return Status::Ok();
      MarkFaulty(r, "set faulty by request");
      return Status::Ok();
    }
  }
  return Status(ENODEV, fmt::format("{} is not a member of this array", path));
}

Status Array::Remove(const std::string& path) {
  std::lock_guard<std::mutex> g(sb_mu_);
  for (int r = 0; r < geo_.n; ++r) {
    Slot& s = *slots_[r];
    if (s.path != path || s.st() == MemberState::kMissing) continue;
    if (s.st() != MemberState::kFaulty) {
      return Status(EBUSY, fmt::format("hot remove failed for {}: Device or resource busy (fail it first)", path));
    }
    s.state = int(MemberState::kMissing);
    // Keep the descriptors open until the array goes away: a request planned just before
    // the failure must never reach a device that a later --add opened under the same number.
    retired_fds_.push_back(s.fd);
    retired_fds_.push_back(s.sync_fd);
    s.fd = s.sync_fd = -1;
    s.path.clear();
    return SyncSuperblocksLocked(false);
  }
  return Status(ENODEV, fmt::format("{} is not a member of this array", path));
}

Status Array::Add(const std::string& path) {
  if (readonly_) return Status(EROFS, "array is read-only");
  if (failed_) return Status(EIO, "array has failed; cannot rebuild");
  std::unique_lock<std::mutex> g(sb_mu_);
  int role = -1;
  uint32_t next_dev = 0;
  for (int r = 0; r < geo_.n; ++r) {
    const Slot& s = *slots_[r];
    if (s.path == path && s.st() != MemberState::kMissing) return Status(EEXIST, fmt::format("{} is already a member", path));
    if (s.st() == MemberState::kMissing && role < 0) role = r;
    next_dev = std::max(next_dev, s.sb.dev_number + 1);
  }
  for (uint32_t i = 0; i < proto_.dev_roles.size(); ++i) {
    if (proto_.dev_roles[i] != kRoleSpare) next_dev = std::max(next_dev, i + 1);
  }
  if (role < 0) {
    for (int r = 0; r < geo_.n; ++r) {
      if (slots_[r]->st() == MemberState::kFaulty) {
        return Status(EBUSY, fmt::format("no free role: remove the faulty {} first", slots_[r]->path));
      }
    }
    return Status(EBUSY, "array is complete; spares are not supported");
  }
  if (rebuild_role_ >= 0) return Status(EBUSY, "a rebuild is already running");
  auto fd = OpenMember(path, false);
  if (!fd.ok()) return fd.status();
  auto bytes = MemberBytes(*fd);
  if (!bytes.ok() || *bytes < geo_.data_offset + geo_.member_bytes) {
    ::close(*fd);
    return Status(ENOSPC, fmt::format("{} is too small: need at least {} bytes", path, geo_.data_offset + geo_.member_bytes));
  }
  Slot& s = *slots_[role];
  s.fd = *fd;
  s.sync_fd = OpenSyncFd(path);
  s.path = path;
  s.sb = proto_;
  s.sb.dev_number = next_dev;
  s.sb.device_uuid = RandomUuid();
  s.sb.data_size = *bytes / kSector - proto_.data_offset;
  s.sb.events = proto_.events;
  s.rebuilt = 0;
  s.state = int(MemberState::kRebuilding);
  HAFS_RETURN_IF_ERROR(SyncSuperblocksLocked(false));
  g.unlock();
  if (bitmap_) {
    std::vector<uint8_t> img;
    img = bitmap_->ImageLocked();
    HAFS_RETURN_IF_ERROR(WriteBitmapToMembers(img));
  }
  if (rebuild_thread_.joinable()) rebuild_thread_.join();
  rebuild_role_ = role;
  HAFS_LOG_INFO("raid: added {} as role {}, rebuilding", path, role);
  rebuild_thread_ = std::thread([this] { RebuildLoop(); });
  return Status::Ok();
}

Status Array::Stop() {
  stop_ = true;
  bg_cv_.notify_all();
  if (rebuild_thread_.joinable()) rebuild_thread_.join();
  if (bitmap_thread_.joinable()) bitmap_thread_.join();
  if (readonly_ || slots_.empty()) return Status::Ok();
  Status st = Flush();
  if (bitmap_ && st.ok()) {
    // Everything is on disk: no region needs a resync any more.
    st = bitmap_->ClearBits(bitmap_->DirtyBits());
  }
  Status sb = SyncSuperblocks(/*clean=*/st.ok() && !failed_);
  readonly_ = true;  // a second Stop (destructor) writes nothing
  return st.ok() ? sb : st;
}

ArrayStatus Array::GetStatus() const {
  std::lock_guard<std::mutex> g(sb_mu_);
  ArrayStatus st;
  const auto colon = proto_.set_name.find(':');
  st.name = colon == std::string::npos ? proto_.set_name : proto_.set_name.substr(colon + 1);
  st.uuid = proto_.set_uuid;
  st.layout = geo_.layout;
  st.chunk_bytes = geo_.chunk;
  st.raid_disks = geo_.n;
  st.member_bytes = geo_.member_bytes;
  st.array_bytes = array_bytes_;
  st.data_offset_bytes = geo_.data_offset;
  st.events = proto_.events;
  st.ctime = proto_.ctime;
  st.utime = proto_.utime;
  st.bitmap = bitmap_ != nullptr;
  st.failed = failed_;
  for (int r = 0; r < geo_.n; ++r) {
    const Slot& s = *slots_[r];
    st.members.push_back({r, s.path, s.st(), s.sb.dev_number});
    if (s.st() != MemberState::kInSync) st.degraded = true;
    if (s.st() == MemberState::kRebuilding) {
      st.rebuilding = true;
      st.rebuild_role = r;
      st.rebuild_done_bytes = s.rebuilt.load() * geo_.chunk;
    }
  }
  st.rebuild_bytes_per_s = rebuild_rate_.load();
  st.dirty_bitmap_bits = bitmap_ ? bitmap_->DirtyCount() : 0;
  return st;
}

}  // namespace hafs::raid
