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
#include <memory>

#include "common/call_wire.h"
#include "common/log.h"
#include "common/read_wire.h"
#include "common/send_all.h"
#include "common/thread_name.h"

namespace hafs::brick {
namespace {

// A connection's incoming bytes: a frame is taken whole from here, and a request that came in
// one segment costs one recv.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}
  // Makes `n` bytes from the current position available; false if the connection ended.
  bool Need(size_t n) {
    if (end_ - begin_ >= n) return true;
    if (begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (n > cap_) Grow(n);
    while (end_ < n) {
      ssize_t k = ::recv(fd_, buf_.get() + end_, cap_ - end_, 0);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      end_ += static_cast<size_t>(k);
    }
    return true;
  }
  const uint8_t* data() const { return buf_.get() + begin_; }
  void Consume(size_t n) {
    begin_ += n;
    // A buffer grown for one large write is not kept.
    if (begin_ == end_ && cap_ > kKeep) {
      buf_.reset(new uint8_t[kKeep]);
      cap_ = kKeep;
      begin_ = end_ = 0;
    }
  }

 private:
  static constexpr size_t kKeep = (1u << 20) + 4096;
  void Grow(size_t n) {
    std::unique_ptr<uint8_t[]> b(new uint8_t[n]);
    std::memcpy(b.get(), buf_.get(), end_);
    buf_ = std::move(b);
    cap_ = n;
  }
  int fd_;
  std::unique_ptr<uint8_t[]> buf_{new uint8_t[64 * 1024]};
  size_t cap_ = 64 * 1024, begin_ = 0, end_ = 0;
};

// Writes a header and its payload (no copy of the payload into one buffer).
bool WriteReply(int fd, const uint8_t* header, size_t header_size, const std::string& data) {
  iovec iov[2] = {{const_cast<uint8_t*>(header), header_size},
                  {const_cast<char*>(data.data()), data.size()}};
  return SendAll(fd, iov, 2);
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

Result<std::unique_ptr<ReadChannel>> ReadChannel::Start(const Options& o, ReadFn read, AuthFn auth, CallFn call) {
  std::unique_ptr<ReadChannel> ch(new ReadChannel());
  ch->read_ = std::move(read);
  ch->auth_ = std::move(auth);
  ch->call_ = std::move(call);
  ch->max_connections_ = o.max_connections;
  ch->max_frame_ = o.max_frame;
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
      // Told so, the client sends its call over gRPC (a read client reads a malformed reply
      // and does the same); the request was not carried out.
      call_wire::Header h;
      h.magic = call_wire::kCallReplyMagic;
      h.method_or_code = 14;  // UNAVAILABLE
      h.flags = call_wire::kNotServed;
      uint8_t header[call_wire::kHeaderSize];
      call_wire::Encode(h, header);
      (void)::send(fd, header, sizeof header, MSG_NOSIGNAL | MSG_DONTWAIT);
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
  FrameReader in(c->fd);
  uint8_t header[read_wire::kReplyHeaderSize];
  static_assert(read_wire::kReplyHeaderSize == call_wire::kHeaderSize);
  std::string data;
  Caller caller;
  caller.peer = c->peer;
  // Both kinds of frame start with a magic, and neither is shorter than a call header.
  static_assert(read_wire::kRequestSize >= call_wire::kHeaderSize);
  while (!stopping_ && in.Need(call_wire::kHeaderSize)) {
    uint32_t magic = read_wire::detail::Get32(in.data());
    if (magic == call_wire::kCallMagic && call_) {
      call_wire::Header req = call_wire::Decode(in.data());
      if (req.length > max_frame_) {
        HAFS_LOG_WARN("read channel: {} sent a call frame of {} bytes (limit {}); closing its connection", c->peer,
                      req.length, max_frame_);
        break;
      }
      if (!in.Need(call_wire::kHeaderSize + req.length)) break;
      std::string_view payload(reinterpret_cast<const char*>(in.data()) + call_wire::kHeaderSize, req.length);
      if (req.method_or_code == call_wire::kHello) {
        bool ok = call_wire::ParseHello(payload, &caller.session, &caller.key);
        in.Consume(call_wire::kHeaderSize + req.length);
        if (!ok) {
          HAFS_LOG_WARN("read channel: {} sent a malformed hello; closing its connection", c->peer);
          break;
        }
        continue;
      }
      data.clear();
      int code = call_(req.method_or_code, caller, payload, &data);
      in.Consume(call_wire::kHeaderSize + req.length);
      call_wire::Header rep;
      rep.magic = call_wire::kCallReplyMagic;
      rep.tag = req.tag;
      bool refused = code == kNotServed;
      rep.method_or_code = static_cast<uint32_t>(refused ? 7 /* PERMISSION_DENIED */ : code);
      rep.flags = refused ? call_wire::kNotServed : 0;
      rep.length = static_cast<uint32_t>(data.size());
      call_wire::Encode(rep, header);
      if (!WriteReply(c->fd, header, sizeof header, data) || refused) break;
    } else if (magic == read_wire::kRequestMagic) {
      if (!in.Need(read_wire::kRequestSize)) break;
      read_wire::Request req;
      read_wire::Decode(in.data(), &req);
      in.Consume(read_wire::kRequestSize);
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
      if (!WriteReply(c->fd, header, sizeof header, data) || !allowed) break;
    } else {
      HAFS_LOG_WARN("read channel: {} sent a frame that is neither a read nor a call; closing its connection", c->peer);
      break;
    }
    // A 1 MiB buffer is kept for the next request; a bigger one (max_io) is not.
    if (data.capacity() > (1u << 20)) std::string().swap(data);
  }
  ::shutdown(c->fd, SHUT_RDWR);
  c->done = true;
}

}  // namespace hafs::brick
