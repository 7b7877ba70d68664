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
//   "drop everything" (empty gfid and parent), on this client's own changes of it (write,
//   setattr/truncate, fallocate, unlink, rename over) before and after they run, and when
//   attributes seen later differ. A fill that raced with a drop is not stored (epochs).
//   Upper bound even if an invalidation were lost: `timeout` after the fill.
// - Memory: at most `max_bytes` (content + bookkeeping), least recently used evicted first.
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "client-fuse/layer.h"

namespace hafs::client {

class ContentCache : public Layer {
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
  };
  struct Stats {
    uint64_t hits = 0;         // reads answered from memory
    uint64_t misses = 0;       // reads that went down
    uint64_t attached = 0;     // lookups answered with cached content
    uint64_t fills = 0;        // contents stored
    uint64_t drops = 0;        // contents dropped (invalidation, own change, attr mismatch)
    uint64_t evictions = 0;    // dropped for room
    size_t bytes = 0;
    size_t entries = 0;
  };

  ContentCache(Layer& below, Options options);
  // False when HAFS_CONTENT_CACHE=0 (the layer is left out of the stack).
  static bool EnabledByEnv();
  // The mount options (quick-read-max, cache-size, content-cache-timeout); before use.
  void SetLimits(uint32_t max_file, size_t max_bytes, std::chrono::milliseconds timeout);

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;

  // A brick's push (or a local "drop everything"): see the class comment.
  void OnInvalidate(const proto::Invalidate& inv);
  // Drops what is known of a gfid (the bridge calls it on an open for writing, and at once
  // on a write, before write-behind sends it down).
  void Drop(const Gfid& gfid);
  void DropAll();
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
  Clock::time_point Now() const { return options_.now ? options_.now() : Clock::now(); }
  static std::string NameKey(const std::string& parent, const std::string& name) { return parent + name; }
  static bool Same(const Entry& e, const proto::Attr& a) {
    return e.size == a.size() && e.mtime_ns == a.mtime_ns() && e.ctime_ns == a.ctime_ns() && e.mode == a.mode();
  }
  uint64_t Epoch() const;
  bool DroppedSinceLocked(const Gfid& g, uint64_t start) const;
  void EraseLocked(std::unordered_map<Gfid, Entry, GfidHash>::iterator it, bool count_drop);
  void DropLocked(const Gfid& g);
  void DropNameLocked(const std::string& key);
  void EvictLocked();
  // Attributes seen in a reply: an entry whose attributes differ loses its content; a small
  // regular file's attributes are remembered (a later whole read may fill them).
  void Observe(const proto::Attr& a, const std::string* name_key, uint64_t start);
  // Content read with the attributes `a` (from a lookup) or with the remembered ones (a read).
  void Fill(const Gfid& g, const proto::Attr* a, std::string data, const std::string* name_key, uint64_t start);
  // The cached content of g if valid (not expired), else null.
  std::shared_ptr<const std::string> Get(const Gfid& g, proto::Attr* attr_out);

  Layer& below_;
  Options options_;
  mutable std::mutex mu_;
  std::unordered_map<Gfid, Entry, GfidHash> map_;
  std::list<Gfid> lru_;  // front: most recently used
  std::unordered_map<std::string, Gfid> names_;
  std::unordered_map<std::string, Clock::time_point> read_dirs_;  // parent gfid bytes -> until
  size_t bytes_ = 0;
  uint64_t epoch_ = 0;      // bumped by every drop
  uint64_t all_epoch_ = 0;  // last "drop everything"
  std::unordered_map<Gfid, uint64_t, GfidHash> tomb_;  // gfid -> epoch of its last drop
  Stats stats_;
};

}  // namespace hafs::client
