// Sessions: one per connected client (a long-lived bidirectional Session stream). A session
// owns the client's locks and open handles; when the stream ends or nothing is heard from the
// client for its lease, everything it held is released, so a dead client cannot wedge a file.
// Sessions also carry cache invalidations pushed to the other clients.
//
// Thread-safety: all methods may be called from any thread. A reaper thread expires leases.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "brickd/lock_table.h"
#include "brickd/storage.h"
#include "proto/brick.pb.h"

namespace hafs::brick {

class SessionRegistry {
 public:
  // One session's outbound queue; the Session RPC handler drains it onto the stream.
  class Outbox {
   public:
    // Waits up to `wait` for an event; false if none (or the session closed).
    bool Pop(proto::SessionEvent* ev, std::chrono::milliseconds wait);
    void Push(proto::SessionEvent ev);
    void Close();
    bool closed() const;

   private:
    static constexpr size_t kMaxQueued = 4096;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<proto::SessionEvent> q_;
    bool overflowed_ = false;
    bool closed_ = false;
  };

  SessionRegistry(LockTable& locks, Storage& storage, std::chrono::milliseconds max_lease);
  ~SessionRegistry();

  // Registers a session; `cancel` ends its stream (called when the lease expires).
  // Fails with EEXIST if the id is live.
  Status Open(const std::string& id, const std::string& client_name, std::chrono::milliseconds lease,
              std::function<void()> cancel, std::shared_ptr<Outbox>* outbox);
  void Touch(const std::string& id);
  // Releases everything the session holds. Safe to call twice.
  void Close(const std::string& id, const char* why);
  bool Alive(const std::string& id) const;
  size_t Count() const;
  std::chrono::milliseconds LeaseFor(std::chrono::milliseconds asked) const;

  Result<uint64_t> AddOpen(const std::string& id, const Gfid& gfid);
  Status ReleaseOpen(const std::string& id, uint64_t handle);

  // Sends an invalidation to every session except `origin`.
  void Broadcast(const std::string& origin, const Gfid& gfid, const Gfid& parent = Gfid(),
                 const std::string& name = "");
  // Tells `holder` that someone waits for its inode lock on gfid/domain (LockContended).
  void NotifyContended(const std::string& holder, const Gfid& gfid, const std::string& domain);
  std::vector<std::string> Describe() const;

 private:
  struct Session {
    std::string name;
    std::chrono::milliseconds lease;
    std::chrono::steady_clock::time_point last_seen;
    std::function<void()> cancel;
    std::shared_ptr<Outbox> outbox;
    std::unordered_map<uint64_t, Gfid> opens;
  };
  void ReapLoop();

  LockTable& locks_;
  Storage& storage_;
  std::chrono::milliseconds max_lease_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::map<std::string, Session> sessions_;
  uint64_t next_handle_ = 1;
  std::thread reaper_;
};

}  // namespace hafs::brick
