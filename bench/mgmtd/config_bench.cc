// hafs-bench-mgmtd: how long a configuration change takes to reach every peer.
// Starts N real hafs-mgmtd on 127.0.0.2.. (separate state dirs, one port), forms the pool,
// creates a volume, then R times: `volume set` on one peer (alternating, so half the changes
// are forwarded by a follower) and polls every peer's VolumeGet until all show the value.
// Prints min/median/p99/max of "commit returned" and "visible on all peers". Not run by CI.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "proto/mgmt.grpc.pb.h"

using namespace std::chrono;
using namespace std::chrono_literals;
namespace pb = hafs::mgmtpb;

namespace {

std::unique_ptr<pb::Mgmt::Stub> Stub(const std::string& addr) {
  return pb::Mgmt::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
}

template <typename Req, typename Rep>
bool Call(pb::Mgmt::Stub* s, grpc::Status (pb::Mgmt::Stub::*m)(grpc::ClientContext*, const Req&, Rep*),
          const Req& req, Rep* rep) {
  grpc::ClientContext ctx;
  ctx.set_deadline(system_clock::now() + 10s);
  return (s->*m)(&ctx, req, rep).ok();
}

double Ms(steady_clock::duration d) { return duration<double, std::milli>(d).count(); }

void Report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  std::printf("%-28s min %7.2f  median %7.2f  p99 %7.2f  max %7.2f ms\n", what, v.front(), at(0.5), at(0.99), v.back());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hafs-bench-mgmtd: time for a config change to reach all peers"};
  int nodes = 3, rounds = 200, port = 34917;
  app.add_option("--nodes", nodes, "peers")->check(CLI::Range(1, 7));
  app.add_option("--rounds", rounds, "changes to measure");
  app.add_option("--port", port, "mgmtd port on 127.0.0.2..");
  CLI11_PARSE(app, argc, argv);

  std::string dir = "/tmp/hafs-bench-mgmtd-" + std::to_string(::getpid());
  std::vector<pid_t> pids;
  std::vector<std::string> addrs;
  for (int i = 0; i < nodes; ++i) {
    addrs.push_back("127.0.0." + std::to_string(i + 2) + ":" + std::to_string(port));
    std::string state = dir + "/s" + std::to_string(i), log = dir + "/m" + std::to_string(i) + ".log";
    std::filesystem::create_directories(state);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(HAFS_MGMTD_PATH, HAFS_MGMTD_PATH, "--state-dir", state.c_str(), "--listen", addrs.back().c_str(),
              "--log-level", "warn", nullptr);
      _exit(127);
    }
    pids.push_back(pid);
  }
  auto cleanup = [&] {
    for (pid_t p : pids) ::kill(p, SIGTERM);
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    std::filesystem::remove_all(dir);
  };
  std::vector<std::unique_ptr<pb::Mgmt::Stub>> stubs;
  for (auto& a : addrs) stubs.push_back(Stub(a));
  auto deadline = steady_clock::now() + 15s;
  for (auto& s : stubs) {
    pb::PoolReply r;
    while (!Call(s.get(), &pb::Mgmt::Stub::PoolList, pb::PoolRequest(), &r) && steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
  }
  for (int i = 1; i < nodes; ++i) {
    pb::ProbeRequest req;
    req.set_host(addrs[i]);
    pb::Reply r;
    if (!Call(stubs[0].get(), &pb::Mgmt::Stub::PeerProbe, req, &r) || !r.ok()) {
      std::fprintf(stderr, "probe failed: %s\n", r.message().c_str());
      cleanup();
      return 1;
    }
  }
  pb::VolumeCreateRequest cr;
  cr.set_name("bench");
  cr.add_bricks("127.0.0.2:" + dir + "/brick");
  cr.set_force(true);
  pb::Reply created;
  while (!(Call(stubs[0].get(), &pb::Mgmt::Stub::VolumeCreate, cr, &created) && created.ok()) &&
         steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);

  std::vector<double> commit, everywhere;
  for (int r = 0; r < rounds; ++r) {
    std::string value = std::to_string(1 + r % 3000);
    pb::VolumeSetRequest req;
    req.set_name("bench");
    (*req.mutable_options())["network.ping-timeout"] = value;
    auto t0 = steady_clock::now();
    pb::Reply rep;
    if (!Call(stubs[r % nodes].get(), &pb::Mgmt::Stub::VolumeSet, req, &rep) || !rep.ok()) {
      std::fprintf(stderr, "set failed: %s\n", rep.message().c_str());
      continue;
    }
    commit.push_back(Ms(steady_clock::now() - t0));
    // Poll every peer: VolumeInfo on a follower first catches up with the leader's commit
    // index (read index), so this is when a reader on every peer sees the change.
    std::vector<bool> seen(nodes, false);
    int left = nodes;
    while (left > 0 && steady_clock::now() - t0 < 10s) {
      for (int i = 0; i < nodes; ++i) {
        if (seen[i]) continue;
        pb::VolumeInfoRequest ir;
        ir.set_name("bench");
        pb::VolumeInfoReply info;
        if (Call(stubs[i].get(), &pb::Mgmt::Stub::VolumeInfo, ir, &info) && !info.volumes().empty() &&
            info.volumes(0).options().count("network.ping-timeout") &&
            info.volumes(0).options().at("network.ping-timeout") == value) {
          seen[i] = true;
          --left;
        }
      }
    }
    everywhere.push_back(Ms(steady_clock::now() - t0));
  }
  std::printf("hafs-mgmtd config propagation: %d peers on loopback, %d changes\n", nodes, rounds);
  if (!commit.empty()) {
    Report("commit returned (CLI view)", commit);
    Report("visible on every peer", everywhere);
  }
  std::printf("GlusterFS comparison: not run (glusterd needs its own hosts; see docs/mgmtd.md)\n");
  cleanup();
  return 0;
}
