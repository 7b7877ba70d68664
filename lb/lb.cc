#include "lb/lb.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "lb/admin_socket.h"
#include "lb/health.h"
#include "lb/stats.h"
#include "lb/worker.h"

namespace hafs::lb {

namespace {

Result<int> OpenListener(const Address& a) {
  int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) < 0 || listen(fd, 4096) < 0) {
    Status st = Status::FromErrno(errno, "bind " + a.text);
    close(fd);
    return st;
  }
  return fd;
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  std::string s;
  while (in >> s) w.push_back(s);
  return w;
}

}  // namespace

Result<std::unique_ptr<Lb>> Lb::Create(Config cfg) {
  std::unique_ptr<Lb> lb(new Lb());
  std::lock_guard lk(lb->mu_);
  HAFS_RETURN_IF_ERROR(lb->OpenListeners(cfg));
  HAFS_RETURN_IF_ERROR(lb->Publish(std::move(cfg)));
  return lb;
}

Lb::~Lb() {
  Stop();
  for (auto& [text, fd] : listeners_) close(fd);
}

Status Lb::OpenListeners(const Config& cfg) {
  std::vector<std::pair<std::string, int>> opened;
  for (const auto& p : cfg.proxies)
    for (const auto& b : p.binds) {
      if (listeners_.count(b.text)) continue;
      auto fd = OpenListener(b);
      if (!fd.ok()) {
        for (auto& [t, f] : opened) close(f), listeners_.erase(t);
        return fd.status();
      }
      listeners_[b.text] = *fd;
      opened.push_back({b.text, *fd});
    }
  return Status::Ok();
}

void Lb::CloseUnusedListeners(const Config& cfg) {
  std::set<std::string> used;
  for (const auto& p : cfg.proxies)
    for (const auto& b : p.binds) used.insert(b.text);
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (!used.count(it->first)) {
      HAFS_LOG_INFO("closing listener {}", it->first);
      close(it->second);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
}

Status Lb::Publish(Config cfg) {
  HAFS_RETURN_IF_ERROR(ValidateConfig(cfg));
  auto rt = BuildRuntime(std::move(cfg), registry_, ++generation_, [this](const Address& a) { return listeners_.at(a.text); });
  {
    std::lock_guard lk(rt_mu_);
    rt_ = rt;
  }
  for (auto& w : workers_) w->Notify();
  // Wait (bounded) until every loop runs the new snapshot, so a listener that is about
  // to be closed is no longer polled by anyone.
  for (int i = 0; i < 200 && started_; ++i) {
    bool all = true;
    for (auto& w : workers_) all = all && w->acked_generation() >= rt->generation;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Ok();
}

std::shared_ptr<Runtime> Lb::Current() {
  std::lock_guard lk(rt_mu_);
  return rt_;
}

Status Lb::Start() {
  auto rt = Current();
  int n = rt->cfg.nbthread > 0 ? rt->cfg.nbthread : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The stats socket first: once traffic flows, operators (and tests) can reach it.
  if (!rt->cfg.stats_socket.empty()) {
    admin_ = std::make_unique<AdminSocket>(rt->cfg.stats_socket, rt->cfg.stats_socket_mode,
                                           [this](const std::string& cmd) { return Command(cmd); });
    Status st = admin_->Start();
    if (!st.ok()) return st;
  }
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  for (auto& w : workers_) worker_ptrs_.push_back(w.get());
  for (auto& w : workers_) w->Start();
  checker_ = std::make_unique<HealthChecker>([this] { return Current(); });
  checker_->Start();
  started_ = true;
  HAFS_LOG_INFO("hafs-lb started: {} worker threads, {} listeners", n, listeners_.size());
  return Status::Ok();
}

void Lb::Stop() {
  if (admin_) admin_->Stop(), admin_.reset();
  if (checker_) checker_->Stop(), checker_.reset();
  for (auto& w : workers_) w->RequestStop();
  for (auto& w : workers_) w->Join();
  worker_ptrs_.clear();
  workers_.clear();
  started_ = false;
}

Status Lb::Reload(Config cfg) {
  std::lock_guard lk(mu_);
  HAFS_RETURN_IF_ERROR(ValidateConfig(cfg));
  HAFS_RETURN_IF_ERROR(OpenListeners(cfg));
  Config copy = cfg;
  HAFS_RETURN_IF_ERROR(Publish(std::move(cfg)));
  CloseUnusedListeners(copy);
  HAFS_LOG_INFO("configuration reloaded (generation {})", generation_);
  return Status::Ok();
}

Result<std::shared_ptr<ServerState>> Lb::FindServer(const std::string& spec, std::string* backend, std::string* server) {
  auto slash = spec.find('/');
  if (slash == std::string::npos) return Status(EINVAL, "expected <backend>/<server>");
  *backend = spec.substr(0, slash);
  *server = spec.substr(slash + 1);
  auto rt = Current();
  const BackendRt* be = rt->FindBackend(*backend);
  if (!be) return Status(ENOENT, "No such backend.");
  const ServerRt* s = be->FindByName(*server);
  if (!s) return Status(ENOENT, "No such server.");
  return s->st;
}

Status Lb::ServerAction(const std::string& backend, const std::string& server, const std::string& action) {
  std::string b, s;
  auto st = FindServer(backend + "/" + server, &b, &s);
  if (!st.ok()) return st.status();
  AdminState a;
  if (action == "ready" || action == "enable") a = AdminState::kReady;
  else if (action == "drain") a = AdminState::kDrain;
  else if (action == "maint" || action == "disable") a = AdminState::kMaint;
  else return Status(EINVAL, "unknown action '" + action + "'");
  int old = (*st)->admin.exchange(static_cast<int>(a));
  if (old != static_cast<int>(a)) {
    (*st)->last_change = WallSeconds();
    HAFS_LOG_WARN("Server {}/{} is now {} (admin action)", b, s, AdminStateName(a));
  }
  return Status::Ok();
}

Status Lb::SetWeight(const std::string& backend, const std::string& server, int weight) {
  std::lock_guard lk(mu_);
  Config cfg = Current()->cfg;
  ProxyConf* p = cfg.FindBackend(backend);
  if (!p) return Status(ENOENT, "No such backend.");
  for (auto& s : p->servers)
    if (s.name == server) {
      s.params.weight = weight;
      return Publish(std::move(cfg));
    }
  return Status(ENOENT, "No such server.");
}

Status Lb::AddServer(const std::string& backend, const std::string& server, const std::vector<std::string>& words) {
  std::lock_guard lk(mu_);
  Config cfg = Current()->cfg;
  ProxyConf* p = cfg.FindBackend(backend);
  if (!p) return Status(ENOENT, "No such backend.");
  if (words.size() < 4) return Status(EINVAL, "'add server' expects <backend>/<server> <ip>:<port> [params]");
  ServerConf s;
  s.name = server;
  auto a = ParseAddress(words[3]);
  if (!a.ok()) return a.status();
  s.addr = *a;
  s.params = p->default_server;
  HAFS_RETURN_IF_ERROR(ParseServerParams(words, 4, &s.params));
  for (const auto& o : p->servers)
    if (o.name == server) return Status(EEXIST, "Already exists a server with the same name in backend.");
  // Like HAProxy, a server added at runtime starts in maintenance: `enable server` puts it in service.
  registry_.ForgetServer(backend, server);
  (void)registry_.Server(backend, server, s.params.weight, true);
  p->servers.push_back(std::move(s));
  return Publish(std::move(cfg));
}

Status Lb::DelServer(const std::string& backend, const std::string& server) {
  std::lock_guard lk(mu_);
  Config cfg = Current()->cfg;
  ProxyConf* p = cfg.FindBackend(backend);
  if (!p) return Status(ENOENT, "No such backend.");
  for (auto it = p->servers.begin(); it != p->servers.end(); ++it) {
    if (it->name != server) continue;
    auto st = registry_.Server(backend, server, 1, false);
    if (st->Admin() != AdminState::kMaint) return Status(EBUSY, "Only servers in maintenance mode can be deleted.");
    if (st->c.cur_sess.load() > 0) return Status(EBUSY, "Server still has connections attached to it.");
    p->servers.erase(it);
    HAFS_RETURN_IF_ERROR(Publish(std::move(cfg)));
    registry_.ForgetServer(backend, server);
    return Status::Ok();
  }
  return Status(ENOENT, "No such server.");
}

std::string Lb::Command(const std::string& line) {
  auto w = Words(line);
  if (w.empty()) return "\n";
  auto reply = [](const Status& st, const std::string& ok_text) { return (st.ok() ? ok_text : st.message()) + "\n"; };
  std::string b, s;
  if (w[0] == "help") {
    return "The following commands are valid at this level:\n"
           "  help                             : this message\n"
           "  show stat                        : report counters for each proxy and server (CSV)\n"
           "  show servers state               : server operational and admin states\n"
           "  disable server <bk>/<srv>        : put a server in maintenance\n"
           "  enable server <bk>/<srv>         : put a server back in service\n"
           "  set server <bk>/<srv> state <ready|drain|maint>\n"
           "  set weight <bk>/<srv> <weight>   : change a server's weight\n"
           "  get weight <bk>/<srv>            : show a server's weight\n"
           "  add server <bk>/<srv> <ip:port> [params] : add a server (starts in maintenance)\n"
           "  del server <bk>/<srv>            : remove a server in maintenance\n\n";
  }
  if (w.size() == 2 && w[0] == "show" && w[1] == "stat") return RenderCsv(*Current()) + "\n";
  if (w.size() == 3 && w[0] == "show" && w[1] == "servers" && w[2] == "state") {
    std::string out = "# be_name srv_name srv_addr srv_op_state srv_admin_state srv_weight\n";
    auto rt = Current();
    for (const auto& be : rt->backends)
      for (const auto& sv : be->servers)
        out += fmt::format("{} {} {} {} {} {}\n", be->conf->name, sv.conf->name, sv.conf->addr.text,
                           sv.st->up.load() ? "UP" : "DOWN", AdminStateName(sv.st->Admin()), sv.st->weight.load());
    return out + "\n";
  }
  if (w.size() == 3 && (w[0] == "disable" || w[0] == "enable") && w[1] == "server") {
    auto slash = w[2].find('/');
    if (slash == std::string::npos) return "Require 'backend/server'.\n";
    return reply(ServerAction(w[2].substr(0, slash), w[2].substr(slash + 1), w[0]), "");
  }
  if (w.size() == 5 && w[0] == "set" && w[1] == "server" && w[3] == "state") {
    auto slash = w[2].find('/');
    if (slash == std::string::npos) return "Require 'backend/server'.\n";
    return reply(ServerAction(w[2].substr(0, slash), w[2].substr(slash + 1), w[4]), "");
  }
  if (w.size() == 3 && w[0] == "get" && w[1] == "weight") {
    auto st = FindServer(w[2], &b, &s);
    if (!st.ok()) return st.status().message() + "\n";
    return fmt::format("{} (initial {})\n", (*st)->weight.load(), (*st)->weight.load());
  }
  if (w.size() == 4 && w[0] == "set" && w[1] == "weight") {
    auto st = FindServer(w[2], &b, &s);
    if (!st.ok()) return st.status().message() + "\n";
    int weight = 0;
    try {
      weight = std::stoi(w[3]);
    } catch (...) {
      return "Require <weight> in [0..256].\n";
    }
    if (weight < 0 || weight > 256) return "Require <weight> in [0..256].\n";
    return reply(SetWeight(b, s, weight), "");
  }
  if (w.size() >= 4 && w[0] == "add" && w[1] == "server") {
    auto slash = w[2].find('/');
    if (slash == std::string::npos) return "Require 'backend/server'.\n";
    return reply(AddServer(w[2].substr(0, slash), w[2].substr(slash + 1), w), "New server registered.");
  }
  if (w.size() == 3 && w[0] == "del" && w[1] == "server") {
    auto slash = w[2].find('/');
    if (slash == std::string::npos) return "Require 'backend/server'.\n";
    return reply(DelServer(w[2].substr(0, slash), w[2].substr(slash + 1)), "Server deleted.");
  }
  return "Unknown command: '" + line + "'. Try 'help'.\n";
}

}  // namespace hafs::lb
