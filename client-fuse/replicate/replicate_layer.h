// ReplicateLayer: one replica set (N bricks holding the same data), client-driven like
// Gluster AFR but never silently split-brained. The rules are in docs/replication.md:
//
//  change:  lock on every up brick → pre-op (+1 pending for every brick) → the operation on
//           every brick → post-op (−1 for every brick that succeeded) → unlock. A brick that
//           was down or failed stays accused by the others. Without quorum (majority by
//           default) nothing is changed and the caller gets EROFS.
//  read:    from one up brick that nobody accuses (spread by gfid over the healthy ones);
//           fails over to another on ENOTCONN. Reads work without quorum (degraded, read-only).
//  heal:    on lookup, when the counters show accused bricks, the entry/data/metadata is
//           copied from a source to the sinks under the same locks before the lookup answers;
//           mutual accusation is split-brain and answers EIO, never a silent choice.
//
// Thread-safety: as Layer. The children are owned elsewhere and must outlive this layer.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "client-fuse/layer.h"
#include "client-fuse/protocol/protocol_layer.h"

namespace hafs::client {

class ReplicateLayer final : public Layer {
 public:
  struct Options {
    std::vector<int> brick_ids;        // volume-wide index of each child (docs/replication.md)
    std::string quorum_type = "auto";  // auto | fixed | none
    int quorum_count = 0;              // with fixed
    std::chrono::milliseconds lock_wait{10000};
    std::string owner_name = "hafs";   // for logs
  };
  ReplicateLayer(std::vector<ProtocolLayer*> children, Options options);

  HAFS_LAYER_OPS(HAFS_LAYER_OVERRIDE)
  Future<std::shared_ptr<FileRef>> Open(Gfid gfid) override;

  // Heals one gfid (a file's data+metadata, or a directory's entries and metadata) if its
  // counters say a brick is behind. OK if nothing was to do; EIO on split-brain.
  Status Heal(const Gfid& gfid);
  // Counters of the bricks that answered, by child (empty map = clean), for heal info/tests.
  std::vector<std::map<std::string, int64_t>> PendingOf(const Gfid& gfid);
  size_t heals_done() const { return heals_done_.load(); }

  enum class Kind { kData, kMetadata, kEntry };

 private:
  friend class Transaction;
  size_t n() const { return children_.size(); }
  std::vector<size_t> UpChildren() const;
  bool HasQuorum(const std::vector<size_t>& ok) const;
  std::string CounterName(Kind kind, size_t child) const;
  // Children that the counters say are behind (accused) for `kind`; sets *split on mutual
  // accusation. counters[i] empty means the child did not answer.
  std::vector<bool> Accused(const std::vector<std::map<std::string, int64_t>>& counters,
                            const std::vector<bool>& answered, Kind kind, bool* split) const;
  // The child to read gfid from (healthy, spread by gfid), skipping `tried`.
  int ReadChild(const Gfid& gfid, const std::vector<bool>& tried) const;
  void RememberHealth(const Gfid& gfid, const std::vector<bool>& readable);

  template <typename Rep>
  Result<Rep> ReadFromHealthy(const Gfid& gfid, const std::function<Future<Rep>(ProtocolLayer*)>& call);
  // The change, sent with a TxnTail (post-op and unlock ride on it).
  template <typename Rep>
  using TxnCall = std::function<Future<Rep>(ProtocolLayer*, const proto::TxnTail&)>;
  template <typename Rep>
  Result<Rep> InodeTxn(const Gfid& gfid, Kind kind, const TxnCall<Rep>& call);
  template <typename Rep>
  Result<Rep> EntryTxn(const std::vector<std::pair<Gfid, std::string>>& entries, const TxnCall<Rep>& call);
  // After the operation: settles counters and locks where the tail did not run.
  template <typename Rep>
  Result<Rep> Conclude(const std::string& what, const std::vector<size_t>& part,
                       std::vector<std::optional<Result<Rep>>>& res, const std::vector<Gfid>& counter_gfids,
                       Kind kind, const std::function<void(const std::vector<size_t>&)>& unlock);

  Status HealFile(const Gfid& gfid, const std::vector<size_t>& up);
  Status HealDirectory(const Gfid& gfid, const std::vector<size_t>& up);
  Status CopyEntry(size_t source, size_t sink, const Gfid& dir, const proto::DirEntry& e);
  Status RemoveTree(size_t child, const Gfid& dir, const std::string& name, const Gfid& gfid, bool is_dir, int depth);

  std::vector<ProtocolLayer*> children_;
  Options options_;
  uint64_t lock_owner_;
  std::atomic<size_t> heals_done_{0};

  mutable std::mutex health_mu_;
  std::unordered_map<Gfid, std::vector<bool>, GfidHash> readable_;  // per gfid: which children may be read
};

}  // namespace hafs::client
