// WriteBehindLayer: acknowledges writes at once and sends them to the layer below from
// background threads, several at a time (issue 3; as GlusterFS write-behind with
// flush-behind off). See docs/client.md, "Write-behind".
//
// - A write that fits the file's window (Options::window_per_file, mount option
//   write-behind-window-size, default 4 MiB) and the global cap (window_total, 64 MiB) is
//   copied and answered "written" at once; otherwise it waits for room. Writes larger than
//   the window, O_DSYNC writes and empty writes go through synchronously (after the file's
//   pending writes).
// - Order: a write is sent only when no earlier pending write of the file overlaps it;
//   O_APPEND writes are barriers (sent alone, after every earlier write, before every later
//   one). Non-overlapping writes of one file are in flight at once (up to `threads` over all
//   files). A queued write that continues the file's last queued, unsent write is merged
//   into it (up to aggregate_max).
// - Anything that observes or changes the file other than a write (read, getattr, setattr,
//   fallocate, fsync, xattrs, link, a lookup answering its gfid) first waits for its pending
//   writes; unlink, rename, rmdir and readdir wait for every file's pending writes (when any).
// - Errors: a failed background write latches its errno on the file (gfid); the next write,
//   fsync or Flush (close) of that file returns it, once. Later writes already queued are
//   still sent. Flush waits for the file's pending writes (close is never "behind"), and sends
//   on its own thread those that no sender has taken yet.
//
// Thread-safety: as Layer. The layer below must outlive this one; the destructor sends every
// pending write (bounded by the lower layer's own timeouts) before returning.
#pragma once

#include <condition_variable>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client-fuse/caches/forwarding_layer.h"

namespace hafs::client {

class WriteBehindLayer final : public ForwardingLayer {
 public:
  struct Options {
    size_t window_per_file = 4u << 20;  // bytes acknowledged but not yet written, per file
    size_t window_total = 64u << 20;    // the same over all files
    size_t aggregate_max = 1u << 20;    // adjacent queued writes merge up to this size
    size_t max_ops_per_file = 256;      // queued + in flight writes per file
    int threads = 8;                    // background senders: writes in flight at once
  };
  WriteBehindLayer(Layer& lower, Options options);
  ~WriteBehindLayer() override;

  // HAFS_WRITE_BEHIND=0 in the environment switches the layer off (Graph leaves it out).
  static bool EnabledByEnv();

  // The operations it handles; the others pass through (ForwardingLayer).
  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override;
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override;
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override;
  Future<proto::EntryReply> Link(proto::LinkRequest req) override;
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override;
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override;
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override;
  Future<proto::ReadReply> Read(proto::ReadRequest req) override;
  Future<proto::WriteReply> Write(proto::WriteRequest req) override;
  Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) override;
  Future<proto::ErrReply> Fsync(proto::FsyncRequest req) override;
  Future<proto::ErrReply> Setxattr(proto::SetxattrRequest req) override;
  Future<proto::XattrReply> Getxattr(proto::GetxattrRequest req) override;
  Future<proto::ListxattrReply> Listxattr(proto::GfidRequest req) override;
  Future<proto::ErrReply> Removexattr(proto::RemovexattrRequest req) override;

  // close(2) (FUSE flush): waits for the file's pending writes; returns the latched error of
  // a failed background write (and clears it) or OK.
  Status Flush(const Gfid& gfid);
  // close(2) with flush-behind: the latched error (cleared) or OK, without waiting.
  Status FlushBehind(const Gfid& gfid);
  // Waits for the file's pending writes, leaving a latched error for the next write, fsync or
  // close (release, and operations that only observe the file).
  void Wait(const Gfid& gfid);
  // Waits for every pending write that exists when called.
  void WaitAll();
  // The window per file (mount option); 0 keeps the current value.
  void SetWindow(size_t per_file);

  struct Stats {
    size_t acked_early = 0;   // writes answered before they were sent
    size_t sync = 0;          // writes sent synchronously (too large, O_DSYNC, ...)
    size_t merged = 0;        // writes merged into an earlier queued one
    size_t sent = 0;          // writes sent to the layer below from the background
    size_t sent_by_close = 0; // of those, sent by a close's own thread (no sender had them)
    size_t failed = 0;        // of those, failed (error latched)
    size_t window_waits = 0;  // writes that waited for room in a window
    size_t max_in_flight = 0; // most background writes in flight at once
  };
  Stats stats() const;
  size_t pending_bytes() const;

 private:
  struct Op {
    uint64_t seq = 0;
    uint64_t start = 0, end = 0;  // byte range [start, end); append: the whole file
    bool append = false;
    bool sent = false;
    std::string data;
  };
  struct File {
    std::list<Op> ops;  // pending (queued and in flight) in the application's order
    size_t bytes = 0;
    size_t unsent = 0;
  };
  // Under mu_: the first unsent op of any file that may go now (no earlier overlap); of one file.
  bool PickLocked(Gfid* gfid, std::list<Op>::iterator* op);
  bool PickInFileLocked(File& f, std::list<Op>::iterator* op);
  void SenderLoop();
  // Sends op `it` of file g (lk held on entry and on return; released while it is sent).
  void SendLocked(std::unique_lock<std::mutex>& lk, const Gfid& g, std::list<Op>::iterator it);
  // Under lk: waits until gfid has no pending op with seq <= upto.
  void WaitLocked(std::unique_lock<std::mutex>& lk, const Gfid& gfid, uint64_t upto);
  void WaitGfid(const std::string& raw);
  void WaitAllIfAny();
  int TakeError(const Gfid& gfid);

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // an op became sendable / stopping
  std::condition_variable done_cv_;  // an op finished (room, flushes)
  std::unordered_map<Gfid, File, GfidHash> files_;  // only files with pending ops
  std::unordered_map<Gfid, int, GfidHash> errors_;  // latched errno per file
  size_t total_bytes_ = 0;
  size_t total_unsent_ = 0;
  size_t in_flight_ = 0;
  uint64_t next_seq_ = 1;
  bool stopping_ = false;
  Stats stats_;
  std::vector<std::thread> senders_;
};

}  // namespace hafs::client
