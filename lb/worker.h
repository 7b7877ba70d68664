// Worker: one epoll event loop on its own thread. It accepts from every listening
// socket (shared fds, EPOLLEXCLUSIVE so one worker wakes per connection), owns the
// sessions it accepted and a pool of idle keep-alive server connections.
//
// Sessions are edge-triggered: on any event a session drives itself until every
// socket it wants to use returned EAGAIN. Nothing here blocks; time-outs are found
// by a sweep of the session list every 50 ms.
// Thread-safety: everything except Notify()/RequestStop() runs on the worker thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>

#include "lb/runtime.h"

namespace hafs::lb {

class Lb;
class Worker;

class Session {
 public:
  explicit Session(Worker& w) : w_(w) {}
  virtual ~Session() = default;
  // Called once the worker adopted the session (it may retire itself from here on).
  virtual void Start() = 0;
  virtual void OnIo(int side, uint32_t events) = 0;
  virtual void OnTimeout() = 0;

  int64_t deadline = INT64_MAX;
  bool dead = false;
  Session* prev = nullptr;
  Session* next = nullptr;

 protected:
  Worker& w_;
};

struct ServerConn;

// What an epoll event points at: a session's side, a listener (session null, side =
// listener index) or an idle pooled server connection (session null, side kIdleSide).
struct Endpoint {
  Session* session;
  int side;
  ServerConn* conn = nullptr;
};
constexpr int kIdleSide = -2;

// A connection to a server. It stays registered in epoll for its whole life with a
// stable Endpoint, so handing it between a session and the idle pool costs no syscall.
struct ServerConn {
  int fd = -1;
  Endpoint ep{nullptr, kIdleSide, nullptr};
  std::shared_ptr<ServerState> srv;
  int64_t idle_since = 0;
};

class Worker {
 public:
  Worker(Lb& lb, int id);
  ~Worker();
  void Start();
  void RequestStop();
  void Join();
  void Notify();  // a new runtime was published

  Lb& lb() { return lb_; }
  int id() const { return id_; }
  int64_t now() const { return now_ms_; }
  uint64_t acked_generation() const { return acked_gen_.load(); }

  void Watch(int fd, Endpoint* ep);
  void Adopt(Session* s);   // adds to the session list
  void Retire(Session* s);  // unlinks; freed after the current event batch

  // Server connections. New() registers fd with epoll (owner: the returned object,
  // which the caller attaches to its session by setting ep.session/ep.side).
  ServerConn* NewServerConn(int fd, std::shared_ptr<ServerState> srv);
  // An idle keep-alive connection to srv, or null. verify: also MSG_PEEK that the server
  // has not closed it meanwhile (for requests that could not be retried).
  ServerConn* TakeIdle(ServerState* srv, bool verify);
  void GiveIdle(ServerConn* c);
  void CloseServerConn(ServerConn* c);

  // Sessions owned by this worker (accept balancing).
  int load() const { return load_.load(std::memory_order_relaxed); }
  // Hands an accepted client connection to this worker (from any thread).
  void Hand(int fd, const sockaddr_storage& peer, const FrontendRt* fe, std::shared_ptr<Runtime> rt);

 private:
  void Run();
  void SwitchRuntime();
  void Accept(size_t listener_index);
  void StartSession(int fd, const sockaddr_storage& peer, const FrontendRt* fe, const std::shared_ptr<Runtime>& rt);
  void DrainInbox();
  void IdleEvent(ServerConn* c, uint32_t events);
  void Sweep();

  Lb& lb_;
  int id_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_gen_{0};
  int64_t now_ms_ = 0;
  std::shared_ptr<Runtime> rt_;
  struct ListenerRef {
    int fd;
    const FrontendRt* fe;
  };
  std::vector<ListenerRef> listeners_;
  std::vector<std::unique_ptr<Endpoint>> listener_eps_;
  std::vector<std::unique_ptr<Endpoint>> retired_eps_;  // may still be in this batch's events
  Session* head_ = nullptr;
  std::vector<Session*> graveyard_;
  struct IdlePool {
    std::shared_ptr<ServerState> owner;  // keeps the key alive: no pointer reuse after `del server`
    std::vector<ServerConn*> conns;
  };
  std::unordered_map<ServerState*, IdlePool> idle_;
  std::vector<ServerConn*> dead_conns_;  // freed after the current event batch
  std::atomic<int> load_{0};
  struct Handoff {
    int fd;
    sockaddr_storage peer;
    const FrontendRt* fe;
    std::shared_ptr<Runtime> rt;
  };
  std::mutex inbox_mu_;
  std::vector<Handoff> inbox_;
};

}  // namespace hafs::lb
