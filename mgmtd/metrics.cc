#include "mgmtd/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "common/log.h"
#include "mgmtd/background/brick_supervisor.h"
#include "mgmtd/background/self_heal_daemon.h"
#include "mgmtd/state_machine.h"

namespace hafs::mgmtd {

Status MetricsServer::Start(const std::string& listen) {
  std::string host = HostOf(listen);
  int port = std::atoi(listen.substr(listen.rfind(':') + 1).c_str());
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    return Status(EINVAL, "--metrics-listen must be IPV4:PORT, got " + listen);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
    int e = errno;
    ::close(fd_);
    fd_ = -1;
    return Status::FromErrno(e, "metrics listener " + listen);
  }
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void MetricsServer::Stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void MetricsServer::Loop() {
  while (running_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string req;
    char buf[2048];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, n);
    }
    std::string resp;
    if (req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0) {
      std::string body = render_();
      resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
      resp = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 10\r\n\r\nnot found\n";
    }
    size_t off = 0;
    while (off < resp.size()) {
      ssize_t n = ::send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += n;
    }
    ::close(c);
  }
}

namespace {
std::string Esc(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (ch == '\n') {
      o += "\\n";
      continue;
    }
    o += ch;
  }
  return o;
}
}  // namespace

std::string RenderMetrics(const MgmtContext& ctx) {
  std::ostringstream o;
  auto info = ctx.raft->Info();
  auto state = ctx.raft->State();
  o << "# HELP hafs_mgmtd_raft_term Current Raft term.\n# TYPE hafs_mgmtd_raft_term gauge\n"
    << "hafs_mgmtd_raft_term " << info.term << "\n";
  o << "# HELP hafs_mgmtd_raft_commit_index Highest committed log index.\n# TYPE hafs_mgmtd_raft_commit_index gauge\n"
    << "hafs_mgmtd_raft_commit_index " << info.commit_index << "\n";
  o << "# HELP hafs_mgmtd_raft_applied_index Highest applied log index.\n# TYPE hafs_mgmtd_raft_applied_index gauge\n"
    << "hafs_mgmtd_raft_applied_index " << info.applied << "\n";
  o << "# HELP hafs_mgmtd_raft_leader 1 if this peer is the leader.\n# TYPE hafs_mgmtd_raft_leader gauge\n"
    << "hafs_mgmtd_raft_leader " << (info.role == RaftRole::kLeader ? 1 : 0) << "\n";
  int connected = 0;
  for (const auto& p : state.peers()) connected += ctx.raft->RecentlyHeard(p.uuid()) ? 1 : 0;
  o << "# HELP hafs_mgmtd_peers Peers of the pool by connection state (this one included).\n"
    << "# TYPE hafs_mgmtd_peers gauge\n"
    << "hafs_mgmtd_peers{state=\"connected\"} " << connected << "\n"
    << "hafs_mgmtd_peers{state=\"disconnected\"} " << state.peers_size() - connected << "\n";
  o << "# HELP hafs_mgmtd_volumes Volumes by state.\n# TYPE hafs_mgmtd_volumes gauge\n";
  for (auto s : {mgmtpb::CREATED, mgmtpb::STARTED, mgmtpb::STOPPED}) {
    int n = 0;
    for (const auto& v : state.volumes()) n += v.state() == s ? 1 : 0;
    o << "hafs_mgmtd_volumes{state=\"" << StateName(s) << "\"} " << n << "\n";
  }
  // Bricks of this node.
  o << "# HELP hafs_brick_up 1 if the brick answers.\n# TYPE hafs_brick_up gauge\n";
  std::ostringstream restarts, ops, errors, rd, wr, clients, heal, shd_healed, shd_failed, shd_queued, hist;
  for (const auto& v : state.volumes()) {
    if (v.state() != mgmtpb::STARTED) continue;
    for (auto& b : ctx.supervisor->LocalWithStats(v.name())) {
      std::string l = "volume=\"" + Esc(v.name()) + "\",brick=\"" + Esc(b.process.host() + ":" + b.process.path()) + "\"";
      ctx.heal->FillProgress(v.name(), &b.process);
      const auto& p = b.process;
      o << "hafs_brick_up{" << l << "} " << (p.online() ? 1 : 0) << "\n";
      restarts << "hafs_brick_restarts_total{" << l << "} " << p.restarts() << "\n";
      clients << "hafs_brick_clients{" << l << "} " << p.sessions() << "\n";
      rd << "hafs_brick_read_bytes_total{" << l << "} " << p.bytes_read() << "\n";
      wr << "hafs_brick_written_bytes_total{" << l << "} " << p.bytes_written() << "\n";
      heal << "hafs_brick_heal_pending{" << l << "} " << p.heal_pending() << "\n";
      shd_healed << "hafs_shd_healed_total{" << l << "} " << p.shd_healed() << "\n";
      shd_failed << "hafs_shd_failed_total{" << l << "} " << p.shd_failed() << "\n";
      shd_queued << "hafs_shd_queued{" << l << "} " << p.shd_queued() << "\n";
      if (!p.online()) continue;
      for (const auto& op : b.stats.ops()) {
        std::string lo = l + ",op=\"" + Esc(op.op()) + "\"";
        ops << "hafs_brick_ops_total{" << lo << "} " << op.count() << "\n";
        errors << "hafs_brick_op_errors_total{" << lo << "} " << op.errors() << "\n";
        uint64_t cum = 0;
        for (int k = 0; k < op.latency_buckets_size(); ++k) {
          cum += op.latency_buckets(k);
          std::string le = k < b.stats.bucket_bounds_us_size()
                               ? fmt::format("{:g}", b.stats.bucket_bounds_us(k) / 1e6)
                               : "+Inf";
          hist << "hafs_brick_op_latency_seconds_bucket{" << lo << ",le=\"" << le << "\"} " << cum << "\n";
        }
        if (op.latency_buckets_size() <= b.stats.bucket_bounds_us_size())
          hist << "hafs_brick_op_latency_seconds_bucket{" << lo << ",le=\"+Inf\"} " << op.count() << "\n";
        hist << "hafs_brick_op_latency_seconds_sum{" << lo << "} " << op.total_us() / 1e6 << "\n";
        hist << "hafs_brick_op_latency_seconds_count{" << lo << "} " << op.count() << "\n";
      }
    }
  }
  auto section = [&](const char* name, const char* type, const char* help, const std::ostringstream& body) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n" << body.str();
  };
  section("hafs_brick_restarts_total", "counter", "Times mgmtd restarted the brick.", restarts);
  section("hafs_brick_clients", "gauge", "Client sessions connected to the brick.", clients);
  section("hafs_brick_read_bytes_total", "counter", "Bytes read from the brick.", rd);
  section("hafs_brick_written_bytes_total", "counter", "Bytes written to the brick.", wr);
  section("hafs_brick_heal_pending", "gauge", "Entries in the brick's heal index (heal backlog).", heal);
  section("hafs_brick_ops_total", "counter", "Operations served by the brick.", ops);
  section("hafs_brick_op_errors_total", "counter", "Operations that failed.", errors);
  section("hafs_brick_op_latency_seconds", "histogram", "Brick operation latency.", hist);
  section("hafs_shd_healed_total", "counter", "Entries healed by this node's heal daemon.", shd_healed);
  section("hafs_shd_failed_total", "counter", "Heal attempts that failed.", shd_failed);
  section("hafs_shd_queued", "gauge", "Entries found by the last crawl and not healed yet.", shd_queued);
  return o.str();
}

}  // namespace hafs::mgmtd
