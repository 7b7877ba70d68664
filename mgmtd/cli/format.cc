#include "mgmtd/cli/format.h"

#include <fmt/format.h>

#include "mgmtd/state_machine.h"

namespace hafs::cli {

using nlohmann::json;

namespace {
std::string TypeName(const std::string& t) {
  if (t == "replicate") return "Replicate";
  if (t == "distributed-replicate") return "Distributed-Replicate";
  return "Distribute";
}
}  // namespace

std::string PeerStatusText(const mgmtpb::PoolReply& r) {
  std::string out;
  int others = 0;
  for (const auto& p : r.peers()) others += p.self() ? 0 : 1;
  out += fmt::format("Number of Peers: {}\n", others);
  for (const auto& p : r.peers()) {
    if (p.self()) continue;
    out += fmt::format("\nHostname: {}\nUuid: {}\nState: Peer in Cluster ({})\n", p.peer().address(), p.peer().uuid(),
                       p.connected() ? "Connected" : "Disconnected");
  }
  return out;
}

std::string PoolListText(const mgmtpb::PoolReply& r) {
  std::string out = fmt::format("{:<38}{:<24}{:<14}{}\n", "UUID", "Hostname", "State", "Role");
  for (const auto& p : r.peers()) {
    out += fmt::format("{:<38}{:<24}{:<14}{}\n", p.peer().uuid(), p.self() ? "localhost" : p.peer().address(),
                       p.connected() ? "Connected" : "Disconnected", p.leader() ? "leader" : "");
  }
  return out;
}

json PoolJson(const mgmtpb::PoolReply& r) {
  json peers = json::array();
  for (const auto& p : r.peers())
    peers.push_back({{"uuid", p.peer().uuid()},
                     {"address", p.peer().address()},
                     {"connected", p.connected()},
                     {"self", p.self()},
                     {"leader", p.leader()}});
  return {{"pool_id", r.pool_id()}, {"term", r.term()}, {"commit_index", r.commit_index()}, {"peers", peers}};
}

json VolumeJson(const mgmtpb::Volume& v) {
  json bricks = json::array();
  for (const auto& b : v.bricks()) bricks.push_back({{"host", b.host()}, {"path", b.path()}, {"port", b.port()}});
  json options = json::object();
  for (const auto& [k, val] : v.options()) options[k] = val;
  return {{"name", v.name()},         {"id", v.id()},
          {"type", v.type()},         {"replica", std::max(1, v.replica())},
          {"status", mgmtd::StateName(v.state())}, {"bricks", bricks},
          {"options", options},       {"version", v.version()}};
}

std::string VolumeInfoText(const mgmtpb::VolumeInfoReply& r) {
  if (r.volumes().empty()) return "No volumes present\n";
  std::string out;
  for (const auto& v : r.volumes()) {
    int replica = std::max(1, v.replica());
    int n = v.bricks_size();
    out += fmt::format("\nVolume Name: {}\nType: {}\nVolume ID: {}\nStatus: {}\n", v.name(), TypeName(v.type()), v.id(),
                       mgmtd::StateName(v.state()));
    if (replica > 1) out += fmt::format("Number of Bricks: {} x {} = {}\n", n / replica, replica, n);
    else out += fmt::format("Number of Bricks: {}\n", n);
    out += "Transport-type: tcp\nBricks:\n";
    for (int i = 0; i < n; ++i) out += fmt::format("Brick{}: {}:{}\n", i + 1, v.bricks(i).host(), v.bricks(i).path());
    if (!v.options().empty()) {
      out += "Options Reconfigured:\n";
      std::map<std::string, std::string> sorted(v.options().begin(), v.options().end());
      for (const auto& [k, val] : sorted) out += fmt::format("{}: {}\n", k, val);
    }
  }
  return out;
}

std::string VolumeStatusText(const mgmtpb::VolumeStatusReply& r) {
  std::string out = fmt::format("Status of volume: {}\n", r.name());
  out += fmt::format("{:<46}{:<10}{:<8}{:<8}{}\n", "hafs process", "TCP Port", "Online", "Pid", "Restarts");
  out += std::string(78, '-') + "\n";
  for (const auto& b : r.bricks()) {
    out += fmt::format("{:<46}{:<10}{:<8}{:<8}{}\n", "Brick " + b.host() + ":" + b.path(),
                       b.online() ? std::to_string(b.port()) : "N/A", b.online() ? "Y" : "N",
                       b.pid() > 0 ? std::to_string(b.pid()) : "N/A", b.restarts());
  }
  out += "\nBrick counters:\n";
  for (const auto& b : r.bricks()) {
    if (!b.online()) {
      out += fmt::format("  {}:{}: offline{}\n", b.host(), b.path(), b.error().empty() ? "" : " (" + b.error() + ")");
      continue;
    }
    out += fmt::format("  {}:{}: ops {} errors {} read {} B written {} B clients {} locks {} heal-pending {}\n",
                       b.host(), b.path(), b.ops(), b.errors(), b.bytes_read(), b.bytes_written(), b.sessions(),
                       b.locks_held(), b.heal_pending());
  }
  return out;
}

json VolumeStatusJson(const mgmtpb::VolumeStatusReply& r) {
  json bricks = json::array();
  for (const auto& b : r.bricks())
    bricks.push_back({{"host", b.host()},
                      {"path", b.path()},
                      {"port", b.port()},
                      {"pid", b.pid()},
                      {"online", b.online()},
                      {"restarts", b.restarts()},
                      {"ops", b.ops()},
                      {"errors", b.errors()},
                      {"bytes_read", b.bytes_read()},
                      {"bytes_written", b.bytes_written()},
                      {"clients", b.sessions()},
                      {"locks_held", b.locks_held()},
                      {"heal_pending", b.heal_pending()},
                      {"error", b.error()}});
  return {{"name", r.name()}, {"bricks", bricks}};
}

std::string VolumeGetText(const mgmtpb::VolumeGetReply& r) {
  std::string out = fmt::format("{:<40}{}\n", "Option", "Value");
  out += fmt::format("{:<40}{}\n", "------", "-----");
  for (const auto& o : r.options())
    out += fmt::format("{:<40}{}{}\n", o.key(), o.value(), o.is_set() ? "" : " (DEFAULT)");
  return out;
}

json VolumeGetJson(const mgmtpb::VolumeGetReply& r) {
  json opts = json::array();
  for (const auto& o : r.options())
    opts.push_back({{"key", o.key()},
                    {"value", o.value()},
                    {"default", o.default_value()},
                    {"set", o.is_set()},
                    {"description", o.description()}});
  return {{"options", opts}};
}

std::string HealInfoText(const mgmtpb::HealInfoReply& r) {
  std::string out;
  for (const auto& b : r.bricks()) {
    out += "Brick " + b.brick() + "\n";
    for (const auto& g : b.gfids()) out += "<gfid:" + g + ">\n";
    out += fmt::format("Status: {}\n", b.online() ? "Connected" : b.error().empty() ? "Not connected" : b.error());
    out += b.online() ? fmt::format("Number of entries: {}\n\n", b.total()) : "Number of entries: -\n\n";
  }
  if (!r.daemons().empty()) out += "Heal daemon:\n";
  for (const auto& d : r.daemons()) {
    std::string eta = d.shd_rate() > 0 && d.shd_queued() > 0 ? fmt::format("{:.0f} s", d.shd_queued() / d.shd_rate())
                                                            : "-";
    out += fmt::format("  {}:{}: {} healed {} failed {} split-brain {} queued {} rate {:.1f}/s ETA {}\n", d.host(),
                       d.path(), d.shd_state().empty() ? "n/a" : d.shd_state(), d.shd_healed(), d.shd_failed(),
                       d.shd_split_brain(), d.shd_queued(), d.shd_rate(), eta);
    if (!d.full_state().empty())
      out += fmt::format("    full crawl: {} crawled {} healed {} failed {} elapsed {:.0f} s ETA {}\n", d.full_state(),
                         d.full_crawled(), d.full_healed(), d.full_failed(), d.full_elapsed_s(),
                         d.full_state() == "running" ? fmt::format("{:.0f} s", d.full_eta_s()) : "-");
  }
  return out;
}

json HealInfoJson(const mgmtpb::HealInfoReply& r) {
  json bricks = json::array();
  for (const auto& b : r.bricks())
    bricks.push_back({{"brick", b.brick()},
                      {"online", b.online()},
                      {"entries", b.total()},
                      {"gfids", std::vector<std::string>(b.gfids().begin(), b.gfids().end())},
                      {"error", b.error()}});
  json daemons = json::array();
  for (const auto& d : r.daemons())
    daemons.push_back({{"brick", d.host() + ":" + d.path()},
                       {"state", d.shd_state()},
                       {"healed", d.shd_healed()},
                       {"failed", d.shd_failed()},
                       {"split_brain", d.shd_split_brain()},
                       {"queued", d.shd_queued()},
                       {"rate", d.shd_rate()},
                       {"eta_s", d.shd_rate() > 0 ? d.shd_queued() / d.shd_rate() : 0.0},
                       {"full", {{"state", d.full_state()},
                                 {"crawled", d.full_crawled()},
                                 {"healed", d.full_healed()},
                                 {"failed", d.full_failed()},
                                 {"eta_s", d.full_eta_s()},
                                 {"elapsed_s", d.full_elapsed_s()}}}});
  return {{"bricks", bricks}, {"heal_daemon", daemons}};
}

}  // namespace hafs::cli
