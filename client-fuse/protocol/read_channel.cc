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

#include "common/call_wire.h"
#include "common/log.h"
#include "common/read_wire.h"
#include "common/send_all.h"

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

// A reply frame larger than this is malformed (the brick's own limit is max_io + 1 MiB).
constexpr uint32_t kMaxReply = 64u << 20;

}  // namespace

ReadChannelClient::Call::~Call() {
  if (fd < 0) return;
  if (is_call) {
    CallOutcome ignored;
    owner->ReceiveCallOn(this, std::chrono::milliseconds(0), &ignored);
  } else {
    owner->Done(fd, generation, false);  // its reply was never read
  }
}

ReadChannelClient::~ReadChannelClient() {
  std::lock_guard lk(mu_);
  for (int fd : idle_) ::close(fd);
  idle_.clear();
}

void ReadChannelClient::Reset(const std::string& host, int port, std::chrono::milliseconds call_timeout, bool calls,
                              const std::string& session, const std::string& key) {
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
  calls_ = calls && enabled_;
  hello_.clear();
  if (calls_) {
    std::string payload = call_wire::HelloPayload(session, key);
    call_wire::Header h;
    h.magic = call_wire::kCallMagic;
    h.method_or_code = call_wire::kHello;
    h.length = static_cast<uint32_t>(payload.size());
    hello_.resize(call_wire::kHeaderSize);
    call_wire::Encode(h, reinterpret_cast<uint8_t*>(hello_.data()));
    hello_ += payload;
  }
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

bool ReadChannelClient::calls() const {
  std::lock_guard lk(mu_);
  return enabled_ && calls_;
}

bool ReadChannelClient::Take(Call* call, bool for_call, std::chrono::milliseconds connect_timeout, std::string* hello) {
  hello->clear();
  for (;;) {
    int fd = -1;
    {
      std::lock_guard lk(mu_);
      if (!enabled_ || (for_call && !calls_)) return false;
      call->generation = generation_;
      call->tag = next_tag_++;
      if (!idle_.empty()) {
        fd = idle_.back();
        idle_.pop_back();
        busy_.insert(fd);
      } else if (calls_) {
        *hello = hello_;  // a new connection to a brick that takes calls starts with a hello
      }
    }
    if (fd < 0) break;
    // Nothing arrives on an idle connection unasked: readable means the brick closed it (it
    // restarted, or ended the connection); a change must not be sent into that.
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) {
      call->fd = fd;
      return true;
    }
    Done(fd, call->generation, false);
  }
  int fd = Connect(connect_timeout);
  if (fd < 0) {
    Disable(fmt::format("cannot connect: {}", std::strerror(errno)));
    return false;
  }
  std::lock_guard lk(mu_);
  if (!enabled_ || generation_ != call->generation) {  // aborted meanwhile
    ::close(fd);
    return false;
  }
  call->fd = fd;
  busy_.insert(fd);
  return true;
}

std::unique_ptr<ReadChannelClient::Call> ReadChannelClient::Send(const proto::ReadRequest& req,
                                                                 std::chrono::milliseconds connect_timeout) {
  if (req.gfid().size() != 16) return nullptr;  // gRPC's handler names the error
  read_wire::Request r;
  r.size = req.size();
  r.offset = req.offset();
  std::memcpy(r.gfid, req.gfid().data(), 16);
  auto call = std::make_unique<Call>();
  call->owner = this;
  call->size = req.size();
  std::string hello;
  if (!Take(call.get(), false, connect_timeout, &hello)) return nullptr;
  r.tag = call->tag;
  uint8_t frame[read_wire::kRequestSize];
  read_wire::Encode(r, frame);
  iovec iov[2] = {{hello.data(), hello.size()}, {frame, sizeof frame}};
  if (SendAll(call->fd, iov, 2)) return call;
  Done(call->fd, call->generation, false);
  call->fd = -1;
  return nullptr;
}

std::unique_ptr<ReadChannelClient::Call> ReadChannelClient::SendCall(uint32_t method,
                                                                     std::initializer_list<std::string_view> payload,
                                                                     std::chrono::milliseconds connect_timeout) {
  constexpr size_t kMaxPieces = 4;
  if (payload.size() > kMaxPieces) return nullptr;
  auto call = std::make_unique<Call>();
  call->owner = this;
  std::string hello;
  if (!Take(call.get(), true, connect_timeout, &hello)) return nullptr;
  call_wire::Header h;
  h.magic = call_wire::kCallMagic;
  h.method_or_code = method;
  h.tag = call->tag;
  iovec iov[2 + kMaxPieces];
  int n = 0;
  iov[n++] = {hello.data(), hello.size()};
  uint8_t header[call_wire::kHeaderSize];
  iov[n++] = {header, sizeof header};
  size_t length = 0;
  for (std::string_view piece : payload) {
    iov[n++] = {const_cast<char*>(piece.data()), piece.size()};
    length += piece.size();
  }
  h.length = static_cast<uint32_t>(length);
  call_wire::Encode(h, header);
  if (SendAll(call->fd, iov, n)) {
    call->is_call = true;
    return call;
  }
  // Not sent whole: the brick takes no part of a frame, so the call was not carried out.
  Done(call->fd, call->generation, false);
  call->fd = -1;
  return nullptr;
}

ReadChannelClient::CallOutcome ReadChannelClient::ReceiveCall(std::unique_ptr<Call> call,
                                                              std::chrono::milliseconds extra) {
  CallOutcome out;
  ReceiveCallOn(call.get(), extra, &out);
  return out;
}

void ReadChannelClient::ReceiveCallOn(Call* call, std::chrono::milliseconds extra, CallOutcome* out) {
  std::chrono::milliseconds timeout;
  {
    std::lock_guard lk(mu_);
    timeout = call_timeout_;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout + extra;
  auto fail = [&](std::string why) {
    out->transport = true;
    out->code = 14;  // UNAVAILABLE
    out->bytes = "read channel: " + why;
    Done(call->fd, call->generation, false);
    call->fd = -1;
  };
  // The header and a small reply in one recv (one request per connection: nothing follows).
  uint8_t first[8192];
  size_t got = 0;
  call_wire::Header h;
  bool parsed = false;
  size_t need = call_wire::kHeaderSize;
  while (got < need) {
    ssize_t k;
    if (!parsed) {
      k = ::recv(call->fd, first + got, sizeof first - got, 0);
    } else {
      k = ::recv(call->fd, out->bytes.data() + (got - call_wire::kHeaderSize), need - got, 0);
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && std::chrono::steady_clock::now() < deadline) continue;
    if (k <= 0) return fail(k == 0 ? "connection closed" : std::strerror(errno == EAGAIN ? ETIMEDOUT : errno));
    got += static_cast<size_t>(k);
    if (!parsed && got >= call_wire::kHeaderSize) {
      parsed = true;
      h = call_wire::Decode(first);
      if (h.magic != call_wire::kCallReplyMagic || (h.tag != call->tag && !(h.flags & call_wire::kNotServed)) ||
          h.length > kMaxReply)
        return fail("malformed reply");
      need = call_wire::kHeaderSize + h.length;
      out->bytes.resize(h.length);
      size_t have = std::min(got, need) - call_wire::kHeaderSize;
      std::memcpy(out->bytes.data(), first + call_wire::kHeaderSize, have);
      got = call_wire::kHeaderSize + have;
    }
  }
  if (h.flags & call_wire::kNotServed) {
    out->not_served = true;
    return fail(fmt::format("not served ({})", out->bytes.empty() ? "no room" : out->bytes));
  }
  out->code = static_cast<int>(h.method_or_code);
  Done(call->fd, call->generation, true);
  call->fd = -1;
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
