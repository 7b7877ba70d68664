#include "lb/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

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
    for (auto& c : pool.conns) close(c.fd);
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
  s->next = head_;
  if (head_) head_->prev = s;
  head_ = s;
}

void Worker::Retire(Session* s) {
  if (s->dead) return;
  s->dead = true;
  if (s->prev) s->prev->next = s->next;
  else head_ = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  graveyard_.push_back(s);
}

int Worker::TakeIdle(ServerState* srv) {
  auto it = idle_.find(srv);
  if (it == idle_.end()) return -1;
  auto& conns = it->second.conns;
  while (!conns.empty()) {
    IdleConn c = conns.back();
    conns.pop_back();
    // A pooled connection the server closed (or wrote to) meanwhile is useless.
    char b;
    ssize_t n = recv(c.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return c.fd;
    close(c.fd);
  }
  return -1;
}

void Worker::GiveIdle(const std::shared_ptr<ServerState>& srv, int fd) {
  auto& pool = idle_[srv.get()];
  if (!pool.owner) pool.owner = srv;
  if (pool.conns.size() >= kMaxIdlePerServer) {
    close(fd);
    return;
  }
  // Not in epoll while idle: TakeIdle() checks liveness before reuse.
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  pool.conns.push_back({fd, now_ms_});
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
    Session* s = fe->conf->mode == Mode::kTcp ? NewTcpSession(*this, rt_, fe, fd, peer)
                                              : NewHttpSession(*this, rt_, fe, fd, peer);
    Adopt(s);
    s->Start();
  }
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
    for (auto& c : conns) {
      if (now_ms_ - c.since > kIdleServerConnMs) close(c.fd);
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
        continue;
      }
      if (!ep->session) {
        Accept(static_cast<size_t>(ep->side));
        continue;
      }
      if (!ep->session->dead) ep->session->OnIo(ep->side, events[i].events);
    }
    for (Session* s : graveyard_) delete s;
    graveyard_.clear();
    retired_eps_.clear();
    if (now_ms_ >= next_sweep) {
      Sweep();
      for (Session* s : graveyard_) delete s;
      graveyard_.clear();
      next_sweep = now_ms_ + kSweepMs;
    }
  }
}

}  // namespace hafs::lb
