// HttpSession: mode http. One client connection; requests are handled one at a time
// (pipelined requests wait in the input buffer until the previous response is
// complete, which is what keeps pipelining safe). Server connections come from the
// worker's keep-alive pool when possible.
//
// Failure handling: a connect failure is always retried (nothing was sent); a
// failure after sending but before any response byte is retried only for an
// idempotent request without body. Retries go to another server when
// `option redispatch` is set or the server is known down.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "lb/buffer.h"
#include "lb/http_parser.h"
#include "lb/lb.h"
#include "lb/sessions.h"
#include "lb/stats.h"

namespace hafs::lb {

namespace {

constexpr size_t kMaxHead = 16384;
constexpr size_t kReadChunk = 65536;
constexpr size_t kMaxBuffered = 256 * 1024;
constexpr int64_t kLingerMs = 1000;
constexpr int64_t kQueuePollMs = 10;  // effective granularity is the worker's 50 ms sweep

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

std::string ErrorPage(int status) {
  const char* why = "";
  switch (status) {
    case 400: why = "Your browser sent an invalid request."; break;
    case 408: why = "Your browser didn't send a complete request in time."; break;
    case 414: case 431: why = "The request head is too large."; break;
    case 501: why = "The requested transfer coding is not implemented."; break;
    case 502: why = "The server returned an invalid or incomplete response."; break;
    case 503: why = "No server is available to handle this request."; break;
    case 504: why = "The server didn't respond in time."; break;
    default: why = "An error occurred."; break;
  }
  std::string body = fmt::format("<html><body><h1>{} {}</h1>\n{}\n</body></html>\n", status, Reason(status), why);
  return fmt::format(
      "HTTP/1.1 {} {}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n"
      "connection: close\r\n\r\n{}",
      status, Reason(status), body.size(), body);
}

bool IsHopByHop(std::string_view name) {
  return http::EqualsNoCase(name, "connection") || http::EqualsNoCase(name, "keep-alive") ||
         http::EqualsNoCase(name, "proxy-connection");
}

class HttpSession : public Session {
 public:
  HttpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer)
      : Session(w), rt_(std::move(rt)), fe_(fe), be_(fe->backend), cfd_(fd), peer_(peer) {
    fe_->st->c.SessionStart();
    w_.Watch(cfd_, &cep_);
    deadline = w_.now() + fe_->conf->timeouts.http_request_ms;
  }

  ~HttpSession() override {
    ReleaseServer(false);
    fe_->st->c.SessionEnd();
    close(cfd_);
  }

  void Start() override { Drive(); }

  void OnIo(int side, uint32_t events) override {
    constexpr uint32_t kReadable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
    if (events & kReadable) (side == 0 ? crd_ : srd_) = true;
    // A FIN may arrive with the last data in a single edge: from then on read until EOF.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) (side == 0 ? chup_ : shup_) = true;
    if (side == 1 && st_ == kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = ConnectError(sc_->fd);
      if (err == EINPROGRESS || err == EALREADY) return;
      if (err) {
        ServerFailed(true, err);
      } else {
        ObserveServerSuccess(*srv_);
        BeginSend();
      }
    }
    Drive();
  }

  void OnTimeout() override {
    switch (st_) {
      case kReadHead:
        if (cin_.Empty()) return Finish();  // idle keep-alive connection
        fe_->st->c.req_errors.fetch_add(1, std::memory_order_relaxed);
        SendError(408);
        break;
      case kConnecting:
        ServerFailed(true, ETIMEDOUT);
        break;
      case kQueued:
        if (const ServerRt* s = ReserveServer()) {
          StartServer(s, true);
        } else if (w_.now() >= queue_deadline_) {
          be_->st->c.conn_errors.fetch_add(1, std::memory_order_relaxed);
          SendError(503);
        } else {
          deadline = std::min(queue_deadline_, w_.now() + kQueuePollMs);
        }
        break;
      case kSendReq:
      case kWaitResp:
        if (srv_) srv_->st->c.resp_errors.fetch_add(1, std::memory_order_relaxed);
        SendError(504);
        break;
      default:
        return Finish();
    }
    Drive();
  }

 private:
  enum State { kReadHead, kQueued, kConnecting, kSendReq, kWaitResp, kRelayResp, kCloseAfterFlush, kLinger };

  void Drive() {
    for (int guard = 0; guard < 10000 && !dead; ++guard) {
      bool progress = false;
      switch (st_) {
        case kReadHead: progress = StepReadHead(); break;
        case kQueued:
        case kConnecting: progress = false; break;
        case kSendReq: progress = StepSendReq(); break;
        case kWaitResp: progress = StepWaitResp(); break;
        case kRelayResp: progress = StepRelayResp(); break;
        case kCloseAfterFlush: progress = StepCloseAfterFlush(); break;
        case kLinger: progress = StepLinger(); break;
      }
      if (!progress) break;
    }
  }

  // ---- client side helpers ----

  // Reads from the client into cin_. 1: data, 0: would block, -1: EOF or error.
  // Reads only when epoll said there is something (or may be): a short read means the
  // socket is drained and the next arrival raises a new edge.
  int ReadClient() {
    if (!crd_) return 0;
    char* p = cin_.Reserve(kReadChunk);
    size_t room = cin_.Room();
    ssize_t n = recv(cfd_, p, room, 0);
    if (n > 0) {
      if (static_cast<size_t>(n) < room && !chup_) crd_ = false;
      cin_.Commit(static_cast<size_t>(n));
      fe_->st->c.bytes_in.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return crd_ = false, 0;
    return -1;
  }

  // Writes cout_ to the client. 1: progress, 0: nothing to do or would block, -1: error.
  int FlushClient() {
    int progress = 0;
    while (!cout_.Empty()) {
      auto d = cout_.Data();
      ssize_t n = send(cfd_, d.data(), d.size(), MSG_NOSIGNAL);
      if (n > 0) {
        cout_.Consume(static_cast<size_t>(n));
        fe_->st->c.bytes_out.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        progress = 1;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return progress;
      } else {
        return -1;
      }
    }
    return progress;
  }

  void Touch() { deadline = w_.now() + std::max(fe_->conf->timeouts.client_ms, be_ ? be_->conf->timeouts.server_ms : 0); }

  bool StepReadHead() {
    if (FlushClient() < 0) return Finish(), false;
    if (!cin_.Empty()) {
      int err = 0;
      auto r = http::ParseRequest(cin_.Data(), kMaxHead, &req_, &err);
      if (r == http::Parse::kError) {
        fe_->st->c.req_errors.fetch_add(1, std::memory_order_relaxed);
        SendError(err);
        return true;
      }
      if (r == http::Parse::kDone) {
        bool stats = fe_->conf->stats.enabled && IsStatsRequest(*fe_, req_.uri);
        if (!stats) return Dispatch(), true;
        if (req_.body == http::Body::kChunked || req_.content_length > 8192) return SendError(413), true;
        if (cin_.Size() >= req_.head_len + req_.content_length) return ServeStats(), true;
      }
    }
    if (cin_.Size() >= kMaxHead + 8192) return false;  // waiting for the stats body cap
    bool was_empty = cin_.Empty();
    int r = ReadClient();
    if (r < 0) return Finish(), false;
    if (r == 0) return false;
    if (was_empty) deadline = w_.now() + fe_->conf->timeouts.http_request_ms;  // the request clock starts
    return true;
  }

  void ServeStats() {
    fe_->st->c.requests.fetch_add(1, std::memory_order_relaxed);
    client_keep_alive_ = req_.keep_alive;
    std::string_view body = cin_.Data().substr(req_.head_len, req_.content_length);
    int status = 200;
    auto now_rt = w_.lb().Current();  // the latest snapshot, not the one this connection started on
    std::string resp = StatsResponse(w_.lb(), *now_rt, *fe_, req_, body, client_keep_alive_, &status);
    fe_->st->c.CountStatus(status);
    cin_.Consume(req_.head_len + req_.content_length);
    cout_.Append(resp);
    if (client_keep_alive_) {
      st_ = kReadHead;
      deadline = w_.now() + (cin_.Empty() ? fe_->conf->timeouts.http_keep_alive_ms : fe_->conf->timeouts.http_request_ms);
    } else {
      st_ = kCloseAfterFlush;
    }
  }

  void Dispatch() {
    fe_->st->c.requests.fetch_add(1, std::memory_order_relaxed);
    if (!be_) return SendError(503);
    be_->st->c.requests.fetch_add(1, std::memory_order_relaxed);
    start_us_ = NowUs();
    if (peer_ip_.empty()) peer_ip_ = PeerIp(peer_);
    method_.assign(req_.method);
    uri_.assign(req_.uri);
    client_keep_alive_ = req_.keep_alive;
    client_minor_ = req_.minor;
    req_body_ = req_.body;
    req_body_left_ = req_.content_length;
    req_chunks_ = http::ChunkedScanner();
    idempotent_ = http::IsIdempotent(method_) && req_body_ == http::Body::kNone;
    retries_left_ = be_->conf->retries;
    bool expect_continue = false;

    // The request head as sent to servers (kept for retries).
    std::string_view data = cin_.Data();
    std::string& out = req_head_out_;
    out.clear();
    out.append(data.substr(0, data.find("\r\n") + 2));
    cookie_srv_ = nullptr;
    for (const auto& h : req_.headers) {
      if (IsHopByHop(h.name)) continue;
      if (http::EqualsNoCase(h.name, "expect") && http::EqualsNoCase(h.value, "100-continue")) {
        expect_continue = true;
        continue;  // answered here, so the body is not held up waiting for the server
      }
      if (!be_->conf->cookie_name.empty() && !cookie_srv_ && http::EqualsNoCase(h.name, "cookie"))
        cookie_srv_ = be_->FindByCookie(http::FindCookie(h.value, be_->conf->cookie_name));
      out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (fe_->conf->forwardfor || be_->conf->forwardfor) out.append("X-Forwarded-For: ").append(peer_ip_).append("\r\n");
    if (client_minor_ == 0) out.append("Connection: close\r\n");
    out.append("\r\n");
    cin_.Consume(req_.head_len);
    if (expect_continue && req_body_ != http::Body::kNone && cin_.Empty() && client_minor_ == 1)
      cout_.Append("HTTP/1.1 100 Continue\r\n\r\n");

    StartOrQueue();
  }

  // Starts the request on a server with a free session slot; when every usable server is at
  // its maxconn, queues it (polled at the sweep) up to timeout queue; 503 when none can serve.
  void StartOrQueue() {
    if (const ServerRt* s = ReserveServer()) return StartServer(s, true);
    if (be_->Saturated()) {
      st_ = kQueued;
      queue_deadline_ = w_.now() + be_->conf->timeouts.queue_ms;
      deadline = std::min(queue_deadline_, w_.now() + kQueuePollMs);
      return;
    }
    be_->st->c.conn_errors.fetch_add(1, std::memory_order_relaxed);
    SendError(503);
  }

  // Choose, taking a session slot on the chosen server in the same step (ChooseReserved).
  const ServerRt* ReserveServer(const ServerRt* exclude = nullptr) {
    return lb::ChooseReserved([&] { return Choose(exclude); });
  }

  const ServerRt* Choose(const ServerRt* exclude) {
    if (cookie_srv_ && cookie_srv_ != exclude) {
      auto& st = *cookie_srv_->st;
      bool ok = cookie_srv_->Usable() || (st.up.load() && st.Admin() == AdminState::kDrain);
      if (ok) return cookie_srv_;
    }
    PickInput in;
    in.source_hash = PeerHash(peer_);
    in.uri = uri_;
    in.exclude = exclude;
    const ServerRt* s = be_->Pick(in);
    if (!s && exclude && exclude->Usable()) s = exclude;
    return s;
  }

  // ---- server side ----

  // s's session slot is taken already (ReserveServer, ServerRt::Reserve).
  void StartServer(const ServerRt* s, bool allow_reuse) {
    srv_ = s;
    srv_->st->c.requests.fetch_add(1, std::memory_order_relaxed);
    srv_counted_ = true;
    resp_seen_ = false;
    srd_ = false;
    shup_ = false;
    sc_ = allow_reuse ? w_.TakeIdle(srv_->st.get(), !idempotent_) : nullptr;
    if (sc_) {
      reused_ = true;
      Attach();
      BeginSend();
      return;
    }
    reused_ = false;
    int fd = StartConnect(srv_->conf->addr);
    if (fd < 0) return ServerFailed(true, errno);
    sc_ = w_.NewServerConn(fd, srv_->st);
    Attach();
    st_ = kConnecting;
    deadline = w_.now() + be_->conf->timeouts.connect_ms;
  }

  void Attach() {
    sc_->ep.session = this;
    sc_->ep.side = 1;
  }

  void BeginSend() {
    sout_.Clear();
    sout_.Append(req_head_out_);
    srv_->st->c.bytes_in.fetch_add(req_head_out_.size(), std::memory_order_relaxed);
    st_ = kSendReq;
    deadline = w_.now() + be_->conf->timeouts.server_ms;
  }

  // Drops the server connection; keep=true returns it to the pool.
  void ReleaseServer(bool keep) {
    if (srv_counted_) srv_->st->c.SessionEnd(), srv_counted_ = false;
    if (sc_) {
      if (keep) w_.GiveIdle(sc_);
      else w_.CloseServerConn(sc_);
      sc_ = nullptr;
    }
  }

  void ServerFailed(bool connecting, int err) {
    const ServerRt* failed = srv_;
    bool was_reused = reused_;
    ReleaseServer(false);
    if (connecting || !was_reused) ObserveServerFailure(*failed, err ? strerror(err) : "connection closed");
    bool retryable = connecting || (!resp_seen_ && idempotent_);
    if (retryable && was_reused && !connecting) {
      // A pooled connection the server had closed: try again on a fresh one, no retry spent
      // (if another request took the server's slot meanwhile, it is chosen like a new one).
      if (failed->Reserve()) return StartServer(failed, false);
      return StartOrQueue();
    }
    if (retryable && retries_left_ > 0) {
      --retries_left_;
      failed->st->c.retries.fetch_add(1, std::memory_order_relaxed);
      be_->st->c.retries.fetch_add(1, std::memory_order_relaxed);
      if (!be_->conf->redispatch && failed->Usable()) {
        if (failed->Reserve()) return StartServer(failed, true);
        return StartOrQueue();  // full again meanwhile: wait for it like a new request
      }
      if (const ServerRt* next = ReserveServer(failed)) {
        if (next != failed) {
          failed->st->c.redispatches.fetch_add(1, std::memory_order_relaxed);
          be_->st->c.redispatches.fetch_add(1, std::memory_order_relaxed);
        }
        return StartServer(next, true);
      }
    }
    if (connecting) be_->st->c.conn_errors.fetch_add(1, std::memory_order_relaxed);
    else be_->st->c.resp_errors.fetch_add(1, std::memory_order_relaxed), failed->st->c.resp_errors.fetch_add(1);
    SendError(connecting ? 503 : 502);
  }

  // Moves request body bytes from cin_ to sout_. false on malformed chunked framing.
  bool TakeRequestBody() {
    if (req_body_ == http::Body::kNone || cin_.Empty()) return true;
    auto d = cin_.Data();
    size_t take = 0;
    if (req_body_ == http::Body::kLength) {
      take = static_cast<size_t>(std::min<uint64_t>(req_body_left_, d.size()));
      req_body_left_ -= take;
      if (!req_body_left_) req_body_ = http::Body::kNone;
    } else {
      auto r = req_chunks_.Feed(d.data(), d.size(), &take);
      if (r == http::Parse::kError) return false;
      if (r == http::Parse::kDone) req_body_ = http::Body::kNone;
    }
    sout_.Append(d.substr(0, take));
    srv_->st->c.bytes_in.fetch_add(take, std::memory_order_relaxed);
    cin_.Consume(take);
    return true;
  }

  bool StepSendReq() {
    bool progress = FlushClient() > 0;
    if (req_body_ != http::Body::kNone && sout_.Size() < kMaxBuffered) {
      if (!TakeRequestBody()) {
        fe_->st->c.req_errors.fetch_add(1, std::memory_order_relaxed);
        ReleaseServer(false);
        SendError(400);
        return true;
      }
      if (req_body_ != http::Body::kNone && cin_.Empty()) {
        int r = ReadClient();
        if (r < 0) return Finish(), false;  // client gone mid-body
        if (r > 0) progress = true, Touch();
      }
    }
    while (!sout_.Empty()) {
      auto d = sout_.Data();
      ssize_t n = send(sc_->fd, d.data(), d.size(), MSG_NOSIGNAL);
      if (n > 0) {
        sout_.Consume(static_cast<size_t>(n));
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        ServerFailed(false, n < 0 ? errno : EPIPE);
        return true;
      }
    }
    if (sout_.Empty() && req_body_ == http::Body::kNone) {
      st_ = kWaitResp;
      deadline = w_.now() + be_->conf->timeouts.server_ms;
      return true;
    }
    return progress;
  }

  // Reads from the server into sin_. 1: data, 0: would block, -1: EOF/error (errno set, 0 for EOF).
  int ReadServer() {
    if (!srd_) return 0;
    char* p = sin_.Reserve(kReadChunk);
    size_t room = sin_.Room();
    ssize_t n = recv(sc_->fd, p, room, 0);
    if (n > 0) {
      if (static_cast<size_t>(n) < room && !shup_) srd_ = false;
      sin_.Commit(static_cast<size_t>(n));
      srv_->st->c.bytes_out.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return srd_ = false, 0;
    if (n == 0) errno = 0;
    return -1;
  }

  bool StepWaitResp() {
    bool progress = FlushClient() > 0;
    int r = ReadServer();
    if (r < 0) {
      int err = errno;
      if (sin_.Empty()) return ServerFailed(false, err), true;
      srv_->st->c.resp_errors.fetch_add(1, std::memory_order_relaxed);
      ReleaseServer(false);
      return SendError(502), true;
    }
    if (r == 0 && !progress) return false;
    if (r > 0) resp_seen_ = true;
    http::Head resp;
    auto pr = http::ParseResponse(sin_.Data(), kMaxHead, method_, &resp);
    if (pr == http::Parse::kIncomplete) return true;
    if (pr == http::Parse::kError || resp.status == 101) {
      srv_->st->c.resp_errors.fetch_add(1, std::memory_order_relaxed);
      ReleaseServer(false);
      return SendError(502), true;
    }
    if (resp.status < 200) {  // interim response: pass it on, wait for the final one
      cout_.Append(sin_.Data().substr(0, resp.head_len));
      sin_.Consume(resp.head_len);
      return true;
    }
    status_ = resp.status;
    resp_body_ = resp.body;
    resp_left_ = resp.content_length;
    resp_chunks_ = http::ChunkedScanner();
    server_keep_alive_ = resp.keep_alive && resp.body != http::Body::kUntilClose;
    if (resp.body == http::Body::kUntilClose) client_keep_alive_ = false;

    std::string_view d = sin_.Data();
    std::string head;
    head.reserve(resp.head_len + 128);
    head.append(d.substr(0, d.find("\r\n") + 2));
    for (const auto& h : resp.headers)
      if (!IsHopByHop(h.name)) head.append(h.name).append(": ").append(h.value).append("\r\n");
    const std::string& cookie = be_->conf->cookie_name;
    if (!cookie.empty() && !srv_->conf->params.cookie.empty() && cookie_srv_ != srv_)
      head.append("Set-Cookie: ").append(cookie).append("=").append(srv_->conf->params.cookie).append("; path=/\r\n");
    if (!client_keep_alive_) head.append("Connection: close\r\n");
    else if (client_minor_ == 0) head.append("Connection: keep-alive\r\n");
    head.append("\r\n");
    cout_.Append(head);
    sin_.Consume(resp.head_len);
    st_ = kRelayResp;
    Touch();
    return true;
  }

  bool StepRelayResp() {
    bool progress = false;
    bool body_done = resp_body_ == http::Body::kNone;
    if (!body_done && !sin_.Empty()) {
      auto d = sin_.Data();
      size_t take = d.size();
      if (resp_body_ == http::Body::kLength) {
        take = static_cast<size_t>(std::min<uint64_t>(resp_left_, d.size()));
        resp_left_ -= take;
        if (!resp_left_) resp_body_ = http::Body::kNone;
      } else if (resp_body_ == http::Body::kChunked) {
        auto r = resp_chunks_.Feed(d.data(), d.size(), &take);
        if (r == http::Parse::kError) return Abort(), false;
        if (r == http::Parse::kDone) resp_body_ = http::Body::kNone;
      }
      size_t sent = 0;
      if (take >= 16384 && cout_.Empty()) {
        // Large body and nothing queued: send straight from the server buffer (no copy).
        ssize_t n = send(cfd_, d.data(), take, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Abort(), false;
        if (n > 0) {
          sent = static_cast<size_t>(n);
          fe_->st->c.bytes_out.fetch_add(sent, std::memory_order_relaxed);
        }
      }
      cout_.Append(d.substr(sent, take - sent));
      sin_.Consume(take);
      progress = true;
      body_done = resp_body_ == http::Body::kNone;
    }
    int f = FlushClient();
    if (f < 0) return Abort(), false;
    if (f > 0) progress = true;
    if (!body_done && sin_.Empty() && cout_.Size() < kMaxBuffered) {
      int r = ReadServer();
      if (r < 0) {
        if (resp_body_ != http::Body::kUntilClose) return Abort(), false;  // truncated response
        resp_body_ = http::Body::kNone;
        server_keep_alive_ = false;
        return true;
      }
      if (r > 0) progress = true;
    }
    if (body_done && cout_.Empty()) return CompleteExchange(), true;
    if (progress) Touch();
    return progress;
  }

  void CompleteExchange() {
    for (Counters* c : {&fe_->st->c, &be_->st->c, &srv_->st->c}) c->CountStatus(status_);
    int64_t us = NowUs() - start_us_;
    fe_->st->c.latency.Observe(us);
    be_->st->c.latency.Observe(us);
    srv_->st->c.latency.Observe(us);
    ReleaseServer(server_keep_alive_ && sin_.Empty());
    sin_.Clear();
    sin_.ShrinkIfEmpty();
    srv_ = nullptr;
    if (!client_keep_alive_) {
      st_ = kCloseAfterFlush;
      return;
    }
    st_ = kReadHead;
    deadline = w_.now() + (cin_.Empty() ? fe_->conf->timeouts.http_keep_alive_ms : fe_->conf->timeouts.http_request_ms);
  }

  // Answers with an error page and closes the client connection after it is sent.
  void SendError(int status) {
    ReleaseServer(false);
    fe_->st->c.CountStatus(status);
    if (be_ && status >= 500) be_->st->c.CountStatus(status);
    cout_.Append(ErrorPage(status));
    client_keep_alive_ = false;
    st_ = kCloseAfterFlush;
    deadline = w_.now() + fe_->conf->timeouts.client_ms;
  }

  bool StepCloseAfterFlush() {
    int f = FlushClient();
    if (f < 0) return Finish(), false;
    if (!cout_.Empty()) return f > 0;
    // Half-close and drain what the client still sends so the kernel does not answer
    // with a RST that could destroy the response in flight.
    shutdown(cfd_, SHUT_WR);
    st_ = kLinger;
    deadline = w_.now() + kLingerMs;
    return true;
  }

  bool StepLinger() {
    char buf[4096];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = recv(cfd_, buf, sizeof(buf), 0);
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      return Finish(), false;
    }
    return false;
  }

  void Abort() {
    if (srv_) srv_->st->c.resp_errors.fetch_add(1, std::memory_order_relaxed);
    Finish();
  }

  void Finish() {
    if (dead) return;
    w_.Retire(this);
  }

  std::shared_ptr<Runtime> rt_;
  const FrontendRt* fe_;
  const BackendRt* be_;
  int cfd_;
  sockaddr_storage peer_;
  Endpoint cep_{this, 0};
  State st_ = kReadHead;
  Buffer cin_, cout_, sin_, sout_;
  http::Head req_;

  // current request
  std::string method_, uri_, req_head_out_;
  bool client_keep_alive_ = true;
  int client_minor_ = 1;
  http::Body req_body_ = http::Body::kNone;
  uint64_t req_body_left_ = 0;
  http::ChunkedScanner req_chunks_;
  bool idempotent_ = false;
  int retries_left_ = 0;
  const ServerRt* cookie_srv_ = nullptr;
  int64_t start_us_ = 0;
  int64_t queue_deadline_ = 0;

  // current server exchange
  const ServerRt* srv_ = nullptr;
  bool srv_counted_ = false;
  ServerConn* sc_ = nullptr;
  bool crd_ = true;   // the client socket may have data (epoll edge seen, not drained)
  bool srd_ = false;  // same for the server socket
  bool chup_ = false;  // the client / server signalled EOF or error (sticky)
  bool shup_ = false;
  std::string peer_ip_;
  bool reused_ = false;
  bool resp_seen_ = false;
  int status_ = 0;
  http::Body resp_body_ = http::Body::kNone;
  uint64_t resp_left_ = 0;
  http::ChunkedScanner resp_chunks_;
  bool server_keep_alive_ = false;
};

}  // namespace

Session* NewHttpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer) {
  return new HttpSession(w, std::move(rt), fe, fd, peer);
}

}  // namespace hafs::lb
