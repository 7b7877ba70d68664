// TcpSession: mode tcp. Picks a server, connects (retrying / redispatching on
// failure), then relays both directions with splice(2) through one pipe each, so
// bulk payload bytes never enter user space. Like HAProxy's splice-auto, a direction
// starts with plain recv/send (cheaper for small request/response exchanges) and
// switches to splice the first time a read fills the 16 KiB buffer.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "lb/sessions.h"

namespace hafs::lb {

int StartConnect(const Address& addr) {
  int fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int ConnectError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

std::string PeerIp(const sockaddr_storage& peer) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (peer.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, buf, sizeof(buf));
  else if (peer.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, buf, sizeof(buf));
  return buf;
}

uint64_t PeerHash(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr;
    return HashBytes(std::string_view(reinterpret_cast<const char*>(&a), sizeof(a)));
  }
  auto& a = reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr;
  return HashBytes(std::string_view(reinterpret_cast<const char*>(&a), sizeof(a)));
}

void ObserveServerFailure(const ServerRt& srv, const char* why) {
  srv.st->c.conn_errors.fetch_add(1, std::memory_order_relaxed);
  if (!srv.conf->params.check) return;  // nothing would bring it back up
  int n = srv.st->passive_failures.fetch_add(1) + 1;
  srv.st->want_fast_check = true;
  if (n >= srv.conf->params.fall)
    srv.st->SetUp(false, fmt::format("{} consecutive connection failures seen by traffic ({})", n, why));
}

void ObserveServerSuccess(const ServerRt& srv) {
  if (srv.st->passive_failures.load(std::memory_order_relaxed) != 0) srv.st->passive_failures = 0;
}

namespace {

constexpr size_t kPipeSize = 256 * 1024;
constexpr size_t kSmallRead = 16384;

struct Pipe {
  int rd = -1, wr = -1;
  size_t pending = 0;
  bool src_eof = false;
  bool shut = false;
  bool src_ready = true;  // epoll edge seen on the source and not drained yet
  bool src_hup = false;   // the source signalled EOF/error: never rely on another edge
  bool bulk = false;      // large transfer seen: splice from now on
  size_t cap = 65536;     // actual pipe capacity
  bool Open() {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    rd = p[0], wr = p[1];
    fcntl(wr, F_SETPIPE_SZ, kPipeSize);  // may be refused (pipe-user-pages limits): ask what we got
    int got = fcntl(wr, F_GETPIPE_SZ);
    if (got > 0) cap = static_cast<size_t>(got);
    return true;
  }
  void Close() {
    if (rd >= 0) close(rd), close(wr);
    rd = wr = -1;
  }
};

class TcpSession : public Session {
 public:
  TcpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer)
      : Session(w), rt_(std::move(rt)), fe_(fe), be_(fe->backend), cfd_(fd), peer_(peer) {
    fe_->st->c.SessionStart();
    retries_left_ = be_->conf->retries;
    w_.Watch(cfd_, &cep_);
    deadline = w_.now() + fe_->conf->timeouts.client_ms;
  }

  void Start() override { Connect(nullptr); }

  ~TcpSession() override {
    if (srv_) srv_->st->c.SessionEnd();
    fe_->st->c.SessionEnd();
    if (counted_backend_) be_->st->c.SessionEnd();
    if (cfd_ >= 0) close(cfd_);
    if (sfd_ >= 0) close(sfd_);
    up_.Close();
    down_.Close();
  }

  void OnIo(int side, uint32_t events) override {
    constexpr uint32_t kReadable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
    Pipe& p = side == 0 ? up_ : down_;
    if (events & kReadable) p.src_ready = true;
    // The peer's FIN may come with its last data in one edge: read until EOF then.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) p.src_hup = true;
    if (connecting_) {
      if (side == 1 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) FinishConnect();
      return;
    }
    if (sfd_ >= 0) Relay();
  }

  void OnTimeout() override {
    if (connecting_) {
      ConnectFailed(ETIMEDOUT);
      return;
    }
    Finish();
  }

 private:
  void Connect(const ServerRt* exclude) {
    if (!be_) return Finish();
    PickInput in;
    in.source_hash = PeerHash(peer_);
    in.exclude = exclude;
    // The slot is taken with the choice (no queue in TCP mode: a full server is never chosen).
    const ServerRt* s = ChooseReserved(
        [&] {
          const ServerRt* c = be_->Pick(in);
          if (!c && exclude && exclude->Usable()) c = exclude;  // only that one is left: retry it
          return c;
        },
        srv_);
    if (!s) {
      HAFS_LOG_DEBUG("{}: no server available", be_->conf->name);
      return Finish();
    }
    if (srv_ != s) {
      if (srv_) srv_->st->c.SessionEnd();
      srv_ = s;
    }
    if (!counted_backend_) be_->st->c.SessionStart(), counted_backend_ = true;
    down_.src_ready = false;  // nothing from the server yet; its first bytes raise an edge
    sfd_ = StartConnect(srv_->conf->addr);
    if (sfd_ < 0) return ConnectFailed(errno);
    connecting_ = true;
    deadline = w_.now() + be_->conf->timeouts.connect_ms;
    w_.Watch(sfd_, &sep_);
  }

  void FinishConnect() {
    int err = ConnectError(sfd_);
    if (err == EINPROGRESS || err == EALREADY) return;
    if (err) return ConnectFailed(err);
    connecting_ = false;
    ObserveServerSuccess(*srv_);  // pipes are created on first need (short-lived connections never pay for them)
    Touch();
    Relay();
  }

  void ConnectFailed(int err) {
    if (sfd_ >= 0) close(sfd_), sfd_ = -1;
    connecting_ = false;
    ObserveServerFailure(*srv_, strerror(err));
    if (retries_left_-- <= 0) {
      be_->st->c.conn_errors.fetch_add(1, std::memory_order_relaxed);
      return Finish();
    }
    srv_->st->c.retries.fetch_add(1, std::memory_order_relaxed);
    const ServerRt* failed = srv_;
    if (be_->conf->redispatch || !failed->Usable()) {
      srv_->st->c.redispatches.fetch_add(1, std::memory_order_relaxed);
      Connect(failed);
    } else {
      Connect(nullptr);
    }
  }

  void Touch() {
    deadline = w_.now() + std::max(fe_->conf->timeouts.client_ms, be_->conf->timeouts.server_ms);
  }

  // Moves bytes src -> pipe -> dst until both ends would block. Returns false on error.
  bool Pump(int src, int dst, Pipe& p, bool* progress, uint64_t* moved) {
    for (int rounds = 0; rounds < 64; ++rounds) {
      if (p.pending > 0) {
        ssize_t n = splice(p.rd, nullptr, dst, nullptr, p.pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
          p.pending -= static_cast<size_t>(n);
          *moved += static_cast<uint64_t>(n);
          *progress = true;
        } else if (n < 0 && errno == EAGAIN) {
          return true;
        } else {
          return false;
        }
      }
      if (p.pending == 0 && p.src_eof) {
        if (!p.shut) shutdown(dst, SHUT_WR), p.shut = true;
        return true;
      }
      if (p.src_eof || !p.src_ready) return true;
      if (p.pending == 0 && !p.bulk) {
        // Small exchanges: one recv + one send beats two splices. A full read means a
        // bulk flow, which switches this direction to splice (zero copy) for good.
        char buf[kSmallRead];
        ssize_t n = recv(src, buf, sizeof(buf), 0);
        if (n > 0) {
          size_t got = static_cast<size_t>(n);
          if (got < sizeof(buf) && !p.src_hup) p.src_ready = false;
          if (got == sizeof(buf)) p.bulk = true;
          ssize_t w = send(dst, buf, got, MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN) return false;
          size_t sent = w > 0 ? static_cast<size_t>(w) : 0;
          *moved += sent;
          if (sent < got) {  // the rest waits in the (empty, hence large enough) pipe
            if (p.rd < 0 && !p.Open()) return false;
            if (write(p.wr, buf + sent, got - sent) != static_cast<ssize_t>(got - sent)) return false;
            p.pending = got - sent;
          }
          *progress = true;
        } else if (n == 0) {
          p.src_eof = true;
          *progress = true;
        } else if (errno == EAGAIN) {
          p.src_ready = false;
          return true;
        } else {
          return false;
        }
        continue;
      }
      if (p.rd < 0 && !p.Open()) return false;
      size_t room = p.cap - p.pending;
      ssize_t n = splice(src, nullptr, p.wr, nullptr, room, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        p.pending += static_cast<size_t>(n);
        // Less than the pipe could take: the socket is drained; a new arrival raises an edge.
        if (static_cast<size_t>(n) < room && !p.src_hup) p.src_ready = false;
        *progress = true;
      } else if (n == 0) {
        p.src_eof = true;
        *progress = true;
      } else if (errno == EAGAIN) {
        // Either the socket is empty or the pipe is full; only the former ends the round.
        if (p.pending == 0) {
          p.src_ready = false;
          return true;
        }
      } else {
        return false;
      }
    }
    return true;
  }

  void Relay() {
    bool progress = false;
    uint64_t in = 0, out = 0;
    bool ok = Pump(cfd_, sfd_, up_, &progress, &in) && Pump(sfd_, cfd_, down_, &progress, &out);
    for (Counters* c : {&fe_->st->c, &be_->st->c, &srv_->st->c}) {
      if (in) c->bytes_in.fetch_add(in, std::memory_order_relaxed);
      if (out) c->bytes_out.fetch_add(out, std::memory_order_relaxed);
    }
    if (!ok) return Finish();
    if (progress) Touch();
    if (up_.shut && down_.shut) Finish();
  }

  void Finish() {
    if (dead) return;
    w_.Retire(this);
  }

  std::shared_ptr<Runtime> rt_;
  const FrontendRt* fe_;
  const BackendRt* be_;
  const ServerRt* srv_ = nullptr;
  int cfd_;
  int sfd_ = -1;
  sockaddr_storage peer_;
  Endpoint cep_{this, 0};
  Endpoint sep_{this, 1};
  Pipe up_, down_;
  bool connecting_ = false;
  bool counted_backend_ = false;
  int retries_left_ = 0;
};

}  // namespace

Session* NewTcpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer) {
  return new TcpSession(w, std::move(rt), fe, fd, peer);
}

}  // namespace hafs::lb
