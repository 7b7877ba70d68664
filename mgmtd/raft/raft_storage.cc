#include "mgmtd/raft/raft_storage.h"

#include <algorithm>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

namespace hafs::mgmtd {

// ---- memory ----

Status MemoryRaftStorage::SaveTermVote(uint64_t term, const std::string& voted_for) {
  p_.term = term;
  p_.voted_for = voted_for;
  return Status::Ok();
}

Status MemoryRaftStorage::Append(const std::vector<mgmtpb::LogEntry>& entries) {
  for (const auto& e : entries) {
    if (e.index() != p_.snap_index + p_.log.size() + 1) return Status(EINVAL, "raft log append out of order");
    p_.log.push_back(e);
  }
  return Status::Ok();
}

Status MemoryRaftStorage::TruncateFrom(uint64_t from) {
  if (from <= p_.snap_index) from = p_.snap_index + 1;
  if (from <= p_.snap_index + p_.log.size()) p_.log.resize(from - 1 - p_.snap_index);
  return Status::Ok();
}

Status MemoryRaftStorage::Compact(uint64_t index, uint64_t term) {
  if (index <= p_.snap_index) return Status::Ok();
  size_t drop = std::min<size_t>(index - p_.snap_index, p_.log.size());
  p_.log.erase(p_.log.begin(), p_.log.begin() + static_cast<long>(drop));
  if (index > p_.snap_index + drop) p_.log.clear();
  p_.snap_index = index;
  p_.snap_term = term;
  return Status::Ok();
}

Status MemoryRaftStorage::InstallSnapshot(const mgmtpb::ClusterState& state, uint64_t index, uint64_t term) {
  p_.log.clear();
  p_.snap_index = index;
  p_.snap_term = term;
  p_.state = state;
  p_.applied = index;
  return Status::Ok();
}

Status MemoryRaftStorage::SaveState(const mgmtpb::ClusterState& state, uint64_t applied) {
  p_.state = state;
  p_.applied = applied;
  return Status::Ok();
}

Status MemoryRaftStorage::Wipe() {
  p_ = RaftPersistent{};
  return Status::Ok();
}

// ---- RocksDB ----
//
// Keys: "t" term (decimal), "v" voted-for uuid, "s" serialized ClusterState, "a" applied
// index, "c" compaction point ("INDEX TERM"), "l" + 8-byte big-endian index → serialized LogEntry (big-endian so keys sort by index),
// "m" + name → identity values.

namespace {

constexpr char kTerm[] = "t";
constexpr char kVote[] = "v";
constexpr char kState[] = "s";
constexpr char kApplied[] = "a";
constexpr char kCompacted[] = "c";

std::string LogKey(uint64_t index) {
  std::string k = "l";
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((index >> (8 * i)) & 0xff));
  return k;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status(EIO, fmt::format("state store: {}: {}", what, s.ToString()));
}

rocksdb::WriteOptions Synced() {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return wo;
}

}  // namespace

RocksRaftStorage::RocksRaftStorage(rocksdb::DB* db) : db_(db) {}
RocksRaftStorage::~RocksRaftStorage() = default;

Result<std::unique_ptr<RocksRaftStorage>> RocksRaftStorage::Open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  options.keep_log_file_num = 2;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return Status(EIO, fmt::format("cannot open state store {}: {}", path, s.ToString()));
  return std::unique_ptr<RocksRaftStorage>(new RocksRaftStorage(raw));
}

Result<RaftPersistent> RocksRaftStorage::Load() {
  RaftPersistent p;
  std::string v;
  rocksdb::ReadOptions ro;
  if (db_->Get(ro, kTerm, &v).ok()) p.term = std::stoull(v);
  if (db_->Get(ro, kVote, &v).ok()) p.voted_for = v;
  if (db_->Get(ro, kApplied, &v).ok()) p.applied = std::stoull(v);
  if (db_->Get(ro, kState, &v).ok() && !p.state.ParseFromString(v))
    return Status(EIO, "state store: the cluster state record is corrupt");
  if (db_->Get(ro, kCompacted, &v).ok()) {
    auto sp = v.find(' ');
    if (sp == std::string::npos) return Status(EIO, "state store: the compaction record is corrupt");
    p.snap_index = std::stoull(v.substr(0, sp));
    p.snap_term = std::stoull(v.substr(sp + 1));
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek("l"); it->Valid() && it->key().starts_with("l"); it->Next()) {
    mgmtpb::LogEntry e;
    if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
      return Status(EIO, "state store: a raft log entry is corrupt");
    if (e.index() <= p.snap_index) continue;  // a compaction interrupted by a crash
    if (e.index() != p.snap_index + p.log.size() + 1) return Status(EIO, "state store: the raft log has a gap");
    p.log.push_back(std::move(e));
  }
  last_index_ = p.snap_index + p.log.size();
  compacted_ = p.snap_index;
  return p;
}

Status RocksRaftStorage::SaveTermVote(uint64_t term, const std::string& voted_for) {
  rocksdb::WriteBatch b;
  b.Put(kTerm, std::to_string(term));
  b.Put(kVote, voted_for);
  return FromRocks(db_->Write(Synced(), &b), "save term");
}

Status RocksRaftStorage::Append(const std::vector<mgmtpb::LogEntry>& entries) {
  rocksdb::WriteBatch b;
  uint64_t last = last_index_;
  for (const auto& e : entries) {
    if (e.index() != last + 1) return Status(EINVAL, "raft log append out of order");
    b.Put(LogKey(e.index()), e.SerializeAsString());
    last = e.index();
  }
  HAFS_RETURN_IF_ERROR(FromRocks(db_->Write(Synced(), &b), "append log"));
  last_index_ = last;
  return Status::Ok();
}

Status RocksRaftStorage::TruncateFrom(uint64_t from) {
  if (from == 0) from = 1;
  if (from <= compacted_) from = compacted_ + 1;
  if (from > last_index_) return Status::Ok();
  rocksdb::WriteBatch b;
  b.DeleteRange(LogKey(from), LogKey(last_index_ + 1));
  HAFS_RETURN_IF_ERROR(FromRocks(db_->Write(Synced(), &b), "truncate log"));
  last_index_ = from - 1;
  return Status::Ok();
}

Status RocksRaftStorage::SaveState(const mgmtpb::ClusterState& state, uint64_t applied) {
  rocksdb::WriteBatch b;
  b.Put(kState, state.SerializeAsString());
  b.Put(kApplied, std::to_string(applied));
  return FromRocks(db_->Write(Synced(), &b), "save state");
}

Status RocksRaftStorage::Compact(uint64_t index, uint64_t term) {
  if (index <= compacted_) return Status::Ok();
  rocksdb::WriteBatch b;
  b.Put(kCompacted, std::to_string(index) + " " + std::to_string(term));
  b.DeleteRange(LogKey(0), LogKey(index + 1));
  HAFS_RETURN_IF_ERROR(FromRocks(db_->Write(Synced(), &b), "compact log"));
  compacted_ = index;
  last_index_ = std::max(last_index_, index);
  return Status::Ok();
}

Status RocksRaftStorage::InstallSnapshot(const mgmtpb::ClusterState& state, uint64_t index, uint64_t term) {
  rocksdb::WriteBatch b;
  b.DeleteRange(LogKey(0), "m");
  b.Put(kCompacted, std::to_string(index) + " " + std::to_string(term));
  b.Put(kState, state.SerializeAsString());
  b.Put(kApplied, std::to_string(index));
  HAFS_RETURN_IF_ERROR(FromRocks(db_->Write(Synced(), &b), "install snapshot"));
  compacted_ = index;
  last_index_ = index;
  return Status::Ok();
}

Status RocksRaftStorage::Wipe() {
  rocksdb::WriteBatch b;
  b.Delete(kCompacted);
  b.Delete(kTerm);
  b.Delete(kVote);
  b.Delete(kState);
  b.Delete(kApplied);
  b.DeleteRange(LogKey(0), "m");
  HAFS_RETURN_IF_ERROR(FromRocks(db_->Write(Synced(), &b), "wipe"));
  last_index_ = 0;
  compacted_ = 0;
  return Status::Ok();
}

std::optional<std::string> RocksRaftStorage::GetMeta(const std::string& key) {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), "m" + key, &v).ok()) return std::nullopt;
  return v;
}

Status RocksRaftStorage::PutMeta(const std::string& key, const std::string& value) {
  return FromRocks(db_->Put(Synced(), "m" + key, value), "put meta");
}

}  // namespace hafs::mgmtd
