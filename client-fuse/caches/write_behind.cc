#include "client-fuse/caches/write_behind.h"

#include <algorithm>
#include <cstdlib>

#include "common/log.h"
#include "common/thread_name.h"

namespace hafs::client {

namespace {

bool Overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

Status LatchedStatus(int err) {
  return Status(err, fmt::format("an earlier write of this file failed after it was acknowledged: {}",
                                 std::strerror(err)));
}

// How many unsent ops of one file a sender looks at when choosing (bounds the scan).
constexpr int kScanUnsent = 32;

}  // namespace

bool WriteBehindLayer::EnabledByEnv() {
  const char* env = std::getenv("HAFS_WRITE_BEHIND");
  return !(env && std::string(env) == "0");
}

WriteBehindLayer::WriteBehindLayer(Layer& lower, Options options) : ForwardingLayer(lower), options_(options) {
  options_.threads = std::max(1, options_.threads);
  options_.window_per_file = std::max<size_t>(options_.window_per_file, 1);
  options_.window_total = std::max(options_.window_total, options_.window_per_file);
  options_.max_ops_per_file = std::max<size_t>(options_.max_ops_per_file, 1);
  for (int i = 0; i < options_.threads; ++i) senders_.emplace_back([this] { SenderLoop(); });
}

WriteBehindLayer::~WriteBehindLayer() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  // The senders leave only once every queued write has been sent.
  for (auto& t : senders_) t.join();
  std::lock_guard lk(mu_);
  HAFS_LOG_INFO("write-behind: {} writes acknowledged early ({} merged), {} synchronous, {} sent ({} by a close), "
                "{} failed, {} waited for room, at most {} in flight",
                stats_.acked_early, stats_.merged, stats_.sync, stats_.sent, stats_.sent_by_close, stats_.failed,
                stats_.window_waits, stats_.max_in_flight);
  for (auto& [g, e] : errors_)
    HAFS_LOG_WARN("write-behind: {}: a failed write was never reported (file not closed): {}", g.ToString(),
                  std::strerror(e));
}

void WriteBehindLayer::SetWindow(size_t per_file) {
  if (per_file == 0) return;
  std::lock_guard lk(mu_);
  options_.window_per_file = per_file;
  options_.window_total = std::max(options_.window_total, per_file);
  done_cv_.notify_all();
}

WriteBehindLayer::Stats WriteBehindLayer::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

size_t WriteBehindLayer::pending_bytes() const {
  std::lock_guard lk(mu_);
  return total_bytes_;
}

bool WriteBehindLayer::PickInFileLocked(File& f, std::list<Op>::iterator* op) {
  int looked = 0;
  for (auto it = f.ops.begin(); it != f.ops.end() && looked < kScanUnsent; ++it) {
    if (it->sent) continue;
    ++looked;
    if (it->append && it != f.ops.begin()) return false;  // a barrier: everything before it first
    bool blocked = false;
    for (auto p = f.ops.begin(); p != it && !blocked; ++p)
      blocked = p->append || Overlaps(p->start, p->end, it->start, it->end);
    if (blocked) {
      if (it->append) return false;
      continue;
    }
    *op = it;
    return true;  // the oldest sendable op of this file
  }
  return false;
}

bool WriteBehindLayer::PickLocked(Gfid* gfid, std::list<Op>::iterator* op) {
  if (total_unsent_ == 0) return false;
  bool found = false;
  for (auto& [g, f] : files_) {
    if (f.unsent == 0) continue;
    std::list<Op>::iterator it;
    if (PickInFileLocked(f, &it) && (!found || it->seq < (*op)->seq)) {
      found = true;
      *gfid = g;
      *op = it;
    }
  }
  return found;
}

void WriteBehindLayer::SenderLoop() {
  NameThisThread("write-behind");
  std::unique_lock lk(mu_);
  for (;;) {
    Gfid g;
    std::list<Op>::iterator it;
    if (!PickLocked(&g, &it)) {
      if (stopping_ && total_unsent_ == 0) {
        work_cv_.notify_all();  // the other senders leave too
        return;
      }
      work_cv_.wait(lk);
      continue;
    }
    SendLocked(lk, g, it);
  }
}

void WriteBehindLayer::SendLocked(std::unique_lock<std::mutex>& lk, const Gfid& g, std::list<Op>::iterator it) {
  File& f = files_[g];
  it->sent = true;
  f.unsent--;
  total_unsent_--;
  in_flight_++;
  stats_.max_in_flight = std::max(stats_.max_in_flight, in_flight_);
  stats_.sent++;
  const uint64_t start = it->start;
  const size_t size = it->data.size();
  proto::WriteRequest req;
  req.set_gfid(g.Bytes());
  req.set_offset(start);
  req.set_append(it->append);
  *req.mutable_data() = std::move(it->data);  // no copy: the bytes are not needed again
  lk.unlock();
  int err = 0;
  try {
    auto res = below_.Write(std::move(req)).get();
    if (!res.ok()) {
      err = res.err() ? res.err() : EIO;
      HAFS_LOG_WARN("write-behind: {} write of {} bytes at {} failed: {}", g.ToString(), size, start,
                    res.status().ToString());
    } else if (res->written() != size) {
      // A short write means the bricks ran out of room (a caller of write(2) would get ENOSPC
      // at the next call); the rest is not written, so it is an error, never silence.
      err = ENOSPC;
      HAFS_LOG_WARN("write-behind: {} write of {} bytes at {}: only {} written; reported as ENOSPC",
                    g.ToString(), size, start, res->written());
    }
  } catch (const std::exception& e) {
    HAFS_LOG_WARN("write-behind: {} write failed: {}", g.ToString(), e.what());
    err = EIO;
  }
  lk.lock();
  if (err) {
    stats_.failed++;
    errors_.emplace(g, err);  // the first error stays until it is reported
  }
  File& f2 = files_[g];
  f2.bytes -= size;
  total_bytes_ -= size;
  f2.ops.erase(it);
  // The end of this write may let later ones of the file go: a sender takes one at the top of
  // its loop; wake the others only when more could be waiting.
  bool more = f2.unsent > 1;
  if (f2.ops.empty()) files_.erase(g);
  in_flight_--;
  done_cv_.notify_all();
  if (more) work_cv_.notify_all();
}

void WriteBehindLayer::WaitLocked(std::unique_lock<std::mutex>& lk, const Gfid& gfid, uint64_t upto) {
  for (;;) {
    auto it = files_.find(gfid);
    if (it == files_.end() || it->second.ops.empty() || it->second.ops.front().seq > upto) return;
    done_cv_.wait(lk);
  }
}

void WriteBehindLayer::Wait(const Gfid& gfid) {
  std::unique_lock lk(mu_);
  if (files_.empty()) return;
  WaitLocked(lk, gfid, next_seq_ - 1);
}

void WriteBehindLayer::WaitGfid(const std::string& raw) {
  if (auto g = Gfid::FromBytes(raw)) Wait(*g);
}

void WriteBehindLayer::WaitAll() {
  std::unique_lock lk(mu_);
  uint64_t upto = next_seq_ - 1;
  for (;;) {
    bool pending = false;
    for (auto& [g, f] : files_)
      if (!f.ops.empty() && f.ops.front().seq <= upto) pending = true;
    if (!pending) return;
    done_cv_.wait(lk);
  }
}

void WriteBehindLayer::WaitAllIfAny() {
  {
    std::lock_guard lk(mu_);
    if (files_.empty()) return;
  }
  WaitAll();
}

int WriteBehindLayer::TakeError(const Gfid& gfid) {
  auto it = errors_.find(gfid);
  if (it == errors_.end()) return 0;
  int e = it->second;
  errors_.erase(it);
  return e;
}

Status WriteBehindLayer::Flush(const Gfid& gfid) {
  std::unique_lock lk(mu_);
  // close waits for the file's writes: what no sender has taken yet, this thread sends itself
  // rather than wait for a sender to wake (a 4 KiB file's create + write + close), or to be
  // done with other files' writes.
  for (;;) {
    auto fit = files_.find(gfid);
    std::list<Op>::iterator it;
    if (fit == files_.end() || fit->second.unsent == 0 || !PickInFileLocked(fit->second, &it)) break;
    stats_.sent_by_close++;
    SendLocked(lk, gfid, it);
  }
  WaitLocked(lk, gfid, next_seq_ - 1);
  if (int e = TakeError(gfid)) return LatchedStatus(e);
  return Status::Ok();
}

Status WriteBehindLayer::FlushBehind(const Gfid& gfid) {
  std::lock_guard lk(mu_);
  if (int e = TakeError(gfid)) return LatchedStatus(e);
  return Status::Ok();
}

// ---- writes ----

Future<proto::WriteReply> WriteBehindLayer::Write(proto::WriteRequest req) {
  auto g = Gfid::FromBytes(req.gfid());
  if (!g) return below_.Write(std::move(req));
  size_t size = req.data().size();
  std::unique_lock lk(mu_);
  if (int e = TakeError(*g)) return Ready<proto::WriteReply>(LatchedStatus(e));
  if (size == 0 || req.datasync() || size > options_.window_per_file || stopping_) {
    // Synchronous, after everything earlier of this file.
    stats_.sync++;
    WaitLocked(lk, *g, next_seq_ - 1);
    if (int e = TakeError(*g)) return Ready<proto::WriteReply>(LatchedStatus(e));
    lk.unlock();
    return below_.Write(std::move(req));
  }
  bool waited = false;
  for (;;) {
    auto it = files_.find(*g);
    size_t fbytes = it == files_.end() ? 0 : it->second.bytes;
    size_t fops = it == files_.end() ? 0 : it->second.ops.size();
    if (fbytes + size <= options_.window_per_file && total_bytes_ + size <= options_.window_total &&
        fops < options_.max_ops_per_file)
      break;
    waited = true;
    done_cv_.wait(lk);
    // A write that failed meanwhile is reported to this one (which is then not done).
    if (int e = TakeError(*g)) return Ready<proto::WriteReply>(LatchedStatus(e));
  }
  if (waited) stats_.window_waits++;
  File& f = files_[*g];
  f.bytes += size;
  total_bytes_ += size;
  stats_.acked_early++;
  proto::WriteReply reply;
  reply.set_written(static_cast<uint32_t>(size));
  if (!req.append() && !f.ops.empty()) {
    Op& last = f.ops.back();
    if (!last.sent && !last.append && last.end == req.offset() && last.data.size() + size <= options_.aggregate_max) {
      last.data += req.data();
      last.end += size;
      stats_.merged++;
      return Ready<proto::WriteReply>(std::move(reply));
    }
  }
  Op op;
  op.seq = next_seq_++;
  op.append = req.append();
  op.start = op.append ? 0 : req.offset();
  op.end = op.append ? UINT64_MAX : req.offset() + size;
  op.data = std::move(*req.mutable_data());
  f.ops.push_back(std::move(op));
  f.unsent++;
  total_unsent_++;
  lk.unlock();
  work_cv_.notify_one();
  return Ready<proto::WriteReply>(std::move(reply));
}

Future<proto::ErrReply> WriteBehindLayer::Fsync(proto::FsyncRequest req) {
  if (auto g = Gfid::FromBytes(req.gfid())) {
    Status s = Flush(*g);
    if (!s.ok()) return Ready<proto::ErrReply>(s);
  }
  return below_.Fsync(std::move(req));
}

// ---- operations that observe or change the file: its pending writes first ----

Future<proto::AttrReply> WriteBehindLayer::Getattr(proto::GfidRequest req) {
  WaitGfid(req.gfid());
  return below_.Getattr(std::move(req));
}
Future<proto::AttrReply> WriteBehindLayer::Setattr(proto::SetattrRequest req) {
  WaitGfid(req.gfid());
  return below_.Setattr(std::move(req));
}
Future<proto::ReadReply> WriteBehindLayer::Read(proto::ReadRequest req) {
  WaitGfid(req.gfid());
  return below_.Read(std::move(req));
}
Future<proto::AttrReply> WriteBehindLayer::Fallocate(proto::FallocateRequest req) {
  WaitGfid(req.gfid());
  return below_.Fallocate(std::move(req));
}
Future<proto::EntryReply> WriteBehindLayer::Link(proto::LinkRequest req) {
  WaitGfid(req.gfid());
  return below_.Link(std::move(req));
}
Future<proto::ErrReply> WriteBehindLayer::Setxattr(proto::SetxattrRequest req) {
  WaitGfid(req.gfid());
  return below_.Setxattr(std::move(req));
}
Future<proto::XattrReply> WriteBehindLayer::Getxattr(proto::GetxattrRequest req) {
  // The kernel asks for security.capability before every write(2) (to drop a file capability
  // the write would void); waiting there would flush write-behind at every write. Pending
  // writes do not change xattrs; a removal the kernel then asks for (removexattr) waits.
  if (req.name() != "security.capability") WaitGfid(req.gfid());
  return below_.Getxattr(std::move(req));
}
Future<proto::ListxattrReply> WriteBehindLayer::Listxattr(proto::GfidRequest req) {
  WaitGfid(req.gfid());
  return below_.Listxattr(std::move(req));
}
Future<proto::ErrReply> WriteBehindLayer::Removexattr(proto::RemovexattrRequest req) {
  WaitGfid(req.gfid());
  return below_.Removexattr(std::move(req));
}

// By name: the gfid is not known before the call, so every pending write goes first (only
// when there are any).
Future<proto::EntryReply> WriteBehindLayer::Unlink(proto::NameRequest req) {
  WaitAllIfAny();
  return below_.Unlink(std::move(req));
}
Future<proto::RenameReply> WriteBehindLayer::Rename(proto::RenameRequest req) {
  WaitAllIfAny();
  return below_.Rename(std::move(req));
}
Future<proto::ReaddirReply> WriteBehindLayer::Readdir(proto::ReaddirRequest req) {
  WaitAllIfAny();  // readdirplus carries sizes
  return below_.Readdir(std::move(req));
}

// A lookup's reply carries the size: when it names a file with pending writes, those are
// sent and the lookup asked again.
Future<proto::EntryReply> WriteBehindLayer::Lookup(proto::EntryRequest req) {
  {
    std::lock_guard lk(mu_);
    if (files_.empty()) return below_.Lookup(std::move(req));
  }
  return Deferred([this, req = std::move(req)]() -> Result<proto::EntryReply> {
    auto res = below_.Lookup(req).get();
    if (!res.ok()) return res;
    auto g = Gfid::FromBytes(res->attr().gfid());
    if (!g) return res;
    {
      std::unique_lock lk(mu_);
      auto it = files_.find(*g);
      if (it == files_.end()) return res;
      WaitLocked(lk, *g, next_seq_ - 1);
    }
    return below_.Lookup(req).get();
  });
}

}  // namespace hafs::client
