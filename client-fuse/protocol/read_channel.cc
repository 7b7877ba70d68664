#include "client-fuse/protocol/read_channel.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/read_wire.h"

namespace hafs::client {
namespace {

// Idle connections kept per brick; more are closed when their read is done.
constexpr size_t kMaxIdle = 32;

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

ReadChannelClient::Call::~Call() {
  if (fd >= 0) owner->Done(fd, generation, false);  // its reply was never read
}

ReadChannelClient::~ReadChannelClient() {
  std::lock_guard lk(mu_);
  for (int fd : idle_) ::close(fd);
  idle_.clear();
}

void ReadChannelClient::Reset(const std::string& host, int port, std::chrono::milliseconds call_timeout) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string why;
  if (port > 0) {
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0 || !res) {
      why = ::gai_strerror(rc);
    } else {
      std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
      len = res->ai_addrlen;
    }
    if (res) ::freeaddrinfo(res);
  }
  std::lock_guard lk(mu_);
  generation_++;
  for (int fd : idle_) ::close(fd);
  idle_.clear();
  addr_ = addr;
  addr_len_ = len;
  call_timeout_ = call_timeout;
  name_ = host + ":" + std::to_string(port);
  enabled_ = len > 0;
  if (!why.empty()) HAFS_LOG_WARN("read channel {}: {}; reading over gRPC", name_, why);
}

void ReadChannelClient::Abort() {
  std::lock_guard lk(mu_);
  generation_++;
  enabled_ = false;
  for (int fd : idle_) ::close(fd);
  idle_.clear();
  // Their owners close them; shutdown wakes the threads waiting on them now.
  for (int fd : busy_) ::shutdown(fd, SHUT_RDWR);
}

void ReadChannelClient::Disable(const std::string& why) {
  std::lock_guard lk(mu_);
  if (!enabled_) return;
  enabled_ = false;
  generation_++;
  for (int fd : idle_) ::close(fd);
  idle_.clear();
  HAFS_LOG_WARN("read channel {}: {}; reading over gRPC until the brick reconnects", name_, why);
}

size_t ReadChannelClient::connections() const {
  std::lock_guard lk(mu_);
  return idle_.size() + busy_.size();
}

int ReadChannelClient::Connect(std::chrono::milliseconds timeout) {
  sockaddr_storage addr;
  socklen_t len;
  std::chrono::milliseconds call_timeout;
  {
    std::lock_guard lk(mu_);
    addr = addr_;
    len = addr_len_;
    call_timeout = call_timeout_;
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    int err = 0;
    socklen_t el = sizeof err;
    if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0) {
      rc = 0;
    } else {
      errno = rc == 0 ? ETIMEDOUT : (err ? err : errno);
      rc = -1;
    }
  }
  if (rc != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Blocking reads and writes, each bounded like a gRPC call (a dead brick's are cut short by
  // Abort's shutdown before that).
  timeval tv = ToTimeval(call_timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

std::unique_ptr<ReadChannelClient::Call> ReadChannelClient::Send(const proto::ReadRequest& req,
                                                                 std::chrono::milliseconds connect_timeout) {
  if (req.gfid().size() != 16) return nullptr;  // gRPC's handler names the error
  read_wire::Request r;
  r.size = req.size();
  r.offset = req.offset();
  std::memcpy(r.gfid, req.gfid().data(), 16);
  // An idle connection the brick closed (it restarted, or ended it) fails the send: the read
  // is tried once more, on a new connection.
  for (int attempt = 0; attempt < 2; attempt++) {
    auto call = std::make_unique<Call>();
    call->owner = this;
    call->size = req.size();
    {
      std::lock_guard lk(mu_);
      if (!enabled_) return nullptr;
      call->generation = generation_;
      call->tag = next_tag_++;
      if (attempt == 0 && !idle_.empty()) {
        call->fd = idle_.back();
        idle_.pop_back();
        busy_.insert(call->fd);
      }
    }
    bool fresh = call->fd < 0;
    if (fresh) {
      int fd = Connect(connect_timeout);
      if (fd < 0) {
        Disable(fmt::format("cannot connect: {}", std::strerror(errno)));
        return nullptr;
      }
      std::lock_guard lk(mu_);
      if (!enabled_ || generation_ != call->generation) {  // aborted meanwhile
        ::close(fd);
        return nullptr;
      }
      call->fd = fd;
      busy_.insert(fd);
    }
    r.tag = call->tag;
    uint8_t frame[read_wire::kRequestSize];
    read_wire::Encode(r, frame);
    if (::send(call->fd, frame, sizeof frame, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof frame)) return call;
    Done(call->fd, call->generation, false);
    call->fd = -1;
    if (fresh) return nullptr;
  }
  return nullptr;
}

ReadChannelClient::Outcome ReadChannelClient::Receive(std::unique_ptr<Call> call) {
  Outcome out;
  std::chrono::milliseconds timeout;
  {
    std::lock_guard lk(mu_);
    timeout = call_timeout_;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  proto::ReadReply rep;
  std::string& data = *rep.mutable_data();
  data.resize(call->size);
  uint8_t header[read_wire::kReplyHeaderSize];
  read_wire::ReplyHeader h;
  size_t got = 0, need = sizeof header;
  bool parsed = false;
  // Header and data in one recvmsg when they came together (one request per connection:
  // nothing follows the reply).
  while (got < need) {
    iovec iov[2];
    int n_iov = 0;
    if (got < sizeof header) {
      iov[n_iov++] = {header + got, sizeof header - got};
      if (!data.empty()) iov[n_iov++] = {data.data(), data.size()};
    } else {
      iov[n_iov++] = {data.data() + (got - sizeof header), need - got};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n_iov);
    ssize_t k = ::recvmsg(call->fd, &msg, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0 || std::chrono::steady_clock::now() > deadline) {
      out.transport = true;
      out.reply = Status(ENOTCONN, k == 0 ? "read channel: connection closed"
                                          : fmt::format("read channel: {}", std::strerror(k < 0 ? errno : ETIMEDOUT)));
      return out;  // ~Call closes the connection
    }
    got += static_cast<size_t>(k);
    if (!parsed && got >= sizeof header) {
      parsed = true;
      if (!read_wire::Decode(header, &h) || h.tag != call->tag || h.length > call->size) {
        out.transport = true;
        out.reply = Status(EIO, "read channel: malformed reply");
        return out;
      }
      need = sizeof header + h.length;
    }
  }
  bool refused = h.flags & read_wire::kRefused;
  Done(call->fd, call->generation, !refused);
  call->fd = -1;
  if (refused) {
    out.transport = out.refused = true;
    out.reply = Status(EACCES, "read channel: this address is not served");
    return out;
  }
  if (h.err != 0) {
    out.reply = Status(h.err, fmt::format("read: {}", std::strerror(h.err)));
    return out;
  }
  data.resize(h.length);
  rep.set_eof(h.flags & read_wire::kEof);
  out.reply = std::move(rep);
  return out;
}

void ReadChannelClient::Done(int fd, uint64_t generation, bool reusable) {
  std::lock_guard lk(mu_);
  busy_.erase(fd);
  if (reusable && enabled_ && generation == generation_ && idle_.size() < kMaxIdle) {
    idle_.push_back(fd);
  } else {
    ::close(fd);
  }
}

}  // namespace hafs::client
