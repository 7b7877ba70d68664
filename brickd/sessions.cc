#include "brickd/sessions.h"

#include "common/log.h"

namespace hafs::brick {

bool SessionRegistry::Outbox::Pop(proto::SessionEvent* ev, std::chrono::milliseconds wait) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, wait, [&] { return !q_.empty() || closed_ || overflowed_; });
  if (overflowed_) {
    // The client fell behind: one "invalidate everything" (empty gfid) replaces the backlog.
    overflowed_ = false;
    q_.clear();
    *ev = proto::SessionEvent();
    ev->mutable_invalidate();
    return true;
  }
  if (q_.empty()) return false;
  *ev = std::move(q_.front());
  q_.pop_front();
  return true;
}

void SessionRegistry::Outbox::Push(proto::SessionEvent ev) {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    if (q_.size() >= kMaxQueued) overflowed_ = true;
    else q_.push_back(std::move(ev));
  }
  cv_.notify_one();
}

void SessionRegistry::Outbox::Close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool SessionRegistry::Outbox::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

SessionRegistry::SessionRegistry(LockTable& locks, Storage& storage, std::chrono::milliseconds max_lease)
    : locks_(locks), storage_(storage), max_lease_(max_lease) {
  locks_.SetContentionHook([this](const std::string& holder, const Gfid& gfid, const std::string& domain) {
    NotifyContended(holder, gfid, domain);
  });
  reaper_ = std::thread([this] { ReapLoop(); });
}

SessionRegistry::~SessionRegistry() {
  locks_.SetContentionHook(nullptr);
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  reaper_.join();
}

std::chrono::milliseconds SessionRegistry::LeaseFor(std::chrono::milliseconds asked) const {
  if (asked.count() <= 0 || asked > max_lease_) return max_lease_;
  return std::max(asked, std::chrono::milliseconds(200));
}

Status SessionRegistry::Open(const std::string& id, const std::string& client_name, std::chrono::milliseconds lease,
                             std::function<void()> cancel, std::shared_ptr<Outbox>* outbox) {
  if (id.empty() || id.size() > 128) return Status(EINVAL, "session id must be 1..128 bytes");
  std::lock_guard lk(mu_);
  if (sessions_.count(id)) return Status(EEXIST, fmt::format("session {} is already open", id));
  Session s{client_name, LeaseFor(lease), std::chrono::steady_clock::now(), std::move(cancel),
            std::make_shared<Outbox>(), {}};
  *outbox = s.outbox;
  sessions_.emplace(id, std::move(s));
  HAFS_LOG_INFO("session {} opened by '{}' (lease {} ms)", id, client_name, LeaseFor(lease).count());
  return Status::Ok();
}

void SessionRegistry::Touch(const std::string& id) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.last_seen = std::chrono::steady_clock::now();
}

void SessionRegistry::Close(const std::string& id, const char* why) {
  Session s;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    s = std::move(it->second);
    sessions_.erase(it);
  }
  s.outbox->Close();
  size_t locks = locks_.ReleaseSession(id);
  for (auto& [handle, gfid] : s.opens) storage_.CloseRef(gfid);
  HAFS_LOG_INFO("session {} ('{}') closed: {}; released {} locks, {} opens", id, s.name, why, locks, s.opens.size());
}

bool SessionRegistry::Alive(const std::string& id) const {
  std::lock_guard lk(mu_);
  return sessions_.count(id) > 0;
}

size_t SessionRegistry::Count() const {
  std::lock_guard lk(mu_);
  return sessions_.size();
}

Result<uint64_t> SessionRegistry::AddOpen(const std::string& id, const Gfid& gfid) {
  {
    std::lock_guard lk(mu_);
    if (!sessions_.count(id)) return Status(ENOTCONN, "no such session");
  }
  HAFS_RETURN_IF_ERROR(storage_.OpenRef(gfid));
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    storage_.CloseRef(gfid);
    return Status(ENOTCONN, "session closed");
  }
  uint64_t h = next_handle_++;
  it->second.opens[h] = gfid;
  return h;
}

Status SessionRegistry::ReleaseOpen(const std::string& id, uint64_t handle) {
  Gfid gfid;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return Status(ENOTCONN, "no such session");
    auto h = it->second.opens.find(handle);
    if (h == it->second.opens.end()) return Status(EBADF, "no such handle");
    gfid = h->second;
    it->second.opens.erase(h);
  }
  storage_.CloseRef(gfid);
  return Status::Ok();
}

void SessionRegistry::Broadcast(const std::string& origin, const Gfid& gfid, const Gfid& parent,
                                const std::string& name) {
  proto::SessionEvent ev;
  auto* inv = ev.mutable_invalidate();
  if (!gfid.IsNull()) inv->set_gfid(gfid.Bytes());
  if (!parent.IsNull()) inv->set_parent(parent.Bytes());
  inv->set_name(name);
  std::lock_guard lk(mu_);
  for (auto& [id, s] : sessions_) {
    if (id != origin) s.outbox->Push(ev);
  }
}

void SessionRegistry::NotifyContended(const std::string& holder, const Gfid& gfid, const std::string& domain) {
  proto::SessionEvent ev;
  ev.mutable_contended()->set_gfid(gfid.Bytes());
  ev.mutable_contended()->set_domain(domain);
  std::lock_guard lk(mu_);
  auto it = sessions_.find(holder);
  if (it != sessions_.end()) it->second.outbox->Push(std::move(ev));
}

std::vector<std::string> SessionRegistry::Describe() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, s] : sessions_) {
    out.push_back(fmt::format("session {} client='{}' lease={}ms idle={}ms opens={}", id, s.name, s.lease.count(),
                              std::chrono::duration_cast<std::chrono::milliseconds>(now - s.last_seen).count(),
                              s.opens.size()));
  }
  return out;
}

void SessionRegistry::ReapLoop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lk, std::chrono::milliseconds(100));
    auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, std::function<void()>>> expired;
    for (auto& [id, s] : sessions_) {
      if (now - s.last_seen > s.lease) expired.emplace_back(id, s.cancel);
    }
    if (expired.empty()) continue;
    lk.unlock();
    for (auto& [id, cancel] : expired) {
      Close(id, "lease expired");
      if (cancel) cancel();
    }
    lk.lock();
  }
}

}  // namespace hafs::brick
