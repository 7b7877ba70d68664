#include "lb/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/log.h"
#include "lb/lb.h"
#include "lb/sessions.h"

namespace hafs::lb {

namespace {
constexpr int kSweepMs = 50;
constexpr int64_t kIdleServerConnMs = 10000;
constexpr size_t kMaxIdlePerServer = 256;
Endpoint kWakeEndpoint{nullptr, -1};
}  // namespace

Worker::Worker(Lb& lb, int id) : lb_(lb), id_(id) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kWakeEndpoint;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
}

Worker::~Worker() {
  while (head_) {
    Session* s = head_;
    Retire(s);
  }
  for (Session* s : graveyard_) delete s;
  for (auto& [srv, pool] : idle_)
    for (ServerConn* c : pool.conns) CloseServerConn(c);
  for (ServerConn* c : dead_conns_) delete c;
  {
    std::lock_guard lk(inbox_mu_);
    for (auto& h : inbox_) close(h.fd);
  }
  if (evfd_ >= 0) close(evfd_);
  if (epfd_ >= 0) close(epfd_);
}

void Worker::Start() {
  SwitchRuntime();
  thread_ = std::thread([this] { Run(); });
}

void Worker::RequestStop() {
  stop_ = true;
  Notify();
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Notify() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(evfd_, &one, sizeof(one));
}

void Worker::Watch(int fd, Endpoint* ep) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = ep;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void Worker::Adopt(Session* s) {
  load_.fetch_add(1, std::memory_order_relaxed);
  s->next = head_;
  if (head_) head_->prev = s;
  head_ = s;
}

void Worker::Retire(Session* s) {
  if (s->dead) return;
  s->dead = true;
  load_.fetch_sub(1, std::memory_order_relaxed);
  if (s->prev) s->prev->next = s->next;
  else head_ = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  graveyard_.push_back(s);
}

ServerConn* Worker::NewServerConn(int fd, std::shared_ptr<ServerState> srv) {
  auto* c = new ServerConn;
  c->fd = fd;
  c->srv = std::move(srv);
  c->ep.conn = c;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c->ep;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  return c;
}

void Worker::CloseServerConn(ServerConn* c) {
  if (c->fd >= 0) close(c->fd);  // also leaves epoll
  c->fd = -1;
  c->ep.session = nullptr;
  c->ep.side = kIdleSide;
  dead_conns_.push_back(c);
}

ServerConn* Worker::TakeIdle(ServerState* srv, bool verify) {
  auto it = idle_.find(srv);
  if (it == idle_.end()) return nullptr;
  auto& conns = it->second.conns;
  while (!conns.empty()) {
    ServerConn* c = conns.back();
    conns.pop_back();
    if (verify) {
      char b;
      ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        CloseServerConn(c);
        continue;
      }
    }
    return c;
  }
  return nullptr;
}

void Worker::GiveIdle(ServerConn* c) {
  auto& pool = idle_[c->srv.get()];
  if (!pool.owner) pool.owner = c->srv;
  if (pool.conns.size() >= kMaxIdlePerServer) return CloseServerConn(c);
  // Still in epoll: if the server closes it while idle, IdleEvent() drops it.
  c->ep.session = nullptr;
  c->ep.side = kIdleSide;
  c->idle_since = now_ms_;
  pool.conns.push_back(c);
}

void Worker::IdleEvent(ServerConn* c, uint32_t events) {
  if (c->fd < 0 || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  auto it = idle_.find(c->srv.get());
  if (it != idle_.end()) {
    auto& v = it->second.conns;
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] == c) {
        v.erase(v.begin() + static_cast<long>(i));
        break;
      }
  }
  CloseServerConn(c);
}

void Worker::Hand(int fd, const sockaddr_storage& peer, const FrontendRt* fe, std::shared_ptr<Runtime> rt) {
  {
    std::lock_guard lk(inbox_mu_);
    inbox_.push_back({fd, peer, fe, std::move(rt)});
  }
  load_.fetch_add(1, std::memory_order_relaxed);  // counted now so the next choice sees it
  Notify();
}

void Worker::DrainInbox() {
  std::vector<Handoff> in;
  {
    std::lock_guard lk(inbox_mu_);
    in.swap(inbox_);
  }
  for (auto& h : in) {
    load_.fetch_sub(1, std::memory_order_relaxed);
    StartSession(h.fd, h.peer, h.fe, h.rt);
  }
}

void Worker::SwitchRuntime() {
  auto rt = lb_.Current();
  std::set<int> old_fds, new_fds;
  for (const auto& l : listeners_) old_fds.insert(l.fd);
  listeners_.clear();
  for (const auto& fe : rt->frontends)
    for (int fd : fe.listen_fds) listeners_.push_back({fd, &fe}), new_fds.insert(fd);
  for (int fd : old_fds)
    if (!new_fds.count(fd)) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  for (auto& ep : listener_eps_) retired_eps_.push_back(std::move(ep));
  listener_eps_.clear();
  for (size_t i = 0; i < listeners_.size(); ++i) {
    auto ep = std::make_unique<Endpoint>(Endpoint{nullptr, static_cast<int>(i)});
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = ep.get();
    if (old_fds.count(listeners_[i].fd)) {
      // EPOLLEXCLUSIVE registrations cannot be modified: delete and add again.
      epoll_ctl(epfd_, EPOLL_CTL_DEL, listeners_[i].fd, nullptr);
    }
    epoll_ctl(epfd_, EPOLL_CTL_ADD, listeners_[i].fd, &ev);
    listener_eps_.push_back(std::move(ep));
  }
  rt_ = std::move(rt);
  acked_gen_ = rt_->generation;
}

void Worker::Accept(size_t index) {
  if (index >= listeners_.size()) return;
  const ListenerRef& l = listeners_[index];
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) HAFS_LOG_ERROR("accept: out of file descriptors");
      return;
    }
    const FrontendRt* fe = l.fe;
    int maxconn = fe->conf->maxconn;
    if (maxconn > 0 && fe->st->c.cur_sess.load(std::memory_order_relaxed) >= maxconn) {
      close(fd);  // over the frontend's maxconn: refuse rather than queue without bound
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // One wake-up may accept a whole burst: spread it to the least loaded loop.
    // Hysteresis keeps the steady state local (a hand-off costs a wake-up of another loop).
    Worker* target = this;
    int own = load();
    for (Worker* w : lb_.Workers())
      if (w->load() + std::max(4, own / 8) < target->load()) target = w;
    if (target != this) target->Hand(fd, peer, fe, rt_);
    else StartSession(fd, peer, fe, rt_);
  }
}

void Worker::StartSession(int fd, const sockaddr_storage& peer, const FrontendRt* fe, const std::shared_ptr<Runtime>& rt) {
  Session* s = fe->conf->mode == Mode::kTcp ? NewTcpSession(*this, rt, fe, fd, peer) : NewHttpSession(*this, rt, fe, fd, peer);
  Adopt(s);
  s->Start();
}

void Worker::Sweep() {
  for (Session* s = head_; s;) {
    Session* next = s->next;
    if (!s->dead && s->deadline <= now_ms_) s->OnTimeout();
    s = next;
  }
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& conns = it->second.conns;
    size_t keep = 0;
    for (ServerConn* c : conns) {
      if (now_ms_ - c->idle_since > kIdleServerConnMs) CloseServerConn(c);
      else conns[keep++] = c;
    }
    conns.resize(keep);
    if (conns.empty()) it = idle_.erase(it);
    else ++it;
  }
}

void Worker::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  now_ms_ = NowMs();
  int64_t next_sweep = now_ms_ + kSweepMs;
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epfd_, events, kMaxEvents, kSweepMs);
    now_ms_ = NowMs();
    for (int i = 0; i < n; ++i) {
      auto* ep = static_cast<Endpoint*>(events[i].data.ptr);
      if (ep == &kWakeEndpoint) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(evfd_, &v, sizeof(v));
        if (lb_.Current()->generation != acked_gen_.load()) SwitchRuntime();
        DrainInbox();
        continue;
      }
      if (!ep->session) {
        if (ep->side == kIdleSide) IdleEvent(ep->conn, events[i].events);
        else Accept(static_cast<size_t>(ep->side));
        continue;
      }
      if (!ep->session->dead) ep->session->OnIo(ep->side, events[i].events);
    }
    for (Session* s : graveyard_) delete s;
    graveyard_.clear();
    retired_eps_.clear();
    for (ServerConn* c : dead_conns_) delete c;
    dead_conns_.clear();
    if (now_ms_ >= next_sweep) {
      Sweep();
      for (Session* s : graveyard_) delete s;
      graveyard_.clear();
      for (ServerConn* c : dead_conns_) delete c;
      dead_conns_.clear();
      next_sweep = now_ms_ + kSweepMs;
    }
  }
}

}  // namespace hafs::lb
