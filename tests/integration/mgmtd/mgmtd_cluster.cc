#include "tests/integration/mgmtd/mgmtd_cluster.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/brickd_process.h"

namespace hafs::testing {

using namespace std::chrono_literals;

namespace {

// A port free on every node address: bind each, keep the first that works on all.
int FreePort(const std::vector<std::string>& hosts) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, hosts[0].c_str(), &a.sin_addr);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    ::close(fd);
    bool ok = true;
    for (const auto& h : hosts) {
      int f = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in b{};
      b.sin_family = AF_INET;
      ::inet_pton(AF_INET, h.c_str(), &b.sin_addr);
      b.sin_port = htons(port);
      ok &= ::bind(f, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
      ::close(f);
    }
    if (ok) return port;
  }
  throw std::runtime_error("no free port");
}

}  // namespace

bool Within(std::chrono::milliseconds limit, const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

MgmtdCluster::MgmtdCluster(int nodes) {
  std::string tmpl = "/tmp/hafs-mgmtd-it-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  dir_ = tmpl;
  std::vector<std::string> hosts;
  for (int i = 0; i < nodes; ++i) hosts.push_back("127.0.0." + std::to_string(i + 2));
  port_ = FreePort(hosts);
  for (auto& h : hosts) nodes_.push_back({h, -1});
  try {
    for (int i = 0; i < nodes; ++i) Start(i);
  } catch (...) {
    // The destructor does not run for a half-built object: stop what was started.
    for (int i = 0; i < size(); ++i) Stop(i);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

MgmtdCluster::~MgmtdCluster() {
  for (int i = 0; i < size(); ++i) Stop(i);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void MgmtdCluster::Start(int i) {
  auto& n = nodes_[i];
  if (n.pid > 0) return;
  std::string state = dir_ + "/state" + std::to_string(i);
  std::string log = dir_ + "/mgmtd" + std::to_string(i) + ".log";
  std::vector<std::string> argv = {HAFS_MGMTD_PATH, "--state-dir", state, "--listen", address(i),
                                   "--brickd", BrickdPath(), "--log-level", "debug", "--log-file", log};
  pid_t pid = ::fork();
  if (pid == 0) {
    // Whatever happens to the test process, its daemons do not outlive it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    int errfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(errfd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  n.pid = pid;
  // Ready when it answers the CLI.
  if (!Within(10s, [&] { return Cli(i, {"pool", "list"}, 2000).code == 0; }))
    throw std::runtime_error("hafs-mgmtd " + address(i) + " did not start: " + Log(i));
}

void MgmtdCluster::Kill(int i) {
  auto& n = nodes_[i];
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  int status;
  ::waitpid(n.pid, &status, 0);
  n.pid = -1;
}

int MgmtdCluster::Stop(int i) {
  auto& n = nodes_[i];
  if (n.pid <= 0) return -1;
  ::kill(n.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {
      n.pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(20ms);
  }
  ::kill(n.pid, SIGKILL);
  ::waitpid(n.pid, &status, 0);
  n.pid = -1;
  return -1;
}

CliResult MgmtdCluster::Cli(int i, const std::vector<std::string>& args, int timeout_ms) {
  std::vector<std::string> argv = {HAFS_CLI_PATH, "--remote-host", address(i)};
  argv.insert(argv.end(), args.begin(), args.end());
  CliResult r;
  r.code = RunToCompletion(argv, &r.out, timeout_ms);
  return r;
}

nlohmann::json MgmtdCluster::Json(int i, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"--json"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = Cli(i, a);
  if (r.code != 0) return nullptr;
  try {
    return nlohmann::json::parse(r.out);
  } catch (...) {
    return nullptr;
  }
}

void MgmtdCluster::FormPool() {
  for (int i = 1; i < size(); ++i) {
    auto r = Cli(0, {"peer", "probe", address(i)});
    if (r.code != 0) throw std::runtime_error("probe failed: " + r.out);
  }
  bool ok = Within(10s, [&] {
    for (int i = 0; i < size(); ++i) {
      auto j = Json(i, {"pool", "list"});
      if (j.is_null() || j["peers"].size() != static_cast<size_t>(size())) return false;
      for (auto& p : j["peers"])
        if (!p["connected"].get<bool>()) return false;
    }
    return true;
  });
  if (!ok) throw std::runtime_error("pool did not form");
}

std::string MgmtdCluster::Log(int i) const {
  std::ifstream f(dir_ + "/mgmtd" + std::to_string(i) + ".log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace hafs::testing
