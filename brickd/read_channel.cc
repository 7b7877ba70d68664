#include "brickd/read_channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/read_wire.h"
#include "common/thread_name.h"

namespace hafs::brick {
namespace {

bool ReadFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Writes the header and the data (no copy of the data into one buffer).
bool WriteReply(int fd, const uint8_t* header, const std::string& data) {
  iovec iov[2] = {{const_cast<uint8_t*>(header), read_wire::kReplyHeaderSize},
                  {const_cast<char*>(data.data()), data.size()}};
  int n_iov = data.empty() ? 1 : 2;
  int first = 0;
  while (first < n_iov) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(n_iov - first);
    ssize_t k = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    auto left = static_cast<size_t>(k);
    while (first < n_iov && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < n_iov) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

// gRPC's spelling of a peer, so that the auth rules read it as they read a gRPC caller.
std::string PeerName(const sockaddr_storage& ss) {
  char addr[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &s->sin_addr, addr, sizeof addr);
    return fmt::format("ipv4:{}:{}", addr, ntohs(s->sin_port));
  }
  auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &s->sin6_addr, addr, sizeof addr);
  return fmt::format("ipv6:[{}]:{}", addr, ntohs(s->sin6_port));
}

}  // namespace

Result<std::unique_ptr<ReadChannel>> ReadChannel::Start(const Options& o, ReadFn read, AuthFn auth) {
  std::unique_ptr<ReadChannel> ch(new ReadChannel());
  ch->read_ = std::move(read);
  ch->auth_ = std::move(auth);
  ch->max_connections_ = o.max_connections;
  std::string host = o.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(o.port);
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Status(EINVAL, fmt::format("read channel: {}: {}", o.host, ::gai_strerror(rc)));
  int err = EADDRNOTAVAIL;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      ch->listen_fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (ch->listen_fd_ < 0)
    return Status(err, fmt::format("read channel: cannot listen on {} port {}: {}", o.host, o.port, std::strerror(err)));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(ch->listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  ch->port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  ch->acceptor_ = std::thread([c = ch.get()] { c->AcceptLoop(); });
  return ch;
}

ReadChannel::~ReadChannel() {
  stopping_ = true;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lk(mu_);
    for (auto& c : conns_) ::shutdown(c.fd, SHUT_RDWR);  // wakes each recv()
  }
  Reap(true);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void ReadChannel::Reap(bool all) {
  std::list<Conn> finished;
  {
    std::lock_guard lk(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if (all || it->done.load()) finished.splice(finished.end(), conns_, it);
      it = next;
    }
  }
  for (auto& c : finished) {
    if (c.thread.joinable()) c.thread.join();
    ::close(c.fd);
  }
}

void ReadChannel::AcceptLoop() {
  NameThisThread("read-accept");
  while (!stopping_) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (stopping_) break;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        HAFS_LOG_WARN("read channel: accept: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      HAFS_LOG_ERROR("read channel: accept: {}; no more read connections", std::strerror(errno));
      break;
    }
    Reap(false);
    std::lock_guard lk(mu_);
    if (conns_.size() >= max_connections_) {
      HAFS_LOG_WARN("read channel: {} connections already; closing one from {}", conns_.size(), PeerName(ss));
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Clients keep idle connections open; one whose machine vanished is found by keepalive
    // (about 1 min) and its thread ends, instead of waiting for ever.
    int idle = 30, interval = 10, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    Conn& c = conns_.emplace_back();
    c.fd = fd;
    c.peer = PeerName(ss);
    c.thread = std::thread([this, &c] { Serve(&c); });
  }
}

void ReadChannel::Serve(Conn* c) {
  NameThisThread("read-conn");
  uint8_t frame[read_wire::kRequestSize];
  uint8_t header[read_wire::kReplyHeaderSize];
  std::string data;
  while (!stopping_ && ReadFull(c->fd, frame, sizeof frame)) {
    read_wire::Request req;
    if (!read_wire::Decode(frame, &req)) {
      HAFS_LOG_WARN("read channel: {} sent a frame that is not a read request; closing its connection", c->peer);
      break;
    }
    read_wire::ReplyHeader rep;
    rep.tag = req.tag;
    bool allowed = auth_(c->peer);
    bool eof = false;
    data.clear();
    if (!allowed) {
      rep.err = EACCES;
    } else {
      rep.err = read_(std::string_view(reinterpret_cast<const char*>(req.gfid), 16), req.offset, req.size, &data, &eof);
    }
    if (rep.err != 0) data.clear();
    rep.length = static_cast<uint32_t>(data.size());
    rep.flags = (eof ? read_wire::kEof : 0) | (allowed ? 0 : read_wire::kRefused);
    read_wire::Encode(rep, header);
    if (!WriteReply(c->fd, header, data) || !allowed) break;
    // A 1 MiB buffer is kept for the next read; a bigger one (max_io) is not.
    if (data.capacity() > (1u << 20)) std::string().swap(data);
  }
  ::shutdown(c->fd, SHUT_RDWR);
  c->done = true;
}

}  // namespace hafs::brick
