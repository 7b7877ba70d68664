// ContentCache: a coherent client-side cache of the content of small regular files (issue 3,
// "quick read" grown into a cache that outlives the kernel's timeouts and drop_caches).
//
// Stack position: above md_cache (or distribute), below write_behind (docs/client.md, "Quick
// read and the content cache").
//
// - Keeps the whole content of regular files of at most `max_file` bytes, per gfid, together
//   with the attributes it was read with (size, mtime, ctime). Filled from Lookup replies that
//   carry data (EntryRequest.want_data) and from Read replies that cover a whole small file;
//   a Read of a cached gfid is answered from memory.
// - Lookup: when the name's content is cached, the lookup goes down WITHOUT want_data (no read
//   on the brick) and the cached content is attached to the reply if the reply's gfid and
//   attributes still match. A lookup that wants data and gets an attr-only reply (md_cache hit)
//   gets the cached content when the attributes match; without it nothing more is asked: the
//   content is read (whole file, one round trip to one brick) only when the file is read.
//   Lookups ask for content only in directories where files were read (only_where_read).
// - Coherence: an entry is dropped on any Invalidate of its gfid (or its parent+name), on
//   "drop everything" (empty gfid and parent), on this client's own changes of its content
//   (write, setattr of the size, fallocate, unlink, being renamed over) before and after they
//   run, and when attributes seen later differ; its own rename of the file, or setattr of
//   times, mode or owner, keep it (the reply's attributes replace the old ones). A fill that raced with a drop is not stored (epochs).
//   Upper bound even if an invalidation were lost: `timeout` after the fill.
// - Write-through (HAFS_CC_WRITE_THROUGH=0: off): a file this client creates (or truncates to
//   0 by setattr) and then writes from offset 0 without holes, up to `max_file` bytes, is kept
//   as if it had been read: when every write of it sent through this layer has been answered
//   successfully and whole, and the written bytes cover [0, size) without a gap, the content
//   is stored with the attributes of the latest write reply (greatest ctime, mtime, size).
//   Writes may be in flight at once (write-behind sends non-overlapping writes in parallel
//   and merges adjacent ones); the content is stored only once none is in flight. A write that
//   overlaps bytes already written or in flight, an O_APPEND write, one past `max_file`, a
//   failed or short write, a hole left when the writes settle, a setattr of the size (other
//   than truncate to 0), fallocate, unlink, another client's invalidation, "drop everything",
//   or attributes seen later that differ end the file's write-through (its content is
//   dropped). A setattr of times, mode or owner changes no content: the write-through goes on
//   and stored content stays, under the reply's attributes. A rename ends the write-through
//   but keeps content already stored, under the reply's attributes and the new name.
// - Memory: at most `max_bytes` (content + bookkeeping), least recently used evicted first.
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "client-fuse/caches/forwarding_layer.h"

namespace hafs::client {

class ContentCache : public ForwardingLayer {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    uint32_t max_file = 64u << 10;             // mount option quick-read-max
    size_t max_bytes = 64u << 20;              // mount option cache-size
    std::chrono::milliseconds timeout{60000};  // mount option content-cache-timeout
    std::function<Clock::time_point()> now;    // tests; default steady_clock::now
    // Lookups ask the bricks for content (want_data) only in directories where this client
    // has read a file it did not have (within `timeout`): stats, ls -l and find elsewhere
    // cost the bricks no read. False: every lookup that wants data asks for it.
    bool only_where_read = true;
    // Keep the content this client writes to a new (or truncated) small file (class comment).
    // HAFS_CC_WRITE_THROUGH=0 in the environment switches it off whatever this says.
    bool write_through = true;
  };
  struct Stats {
    uint64_t hits = 0;         // reads answered from memory
    uint64_t misses = 0;       // reads that went down
    uint64_t attached = 0;     // lookups answered with cached content
    uint64_t fills = 0;        // contents stored
    uint64_t drops = 0;        // contents dropped (invalidation, own change, attr mismatch)
    uint64_t evictions = 0;    // dropped for room
    uint64_t written = 0;      // contents stored from this client's own writes (write-through)
    uint64_t wt_aborted = 0;   // write-throughs ended (gap, overlap, failed write, change, ...)
    size_t bytes = 0;
    size_t entries = 0;
  };

  ContentCache(Layer& below, Options options);
  ~ContentCache() override;  // logs the stats
  // False when HAFS_CONTENT_CACHE=0 (the layer is left out of the stack).
  static bool EnabledByEnv();
  // False when HAFS_CC_WRITE_THROUGH=0.
  static bool WriteThroughByEnv();
  // The mount options (quick-read-max, cache-size, content-cache-timeout); before use.
  void SetLimits(uint32_t max_file, size_t max_bytes, std::chrono::milliseconds timeout);

  // The operations it handles; the others pass through (ForwardingLayer).
  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override;
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override;
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override;
  Future<proto::EntryReply> Mkdir(proto::MkdirRequest req) override;
  Future<proto::EntryReply> Create(proto::CreateRequest req) override;
  Future<proto::EntryReply> Mknod(proto::MknodRequest req) override;
  Future<proto::EntryReply> Symlink(proto::SymlinkRequest req) override;
  Future<proto::EntryReply> Link(proto::LinkRequest req) override;
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override;
  Future<proto::EntryReply> Rmdir(proto::NameRequest req) override;
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override;
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override;
  Future<proto::ReadReply> Read(proto::ReadRequest req) override;
  Future<proto::WriteReply> Write(proto::WriteRequest req) override;
  Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) override;

  // A brick's push (or a local "drop everything"): see the class comment.
  void OnInvalidate(const proto::Invalidate& inv) override;
  // Drops what is known of a gfid (the bridge calls it on an open for writing, and at once
  // on a write, before write-behind sends it down). An own change: the file's write-through,
  // if any, goes on (the write itself decides).
  void Drop(const Gfid& gfid);
  void DropAll() override;
  Stats stats() const;
  // Whether the content of gfid is cached (tests).
  bool Has(const Gfid& gfid) const;

 private:
  struct Entry {
    uint32_t mode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    std::shared_ptr<const std::string> data;  // null: attributes only (a read may fill it)
    Clock::time_point expires;
    std::string name_key;                     // parent bytes + name it was looked up by
    std::list<Gfid>::iterator lru;
    size_t cost = 0;
  };
  // A file being written through: what this client wrote since it created (or truncated) it.
  struct Building {
    uint64_t id = 0;                            // generation: replies of older ones are ignored
    std::shared_ptr<const std::string> data;    // bytes [0, data->size()) written and answered
    std::map<uint64_t, std::string> flying;     // writes sent, not answered (by offset)
    std::map<uint64_t, std::string> done;       // answered, not contiguous with `data` yet
    int inflight = 0;
    uint64_t tickets = 0, served = 0;           // writes sent through it / answered (in order)
    bool have_attr = false;
    proto::Attr attr;                           // latest write reply's attributes
    std::string name_key;
    Clock::time_point expires;
  };
  Clock::time_point Now() const { return options_.now ? options_.now() : Clock::now(); }
  static std::string NameKey(const std::string& parent, const std::string& name) { return parent + name; }
  static bool Same(const Entry& e, const proto::Attr& a) {
    return e.size == a.size() && e.mtime_ns == a.mtime_ns() && e.ctime_ns == a.ctime_ns() && e.mode == a.mode();
  }
  uint64_t Epoch() const;
  bool DroppedSinceLocked(const Gfid& g, uint64_t start) const;
  void EraseLocked(std::unordered_map<Gfid, Entry, GfidHash>::iterator it, bool count_drop);
  // Drops g's content and ends its write-through (a change not made by this client's writes).
  void DropLocked(const Gfid& g);
  // Drops g's content only (own write or the bridge's Drop: write-through goes on).
  void DropContentLocked(const Gfid& g);
  void ForgetBuildLocked(const Gfid& g, const char* why);
  // A write's reply: continues (or ends) the file's write-through `id` (0: none).
  Result<proto::WriteReply> WriteDone(const Gfid& g, uint64_t id, uint64_t off, uint64_t len,
                                      Result<proto::WriteReply> r);
  // Starts g's write-through (created or truncated: empty) with its attributes.
  void StartBuildLocked(const Gfid& g, const proto::Attr& a, const std::string& name_key);
  // Stores content (bypasses the epochs: the caller knows it is current).
  void StoreLocked(const Gfid& g, const proto::Attr& a, std::shared_ptr<const std::string> data,
                   const std::string* name_key);
  void DropNameLocked(const std::string& key);
  // A change that leaves g's content as it is (rename, setattr without size): its cached
  // content stays, under the attributes `a` (and the name name_key if given). False when there
  // is nothing to keep (no content, not a regular file, another size).
  bool KeepLocked(const Gfid& g, const proto::Attr& a, const std::string* name_key);
  void EvictLocked();
  // Attributes seen in a reply: an entry whose attributes differ loses its content; a small
  // regular file's attributes are remembered (a later whole read may fill them).
  void Observe(const proto::Attr& a, const std::string* name_key, uint64_t start);
  // Content read with the attributes `a` (from a lookup) or with the remembered ones (a read).
  void Fill(const Gfid& g, const proto::Attr* a, std::string data, const std::string* name_key, uint64_t start);
  // The cached content of g if valid (not expired), else null.
  std::shared_ptr<const std::string> Get(const Gfid& g, proto::Attr* attr_out);

  Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // a write-through write answered
  std::unordered_map<Gfid, Entry, GfidHash> map_;
  std::list<Gfid> lru_;  // front: most recently used
  std::unordered_map<std::string, Gfid> names_;
  std::unordered_map<std::string, Clock::time_point> read_dirs_;  // parent gfid bytes -> until
  size_t bytes_ = 0;
  uint64_t epoch_ = 0;      // bumped by every drop
  uint64_t all_epoch_ = 0;  // last "drop everything"
  std::unordered_map<Gfid, uint64_t, GfidHash> tomb_;  // gfid -> epoch of its last drop
  std::unordered_map<Gfid, Building, GfidHash> building_;
  size_t building_bytes_ = 0;  // data held by building_ (bounded: max_bytes / 4)
  uint64_t next_build_ = 1;
  Stats stats_;
};

}  // namespace hafs::client
