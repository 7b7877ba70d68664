// RaftStorage: what a Raft peer must not forget across a restart (Raft paper §5, figure 2
// "persistent state": currentTerm, votedFor, log[]), plus the applied state machine
// (ClusterState and the index it reflects) so a restarted peer answers reads at once.
//
// Two implementations: RocksRaftStorage (the daemon, under STATE_DIR/db, every write
// synced) and MemoryRaftStorage (unit tests; survives a simulated restart when the test keeps
// the object). Thread-safety: callers serialise access (RaftNode holds its mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/mgmt.pb.h"

namespace rocksdb {
class DB;
}

namespace hafs::mgmtd {

struct RaftPersistent {
  uint64_t term = 0;
  std::string voted_for;
  // Log compaction (Raft paper §7): entries up to snap_index are dropped; `state` (applied
  // at `applied` >= snap_index) stands for them. snap_term is the term of entry snap_index.
  uint64_t snap_index = 0, snap_term = 0;
  std::vector<mgmtpb::LogEntry> log;   // log[i].index() == snap_index + i + 1
  mgmtpb::ClusterState state;           // applied state machine
  uint64_t applied = 0;                 // last index applied to `state`
};

class RaftStorage {
 public:
  virtual ~RaftStorage() = default;
  virtual Result<RaftPersistent> Load() = 0;
  virtual Status SaveTermVote(uint64_t term, const std::string& voted_for) = 0;
  // Appends entries (their indices follow the current last index).
  virtual Status Append(const std::vector<mgmtpb::LogEntry>& entries) = 0;
  // Drops every entry with index >= `from`.
  virtual Status TruncateFrom(uint64_t from) = 0;
  virtual Status SaveState(const mgmtpb::ClusterState& state, uint64_t applied) = 0;
  // Drops the entries up to `index` (already applied and saved with SaveState); `term` is
  // the term of entry `index`.
  virtual Status Compact(uint64_t index, uint64_t term) = 0;
  // A snapshot from the leader replaces everything, atomically: the state applied at
  // `index`, no log entries, compaction point (index, term).
  virtual Status InstallSnapshot(const mgmtpb::ClusterState& state, uint64_t index, uint64_t term) = 0;
  // Forgets everything (a peer joining another pool).
  virtual Status Wipe() = 0;
};

class MemoryRaftStorage : public RaftStorage {
 public:
  Result<RaftPersistent> Load() override { return p_; }
  Status SaveTermVote(uint64_t term, const std::string& voted_for) override;
  Status Append(const std::vector<mgmtpb::LogEntry>& entries) override;
  Status TruncateFrom(uint64_t from) override;
  Status SaveState(const mgmtpb::ClusterState& state, uint64_t applied) override;
  Status Compact(uint64_t index, uint64_t term) override;
  Status InstallSnapshot(const mgmtpb::ClusterState& state, uint64_t index, uint64_t term) override;
  Status Wipe() override;

 private:
  RaftPersistent p_;
};

class RocksRaftStorage : public RaftStorage {
 public:
  // Opens (creating) the database at `path`.
  static Result<std::unique_ptr<RocksRaftStorage>> Open(const std::string& path);
  ~RocksRaftStorage() override;

  Result<RaftPersistent> Load() override;
  Status SaveTermVote(uint64_t term, const std::string& voted_for) override;
  Status Append(const std::vector<mgmtpb::LogEntry>& entries) override;
  Status TruncateFrom(uint64_t from) override;
  Status SaveState(const mgmtpb::ClusterState& state, uint64_t applied) override;
  Status Compact(uint64_t index, uint64_t term) override;
  Status InstallSnapshot(const mgmtpb::ClusterState& state, uint64_t index, uint64_t term) override;
  Status Wipe() override;

  // Small identity values outside Raft (the peer's own uuid).
  std::optional<std::string> GetMeta(const std::string& key);
  Status PutMeta(const std::string& key, const std::string& value);

 private:
  explicit RocksRaftStorage(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
  uint64_t last_index_ = 0;
  uint64_t compacted_ = 0;
};

}  // namespace hafs::mgmtd
