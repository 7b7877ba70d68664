#include "mgmtd/background/brick_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "client-fuse/protocol/brick_client.h"
#include "common/log.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::mgmtd {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

BrickSupervisor::BrickSupervisor(Options options, Submit submit)
    : options_(std::move(options)), submit_(std::move(submit)) {}

BrickSupervisor::~BrickSupervisor() { Stop(); }

void BrickSupervisor::Start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  std::error_code ec;
  std::filesystem::create_directories(options_.log_dir, ec);
  thread_ = std::thread([this] { Loop(); });
}

void BrickSupervisor::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

// The key mgmtd's own clients present to bricks (see brickd/auth.h). Every peer of the pool
// derives the same one from the replicated pool id.
static std::string InternalKey(const mgmtpb::ClusterState& state) {
  return state.pool_id().empty() ? "" : "hafs-pool-" + state.pool_id();
}

void BrickSupervisor::Update(const mgmtpb::ClusterState& state) {
  client::SetInternalKey(InternalKey(state));
  std::lock_guard lock(mu_);
  state_ = state;
  have_state_ = true;
  cv_.notify_all();
}

void BrickSupervisor::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    Reconcile(lock);
    // Publish learned ports (outside the lock: a proposal may wait for the leader).
    std::vector<mgmtpb::Command> publish;
    std::vector<std::string> keys;
    auto now = Clock::now();
    for (auto& [key, p] : procs_) {
      if (p.running && p.port != p.want.port && now >= p.next_publish) {
        mgmtpb::Command c;
        auto* s = c.mutable_set_brick_port();
        s->set_name(p.want.volume);
        s->set_host(options_.self_host);
        s->set_path(p.want.path);
        s->set_port(p.port);
        publish.push_back(c);
        p.next_publish = now + 1s;
      }
    }
    if (!publish.empty()) {
      lock.unlock();
      for (const auto& c : publish) {
        Status st = submit_(c);
        if (!st.ok())
          HAFS_LOG_WARN("cannot publish the port of brick {}:{}: {}", options_.self_host, c.set_brick_port().path(),
                        st.ToString());
      }
      lock.lock();
      continue;
    }
    cv_.wait_for(lock, 200ms);
  }
  // Shutdown: stop every brick.
  for (auto& [key, p] : procs_) Terminate(p);
  procs_.clear();
}

void BrickSupervisor::Reconcile(std::unique_lock<std::mutex>&) {
  if (!have_state_) return;
  std::map<std::string, Wanted> wanted;
  for (const auto& v : state_.volumes()) {
    if (v.state() != mgmtpb::STARTED) continue;
    for (int i = 0; i < v.bricks_size(); ++i) {
      const auto& b = v.bricks(i);
      if (b.host() != options_.self_host) continue;
      Wanted w;
      w.volume = v.name();
      w.volume_id = v.id();
      w.path = b.path();
      w.index = i;
      w.port = b.port();
      auto it = v.options().find("diagnostics.brick-log-level");
      w.log_level = it == v.options().end() ? "info" : it->second;
      auto allow = v.options().find("auth.allow");
      auto reject = v.options().find("auth.reject");
      w.auth = fmt::format("# written by hafs-mgmtd; applied by SIGHUP\nallow={}\nreject={}\ninternal-key={}\n",
                           allow == v.options().end() ? "*" : allow->second,
                           reject == v.options().end() ? "" : reject->second, InternalKey(state_));
      wanted[Key(v.name(), b.path())] = w;
    }
  }
  for (auto it = procs_.begin(); it != procs_.end();) {
    if (!wanted.count(it->first)) {
      HAFS_LOG_INFO("stopping brick {}:{} of volume {}", options_.self_host, it->second.want.path,
                    it->second.want.volume);
      Terminate(it->second);
      it = procs_.erase(it);
    } else {
      ++it;
    }
  }
  auto now = Clock::now();
  for (auto& [key, w] : wanted) {
    auto& p = procs_[key];
    bool fresh = p.want.volume.empty();
    bool auth_changed = !fresh && p.want.auth != w.auth;
    p.want = w;
    if (auth_changed && p.pid > 0) {
      // Live change: new file, then SIGHUP (the brick re-reads it; no restart, no lost session).
      if (WriteAuth(p)) {
        HAFS_LOG_INFO("brick {}:{}: auth rules changed; signalling pid {}", options_.self_host, p.want.path, p.pid);
        ::kill(p.pid, SIGHUP);
      }
    }
    if (fresh) p.next_start = now;
    if (p.pid > 0) {
      ReadOutput(p);
      Reap(p);
    }
    if (p.pid > 0 && !p.running && now - p.started > options_.start_timeout) {
      HAFS_LOG_ERROR("brick {}:{} did not start within {} ms; killing it", options_.self_host, p.want.path,
                     options_.start_timeout.count());
      Terminate(p);
    }
    if (p.pid <= 0 && now >= p.next_start) Spawn(p);
  }
}

void BrickSupervisor::Spawn(Proc& p) {
  std::error_code ec;
  std::filesystem::create_directories(p.want.path, ec);
  if (ec) {
    p.last_exit = "cannot create " + p.want.path + ": " + ec.message();
    HAFS_LOG_ERROR("brick {}:{}: {}", options_.self_host, p.want.path, p.last_exit);
    p.backoff = std::clamp(p.backoff * 2, options_.backoff_min, options_.backoff_max);
    p.next_start = Clock::now() + p.backoff;
    return;
  }
  int port = p.fixed_port_failed ? 0 : (p.port ? p.port : p.want.port);
  std::string listen = (options_.self_host.find(':') != std::string::npos ? "[" + options_.self_host + "]"
                                                                          : options_.self_host) +
                       ":" + std::to_string(port);
  std::string name = p.want.volume + "-" + p.want.path;
  for (auto& c : name)
    if (c == '/') c = '-';
  std::string log_file = options_.log_dir + "/" + name + ".log";
  if (!WriteAuth(p)) {
    p.last_exit = "cannot write " + AuthFile(p);
    p.backoff = std::clamp(p.backoff * 2, options_.backoff_min, options_.backoff_max);
    p.next_start = Clock::now() + p.backoff;
    return;
  }
  std::vector<std::string> argv = {options_.brickd_path, "--brick-path", p.want.path,
                                   "--auth-file",        AuthFile(p),
                                   "--volume-id",        p.want.volume_id,
                                   "--brick-id",         std::to_string(p.want.index),
                                   "--listen",           listen,
                                   "--log-level",        p.want.log_level,
                                   "--log-file",         log_file};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return;
  int errfd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = ::fork();
  if (pid == 0) {
    // A brick whose mgmtd died goes at once, as in a crash (which its on-disk format
    // survives), so a restarted mgmtd can start it again without waiting for a slow exit.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(pipefd[1], 1);
    if (errfd >= 0) ::dup2(errfd, 2);
    ::setsid();
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(pipefd[1]);
  if (errfd >= 0) ::close(errfd);
  if (pid < 0) {
    ::close(pipefd[0]);
    HAFS_LOG_ERROR("cannot fork for brick {}: {}", p.want.path, std::strerror(errno));
    return;
  }
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  p.pid = pid;
  p.out_fd = pipefd[0];
  p.out.clear();
  p.running = false;
  p.started = Clock::now();
  HAFS_LOG_INFO("started brick {}:{} of volume {} (pid {}, listen {})", options_.self_host, p.want.path, p.want.volume,
                pid, listen);
}

std::string BrickSupervisor::AuthFile(const Proc& p) const {
  std::string name = p.want.volume + "-" + p.want.path;
  for (auto& c : name)
    if (c == '/') c = '-';
  return options_.log_dir + "/" + name + ".auth";
}

bool BrickSupervisor::WriteAuth(const Proc& p) {
  // Written whole and renamed, so a brick re-reading it never sees half a file.
  std::string path = AuthFile(p), tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, p.want.auth.data(), p.want.auth.size()) == static_cast<ssize_t>(p.want.auth.size());
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) HAFS_LOG_ERROR("cannot write the auth file {}: {}", path, std::strerror(errno));
  return ok;
}

void BrickSupervisor::ReadOutput(Proc& p) {
  if (p.out_fd < 0) return;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(p.out_fd, buf, sizeof buf);
    if (n <= 0) break;
    if (p.out.size() < 4096) p.out.append(buf, n);
  }
  if (p.running) return;
  auto pos = p.out.find("listening on ");
  if (pos == std::string::npos) return;
  auto end = p.out.find('\n', pos);
  if (end == std::string::npos) return;
  std::string addr = p.out.substr(pos + 13, end - pos - 13);
  p.port = std::atoi(addr.substr(addr.rfind(':') + 1).c_str());
  p.running = true;
  HAFS_LOG_INFO("brick {}:{} of volume {} is online on port {} (pid {})", options_.self_host, p.want.path,
                p.want.volume, p.port, p.pid);
}

void BrickSupervisor::Reap(Proc& p) {
  int status = 0;
  pid_t r = ::waitpid(p.pid, &status, WNOHANG);
  if (r != p.pid) return;
  std::string how = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                        : fmt::format("exited with status {}", WEXITSTATUS(status));
  auto lived = Clock::now() - p.started;
  if (!p.running && p.port != 0) p.fixed_port_failed = true;  // maybe the old port is taken now
  if (lived > 60s) p.backoff = options_.backoff_min;
  else p.backoff = std::clamp(p.backoff * 2, options_.backoff_min, options_.backoff_max);
  p.next_start = Clock::now() + p.backoff;
  ++p.restarts;
  p.last_exit = how;
  HAFS_LOG_WARN("brick {}:{} of volume {} (pid {}) {}; restarting in {} ms", options_.self_host, p.want.path,
                p.want.volume, p.pid, how, p.backoff.count());
  if (p.out_fd >= 0) ::close(p.out_fd);
  p.out_fd = -1;
  p.pid = 0;
  p.running = false;
}

void BrickSupervisor::Terminate(Proc& p) {
  if (p.pid > 0) {
    ::kill(p.pid, SIGTERM);
    auto deadline = Clock::now() + 5s;
    int status = 0;
    while (::waitpid(p.pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        HAFS_LOG_WARN("brick {} (pid {}) ignored SIGTERM for 5 s; killing it", p.want.path, p.pid);
        ::kill(p.pid, SIGKILL);
        ::waitpid(p.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  if (p.out_fd >= 0) ::close(p.out_fd);
  p.out_fd = -1;
  p.pid = 0;
  p.running = false;
}

std::vector<mgmtpb::BrickProcess> BrickSupervisor::Local(const std::string& volume) {
  std::vector<mgmtpb::BrickProcess> out;
  for (auto& b : LocalWithStats(volume)) out.push_back(std::move(b.process));
  return out;
}

std::vector<BrickSupervisor::BrickStats> BrickSupervisor::LocalWithStats(const std::string& volume) {
  std::vector<BrickStats> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, p] : procs_) {
      if (!volume.empty() && p.want.volume != volume) continue;
      mgmtpb::BrickProcess b;
      b.set_host(options_.self_host);
      b.set_path(p.want.path);
      b.set_port(p.running ? p.port : 0);
      b.set_pid(p.pid);
      b.set_online(p.running);
      b.set_restarts(p.restarts);
      if (!p.running) b.set_error(p.last_exit.empty() ? "starting" : p.last_exit);
      out.push_back({b, {}});
    }
  }
  for (auto& bs : out) {
    auto& b = bs.process;
    if (!b.online()) continue;
    std::string host = options_.self_host.find(':') != std::string::npos ? "[" + options_.self_host + "]"
                                                                         : options_.self_host;
    auto stub = proto::Brick::NewStub(
        grpc::CreateChannel(host + ":" + std::to_string(b.port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 1s);
    client::AddInternalKey(&ctx);
    proto::PingRequest req;
    proto::StatsReply& rep = bs.stats;
    auto st = stub->Stats(&ctx, req, &rep);
    if (!st.ok()) {
      b.set_online(false);
      b.set_error("not answering: " + st.error_message());
      continue;
    }
    uint64_t ops = 0, errors = 0;
    for (const auto& o : rep.ops()) {
      ops += o.count();
      errors += o.errors();
    }
    b.set_ops(ops);
    b.set_errors(errors);
    b.set_bytes_read(rep.bytes_read());
    b.set_bytes_written(rep.bytes_written());
    b.set_sessions(rep.sessions());
    b.set_locks_held(rep.locks_held());
    b.set_heal_pending(rep.heal_pending());
  }
  return out;
}

std::string BrickSupervisor::DumpState() {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  o << "bricks supervised: " << procs_.size() << "\n";
  for (const auto& [key, p] : procs_) {
    o << "  " << p.want.volume << " " << options_.self_host << ":" << p.want.path << " pid=" << p.pid
      << " port=" << p.port << " running=" << p.running << " restarts=" << p.restarts << " last_exit=" << p.last_exit
      << "\n";
  }
  return o.str();
}

}  // namespace hafs::mgmtd
