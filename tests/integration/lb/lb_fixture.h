// A running hafs-lb with three lb_test_backend servers, all on fresh loopback ports.
// The config template names ports as ${HTTP}, ${TCP}, ${STATS}, ${B1}..${B3}, ${SOCK}.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "lb_harness.h"

namespace lbtest {

inline std::string Substitute(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    std::string key = "${" + k + "}";
    for (size_t p; (p = text.find(key)) != std::string::npos;) text.replace(p, key.size(), v);
  }
  return text;
}

class LbCluster {
 public:
  explicit LbCluster(const std::string& tmpl, bool start_backends = true) {
    ports_ = {{"HTTP", FreePort()}, {"TCP", FreePort()}, {"STATS", FreePort()},
              {"B1", FreePort()},   {"B2", FreePort()},  {"B3", FreePort()}};
    std::map<std::string, std::string> vars;
    for (auto& [k, v] : ports_) vars[k] = std::to_string(v);
    vars["SOCK"] = sock();
    cfg_text_ = Substitute(tmpl, vars);
    cfg_ = dir_.Write("lb.cfg", cfg_text_);
    if (start_backends)
      for (int i = 1; i <= 3; ++i) StartBackend(i);
    lb_ = lbtest::StartLb(cfg_, port("HTTP"), log());
    // The port is bound before the loops run; wait for the whole process to be up.
    if (cfg_text_.find("stats socket") != std::string::npos)
      WaitFor([&] { return access(sock().c_str(), F_OK) == 0; }, std::chrono::seconds(5));
    WaitFor([&] { return LogText().find("hafs-lb started") != std::string::npos; }, std::chrono::seconds(5));
  }
  int port(const std::string& name) const { return ports_.at(name); }
  std::string sock() const { return dir_.path() + "/admin.sock"; }
  std::string log() const { return dir_.path() + "/lb.log"; }
  const std::string& cfg_file() const { return cfg_; }
  TempDir& dir() { return dir_; }
  Process& lb() { return lb_; }
  void StartBackend(int i) {
    backends_[i] = lbtest::StartBackend(port("B" + std::to_string(i)), "web" + std::to_string(i), dir_.path());
  }
  Process& backend(int i) { return backends_[i]; }
  std::string Admin(const std::string& cmd) const { return AdminCommand(sock(), cmd); }
  // "UP"/"DOWN" of backend/server from `show servers state`.
  std::string ServerOpState(const std::string& be, const std::string& srv) const {
    std::string out = Admin("show servers state");
    std::string key = be + " " + srv + " ";
    auto p = out.find(key);
    if (p == std::string::npos) return "?";
    auto line = out.substr(p, out.find('\n', p) - p);
    return line.find(" UP ") != std::string::npos ? "UP" : "DOWN";
  }
  std::string LogText() const {
    std::ifstream f(log());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  TempDir dir_;  // destroyed last: processes stop first
  std::map<std::string, int> ports_;
  std::string cfg_text_, cfg_;
  std::map<int, Process> backends_;
  Process lb_;
};

}  // namespace lbtest
