// MdCache: the client's coherent metadata cache, a Layer wrapped around distribute.
//
// It keeps what replies told it — entries (parent, name) → gfid, attributes by gfid, and for
// directories this client knows completely (it made them, or read all of them with
// readdirplus) the set of names and the readdirplus pages — and answers Lookup, Getattr and
// Readdir(plus) from them without a round trip. A lookup of an absent name in a complete
// directory is answered ENOENT locally (no round trip before create(O_EXCL) in a directory
// the client is filling). No other error is ever cached.
//
// Coherence (docs/client.md, "Consistency between mounts"):
//  - Own changes update or drop the affected entries, attributes, names and listings before
//    their reply returns.
//  - Bricks push proto::Invalidate to every other session on a change: OnInvalidate() drops the
//    gfid's attributes (so no entry pointing at it hits any more) and, with parent+name, that
//    entry and the parent's attributes, completeness and listing. An Invalidate with neither
//    gfid nor parent drops everything; the graph delivers one whenever a brick session is lost
//    or (re)established, since pushes may have been missed meanwhile.
//  - `timeout` bounds every cached item's age even if an invalidation were lost (0 = the layer
//    passes everything through). Memory is bounded: past `max_items` the cache is cleared.
//  - A reply that may have raced a change (any change seen while it was in flight) is
//    returned but not cached.
// A cache hit skips replicate's lookup-time heal check; the self-heal daemon and the next miss
// still heal.
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "client-fuse/caches/forwarding_layer.h"

namespace hafs::client {

class MdCache : public ForwardingLayer {
 public:
  struct Options {
    std::chrono::milliseconds timeout{60000};
    size_t max_items = 200000;  // entries + attributes + directories + listed names
    // Monotonic milliseconds; tests inject a clock. Empty = steady_clock.
    std::function<int64_t()> now_ms;
  };
  struct Stats {
    uint64_t hits = 0;           // lookups and getattrs answered from the cache
    uint64_t negative_hits = 0;  // ENOENT from a complete directory
    uint64_t listing_hits = 0;   // readdirplus pages served
    uint64_t misses = 0;
    uint64_t drops_all = 0;      // "drop everything" (session events, overflow, cap)
    uint64_t sweeps = 0;         // expired items dropped because the cap was reached
    uint64_t listings_not_kept = 0;  // complete listings for which the cap had no room
    uint64_t xattr_hits = 0;     // security.capability known absent
  };

  MdCache(Layer& lower, Options options);

  // The operations it handles; the others pass through (ForwardingLayer).
  Future<proto::EntryReply> Lookup(proto::EntryRequest req) override;
  Future<proto::AttrReply> Getattr(proto::GfidRequest req) override;
  Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) override;
  Future<proto::EntryReply> Mkdir(proto::MkdirRequest req) override;
  Future<proto::EntryReply> Create(proto::CreateRequest req) override;
  Future<proto::EntryReply> Mknod(proto::MknodRequest req) override;
  Future<proto::EntryReply> Symlink(proto::SymlinkRequest req) override;
  Future<proto::EntryReply> Link(proto::LinkRequest req) override;
  Future<proto::EntryReply> Unlink(proto::NameRequest req) override;
  Future<proto::EntryReply> Rmdir(proto::NameRequest req) override;
  Future<proto::RenameReply> Rename(proto::RenameRequest req) override;
  Future<proto::AttrReply> Setattr(proto::SetattrRequest req) override;
  Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) override;
  Future<proto::WriteReply> Write(proto::WriteRequest req) override;
  Future<proto::ErrReply> Setxattr(proto::SetxattrRequest req) override;
  Future<proto::ErrReply> Removexattr(proto::RemovexattrRequest req) override;
  Future<proto::XattrReply> Getxattr(proto::GetxattrRequest req) override;

  // A brick's push (or a local "drop everything": no gfid and no parent).
  void OnInvalidate(const proto::Invalidate& inv) override;
  void DropAll() override;
  void SetTimeout(std::chrono::milliseconds timeout);
  bool enabled() const { return timeout_ms_.load() > 0; }
  Stats stats() const;
  size_t items() const;

  // False when HAFS_MD_CACHE=0 is set: the graph leaves the layer out.
  static bool EnabledByEnv();

 private:
  struct EntryKey {
    Gfid parent;
    std::string name;
    bool operator==(const EntryKey& o) const { return parent == o.parent && name == o.name; }
  };
  struct EntryKeyHash {
    size_t operator()(const EntryKey& k) const { return k.parent.Hash() ^ std::hash<std::string>()(k.name); }
  };
  struct AttrEnt {
    proto::Attr attr;
    int64_t t = 0;
  };
  struct EntryEnt {
    Gfid gfid;
    int64_t t = 0;
  };
  struct Fill {  // a readdirplus listing being read, page by page, from cookie 0
    bool active = false;
    uint64_t next_cookie = 0;
    uint32_t max_entries = 0;
    std::map<uint64_t, proto::ReaddirReply> pages;
    std::unordered_set<std::string> names;
  };
  struct DirEnt {
    bool complete = false;  // `names` is every name in the directory
    int64_t t = 0;
    std::unordered_set<std::string> names;
    bool listed = false;  // `pages` is the whole listing (from the last complete fill)
    uint32_t max_entries = 0;
    std::map<uint64_t, proto::ReaddirReply> pages;  // by the request's cookie
    size_t page_items = 0;
    Fill fill;
  };

  int64_t Now() const;
  bool Fresh(int64_t t, int64_t now) const { return now - t < timeout_ms_.load(); }
  // All with mu_ held.
  void PutAttr(const proto::Attr& a, int64_t now);
  void DropAttr(const Gfid& g);
  void DropEntry(const Gfid& parent, const std::string& name);
  void DropDir(const Gfid& dir);
  // An own change of the names in `dir`: the listing is stale; completeness is kept, with
  // `added` in and `removed` out of the names.
  void DirChanged(const Gfid& dir, const std::string* added, const std::string* removed);
  void Changed() { ++epoch_; }
  // An own setxattr/removexattr of g, before it is sent and when it is answered (takes mu_).
  void XattrChanged(const Gfid& g);
  size_t ItemsLocked() const { return attrs_.size() + entries_.size() + dirs_.size() + dir_items_; }
  // Over the cap: expired items go first (nothing else removes them); only if that is not
  // enough, everything.
  void CapCheck();
  // Drops every item past the timeout (a directory being read page by page stays). At most
  // once per eighth of the timeout: a full cache of fresh items is not walked for every page.
  void SweepExpiredLocked(int64_t now);
  int64_t last_sweep_ = std::numeric_limits<int64_t>::min() / 2;
  void ClearLocked();

  // The shared tail of Mkdir/Create/Mknod/Symlink/Link.
  Future<proto::EntryReply> NewEntry(Future<proto::EntryReply> f, Gfid parent, std::string name, bool is_dir);
  // Setattr/Fallocate/Write: the reply's attributes replace the cached ones (or drop them).
  template <typename Rep>
  Future<Rep> AttrChange(Future<Rep> f, Gfid gfid);

  Options options_;
  std::atomic<int64_t> timeout_ms_;
  mutable std::mutex mu_;
  uint64_t epoch_ = 0;  // every change, own or pushed: replies that raced one are not cached
  std::unordered_map<Gfid, AttrEnt, GfidHash> attrs_;
  std::unordered_map<EntryKey, EntryEnt, EntryKeyHash> entries_;
  std::unordered_map<Gfid, DirEnt, GfidHash> dirs_;
  // Files known to have no security.capability xattr (the kernel asks before every write(2)
  // to strip it): the answer (ENODATA/EOPNOTSUPP) and when it was learnt. xattr_epoch_ moves
  // with every xattr change, own or pushed, so an answer that raced one is not kept.
  struct NoCaps {
    int err = 0;
    int64_t t = 0;
  };
  std::unordered_map<Gfid, NoCaps, GfidHash> no_caps_;
  uint64_t xattr_epoch_ = 0;
  int absent_caps_err_ = 0;  // how the bricks answered a missing security.capability (0: not asked yet)
  size_t dir_items_ = 0;  // names + page entries over dirs_ (committed)
  Stats stats_;
};

}  // namespace hafs::client
