#include "client-fuse/replicate/replicate_layer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>
#include <type_traits>

#include "client-fuse/fan_out.h"
#include "client-fuse/replicate/changelog.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace hafs::client {

namespace {
std::atomic<uint64_t> g_next_owner{1};
uint64_t NewOwner() { return g_next_owner.fetch_add(1); }

// A brick refuses a lock with ESTALE once rebalance has moved the file away (`gone`, sent to
// each brick of the set in turn after the last copy): the change is not refused for want of
// a quorum but belongs elsewhere, and distribute looks for the file on the other subvolumes.
constexpr const char* kMovedAway = "the file has moved to another replica set (rebalance)";

// Why a file's lock fell short of quorum: ENOENT if every brick said so, ESTALE if any said
// the file moved away, else EROFS.
template <typename Rep>
int LockRefusal(const std::vector<size_t>& who, const std::vector<std::optional<Result<Rep>>>& r) {
  if (FirstError(who, r, EROFS) == ENOENT && SameError(who, r)) return ENOENT;
  return AnyError(who, r, ESTALE) ? ESTALE : EROFS;
}
}  // namespace

ReplicateLayer::ReplicateLayer(std::vector<ProtocolLayer*> children, Options options)
    : children_(std::move(children)), options_(std::move(options)) {
  if (options_.brick_ids.size() != children_.size()) {
    options_.brick_ids.clear();
    for (size_t i = 0; i < children_.size(); ++i) options_.brick_ids.push_back(static_cast<int>(i));
  }
  // Owners are unique per transaction; the high bits keep two client processes apart in logs.
  lock_owner_ = std::random_device{}();
  // HAFS_EAGER_LOCK=0 turns eager locking off (one full transaction per change): for
  // benchmarks (bench/client/write_bench.sh) and for comparing behaviour when debugging.
  if (const char* env = std::getenv("HAFS_EAGER_LOCK"); env && std::string(env) == "0") options_.eager_lock = false;
  // HAFS_CLOSE_RELEASE_SYNC=1: close waits for the eager lock's post-op + unlock (as before
  // the asynchronous release), for comparison.
  // HAFS_CREATE_LOCK=0: a create does not take the new file's eager data lock with it.
  if (const char* env = std::getenv("HAFS_CREATE_LOCK"); env && std::string(env) == "0") options_.create_lock = false;
  if (const char* env = std::getenv("HAFS_CLOSE_RELEASE_SYNC"); env && std::string(env) == "1")
    options_.close_release_async = false;
  // HAFS_EAGER_ENTRY=0: every entry change is a full transaction (entrylk + pre-op, then the
  // change with post-op + unlock), as before eager entry locks.
  if (const char* env = std::getenv("HAFS_EAGER_ENTRY"); env && std::string(env) == "0") options_.eager_entry = false;
  // HAFS_CLOSE_GATHER_MS=N: how long releases queued by close wait to go out together (0: each
  // at once, alone, as before batched releases).
  if (const char* env = std::getenv("HAFS_CLOSE_GATHER_MS"); env && *env)
    options_.close_gather = std::chrono::milliseconds(std::strtoul(env, nullptr, 10));
  for (auto* c : children_)
    c->client().OnLockContended(this, [this](const proto::LockContended& m) { OnContended(m); });
  releaser_ = std::thread([this] { ReleaserLoop(); });
}

ReplicateLayer::~ReplicateLayer() {
  for (auto* c : children_) c->client().OnLockContended(this, nullptr);
  {
    std::lock_guard lk(eager_mu_);
    stopping_ = true;
  }
  releaser_cv_.notify_all();
  releaser_.join();
  std::vector<Gfid> held;
  {
    std::lock_guard lk(eager_mu_);
    for (auto& [g, e] : eager_) held.push_back(g);
  }
  for (const Gfid& g : held) FlushEager(g);
  held.clear();
  {
    std::lock_guard lk(eager_mu_);
    for (auto& [g, e] : eager_entry_) held.push_back(g);
  }
  for (const Gfid& g : held) FlushEagerEntry(g);
}

std::vector<size_t> ReplicateLayer::UpChildren() const {
  std::vector<size_t> up;
  for (size_t i = 0; i < n(); ++i)
    if (children_[i]->up()) up.push_back(i);
  return up;
}

bool ReplicateLayer::HasQuorum(const std::vector<size_t>& ok) const {
  if (ok.empty()) return false;
  if (options_.quorum_type == "none") return true;
  if (options_.quorum_type == "fixed") return static_cast<int>(ok.size()) >= options_.quorum_count;
  // auto: more than half; with an even count exactly half counts if it includes the first brick.
  if (ok.size() * 2 > n()) return true;
  return ok.size() * 2 == n() && ok.front() == 0;
}

std::string ReplicateLayer::CounterName(Kind kind, size_t child) const {
  const char* k = kind == Kind::kData ? "data" : kind == Kind::kMetadata ? "metadata" : "entry";
  return fmt::format("pending.{}.{}", k, options_.brick_ids[child]);
}

std::vector<std::string> ReplicateLayer::CounterNames(Kind kind) const {
  std::vector<std::string> names;
  for (size_t j = 0; j < n(); ++j) names.push_back(CounterName(kind, j));
  return names;
}

std::vector<bool> ReplicateLayer::Accused(const std::vector<std::map<std::string, int64_t>>& counters,
                                          const std::vector<bool>& answered, Kind kind, bool* split) const {
  return ComputeAccused(counters, answered, CounterNames(kind), split);
}

bool ReplicateLayer::AllDataFools(const std::vector<std::map<std::string, int64_t>>& counters,
                                  const std::vector<bool>& answered) const {
  return AllFools(counters, answered, CounterNames(Kind::kData));
}

void ReplicateLayer::RememberHealth(const Gfid& gfid, const std::vector<bool>& readable) {
  std::lock_guard lk(health_mu_);
  if (readable_.size() > 100000) readable_.clear();  // a hint cache, not state
  bool all = std::all_of(readable.begin(), readable.end(), [](bool b) { return b; });
  if (all) readable_.erase(gfid);
  else readable_[gfid] = readable;
}

int ReplicateLayer::ReadChild(const Gfid& gfid, const std::vector<bool>& tried, uint64_t spread) const {
  std::vector<bool> readable(n(), true);
  {
    std::lock_guard lk(health_mu_);
    auto it = readable_.find(gfid);
    if (it != readable_.end()) readable = it->second;
  }
  // Spread reads of different files over the healthy replicas.
  size_t start = (gfid.Hash() + spread) % n();
  for (size_t k = 0; k < n(); ++k) {
    size_t i = (start + k) % n();
    if (!tried[i] && readable[i] && children_[i]->up()) return static_cast<int>(i);
  }
  return -1;
}

template <typename Rep>
Result<Rep> ReplicateLayer::ReadFromHealthy(const Gfid& gfid,
                                            const std::function<Future<Rep>(ProtocolLayer*)>& call,
                                            uint64_t spread) {
  std::vector<bool> tried(n(), false);
  Status last(ENOTCONN, "no healthy brick of the replica set is up");
  for (size_t attempt = 0; attempt < n(); ++attempt) {
    int i = ReadChild(gfid, tried, spread);
    if (i < 0) break;
    tried[i] = true;
    auto r = call(children_[i]).get();
    if (r.ok() || r.err() != ENOTCONN) return r;
    last = r.status();
  }
  return last;
}

// ---- transactions ----

namespace {
std::vector<std::pair<size_t, int>> Each(const std::vector<size_t>& who, int delta) {
  std::vector<std::pair<size_t, int>> out;
  for (size_t j : who) out.emplace_back(j, delta);
  return out;
}
std::vector<std::pair<size_t, int>> Negated(std::vector<std::pair<size_t, int>> d) {
  for (auto& [j, v] : d) v = -v;
  return d;
}
bool Has(const std::vector<size_t>& set, size_t i) { return std::find(set.begin(), set.end(), i) != set.end(); }
}  // namespace

ReplicateLayer::Deltas ReplicateLayer::PreOp(Kind kind, const std::vector<size_t>& asked) const {
  Deltas out;
  for (size_t j = 0; j < n(); ++j) out.emplace_back(j, kind != Kind::kEntry && !Has(asked, j) ? 2 : 1);
  return out;
}

void ReplicateLayer::PreOpMissed(const Gfid& target, Kind kind, const std::vector<size_t>& asked,
                                 const std::vector<size_t>& part) {
  if (kind == Kind::kEntry) return;
  std::vector<size_t> missed;
  for (size_t j : asked)
    if (!Has(part, j)) missed.push_back(j);
  // Not checked: a brick that does not take it is one of `part` that fails anyway.
  if (!missed.empty()) AddCounters(part, {target}, kind, Each(missed, 1));
}

void ReplicateLayer::AddCounters(const std::vector<size_t>& on, const std::vector<Gfid>& gfids, Kind kind,
                                 const Deltas& deltas) {
  for (const Gfid& g : gfids) {
    FanOut<proto::XattropReply>(n(), on, [&](size_t i) {
      proto::XattropRequest x;
      x.set_gfid(g.Bytes());
      for (auto [j, d] : deltas) (*x.mutable_deltas())[CounterName(kind, j)] = d;
      return children_[i]->Xattrop(x);
    });
  }
}

template <typename Rep>
Result<Rep> ReplicateLayer::Conclude(const std::string& what, const std::vector<size_t>& part,
                                     std::vector<std::optional<Result<Rep>>>& res,
                                     const std::vector<Gfid>& counter_gfids, Kind kind, const Deltas& pre_op,
                                     const std::function<void(const std::vector<size_t>&)>& unlock) {
  std::vector<size_t> good = Succeeded(part, res), failed;
  for (size_t i : part)
    if (!res[i]->ok()) failed.push_back(i);
  // Where the operation failed, its tail did not run: that brick keeps its pre-op (+1 for
  // everyone, itself included), which marks it as behind — unless every brick failed the
  // same way, in which case nothing diverged and the pre-op is taken back everywhere.
  auto add = [&](const std::vector<size_t>& on, const std::vector<size_t>& counters, int delta) {
    AddCounters(on, counter_gfids, kind, Each(counters, delta));
  };
  bool same_failure = good.empty() && SameError(part, res);
  if (same_failure) add(part, part, -1);
  // The tail's post-op took 1 off every participant's count on the bricks that did the
  // change, the failed ones included. Where the change stands, those bricks are told that the
  // failed ones are behind (+1 each: a count above their own). Where it is refused for want of
  // quorum, each of them counts 1 for itself again (so that it is not a source with it) and
  // for the bricks that were not in the transaction (still behind, as an eager lock's refused
  // post-op leaves them), and the bricks that answered with an error (they have neither the
  // change nor its tail) take their pre-op back: they lack nothing that was acknowledged.
  // Extra round trips on failure only.
  if (!good.empty() && !failed.empty()) {
    const bool stands = HasQuorum(good);
    std::vector<size_t> refusing;
    for (size_t i : failed)
      if (!stands && res[i] && !AnswerLost(res[i]->err())) refusing.push_back(i);
    std::vector<size_t> outside;
    for (size_t j = 0; j < n(); ++j)
      if (!Has(part, j)) outside.push_back(j);
    if (stands) {
      add(good, failed, 1);
    } else {
      for (size_t g : good) {
        std::vector<size_t> again = outside;
        again.push_back(g);
        add({g}, again, 1);
      }
    }
    if (!refusing.empty()) {
      AddCounters(refusing, counter_gfids, kind, Negated(pre_op));
      std::vector<bool> readable(n(), false);  // reads go to the bricks that said no to it
      for (size_t i : refusing) readable[i] = true;
      for (const Gfid& g : counter_gfids) RememberHealth(g, readable);
    }
  }
  if (!failed.empty()) unlock(failed);  // the tail's unlock did not run there
  if (!good.empty() && HasQuorum(good)) {
    if (good.size() < n()) {
      std::vector<bool> readable(n(), false);
      for (size_t i : good) readable[i] = true;
      for (const Gfid& g : counter_gfids) RememberHealth(g, readable);
      if constexpr (requires { res[0]->value().attr().gfid(); }) {
        if (auto g = Gfid::FromBytes(res[good.front()]->value().attr().gfid())) RememberHealth(*g, readable);
      }
    }
    // A mkdir's carried xattrs are set only if every copy that made the directory set them:
    // otherwise the caller sets them the old way (on every copy: setting is idempotent).
    if constexpr (requires { res[0]->value().xattrs_set(); }) {
      bool all = true;
      for (size_t i : good) all = all && res[i]->value().xattrs_set();
      res[good.front()]->value().set_xattrs_set(all);
    }
    return std::move(*res[good.front()]);
  }
  if (same_failure) return res[part.front()]->status();
  if (!good.empty()) {
    HAFS_LOG_WARN("{}: {} reached only {} of {} bricks", options_.owner_name, what, good.size(), n());
    return BelowQuorum(failed, res);
  }
  return res[part.front()]->status();
}

ReplicateLayer::Locked ReplicateLayer::LockInOrder(const std::vector<size_t>& up,
                                                   const std::function<Future<proto::ErrReply>(size_t, bool)>& lock,
                                                   const std::function<void(const std::vector<size_t>&)>& let_go,
                                                   bool wait, bool all_or_none) {
  Locked l;
  l.res = FanOut<proto::ErrReply>(n(), up, [&](size_t i) { return lock(i, false); });
  l.got = Succeeded(up, l.res);
  bool busy = false;
  for (size_t i : up) busy = busy || (!l.res[i]->ok() && l.res[i]->err() == EAGAIN);
  if (!busy) return l;
  let_go(l.got);
  for (size_t i : l.got) l.res[i].emplace(Status(EAGAIN, "let go: another owner holds the lock on a brick"));
  l.got.clear();
  if (!wait) return l;
  for (size_t i : up) {
    l.res[i].emplace(lock(i, true).get());
    if (l.res[i]->ok()) {
      l.got.push_back(i);
    } else if (all_or_none) {
      break;
    }
  }
  return l;
}

template <typename Rep>
Result<Rep> ReplicateLayer::InodeTxn(const Gfid& gfid, Kind kind, const TxnCall<Rep>& call) {
  auto up = UpChildren();
  if (!HasQuorum(up))
    return Status(EROFS, fmt::format("write refused: {} of {} bricks up, quorum not met", up.size(), n()));
  uint64_t owner = lock_owner_ ^ NewOwner();
  const char* domain = kind == Kind::kData ? "data" : "metadata";
  const Deltas pre_op = PreOp(kind, up);
  // Unlocks; with take_back_preop, the pre-op's −1s ride on the unlock (one round trip).
  auto release = [&](const std::vector<size_t>& who, bool take_back_preop) {
    FanOut<proto::ErrReply>(n(), who, [&](size_t i) {
      proto::InodelkRequest r;
      r.set_gfid(gfid.Bytes());
      r.set_domain(domain);
      r.set_type(proto::UNLOCK);
      r.set_owner(owner);
      if (take_back_preop) {
        auto* post = r.add_post_op();
        post->set_gfid(gfid.Bytes());
        for (auto [j, d] : pre_op) (*post->mutable_deltas())[CounterName(kind, j)] = -d;
      }
      return children_[i]->Inodelk(r, options_.lock_wait);
    });
  };
  auto unlock = [&](const std::vector<size_t>& who) { release(who, false); };
  auto undo = [&](const std::vector<size_t>& who) { release(who, true); };
  // Lock and pre-op in one round trip: +1 pending for every brick (+2 for a brick that is
  // down), on every brick.
  auto l = LockInOrder(
      up,
      [&](size_t i, bool blocking) {
        proto::InodelkRequest r;
        r.set_gfid(gfid.Bytes());
        r.set_domain(domain);
        r.set_type(proto::WRITE);
        r.set_owner(owner);
        r.set_blocking(blocking);
        auto* pre = r.add_pre_op();
        pre->set_gfid(gfid.Bytes());
        for (auto [j, d] : pre_op) (*pre->mutable_deltas())[CounterName(kind, j)] = d;
        return children_[i]->Inodelk(r, options_.lock_wait);
      },
      undo, /*wait=*/true);
  const std::vector<size_t>& part = l.got;
  const auto& locks = l.res;
  if (!HasQuorum(part)) {
    undo(part);
    int err = LockRefusal(up, locks);
    if (err == ENOENT) return Status(ENOENT, "no such file");
    if (err == ESTALE) return Status(ESTALE, kMovedAway);
    return Status(EROFS, fmt::format("write refused: locked {} of {} bricks", part.size(), n()));
  }
  PreOpMissed(gfid, kind, up, part);
  // The operation carries its post-op (−1 for every participant) and the unlock.
  proto::TxnTail tail;
  tail.set_owner(owner);
  auto* post = tail.add_post_op();
  post->set_gfid(gfid.Bytes());
  for (size_t j : part) (*post->mutable_deltas())[CounterName(kind, j)] = -1;
  auto* lk = tail.add_unlock();
  lk->set_gfid(gfid.Bytes());
  lk->set_domain(domain);
  auto res = FanOut<Rep>(n(), part, [&](size_t i) { return call(children_[i], tail); });
  return Conclude<Rep>("change of " + gfid.ToString(), part, res, {gfid}, kind, PreOp(kind, part), unlock);
}

// ---- eager locking ----

// One eager lock call on brick i: kData is the file's data inodelk, kEntry the whole
// directory's entry lock (empty name: every name in it). `delta` for every brick in `counted`
// rides on it: the pre-op (+1) on a lock, the post-op (−1) on an unlock.
template <typename Req>
void ReplicateLayer::FillEagerLock(Req& r, Kind kind, const Gfid& target, uint64_t owner, proto::LockType type,
                                   bool blocking, const Deltas& deltas) const {
  if constexpr (std::is_same_v<Req, proto::EntrylkRequest>) {
    r.set_parent(target.Bytes());
    r.set_domain("entry");
    r.set_name("");
  } else {
    r.set_gfid(target.Bytes());
    r.set_domain("data");
  }
  r.set_type(type);
  r.set_owner(owner);
  r.set_blocking(blocking);
  if (deltas.empty()) return;
  auto* op = type == proto::UNLOCK ? r.add_post_op() : r.add_pre_op();
  op->set_gfid(target.Bytes());
  for (auto [j, d] : deltas) (*op->mutable_deltas())[CounterName(kind, j)] = d;
}

Future<proto::ErrReply> ReplicateLayer::EagerLockCall(Kind kind, const Gfid& target, size_t i, uint64_t owner,
                                                      proto::LockType type, bool blocking, const Deltas& deltas) {
  if (kind == Kind::kEntry) {
    proto::EntrylkRequest r;
    FillEagerLock(r, kind, target, owner, type, blocking, deltas);
    return children_[i]->Entrylk(r, options_.lock_wait);
  }
  proto::InodelkRequest r;
  FillEagerLock(r, kind, target, owner, type, blocking, deltas);
  return children_[i]->Inodelk(r, options_.lock_wait);
}

Status ReplicateLayer::AcquireEager(Kind kind, const Gfid& target, Eager& e) {
  const char* refused = kind == Kind::kEntry ? "change refused" : "write refused";
  auto up = UpChildren();
  if (!HasQuorum(up))
    return Status(EROFS, fmt::format("{}: {} of {} bricks up, quorum not met", refused, up.size(), n()));
  e.owner = lock_owner_ ^ NewOwner();
  e.sessions.assign(n(), std::string());
  e.bad.assign(n(), false);
  e.refused.assign(n(), false);
  const Deltas pre_op = PreOp(kind, up);
  auto lock = [&](size_t i, bool blocking) {  // the pre-op, on every brick
    e.sessions[i] = children_[i]->client().session_id();
    return EagerLockCall(kind, target, i, e.owner, proto::WRITE, blocking, pre_op);
  };
  // Takes the pre-op back and unlocks, in one round trip.
  auto undo = [&](const std::vector<size_t>& who) {
    FanOut<proto::ErrReply>(n(), who, [&](size_t i) {
      return EagerLockCall(kind, target, i, e.owner, proto::UNLOCK, false, Negated(pre_op));
    });
  };
  auto refuse = [&](const std::vector<size_t>& locked, int err) {
    undo(locked);
    if (err == ENOENT) return Status(ENOENT, kind == Kind::kEntry ? "no such directory" : "no such file");
    if (err == ESTALE) return Status(ESTALE, kMovedAway);
    return Status(EROFS, fmt::format("{}: locked {} of {} bricks", refused, locked.size(), n()));
  };
  auto l = LockInOrder(up, lock, undo, /*wait=*/true);
  if (!HasQuorum(l.got)) {
    return refuse(l.got, LockRefusal(up, l.res));
  }
  e.part = l.got;
  PreOpMissed(target, kind, up, e.part);
  return Status::Ok();
}

Status ReplicateLayer::TakeEager(Kind kind, const Gfid& target, const std::shared_ptr<Eager>& e) {
  Status st = AcquireEager(kind, target, *e);
  const bool entry = kind == Kind::kEntry;
  std::lock_guard lk(eager_mu_);
  auto& table = entry ? eager_entry_ : eager_;
  if (!st.ok()) {
    auto it = table.find(target);
    if (it != table.end() && it->second == e) table.erase(it);
    eager_cv_.notify_all();
    return st;
  }
  e->state = Eager::State::kHeld;
  e->last_use = std::chrono::steady_clock::now();
  ++(entry ? stats_.entry_acquired : stats_.acquired);
  if (e->want_release && e->close_only) {  // closed while being taken
    close_q_.emplace_back(target, std::chrono::steady_clock::now());
  } else if (e->want_release) {  // contended while being taken
    (entry ? release_entry_q_ : release_q_).push_back(target);
  }
  eager_cv_.notify_all();
  // A lock just taken falls due (eager_idle from now) after whatever the releaser sleeps until,
  // so only a queued release needs it awake now (one wake-up less per file).
  if (e->want_release) releaser_cv_.notify_all();
  return Status::Ok();
}

template <typename Rep>
Result<Rep> ReplicateLayer::DataTxn(const Gfid& gfid, uint64_t start, uint64_t end, const TxnCall<Rep>& call) {
  if (!options_.eager_lock) return InodeTxn<Rep>(gfid, Kind::kData, call);
  if (end <= start) end = start == kWholeFile ? kWholeFile : start + 1;
  const std::pair<uint64_t, uint64_t> range{start, end};
  auto overlaps = [&](const Eager& e) {
    for (auto& [s, en] : e.ranges)
      if (s < end && start < en) return true;
    return false;
  };
  std::shared_ptr<Eager> e;
  bool acquire = false;
  {
    std::unique_lock lk(eager_mu_);
    for (;;) {
      auto it = eager_.find(gfid);
      if (it == eager_.end()) {
        e = std::make_shared<Eager>();
        e->ranges.push_back(range);
        eager_.emplace(gfid, e);
        acquire = true;
        break;
      }
      Eager& cur = *it->second;
      // Changes that overlap one in flight wait for it: the bricks must apply them in one order.
      // A lock whose release only close asked for and that is not on its way yet is taken back.
      if (cur.state == Eager::State::kHeld && (!cur.want_release || cur.close_only) && !cur.claimed &&
          !overlaps(cur)) {
        if (cur.want_release) ++stats_.reopened;
        cur.want_release = cur.close_only = false;
        e = it->second;
        e->ranges.push_back(range);
        ++stats_.folded;
        break;
      }
      eager_cv_.wait(lk);
    }
  }
  if (acquire) {
    if (Status st = TakeEager(Kind::kData, gfid, e); !st.ok()) return st;
  }
  // The change alone: no pre-op (the lock's is still applied), no post-op, no unlock.
  std::vector<size_t> targets, failed;
  {
    std::lock_guard lk(eager_mu_);
    for (size_t i : e->part)
      if (!e->bad[i]) targets.push_back(i);
  }
  // A brick whose session was replaced (reconnect) lost our lock with it: it is not written
  // any more under this lock and stays accused.
  for (auto it = targets.begin(); it != targets.end();) {
    if (children_[*it]->client().session_id() != e->sessions[*it]) {
      failed.push_back(*it);
      it = targets.erase(it);
    } else {
      ++it;
    }
  }
  proto::TxnTail none;
  auto res = FanOut<Rep>(n(), targets, [&](size_t i) { return call(children_[i], none); });
  std::vector<size_t> good = Succeeded(targets, res);
  Result<Rep> out = Status(EIO, "the change reached no brick");
  bool refused = false;
  if (good.empty() && failed.empty() && SameError(targets, res)) {
    // Failed everywhere the same way (ENOSPC, ENOENT…): nothing diverged, nobody is accused.
    out = res[targets.front()]->status();
  } else {
    for (size_t i : targets)
      if (!res[i]->ok()) failed.push_back(i);
    // Reads go where the change is — or, when it is refused, to the bricks that said no to it.
    std::vector<size_t> fresh = good;
    if (!good.empty() && !HasQuorum(good)) {
      fresh.clear();
      for (size_t i : failed)
        if (res[i] && !AnswerLost(res[i]->err())) fresh.push_back(i);
    }
    if (!fresh.empty() && fresh.size() < n()) {
      std::vector<bool> readable(n(), false);
      for (size_t i : fresh) readable[i] = true;
      RememberHealth(gfid, readable);
    }
    if (!good.empty() && HasQuorum(good)) {
      out = std::move(*res[good.front()]);
    } else if (!good.empty()) {
      HAFS_LOG_WARN("{}: change of {} reached only {} of {} bricks", options_.owner_name, gfid.ToString(),
                    good.size(), n());
      out = BelowQuorum(failed, res);
      refused = true;
    } else if (!targets.empty()) {
      out = res[targets.front()]->status();
    }
  }
  {
    std::lock_guard lk(eager_mu_);
    if (refused) Refused(Kind::kData, gfid, *e, good);
    else
      for (size_t i : failed) e->bad[i] = true;
    auto r = std::find(e->ranges.begin(), e->ranges.end(), range);
    if (r != e->ranges.end()) e->ranges.erase(r);
    e->last_use = std::chrono::steady_clock::now();
    std::vector<size_t> left;
    for (size_t i : e->part)
      if (!e->bad[i]) left.push_back(i);
    // Under this lock no change can succeed any more: let it go so the next one starts afresh.
    if (!HasQuorum(left)) WantReleaseNow(Kind::kData, gfid, *e);
    eager_cv_.notify_all();
  }
  return out;
}

void ReplicateLayer::FlushEager(const Gfid& gfid) { ReleaseEager(Kind::kData, gfid); }

void ReplicateLayer::ReleaseEager(Kind kind, const Gfid& target) {
  auto& table = kind == Kind::kEntry ? eager_entry_ : eager_;
  std::shared_ptr<Eager> e;
  {
    std::unique_lock lk(eager_mu_);
    for (;;) {
      auto it = table.find(target);
      if (it == table.end()) return;
      if (it->second->state == Eager::State::kHeld && !it->second->claimed) {
        e = it->second;
        break;
      }
      eager_cv_.wait(lk);  // being taken or being released by another thread
    }
    e->claimed = true;
    eager_cv_.wait(lk, [&] { return e->ranges.empty() && e->names.empty(); });  // changes in flight
    e->state = Eager::State::kReleasing;
  }
  std::vector<size_t> good = Settled(*e);
  FanOut<proto::ErrReply>(n(), e->part, [&](size_t i) {
    return EagerLockCall(kind, target, i, e->owner, proto::UNLOCK, false, PostOpOn(*e, i, good));
  });
  std::lock_guard lk(eager_mu_);
  auto it = table.find(target);
  if (it != table.end() && it->second == e) table.erase(it);
  eager_cv_.notify_all();
}

// The delayed post-op rides on the unlock: on every brick where every change succeeded, −1
// for each such brick. Bricks that failed a change (or were down) stay accused; a brick that
// failed keeps its own pre-op too.
std::vector<size_t> ReplicateLayer::Settled(const Eager& e) const {
  std::vector<size_t> good;
  for (size_t i : e.part)
    if (!e.bad[i] && children_[i]->client().session_id() == e.sessions[i]) good.push_back(i);
  return good;
}

// The post-op on a settled brick takes 1 off the count of every brick of the lock that
// missed no change under it (a brick whose session was replaced since took every change sent
// to it before; it gets no post-op itself and stays a "fool"). A brick that applied a change
// refused for want of quorum must not become a source with it: it keeps its own +1, and adds
// 1 for each brick that did miss a change, so that it still says they are behind. (The bricks
// that failed the refused change are not marked bad: they lack nothing that was acknowledged.
// Accusing them let the brick that applied it, when it had missed an older acknowledged
// change, either accuse bricks that accused it — a split-brain with quorum on — or become the
// only source and lose that change: ReplicateLayer.AWriteRefusedForQuorum... test.)
ReplicateLayer::Deltas ReplicateLayer::PostOpOn(const Eager& e, size_t i, const std::vector<size_t>& settled) const {
  if (std::find(settled.begin(), settled.end(), i) == settled.end()) return {};
  const bool refused = !e.refused.empty() && e.refused[i];
  Deltas out;
  for (size_t j = 0; j < n(); ++j) {
    if (j == i && refused) continue;
    bool missed_none = std::find(e.part.begin(), e.part.end(), j) != e.part.end() && !e.bad[j];
    if (missed_none) out.emplace_back(j, -1);
    else if (refused) out.emplace_back(j, 1);
  }
  return out;
}

void ReplicateLayer::Refused(Kind kind, const Gfid& target, Eager& e, const std::vector<size_t>& good) {
  // The bricks that failed it lack nothing acknowledged: they are not marked bad for it.
  if (e.refused.size() < n()) e.refused.assign(n(), false);
  for (size_t i : good) e.refused[i] = true;
  WantReleaseNow(kind, target, e);
}

void ReplicateLayer::WantReleaseNow(Kind kind, const Gfid& target, Eager& e) {
  if (e.claimed || (e.want_release && !e.close_only)) return;  // already on its way out
  e.want_release = true;
  e.close_only = false;  // a close's queued release waits no longer (nor is taken back)
  if (e.state == Eager::State::kHeld) (kind == Kind::kEntry ? release_entry_q_ : release_q_).push_back(target);
  releaser_cv_.notify_all();  // else queued once it is taken
}

void ReplicateLayer::CloseEager(const Gfid& gfid) {
  if (!options_.close_release_async) return FlushEager(gfid);
  std::lock_guard lk(eager_mu_);
  auto it = eager_.find(gfid);
  if (it == eager_.end()) return;
  Eager& e = *it->second;
  if (e.want_release || e.claimed) return;  // already on its way out
  ++stats_.closed;
  if (options_.close_gather.count() == 0) {
    WantReleaseNow(Kind::kData, gfid, e);
    return;
  }
  // The releaser sends the post-op + unlock with the other closes' of the next close_gather,
  // once the changes in flight are done; a change of this file before then takes it back.
  e.want_release = e.close_only = true;
  if (e.state != Eager::State::kHeld) return;  // queued once it is taken
  close_q_.emplace_back(gfid, std::chrono::steady_clock::now());
  // The releaser needs waking only to start a gather (or when a batch is full).
  if (close_q_.size() == 1 || close_q_.size() >= kMaxReleaseBatch) releaser_cv_.notify_all();
}

std::vector<std::pair<Gfid, std::shared_ptr<ReplicateLayer::Eager>>> ReplicateLayer::ClaimClosed() {
  std::vector<std::pair<Gfid, std::shared_ptr<Eager>>> batch;
  while (!close_q_.empty() && batch.size() < kMaxReleaseBatch) {
    Gfid g = close_q_.front().first;
    close_q_.pop_front();
    auto it = eager_.find(g);
    if (it == eager_.end()) continue;
    auto& e = it->second;
    // Taken back by a new change, released by another path, or already in this batch.
    if (e->state != Eager::State::kHeld || e->claimed || !e->want_release || !e->close_only) continue;
    if (!e->ranges.empty()) {  // a change still in flight (another descriptor's): released alone
      release_q_.push_back(g);
      continue;
    }
    e->claimed = true;
    e->state = Eager::State::kReleasing;
    batch.emplace_back(g, e);
  }
  return batch;
}

void ReplicateLayer::ReleaseClosed(const std::vector<std::pair<Gfid, std::shared_ptr<Eager>>>& batch) {
  std::vector<proto::ReleaseLocksRequest> reqs(n());
  for (size_t k = 0; k < batch.size(); ++k) {
    const auto& [g, e] = batch[k];
    const std::vector<size_t> settled = Settled(*e);
    for (size_t i : e->part)
      FillEagerLock(*reqs[i].add_unlock(), Kind::kData, g, e->owner, proto::UNLOCK, false, PostOpOn(*e, i, settled));
  }
  std::vector<size_t> bricks;
  for (size_t i = 0; i < n(); ++i)
    if (reqs[i].unlock_size() > 0) bricks.push_back(i);
  auto res = FanOut<proto::ReleaseLocksReply>(n(), bricks, [&](size_t i) { return children_[i]->ReleaseLocks(reqs[i]); });
  for (size_t i : bricks) {
    // A brick without ReleaseLocks (older hafs-brickd: EIO for UNIMPLEMENTED) gets the
    // releases one by one; a brick that is gone (ENOTCONN) dropped the locks with its session.
    if (res[i]->ok() || res[i]->err() == ENOTCONN) continue;
    std::vector<Future<proto::ErrReply>> one_by_one;
    for (const auto& u : reqs[i].unlock()) one_by_one.push_back(children_[i]->Inodelk(u, options_.lock_wait));
    for (auto& f : one_by_one) (void)f.get();  // as ReleaseEager: a failed unlock dies with the session
  }
  std::lock_guard lk(eager_mu_);
  for (const auto& [g, e] : batch) {
    auto it = eager_.find(g);
    if (it != eager_.end() && it->second == e) eager_.erase(it);
  }
  stats_.close_batched += batch.size();
  ++stats_.close_batches;
  eager_cv_.notify_all();
}

void ReplicateLayer::MarkBad(const Gfid& gfid, const std::vector<size_t>& failed) {
  std::lock_guard lk(eager_mu_);
  auto it = eager_.find(gfid);
  if (it == eager_.end() || it->second->state != Eager::State::kHeld) return;
  for (size_t i : failed) it->second->bad[i] = true;
}

void ReplicateLayer::OnContended(const proto::LockContended& c) {
  const bool entry = c.domain() == "entry";
  if (c.domain() != "data" && !entry) return;
  auto g = Gfid::FromBytes(c.gfid());
  if (!g) return;
  std::lock_guard lk(eager_mu_);
  auto& map = entry ? eager_entry_ : eager_;
  auto it = map.find(*g);
  if (it == map.end()) return;
  Eager& e = *it->second;
  if (e.claimed || (e.want_release && !e.close_only)) return;
  ++(entry ? stats_.entry_contended : stats_.contended);
  WantReleaseNow(entry ? Kind::kEntry : Kind::kData, *g, e);
}

void ReplicateLayer::ReleaserLoop() {
  NameThisThread("lock-releaser");
  std::unique_lock lk(eager_mu_);
  while (!stopping_) {
    std::vector<Gfid> todo(release_q_.begin(), release_q_.end());
    release_q_.clear();
    std::vector<Gfid> todo_entry(release_entry_q_.begin(), release_entry_q_.end());
    release_entry_q_.clear();
    auto now = std::chrono::steady_clock::now();
    auto next = now + options_.eager_idle;
    for (auto& [g, e] : eager_) {
      if (e->state != Eager::State::kHeld || e->claimed || !e->ranges.empty() || e->close_only) continue;
      auto due = e->last_use + options_.eager_idle;
      if (due <= now) todo.push_back(g);
      else next = std::min(next, due);
    }
    for (auto& [g, e] : eager_entry_) {
      if (e->state != Eager::State::kHeld || e->claimed || !e->names.empty()) continue;
      auto due = e->last_use + options_.eager_idle;
      if (due <= now) todo_entry.push_back(g);
      else next = std::min(next, due);
    }
    // Closes' releases go when the oldest has waited close_gather, or when a batch is full.
    std::vector<std::pair<Gfid, std::shared_ptr<Eager>>> closed;
    if (!close_q_.empty()) {
      auto due = close_q_.front().second + options_.close_gather;
      if (due <= now || close_q_.size() >= kMaxReleaseBatch) closed = ClaimClosed();
      else next = std::min(next, due);
    }
    if (todo.empty() && todo_entry.empty() && closed.empty()) {
      releaser_cv_.wait_until(lk, next);
      continue;
    }
    lk.unlock();
    if (!closed.empty()) ReleaseClosed(closed);
    for (const Gfid& g : todo) FlushEager(g);
    for (const Gfid& g : todo_entry) FlushEagerEntry(g);
    lk.lock();
  }
}

ReplicateLayer::EagerStats ReplicateLayer::eager_stats() const {
  std::lock_guard lk(eager_mu_);
  EagerStats s = stats_;
  s.held = eager_.size();
  s.entry_held = eager_entry_.size();
  return s;
}

template <typename Rep>
Result<Rep> ReplicateLayer::EntryTxn(const std::vector<std::pair<Gfid, std::string>>& entries_in,
                                     const TxnCall<Rep>& call) {
  if (options_.eager_entry && !entries_in.empty()) {
    // A change inside one directory rides on this client's eager entry lock of it. One that
    // spans two directories (a rename between them) takes the full transaction below, after
    // this client's own eager locks on both are released (they would be in its way).
    bool one_dir = true;
    std::vector<std::string> names;
    for (auto& e : entries_in) {
      one_dir = one_dir && e.first == entries_in.front().first;
      names.push_back(e.second);
    }
    if (one_dir) return EagerEntryTxn<Rep>(entries_in.front().first, names, call);
    for (auto& e : entries_in) FlushEagerEntry(e.first);
  }
  auto up = UpChildren();
  if (!HasQuorum(up))
    return Status(EROFS, fmt::format("change refused: {} of {} bricks up, quorum not met", up.size(), n()));
  // Always lock in one order so that two renames cannot deadlock.
  auto entries = entries_in;
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  std::vector<Gfid> parents;
  for (auto& e : entries)
    if (std::find(parents.begin(), parents.end(), e.first) == parents.end()) parents.push_back(e.first);
  uint64_t owner = lock_owner_ ^ NewOwner();
  std::vector<size_t> locked = up;
  size_t taken = 0;
  auto request = [&](size_t e, proto::LockType type) {
    proto::EntrylkRequest r;
    r.set_parent(entries[e].first.Bytes());
    r.set_domain("entry");
    r.set_name(entries[e].second);
    r.set_type(type);
    r.set_owner(owner);
    return r;
  };
  // Unlocks entry e; with take_back_preop, the pre-op's −1s on every parent ride on the
  // unlock (one round trip).
  auto unlock_entry = [&](size_t e, const std::vector<size_t>& who, bool take_back_preop = false) {
    proto::EntrylkRequest r = request(e, proto::UNLOCK);
    if (take_back_preop) {
      for (auto& p : parents) {
        auto* post = r.add_post_op();
        post->set_gfid(p.Bytes());
        for (size_t j = 0; j < n(); ++j) (*post->mutable_deltas())[CounterName(Kind::kEntry, j)] = -1;
      }
    }
    FanOut<proto::ErrReply>(n(), who, [&](size_t i) { return children_[i]->Entrylk(r, options_.lock_wait); });
  };
  auto unlock_first = [&](size_t count, const std::vector<size_t>& who) {
    for (size_t e = 0; e < count; ++e) unlock_entry(e, who);
  };
  for (; taken < entries.size(); ++taken) {
    bool last = taken + 1 == entries.size();
    // Entries in one order, each brick by brick in one order when waiting: no two owners
    // can each hold a part and wait for the rest.
    auto l = LockInOrder(locked, [&](size_t i, bool blocking) {
      proto::EntrylkRequest r = request(taken, proto::WRITE);
      r.set_blocking(blocking);
      if (last) {
        // The pre-op rides on the last lock: +1 pending for every brick on every parent.
        for (auto& p : parents) {
          auto* pre = r.add_pre_op();
          pre->set_gfid(p.Bytes());
          for (size_t j = 0; j < n(); ++j) (*pre->mutable_deltas())[CounterName(Kind::kEntry, j)] = 1;
        }
      }
      return children_[i]->Entrylk(r, options_.lock_wait);
    }, [&](const std::vector<size_t>& who) { unlock_entry(taken, who, /*take_back_preop=*/last); }, /*wait=*/true);
    const auto& lk = l.res;
    const std::vector<size_t>& ok = l.got;
    if (!HasQuorum(ok)) {
      unlock_first(taken, locked);
      unlock_entry(taken, ok, /*take_back_preop=*/last);
      int err = FirstError(locked, lk, EROFS);
      if (err == ENOENT && SameError(locked, lk)) return Status(ENOENT, "no such directory");
      return Status(EROFS, fmt::format("change refused: locked {} of {} bricks", ok.size(), n()));
    }
    if (ok.size() < locked.size()) {
      std::vector<size_t> dropped;
      for (size_t i : locked)
        if (std::find(ok.begin(), ok.end(), i) == ok.end()) dropped.push_back(i);
      unlock_first(taken, dropped);
    }
    locked = ok;
  }
  std::vector<size_t> part = locked;
  proto::TxnTail tail;
  tail.set_owner(owner);
  for (auto& p : parents) {
    auto* post = tail.add_post_op();
    post->set_gfid(p.Bytes());
    for (size_t j : part) (*post->mutable_deltas())[CounterName(Kind::kEntry, j)] = -1;
  }
  for (auto& e : entries) {
    auto* u = tail.add_unlock();
    u->set_gfid(e.first.Bytes());
    u->set_domain("entry");
    u->set_entry(true);
    u->set_name(e.second);
  }
  auto res = FanOut<Rep>(n(), part, [&](size_t i) { return call(children_[i], tail); });
  return Conclude<Rep>("entry change", part, res, parents, Kind::kEntry, PreOp(Kind::kEntry, part),
                       [&](const std::vector<size_t>& who) { unlock_first(entries.size(), who); });
}


// ---- eager entry locking ----

bool ReplicateLayer::HoldsEagerEntry(const Gfid& dir) const {
  std::lock_guard lk(eager_mu_);
  return eager_entry_.count(dir) > 0;
}

template <typename Rep>
Result<Rep> ReplicateLayer::EagerEntryTxn(const Gfid& dir, const std::vector<std::string>& names_in,
                                          const TxnCall<Rep>& call) {
  std::vector<std::string> names = names_in;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto clash = [&](const Eager& e) {
    for (auto& m : e.names)
      if (std::binary_search(names.begin(), names.end(), m)) return true;
    return false;
  };
  auto done_with = [&](Eager& e) {  // under eager_mu_: this change's names are no longer in flight
    for (auto& m : names) {
      auto it = std::find(e.names.begin(), e.names.end(), m);
      if (it != e.names.end()) e.names.erase(it);
    }
    e.last_use = std::chrono::steady_clock::now();
  };
  auto release_soon = [&](Eager& e) {  // under eager_mu_
    if (e.want_release) return;
    e.want_release = true;
    if (e.state == Eager::State::kHeld) release_entry_q_.push_back(dir);
    releaser_cv_.notify_all();
  };
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<Eager> e;
    bool acquire = false;
    {
      std::unique_lock lk(eager_mu_);
      for (;;) {
        auto it = eager_entry_.find(dir);
        if (it == eager_entry_.end()) {
          e = std::make_shared<Eager>();
          e->names = names;
          eager_entry_.emplace(dir, e);
          acquire = true;
          break;
        }
        Eager& cur = *it->second;
        // A change of a name that one in flight changes waits for it: one order on every brick.
        if (cur.state == Eager::State::kHeld && !cur.want_release && !cur.claimed && !clash(cur)) {
          e = it->second;
          e->names.insert(e->names.end(), names.begin(), names.end());
          ++stats_.entry_folded;
          break;
        }
        eager_cv_.wait(lk);
      }
    }
    if (acquire) {
      if (Status st = TakeEager(Kind::kEntry, dir, e); !st.ok()) return st;
    }
    // The change alone (no pre-op, post-op or unlock) on every brick of the lock that has not
    // failed a change under it and still has the session that holds it.
    std::vector<size_t> targets, failed;
    bool rejoin = false;  // a brick that was not in the lock (or lost it) is back
    {
      std::lock_guard lk(eager_mu_);
      for (size_t i : e->part)
        if (!e->bad[i]) targets.push_back(i);
    }
    for (auto it = targets.begin(); it != targets.end();) {
      if (children_[*it]->client().session_id() != e->sessions[*it]) {
        failed.push_back(*it);
        it = targets.erase(it);
      } else {
        ++it;
      }
    }
    for (size_t i : UpChildren()) rejoin = rejoin || children_[i]->client().session_id() != e->sessions[i];
    if (!HasQuorum(targets)) {
      // No change can succeed under this lock any more: let it go and start afresh (once).
      std::lock_guard lk(eager_mu_);
      for (size_t i : failed) e->bad[i] = true;
      done_with(*e);
      release_soon(*e);
      eager_cv_.notify_all();
      if (attempt == 0) continue;
      return Status(EROFS, fmt::format("change refused: {} of {} bricks left under the entry lock", targets.size(), n()));
    }
    proto::TxnTail none;
    auto res = FanOut<Rep>(n(), targets, [&](size_t i) { return call(children_[i], none); });
    std::vector<size_t> good = Succeeded(targets, res);
    Result<Rep> out = Status(EIO, "the change reached no brick");
    bool refused = false;
    Gfid gone;  // a directory this change removed (rmdir): its own eager lock goes
    if (good.empty() && SameError(targets, res)) {
      // Failed everywhere the same way (EEXIST, ENOENT, ENOTEMPTY…): nothing diverged.
      out = res[targets.front()]->status();
    } else {
      for (size_t i : targets)
        if (!res[i]->ok()) failed.push_back(i);
      if (!good.empty() && HasQuorum(good)) {
        if (good.size() < n()) {
          std::vector<bool> readable(n(), false);
          for (size_t i : good) readable[i] = true;
          RememberHealth(dir, readable);
          if constexpr (requires { res[0]->value().attr().gfid(); }) {
            if (auto g = Gfid::FromBytes(res[good.front()]->value().attr().gfid())) RememberHealth(*g, readable);
          }
        }
        out = std::move(*res[good.front()]);
      } else if (!good.empty()) {
        HAFS_LOG_WARN("{}: entry change in {} reached only {} of {} bricks", options_.owner_name, dir.ToString(),
                      good.size(), n());
        out = BelowQuorum(failed, res);
        refused = true;
      } else {
        out = res[targets.front()]->status();
      }
    }
    if constexpr (std::is_same_v<Rep, proto::EntryReply>) {
      if (out.ok() && S_ISDIR(out->attr().mode()) && out->attr().nlink() == 0)
        gone = Gfid::FromBytes(out->attr().gfid()).value_or(Gfid());
    }
    {
      std::lock_guard lk(eager_mu_);
      if (refused) Refused(Kind::kEntry, dir, *e, good);
      else
        for (size_t i : failed) e->bad[i] = true;
      done_with(*e);
      std::vector<size_t> left;
      for (size_t i : e->part)
        if (!e->bad[i]) left.push_back(i);
      // Under this lock no change can succeed any more, or a brick came back that should take
      // part again: the next change takes a fresh lock.
      if (!HasQuorum(left) || rejoin) release_soon(*e);
      if (!gone.IsNull()) {
        auto it = eager_entry_.find(gone);
        if (it != eager_entry_.end()) release_soon(*it->second);
      }
      eager_cv_.notify_all();
    }
    return out;
  }
}

void ReplicateLayer::FlushEagerEntry(const Gfid& dir) { ReleaseEager(Kind::kEntry, dir); }

// ---- operations ----

static Gfid GfidOf(const std::string& raw) { return Gfid::FromBytes(raw).value_or(Gfid()); }
static std::vector<std::pair<Gfid, std::string>> One(const Gfid& parent, const std::string& name) {
  return {{parent, name}};
}

Future<proto::EntryReply> ReplicateLayer::Lookup(proto::EntryRequest req) {
  return Deferred([this, req = std::move(req)]() mutable -> Result<proto::EntryReply> {
    req.set_want_pending(true);
    // Quick read: one brick (spread by name) sends a small file's content with its answer;
    // it is passed up only if every brick's changelog is clean and that brick is readable.
    const uint32_t want_data = req.want_data();
    req.set_want_data(0);
    for (int round = 0; round < 2; ++round) {
      auto up = UpChildren();
      if (up.empty()) return Status(ENOTCONN, "no brick of the replica set is up");
      const size_t qr = want_data ? up[std::hash<std::string>{}(req.name()) % up.size()] : n();
      auto res = FanOut<proto::EntryReply>(n(), up, [&](size_t i) {
        if (i != qr) return children_[i]->Lookup(req);
        proto::EntryRequest q = req;
        q.set_want_data(want_data);
        return children_[i]->Lookup(std::move(q));
      });
      std::vector<bool> answered(n(), false);
      std::vector<std::map<std::string, int64_t>> counters(n());
      size_t missing = 0;
      int other_err = 0;
      Gfid gfid;
      for (size_t i : up) {
        if (res[i]->ok()) {
          Gfid g = GfidOf(res[i]->value().attr().gfid());
          if (!gfid.IsNull() && g != gfid) {
            HAFS_LOG_ERROR("gfid split-brain: '{}' in {} is {} on one brick and {} on another", req.name(),
                           GfidOf(req.parent()).ToString(), gfid.ToString(), g.ToString());
            return Status(EIO, "gfid mismatch between replicas");
          }
          gfid = g;
          answered[i] = true;
          counters[i] = {res[i]->value().pending().begin(), res[i]->value().pending().end()};
        } else if (res[i]->err() == ENOENT) {
          ++missing;
        } else {
          other_err = res[i]->err();
        }
      }
      if (gfid.IsNull()) {
        if (missing > 0) return Status(ENOENT, "no such entry");
        return Status(other_err ? other_err : ENOTCONN, "lookup failed on every brick");
      }
      // The parent's counters come with every name found: a directory left accusing a brick
      // (a change failed there, or its session was lost under an eager entry lock) is healed
      // by the lookup of any name in it, even a directory never looked up itself (the root).
      // Self-accusing bricks alone are a change in flight (or the directory's own lookup's
      // business): they do not make this lookup wait.
      if (round == 0 && missing == 0) {
        const Gfid parent = GfidOf(req.parent());
        std::vector<std::map<std::string, int64_t>> pc(n());
        bool any = false;
        for (size_t i : up) {
          if (!answered[i]) continue;
          pc[i] = {res[i]->value().parent_pending().begin(), res[i]->value().parent_pending().end()};
          any = any || !pc[i].empty();
        }
        if (any && !HoldsEagerEntry(parent)) {
          bool split = false;
          auto acc = Accused(pc, answered, Kind::kEntry, &split);
          bool behind = split;
          for (size_t i = 0; i < n(); ++i) behind = behind || (answered[i] && acc[i]);
          // Without waiting for the directory's lock: a name lookup must not queue behind a
          // writer's (or a dead client's, until its lease ends) entry lock; the self-heal
          // daemon and later lookups finish what this one could not.
          if (behind) (void)HealDirectory(parent, up, /*try_only=*/true);
        }
      }
      bool dir = S_ISDIR(res[up.front()]->ok() ? res[up.front()]->value().attr().mode() : 0);
      for (size_t i : up)
        if (answered[i]) dir = S_ISDIR(res[i]->value().attr().mode());
      bool split_d = false, split_m = false, split_e = false;
      auto acc_d = Accused(counters, answered, dir ? Kind::kEntry : Kind::kData, &split_d);
      auto acc_m = Accused(counters, answered, Kind::kMetadata, &split_m);
      (void)split_e;
      bool dirty = missing > 0 || split_d || split_m;
      for (size_t i = 0; i < n(); ++i) dirty = dirty || (answered[i] && (acc_d[i] || acc_m[i]));
      // Every brick accusing itself for a file's data: a write in flight (another client's, or
      // an eager lock), or a client that died in the middle of one. If this layer does not hold
      // the lock itself, try to heal without waiting: the lock is free only in the second case.
      if (!dir && !dirty && round == 0 && AllDataFools(counters, answered)) {
        bool ours;
        {
          std::lock_guard lk(eager_mu_);
          ours = eager_.count(gfid) > 0;
        }
        if (!ours) {
          Status h = HealFile(gfid, up, /*try_only=*/true);
          if (h.err() == EIO) return h;
          continue;
        }
      }
      // The same for a directory's entry counters: an entry change in flight (another
      // client's eager entry lock, usually) or a client that died inside one. Not waiting for
      // the lock; only when a heal was done (the lock was free) is the directory looked up again.
      if (dir && !dirty && round == 0 && !HoldsEagerEntry(gfid)) {
        if (AllFools(counters, answered, CounterNames(Kind::kEntry))) {
          size_t before = heals_done_.load();
          Status h = HealDirectory(gfid, up, /*try_only=*/true);
          if (h.err() == EIO) return h;
          if (heals_done_.load() != before) continue;
        }
      }
      if (dirty && round == 0) {
        // Heal under locks, then look again: the locked view decides, not this racy one.
        if (missing > 0) (void)HealDirectory(GfidOf(req.parent()), up, /*try_only=*/true);  // as above
        Status h = Heal(gfid);
        if (h.err() == EIO) return h;
        continue;
      }
      std::vector<bool> readable(n(), false);
      for (size_t i = 0; i < n(); ++i) readable[i] = answered[i] && !acc_d[i] && !acc_m[i];
      if (std::none_of(readable.begin(), readable.end(), [](bool b) { return b; })) readable = answered;
      RememberHealth(gfid, readable);
      std::vector<bool> tried(n(), false);
      int pick = ReadChild(gfid, tried);
      if (pick < 0 || !answered[pick]) {
        for (size_t i : up)
          if (answered[i]) pick = static_cast<int>(i);
      }
      bool clean = true;
      for (size_t i = 0; i < n(); ++i) clean = clean && counters[i].empty();
      std::string qdata;
      bool qhave = qr < n() && answered[qr] && readable[qr] && clean && res[qr]->value().has_data() &&
                   res[qr]->value().attr().size() == res[pick]->value().attr().size();
      if (qhave) qdata = std::move(*res[qr]->value().mutable_data());
      auto out = std::move(res[pick]->value());
      out.clear_pending();
      out.clear_parent_pending();
      out.clear_data();
      out.set_has_data(qhave);
      if (qhave) out.set_data(std::move(qdata));
      return out;
    }
    return Status(EIO, "lookup did not settle");
  });
}

#define HAFS_READ(Method, Req, Rep, gfid_field)                                                   \
  Future<proto::Rep> ReplicateLayer::Method(proto::Req req) {                                     \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {                        \
      return ReadFromHealthy<proto::Rep>(GfidOf(req.gfid_field()),                                \
                                         [&](ProtocolLayer* c) { return c->Method(req); });       \
    });                                                                                           \
  }

HAFS_READ(Getattr, GfidRequest, AttrReply, gfid)
HAFS_READ(Readlink, GfidRequest, ReadlinkReply, gfid)
HAFS_READ(Readdir, ReaddirRequest, ReaddirReply, gfid)
// Data reads spread over the healthy bricks by 1 MiB chunk of the offset (not by file alone),
// so read-ahead's parallel prefetches of one stream use every brick's process and disk.
Future<proto::ReadReply> ReplicateLayer::Read(proto::ReadRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::ReadReply> {
    return ReadFromHealthy<proto::ReadReply>(
        GfidOf(req.gfid()), [&](ProtocolLayer* c) { return c->Read(req); }, req.offset() >> 20);
  });
}
HAFS_READ(Statfs, GfidRequest, StatfsReply, gfid)
HAFS_READ(Getxattr, GetxattrRequest, XattrReply, gfid)
HAFS_READ(Listxattr, GfidRequest, ListxattrReply, gfid)
HAFS_READ(Access, AccessRequest, ErrReply, gfid)

#define HAFS_INODE_TXN(Method, Req, Rep, kind_expr)                                               \
  Future<proto::Rep> ReplicateLayer::Method(proto::Req req) {                                     \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {                        \
      return InodeTxn<proto::Rep>(GfidOf(req.gfid()), kind_expr,                                  \
                                  [&](ProtocolLayer* c, const proto::TxnTail& tail) {             \
                                    proto::Req r = req;                                           \
                                    *r.mutable_tail() = tail;                                     \
                                    return c->Method(std::move(r));                               \
                                  });                                                             \
    });                                                                                           \
  }

HAFS_INODE_TXN(Setxattr, SetxattrRequest, ErrReply, Kind::kMetadata)
HAFS_INODE_TXN(Removexattr, RemovexattrRequest, ErrReply, Kind::kMetadata)

// Data changes run under the eager lock; [start, end) is the byte range they touch.
#define HAFS_DATA_TXN(Method, Req, Rep, start_expr, end_expr)                                     \
  Future<proto::Rep> ReplicateLayer::Method(proto::Req req) {                                     \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {                        \
      return DataTxn<proto::Rep>(GfidOf(req.gfid()), start_expr, end_expr,                        \
                                 [&](ProtocolLayer* c, const proto::TxnTail& tail) {              \
                                   proto::Req r = req;                                            \
                                   *r.mutable_tail() = tail;                                      \
                                   return c->Method(std::move(r));                                \
                                 });                                                              \
    });                                                                                           \
  }

// An appending write lands wherever the end is on each brick: it excludes every other change.
// The payload is shared by the calls to the bricks, not copied per brick (ProtocolLayer::WriteShared).
Future<proto::WriteReply> ReplicateLayer::Write(proto::WriteRequest req) {
  return Deferred([this, req = std::move(req)]() mutable -> Result<proto::WriteReply> {
    const uint64_t start = req.append() ? 0 : req.offset();
    const uint64_t end = req.append() ? kWholeFile : req.offset() + req.data().size();
    auto data = std::make_shared<const std::string>(std::move(*req.mutable_data()));
    req.clear_data();
    return DataTxn<proto::WriteReply>(GfidOf(req.gfid()), start, end,
                                      [&](ProtocolLayer* c, const proto::TxnTail& tail) {
                                        proto::WriteRequest r = req;
                                        *r.mutable_tail() = tail;
                                        return c->WriteShared(std::move(r), data);
                                      });
  });
}
HAFS_DATA_TXN(Fallocate, FallocateRequest, AttrReply, 0, kWholeFile)

Future<proto::AttrReply> ReplicateLayer::Setattr(proto::SetattrRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::AttrReply> {
    TxnCall<proto::AttrReply> call = [&](ProtocolLayer* c, const proto::TxnTail& tail) {
      proto::SetattrRequest r = req;
      *r.mutable_tail() = tail;
      return c->Setattr(std::move(r));
    };
    if (req.valid() & proto::SetattrRequest::SIZE) return DataTxn<proto::AttrReply>(GfidOf(req.gfid()), 0, kWholeFile, call);
    return InodeTxn<proto::AttrReply>(GfidOf(req.gfid()), Kind::kMetadata, call);
  });
}

#define HAFS_ENTRY_TXN(Method, Req, Rep, entries_expr)                                            \
  Future<proto::Rep> ReplicateLayer::Method(proto::Req req) {                                     \
    return Deferred([this, req = std::move(req)]() -> Result<proto::Rep> {                        \
      return EntryTxn<proto::Rep>(entries_expr, [&](ProtocolLayer* c, const proto::TxnTail& tail) { \
        proto::Req r = req;                                                                       \
        *r.mutable_tail() = tail;                                                                 \
        return c->Method(std::move(r));                                                           \
      });                                                                                         \
    });                                                                                           \
  }

HAFS_ENTRY_TXN(Mkdir, MkdirRequest, EntryReply, One(GfidOf(req.parent()), req.name()))
HAFS_ENTRY_TXN(Mknod, MknodRequest, EntryReply, One(GfidOf(req.parent()), req.name()))
HAFS_ENTRY_TXN(Symlink, SymlinkRequest, EntryReply, One(GfidOf(req.parent()), req.name()))
HAFS_ENTRY_TXN(Link, LinkRequest, EntryReply, One(GfidOf(req.new_parent()), req.new_name()))
HAFS_ENTRY_TXN(Unlink, NameRequest, EntryReply, One(GfidOf(req.parent()), req.name()))
HAFS_ENTRY_TXN(Rmdir, NameRequest, EntryReply, One(GfidOf(req.parent()), req.name()))
HAFS_ENTRY_TXN(Rename, RenameRequest, RenameReply,
               (std::vector<std::pair<Gfid, std::string>>{{GfidOf(req.old_parent()), req.old_name()},
                                                          {GfidOf(req.new_parent()), req.new_name()}}))

// A create takes the new file's eager data lock with it (CreateRequest.data_lock): the
// bricks lock the file and apply the pre-op once it exists, so its first write goes out alone
// (one round trip instead of two). Where the lock was not granted on a quorum, it is undone
// and the first write takes the lock as usual.
Future<proto::EntryReply> ReplicateLayer::Create(proto::CreateRequest req) {
  return Deferred([this, req = std::move(req)]() mutable -> Result<proto::EntryReply> {
    const Gfid gfid = GfidOf(req.gfid());
    const bool carry = options_.eager_lock && options_.create_lock && !gfid.IsNull();
    const uint64_t owner = carry ? lock_owner_ ^ NewOwner() : 0;
    if (carry) {
      auto* dl = req.mutable_data_lock();
      dl->set_gfid(gfid.Bytes());
      dl->set_domain("data");
      dl->set_type(proto::WRITE);
      dl->set_owner(owner);
      // +1 pending for every brick, on every brick: a brick that is down has no such file, and
      // entry heal makes it there accused by itself and the source, never a source.
      auto* pre = dl->add_pre_op();
      pre->set_gfid(gfid.Bytes());
      for (size_t j = 0; j < n(); ++j) (*pre->mutable_deltas())[CounterName(Kind::kData, j)] = 1;
    }
    std::vector<std::string> sessions(n());
    std::vector<char> locked(n(), 0);
    auto res = EntryTxn<proto::EntryReply>(
        One(GfidOf(req.parent()), req.name()), [&](ProtocolLayer* c, const proto::TxnTail& tail) {
          size_t i = 0;
          while (i < n() && children_[i] != c) ++i;
          proto::CreateRequest r = req;
          *r.mutable_tail() = tail;
          if (i < n()) sessions[i] = c->client().session_id();
          auto f = c->Create(std::move(r));
          return Future<proto::EntryReply>(
              Deferred([f = std::move(f), i, &locked]() mutable -> Result<proto::EntryReply> {
                auto out = f.get();
                if (out.ok() && out->data_locked() && i < locked.size()) locked[i] = 1;
                return out;
              }));
        });
    std::vector<size_t> got;
    for (size_t i = 0; i < n(); ++i)
      if (locked[i]) got.push_back(i);
    if (got.empty()) return res;
    bool keep = res.ok() && GfidOf(res->attr().gfid()) == gfid && HasQuorum(got);
    if (keep) {
      std::lock_guard lk(eager_mu_);
      if (eager_.count(gfid)) {
        keep = false;
      } else {
        auto e = std::make_shared<Eager>();
        e->owner = owner;
        e->sessions = sessions;
        e->bad.assign(n(), false);
        e->refused.assign(n(), false);
        e->part = got;
        e->state = Eager::State::kHeld;
        e->last_use = std::chrono::steady_clock::now();
        eager_.emplace(gfid, std::move(e));
        ++stats_.acquired;
        ++stats_.with_create;
        // No releaser wake-up: the new lock falls due after whatever it sleeps until (TakeEager).
      }
    }
    if (!keep) {
      // Take the pre-op back and unlock, in one round trip.
      FanOut<proto::ErrReply>(n(), got, [&](size_t i) {
        proto::InodelkRequest r;
        r.set_gfid(gfid.Bytes());
        r.set_domain("data");
        r.set_type(proto::UNLOCK);
        r.set_owner(owner);
        auto* post = r.add_post_op();
        post->set_gfid(gfid.Bytes());
        for (size_t j = 0; j < n(); ++j) (*post->mutable_deltas())[CounterName(Kind::kData, j)] = -1;
        return children_[i]->Inodelk(r, options_.lock_wait);
      });
    }
    return res;
  });
}

Future<proto::ErrReply> ReplicateLayer::Fsync(proto::FsyncRequest req) {
  return Deferred([this, req = std::move(req)]() -> Result<proto::ErrReply> {
    auto up = UpChildren();
    auto res = FanOut<proto::ErrReply>(n(), up, [&](size_t i) { return children_[i]->Fsync(req); });
    auto good = Succeeded(up, res);
    // The data is on disk where fsync succeeded; now the delayed post-op, so that a brick
    // whose fsync failed stays accused and the changelog is settled when fsync returns.
    Gfid gfid = GfidOf(req.gfid());
    if (!SameError(up, res)) {
      std::vector<size_t> failed;
      for (size_t i : up)
        if (!res[i]->ok()) failed.push_back(i);
      if (!failed.empty()) MarkBad(gfid, failed);
    }
    FlushEager(gfid);
    FlushEagerEntry(gfid);  // fsync of a directory settles its entry changelog
    if (HasQuorum(good)) return proto::ErrReply();
    return Status(up.empty() ? ENOTCONN : FirstError(up, res, EIO), "fsync failed on too many bricks");
  });
}

namespace {
class ReplicaFileRef final : public FileRef {
 public:
  std::vector<std::shared_ptr<FileRef>> refs;
};
}  // namespace

Future<std::shared_ptr<FileRef>> ReplicateLayer::Open(Gfid gfid) {
  return Deferred([this, gfid]() -> Result<std::shared_ptr<FileRef>> {
    auto up = UpChildren();
    auto res = FanOut<std::shared_ptr<FileRef>>(n(), up, [&](size_t i) { return children_[i]->Open(gfid); });
    auto ref = std::make_shared<ReplicaFileRef>();
    int err = ENOTCONN;
    for (size_t i : up) {
      if (res[i]->ok()) ref->refs.push_back(res[i]->value());
      else err = res[i]->err();
    }
    if (ref->refs.empty()) return Status(err, "open failed on every brick");
    return std::shared_ptr<FileRef>(ref);
  });
}

}  // namespace hafs::client
