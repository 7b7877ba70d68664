#include "brickd/metadata_store.h"

#include <cstring>

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/log.h"

namespace hafs::brick {
namespace {

// Key layout (prefix byte + 16-byte gfid [+ name]). Documented in docs/brick-format.md.
constexpr char kMeta = 'm';
constexpr char kDir = 'd';
constexpr char kObject = 'o';  // no longer written; bricks made before 2026-12-05 hold some
constexpr char kCounter = 'c';
constexpr char kHeal = 'h';

std::string Key(char prefix, const Gfid& g, std::string_view suffix = {}) {
  std::string k;
  k.reserve(1 + Gfid::kSize + suffix.size());
  k.push_back(prefix);
  k.append(reinterpret_cast<const char*>(g.data()), Gfid::kSize);
  k.append(suffix);
  return k;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status(EIO, fmt::format("rocksdb {}: {}", what, s.ToString()));
}

// All counters of a gfid live in one value: [u16 name length][name][i64 value]…, so an
// xattrop is one point read and one write, and +1/−1 churn leaves no tombstones to scan.
std::string EncodeCounters(const std::map<std::string, int64_t>& m) {
  std::string out;
  for (auto& [k, v] : m) {
    uint16_t len = static_cast<uint16_t>(std::min<size_t>(k.size(), 65535));
    out.append(reinterpret_cast<const char*>(&len), 2);
    out.append(k.data(), len);
    out.append(reinterpret_cast<const char*>(&v), 8);
  }
  return out;
}
std::map<std::string, int64_t> DecodeCounters(std::string_view s) {
  std::map<std::string, int64_t> m;
  size_t i = 0;
  while (i + 2 <= s.size()) {
    uint16_t len;
    std::memcpy(&len, s.data() + i, 2);
    i += 2;
    if (i + len + 8 > s.size()) break;  // truncated value: ignore the tail
    std::string k(s.data() + i, len);
    i += len;
    int64_t v;
    std::memcpy(&v, s.data() + i, 8);
    i += 8;
    m[k] = v;
  }
  return m;
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 256;
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return Status(EIO, fmt::format("cannot open metadata store {}: {}", path, s.ToString()));
  std::unique_ptr<MetadataStore> store(new MetadataStore(raw));
  uint64_t pending = 0;
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(1, kHeal)); it->Valid() && it->key()[0] == kHeal; it->Next()) ++pending;
  store->heal_pending_ = pending;
  return store;
}

MetadataStore::~MetadataStore() = default;

std::optional<std::string> MetadataStore::GetMeta(const std::string& key) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), std::string(1, kMeta) + key, &v).ok()) return std::nullopt;
  return v;
}

Status MetadataStore::PutMeta(const std::string& key, const std::string& value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;  // identity must survive a power cut
  return FromRocks(db_->Put(wo, std::string(1, kMeta) + key, value), "put meta");
}

Status MetadataStore::PutDir(const Gfid& gfid, const DirRecord& rec) {
  std::string v = rec.parent.Bytes() + rec.name;
  return FromRocks(db_->Put(rocksdb::WriteOptions(), Key(kDir, gfid), v), "put dir");
}

Status MetadataStore::Forget(const Gfid& gfid) {
  std::lock_guard lk(StripeFor(gfid));
  return ForgetLocked(gfid);
}

bool MetadataStore::ForgetIfGone(const Gfid& gfid, const std::function<bool()>& exists) {
  std::lock_guard lk(StripeFor(gfid));
  if (exists()) return false;
  Status s = ForgetLocked(gfid);
  if (!s.ok()) HAFS_LOG_ERROR("dropping the counters of gone gfid {}: {}", gfid.ToString(), s.ToString());
  return s.ok();
}

Status MetadataStore::ForgetLocked(const Gfid& gfid) {
  rocksdb::WriteBatch batch;
  batch.Delete(Key(kDir, gfid));
  batch.Delete(Key(kObject, gfid));
  std::string heal;
  bool had_heal = db_->Get(rocksdb::ReadOptions(), Key(kHeal, gfid), &heal).ok();
  batch.Delete(Key(kHeal, gfid));
  batch.Delete(Key(kCounter, gfid));
  auto s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (s.ok() && had_heal) heal_pending_--;
  return FromRocks(s, "forget");
}

Status MetadataStore::ForEachDir(const std::function<void(const Gfid&, const DirRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(1, kDir)); it->Valid() && it->key()[0] == kDir; it->Next()) {
    auto k = it->key();
    auto v = it->value();
    if (k.size() != 1 + Gfid::kSize || v.size() < Gfid::kSize) continue;
    auto g = Gfid::FromBytes(std::string_view(k.data() + 1, Gfid::kSize));
    auto p = Gfid::FromBytes(std::string_view(v.data(), Gfid::kSize));
    fn(*g, DirRecord{*p, std::string(v.data() + Gfid::kSize, v.size() - Gfid::kSize)});
  }
  return FromRocks(it->status(), "scan dirs");
}

std::map<std::string, int64_t> MetadataStore::Counters(const Gfid& gfid) const {
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), Key(kCounter, gfid), &v).ok()) return {};
  return DecodeCounters(v);
}

void MetadataStore::Retire(const Gfid& gfid) {
  std::lock_guard lk(StripeFor(gfid));
  {
    std::lock_guard rl(retired_mu_);
    if (retired_.size() > (1u << 20)) retired_.clear();
    retired_.insert(gfid);
    any_retired_ = true;
  }
  auto values = Counters(gfid);
  if (values.empty()) return;
  for (auto& [k, v] : values) v = -v;
  (void)ApplyLocked(gfid, values);
}

void MetadataStore::Revive(const Gfid& gfid) {
  if (!any_retired_) return;
  std::lock_guard lk(StripeFor(gfid));
  std::lock_guard rl(retired_mu_);
  retired_.erase(gfid);
}

Result<std::map<std::string, int64_t>> MetadataStore::Xattrop(const Gfid& gfid,
                                                               const std::map<std::string, int64_t>& deltas,
                                                               const std::function<bool()>& exists) {
  std::lock_guard lk(StripeFor(gfid));
  if (exists && !exists()) return Status(ENOENT, fmt::format("gfid {}", gfid.ToString()));
  if (any_retired_) {
    std::lock_guard rl(retired_mu_);
    if (retired_.count(gfid)) return std::map<std::string, int64_t>();
  }
  return ApplyLocked(gfid, deltas);
}

Result<std::map<std::string, int64_t>> MetadataStore::ApplyLocked(const Gfid& gfid,
                                                                   const std::map<std::string, int64_t>& deltas) {
  auto values = Counters(gfid);
  bool was_pending = !values.empty();
  for (const auto& [name, delta] : deltas) {
    if (delta == 0) continue;
    int64_t v = values[name] + delta;
    if (v == 0) values.erase(name);
    else values[name] = v;
  }
  bool now_pending = !values.empty();
  rocksdb::WriteBatch batch;
  if (now_pending) batch.Put(Key(kCounter, gfid), EncodeCounters(values));
  else if (was_pending) batch.Delete(Key(kCounter, gfid));
  if (now_pending && !was_pending) batch.Put(Key(kHeal, gfid), "");
  if (!now_pending && was_pending) batch.Delete(Key(kHeal, gfid));
  if (batch.Count() == 0) return values;
  auto s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) return FromRocks(s, "xattrop");
  if (now_pending && !was_pending) heal_pending_++;
  if (!now_pending && was_pending) heal_pending_--;
  return values;
}

std::vector<Gfid> MetadataStore::HealIndex(const Gfid& start_after, size_t limit, bool* complete) const {
  std::vector<Gfid> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string start = Key(kHeal, start_after);
  it->Seek(start);
  if (it->Valid() && !start_after.IsNull() && it->key() == start) it->Next();
  *complete = true;
  for (; it->Valid() && it->key()[0] == kHeal; it->Next()) {
    if (out.size() >= limit) {
      *complete = false;
      break;
    }
    if (it->key().size() == 1 + Gfid::kSize) out.push_back(*Gfid::FromBytes(std::string_view(it->key().data() + 1, Gfid::kSize)));
  }
  return out;
}

}  // namespace hafs::brick
