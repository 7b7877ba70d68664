#include "mgmtd/cli/cli.h"

#include <chrono>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "mgmtd/cli/format.h"
#include "proto/mgmt.grpc.pb.h"

namespace hafs::cli {

using nlohmann::json;

namespace {

constexpr int kDefaultPort = 24007;

struct Invocation {
  std::string remote = "127.0.0.1:" + std::to_string(kDefaultPort);
  bool json = false;
  int timeout_s = 60;
  std::vector<std::string> words;
  std::ostream* out;
  std::ostream* err;
};

// A refusal: "<verb>: failed: <message>" (gluster's shape), exit 1.
struct Failure {
  std::string line;
  int code = 1;
};

class Client {
 public:
  explicit Client(const Invocation& inv) : inv_(inv) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    stub_ = mgmtpb::Mgmt::NewStub(grpc::CreateCustomChannel(inv.remote, grpc::InsecureChannelCredentials(), args));
  }
  template <typename Req, typename Rep>
  void Call(grpc::Status (mgmtpb::Mgmt::Stub::*method)(grpc::ClientContext*, const Req&, Rep*), const Req& req,
            Rep* rep) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(inv_.timeout_s));
    auto st = (stub_.get()->*method)(&ctx, req, rep);
    if (!st.ok()) {
      if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
        throw Failure{fmt::format("Request timed out after {} s (hafs-mgmtd at {})", inv_.timeout_s, inv_.remote), 110};
      throw Failure{fmt::format("Connection failed. Please check if hafs-mgmtd is operational at {}.", inv_.remote), 107};
    }
  }
  mgmtpb::Mgmt::Stub* stub() { return stub_.get(); }

 private:
  const Invocation& inv_;
  std::unique_ptr<mgmtpb::Mgmt::Stub> stub_;
};

void Need(bool ok, const std::string& usage) {
  if (!ok) throw Failure{"Usage: hafs " + usage, 2};
}

// Prints the outcome of a change: "<prefix>: success[: note]" or throws the refusal.
void Outcome(Invocation& inv, const std::string& prefix, const mgmtpb::Reply& r, const std::string& success_note = "") {
  if (!r.ok()) throw Failure{prefix + ": failed: " + r.message(), 1};
  std::string note = !r.message().empty() ? r.message() : success_note;
  if (inv.json) {
    *inv.out << json{{"ok", true}, {"message", note}}.dump() << "\n";
  } else {
    *inv.out << prefix << ": success" << (note.empty() ? "" : ": " + note) << "\n";
  }
}

void Refused(const std::string& prefix, const mgmtpb::Reply& r) {
  if (!r.ok()) throw Failure{prefix + ": failed: " + r.message(), 1};
}

void PeerCmd(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  Need(w.size() >= 2, "peer probe|detach|status ...");
  if (w[1] == "probe") {
    Need(w.size() == 3, "peer probe HOST[:PORT]");
    mgmtpb::ProbeRequest req;
    req.set_host(w[2]);
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::PeerProbe, req, &rep);
    if (rep.ok() && !rep.message().empty() && !inv.json) {
      *inv.out << "peer probe: success. " << rep.message() << "\n";
      return;
    }
    return Outcome(inv, "peer probe", rep);
  }
  if (w[1] == "detach") {
    Need(w.size() == 3 || (w.size() == 4 && w[3] == "force"), "peer detach HOST[:PORT] [force]");
    mgmtpb::DetachRequest req;
    req.set_host(w[2]);
    req.set_force(w.size() == 4);
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::PeerDetach, req, &rep);
    return Outcome(inv, "peer detach", rep);
  }
  if (w[1] == "status") {
    mgmtpb::PoolReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::PoolList, mgmtpb::PoolRequest(), &rep);
    Refused("peer status", rep.reply());
    *inv.out << (inv.json ? PoolJson(rep).dump(2) + "\n" : PeerStatusText(rep));
    return;
  }
  throw Failure{"unknown peer command '" + w[1] + "'; expected probe, detach or status", 2};
}

void PoolCmd(Invocation& inv, Client& c) {
  Need(inv.words.size() == 2 && inv.words[1] == "list", "pool list");
  mgmtpb::PoolReply rep;
  c.Call(&mgmtpb::Mgmt::Stub::PoolList, mgmtpb::PoolRequest(), &rep);
  Refused("pool list", rep.reply());
  *inv.out << (inv.json ? PoolJson(rep).dump(2) + "\n" : PoolListText(rep));
}

// The tail shared by `volume create` and `volume add-brick`: [replica N] HOST:/PATH... [force]
// from w[3] on, into any request with replica, bricks and force fields.
template <typename Req>
void ParseBrickArgs(const std::vector<std::string>& w, const std::string& verb, const std::string& usage, Req* req) {
  Need(w.size() >= 4, usage);
  req->set_name(w[2]);
  size_t i = 3;
  if (w[i] == "replica") {
    Need(i + 1 < w.size(), usage);
    try {
      size_t pos = 0;
      int n = std::stoi(w[i + 1], &pos);
      if (pos != w[i + 1].size() || n < 1 || n > 16) throw std::invalid_argument("range");
      req->set_replica(n);
    } catch (const std::exception&) {
      throw Failure{verb + ": " + w[2] + ": failed: replica count must be a number 1..16, got '" + w[i + 1] + "'", 1};
    }
    i += 2;
  }
  for (; i < w.size(); ++i) {
    if (w[i] == "force" && i + 1 == w.size()) {
      req->set_force(true);
      break;
    }
    req->add_bricks(w[i]);
  }
  Need(req->bricks_size() > 0, usage);
}

void VolumeCreate(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  mgmtpb::VolumeCreateRequest req;
  ParseBrickArgs(w, "volume create", "volume create NAME [replica N] HOST:/PATH... [force]", &req);
  mgmtpb::Reply rep;
  c.Call(&mgmtpb::Mgmt::Stub::VolumeCreate, req, &rep);
  Outcome(inv, "volume create: " + w[2], rep, "please start the volume to access data");
}

// ---- add-brick, rebalance, remove-brick (docs/rebalance.md) ----

void VolumeAddBrick(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  mgmtpb::AddBrickRequest req;
  ParseBrickArgs(w, "volume add-brick", "volume add-brick NAME [replica N] HOST:/PATH... [force]", &req);
  mgmtpb::Reply rep;
  c.Call(&mgmtpb::Mgmt::Stub::VolumeAddBrick, req, &rep);
  Outcome(inv, "volume add-brick: " + w[2], rep, "run 'hafs volume rebalance " + w[2] + " start' to spread the data");
}

std::string Duration(double s) {
  if (s < 0) return "unknown";
  long t = static_cast<long>(s + 0.5);
  return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
}

void RebalanceStatusOut(Invocation& inv, const mgmtpb::RebalanceReply& rep) {
  if (inv.json) {
    json nodes = json::array();
    for (const auto& n : rep.nodes())
      nodes.push_back({{"node", n.node()},           {"status", n.status()},       {"id", n.id()},
                       {"scanned", n.scanned()},     {"moved", n.moved()},         {"bytes", n.bytes()},
                       {"failures", n.failures()},   {"skipped", n.skipped()},     {"elapsed_s", n.elapsed_s()},
                       {"eta_s", n.eta_s()},         {"dirs", n.dirs()},           {"last_dir", n.last_dir()},
                       {"fix_layout_only", n.fix_layout_only()}, {"error", n.error()}});
    *inv.out << json{{"nodes", nodes}}.dump(2) << "\n";
    return;
  }
  *inv.out << fmt::format("{:>16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>14} {:>10} {:>10}\n", "Node", "scanned",
                          "rebalanced", "size", "failures", "skipped", "status", "run time", "ETA");
  *inv.out << fmt::format("{:>16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>14} {:>10} {:>10}\n", "----", "-------",
                          "----------", "----", "--------", "-------", "------", "--------", "---");
  for (const auto& n : rep.nodes()) {
    *inv.out << fmt::format("{:>16} {:>10} {:>12} {:>10} {:>10} {:>9} {:>14} {:>10} {:>10}\n", n.node(), n.scanned(),
                            n.moved(), n.bytes(), n.failures(), n.skipped(), n.status(), Duration(n.elapsed_s()),
                            n.status() == "completed" ? "-" : Duration(n.eta_s()));
    if (!n.last_dir().empty())
      *inv.out << "  directories done: " << n.dirs() << ", last: " << n.last_dir()
               << (n.fix_layout_only() ? " (fix-layout only)" : "") << "\n";
    if (!n.error().empty()) *inv.out << "  error: " << n.error() << "\n";
  }
}

void VolumeRebalance(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  const std::string usage = "volume rebalance NAME [fix-layout] start|status|pause|resume|stop";
  Need(w.size() == 4 || (w.size() == 5 && w[3] == "fix-layout" && w[4] == "start"), usage);
  mgmtpb::RebalanceRequest req;
  req.set_name(w[2]);
  req.set_action(w.back());
  req.set_fix_layout(w.size() == 5);
  const auto& a = req.action();
  Need(a == "start" || a == "status" || a == "pause" || a == "resume" || a == "stop", usage);
  mgmtpb::RebalanceReply rep;
  c.Call(&mgmtpb::Mgmt::Stub::VolumeRebalance, req, &rep);
  if (a == "status") {
    Refused("volume rebalance: " + w[2], rep.reply());
    return RebalanceStatusOut(inv, rep);
  }
  Outcome(inv, "volume rebalance: " + w[2] + ": " + a, rep.reply());
}

void VolumeRemoveBrick(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  const std::string usage = "volume remove-brick NAME HOST:/PATH... start|status|stop|commit [force]";
  Need(w.size() >= 5, usage);
  mgmtpb::RemoveBrickRequest req;
  req.set_name(w[2]);
  size_t end = w.size();
  if (w[end - 1] == "force") {
    req.set_force(true);
    --end;
  }
  Need(end >= 5, usage);
  req.set_action(w[end - 1]);
  for (size_t i = 3; i + 1 < end; ++i) req.add_bricks(w[i]);
  const auto& a = req.action();
  Need(a == "start" || a == "status" || a == "stop" || a == "commit", usage);
  mgmtpb::RebalanceReply rep;
  c.Call(&mgmtpb::Mgmt::Stub::VolumeRemoveBrick, req, &rep);
  if (a == "status") {
    Refused("volume remove-brick: " + w[2], rep.reply());
    return RebalanceStatusOut(inv, rep);
  }
  Outcome(inv, "volume remove-brick " + a + ": " + w[2], rep.reply());
}

void VolumeCmd(Invocation& inv, Client& c) {
  const auto& w = inv.words;
  Need(w.size() >= 2, "volume create|start|stop|delete|info|status|set|get|reset|list|heal|volfile ...");
  const std::string& verb = w[1];
  auto simple = [&](auto method, const std::string& usage) {
    Need(w.size() == 3 || (w.size() == 4 && w[3] == "force"), usage);
    mgmtpb::VolumeRequest req;
    req.set_name(w[2]);
    req.set_force(w.size() == 4);
    mgmtpb::Reply rep;
    c.Call(method, req, &rep);
    Outcome(inv, "volume " + verb + ": " + w[2], rep);
  };
  if (verb == "create") return VolumeCreate(inv, c);
  if (verb == "start") return simple(&mgmtpb::Mgmt::Stub::VolumeStart, "volume start NAME [force]");
  if (verb == "stop") return simple(&mgmtpb::Mgmt::Stub::VolumeStop, "volume stop NAME [force]");
  if (verb == "delete") return simple(&mgmtpb::Mgmt::Stub::VolumeDelete, "volume delete NAME");
  if (verb == "info" || verb == "list") {
    Need(w.size() <= 3, "volume info [NAME|all]");
    mgmtpb::VolumeInfoRequest req;
    if (w.size() == 3) req.set_name(w[2]);
    mgmtpb::VolumeInfoReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::VolumeInfo, req, &rep);
    Refused("volume " + verb, rep.reply());
    if (verb == "list") {
      if (inv.json) {
        json names = json::array();
        for (const auto& v : rep.volumes()) names.push_back(v.name());
        *inv.out << names.dump() << "\n";
      } else {
        if (rep.volumes().empty()) *inv.out << "No volumes present in cluster\n";
        for (const auto& v : rep.volumes()) *inv.out << v.name() << "\n";
      }
      return;
    }
    if (inv.json) {
      json vols = json::array();
      for (const auto& v : rep.volumes()) vols.push_back(VolumeJson(v));
      *inv.out << json{{"volumes", vols}}.dump(2) << "\n";
    } else {
      *inv.out << VolumeInfoText(rep);
    }
    return;
  }
  if (verb == "status") {
    Need(w.size() == 3, "volume status NAME");
    mgmtpb::VolumeRequest req;
    req.set_name(w[2]);
    mgmtpb::VolumeStatusReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::VolumeStatus, req, &rep);
    Refused("volume status", rep.reply());
    *inv.out << (inv.json ? VolumeStatusJson(rep).dump(2) + "\n" : VolumeStatusText(rep));
    return;
  }
  if (verb == "set") {
    Need(w.size() >= 5 && (w.size() - 3) % 2 == 0, "volume set NAME KEY VALUE [KEY VALUE]...");
    mgmtpb::VolumeSetRequest req;
    req.set_name(w[2]);
    for (size_t i = 3; i + 1 < w.size(); i += 2) (*req.mutable_options())[w[i]] = w[i + 1];
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::VolumeSet, req, &rep);
    return Outcome(inv, "volume set", rep);
  }
  if (verb == "get") {
    Need(w.size() == 4, "volume get NAME KEY|all");
    mgmtpb::VolumeGetRequest req;
    req.set_name(w[2]);
    req.set_key(w[3]);
    mgmtpb::VolumeGetReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::VolumeGet, req, &rep);
    Refused("volume get", rep.reply());
    *inv.out << (inv.json ? VolumeGetJson(rep).dump(2) + "\n" : VolumeGetText(rep));
    return;
  }
  if (verb == "reset") {
    Need(w.size() == 3 || w.size() == 4, "volume reset NAME [KEY|all]");
    mgmtpb::VolumeResetRequest req;
    req.set_name(w[2]);
    if (w.size() == 4) req.set_key(w[3]);
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::VolumeReset, req, &rep);
    return Outcome(inv, "volume reset", rep);
  }
  if (verb == "heal" && w.size() == 5 && w[3] == "info" && w[4] == "split-brain") {
    mgmtpb::VolumeRequest req;
    req.set_name(w[2]);
    mgmtpb::HealInfoReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::HealInfoSplitBrain, req, &rep);
    Refused("volume heal", rep.reply());
    if (inv.json) {
      *inv.out << HealInfoJson(rep).dump(2) << "\n";
    } else {
      for (const auto& b : rep.bricks()) {
        *inv.out << "Brick " << b.brick() << "\n";
        for (const auto& g : b.gfids()) *inv.out << "<gfid:" << g << ">\n";
        *inv.out << "Status: Connected\nNumber of entries in split-brain: " << b.total() << "\n\n";
      }
    }
    return;
  }
  if (verb == "heal" && w.size() >= 5 && w[3] == "split-brain") {
    const std::string usage =
        "volume heal NAME split-brain {bigger-file FILE | latest-mtime FILE | source-brick HOST:/PATH [FILE]}";
    mgmtpb::SplitBrainRequest req;
    req.set_name(w[2]);
    req.set_policy(w[4]);
    if (w[4] == "source-brick") {
      Need(w.size() == 6 || w.size() == 7, usage);
      req.set_source_brick(w[5]);
      if (w.size() == 7) req.set_file(w[6]);
    } else {
      Need(w.size() == 6 && (w[4] == "bigger-file" || w[4] == "latest-mtime"), usage);
      req.set_file(w[5]);
    }
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::HealSplitBrain, req, &rep);
    return Outcome(inv, "volume heal: " + w[2] + ": split-brain", rep);
  }
  if (verb == "heal" && (w.size() == 3 || (w.size() == 4 && w[3] != "info"))) {
    const std::string usage = "volume heal NAME [full|info|enable|disable]";
    Need(w.size() >= 3, usage);
    if (w.size() == 4 && (w[3] == "enable" || w[3] == "disable")) {
      mgmtpb::VolumeSetRequest req;
      req.set_name(w[2]);
      (*req.mutable_options())["cluster.self-heal-daemon"] = w[3] == "enable" ? "on" : "off";
      mgmtpb::Reply rep;
      c.Call(&mgmtpb::Mgmt::Stub::VolumeSet, req, &rep);
      return Outcome(inv, "volume heal", rep);
    }
    bool full = w.size() == 4 && w[3] == "full";
    Need(w.size() == 3 || full, usage);
    mgmtpb::VolumeRequest req;
    req.set_name(w[2]);
    req.set_full(full);
    mgmtpb::Reply rep;
    c.Call(&mgmtpb::Mgmt::Stub::Heal, req, &rep);
    return Outcome(inv, "volume heal", rep,
                   std::string("Launching heal operation to perform ") + (full ? "full" : "index") +
                       " self heal on volume " + w[2] + " has been successful" +
                       (full ? "\nUse heal info commands to check status." : ""));
  }
  if (verb == "heal") {
    Need(w.size() == 4 && w[3] == "info", "volume heal NAME info");
    mgmtpb::VolumeRequest req;
    req.set_name(w[2]);
    mgmtpb::HealInfoReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::HealInfo, req, &rep);
    Refused("volume heal", rep.reply());
    *inv.out << (inv.json ? HealInfoJson(rep).dump(2) + "\n" : HealInfoText(rep));
    return;
  }
  if (verb == "volfile") {
    Need(w.size() == 3, "volume volfile NAME");
    mgmtpb::VolfileRequest req;
    req.set_name(w[2]);
    mgmtpb::VolfileReply rep;
    c.Call(&mgmtpb::Mgmt::Stub::GetVolfile, req, &rep);
    Refused("volume volfile: " + w[2], rep.reply());
    *inv.out << rep.json() << "\n";
    return;
  }
  if (verb == "add-brick") return VolumeAddBrick(inv, c);
  if (verb == "rebalance") return VolumeRebalance(inv, c);
  if (verb == "remove-brick") return VolumeRemoveBrick(inv, c);
  throw Failure{"unknown volume command '" + verb + "'; see 'hafs help'", 2};
}

void StateDumpCmd(Invocation& inv, Client& c) {
  mgmtpb::StateDumpReply rep;
  c.Call(&mgmtpb::Mgmt::Stub::StateDump, mgmtpb::PoolRequest(), &rep);
  Refused("state-dump", rep.reply());
  *inv.out << (inv.json ? json{{"text", rep.text()}}.dump(2) + "\n" : rep.text());
}

}  // namespace

std::string Usage() {
  return R"(Usage: hafs [--remote-host HOST[:PORT]] [--json] [--timeout SECONDS] COMMAND

Pool:
  peer probe HOST[:PORT]              add a node's hafs-mgmtd to the trusted pool
  peer detach HOST[:PORT] [force]     remove a node (it must hold no bricks)
  peer status                         the other peers and whether they are connected
  pool list                           every peer, this one included
Volumes:
  volume create NAME [replica N] HOST:/PATH... [force]
  volume start NAME [force]           start the bricks (force: restart missing ones)
  volume stop NAME                    stop the bricks; clients get ENOTCONN
  volume delete NAME                  forget a stopped volume (brick data stays)
  volume info [NAME|all]              configuration
  volume list                         names
  volume status NAME                  each brick: port, online, pid, restarts, counters
  volume set NAME KEY VALUE...        set options (validated)
  volume get NAME KEY|all             options with their values and defaults
  volume reset NAME [KEY|all]         back to the defaults
  volume heal NAME info               entries pending heal per brick, heal daemon progress
  volume heal NAME                    crawl the heal index now, on every node
  volume heal NAME full               crawl the whole namespace, compare replicas, repair (progress in info)
  volume heal NAME enable|disable     resume/pause the heal daemon (cluster.self-heal-daemon)
  volume heal NAME info split-brain   entries whose replicas accuse each other
  volume heal NAME split-brain bigger-file|latest-mtime FILE
  volume heal NAME split-brain source-brick HOST:/PATH [FILE]
                                      resolve split-brain (FILE: /path or gfid:UUID)
  volume volfile NAME                 the volfile (JSON) clients mount from
  volume add-brick NAME [replica N] HOST:/PATH... [force]
                                      grow a volume (whole replica sets); clients follow live
  volume rebalance NAME [fix-layout] start|status|pause|resume|stop
                                      rewrite directory layouts and move files to where they hash
  volume remove-brick NAME HOST:/PATH... start|status|stop|commit [force]
                                      move every file off the bricks, then drop them
Diagnosis:
  state-dump                          the mgmtd's internal state (raft, bricks)

Talks to hafs-mgmtd on 127.0.0.1:24007 unless --remote-host is given. Read commands
print JSON with --json. A refusal prints one line on stderr and exits non-zero.
)";
}

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Invocation inv;
  inv.out = &out;
  inv.err = &err;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (inv.words.empty() && (a == "--remote-host" || a == "--timeout") && i + 1 < args.size()) {
      if (a == "--remote-host") {
        std::string h = args[++i];
        bool has_port = h.find(':') != std::string::npos && h.find(':') == h.rfind(':');
        inv.remote = has_port || (h[0] == '[' && h.find("]:") != std::string::npos) ? h : h + ":" + std::to_string(kDefaultPort);
      } else {
        try {
          inv.timeout_s = std::stoi(args[++i]);
        } catch (const std::exception&) {
          err << "hafs: --timeout needs a number of seconds\n";
          return 2;
        }
      }
    } else if (a.rfind("--remote-host=", 0) == 0) {
      std::string h = a.substr(14);
      inv.remote = h.find(':') != std::string::npos ? h : h + ":" + std::to_string(kDefaultPort);
    } else if (a == "--json") {
      inv.json = true;
    } else if (a == "--help" || a == "-h" || a == "help") {
      out << Usage();
      return 0;
    } else if (inv.words.empty() && a.rfind("--", 0) == 0) {
      err << "hafs: unknown option " << a << "; see 'hafs help'\n";
      return 2;
    } else {
      inv.words.push_back(a);
    }
  }
  if (inv.words.empty()) {
    err << Usage();
    return 2;
  }
  try {
    Client client(inv);
    const auto& top = inv.words[0];
    if (top == "peer") PeerCmd(inv, client);
    else if (top == "pool") PoolCmd(inv, client);
    else if (top == "volume") VolumeCmd(inv, client);
    else if (top == "state-dump" || top == "statedump") StateDumpCmd(inv, client);
    else throw Failure{"unknown command '" + top + "'; see 'hafs help'", 2};
  } catch (const Failure& f) {
    if (inv.json && f.code == 1) out << json{{"ok", false}, {"error", f.line}}.dump() << "\n";
    err << f.line << "\n";
    return f.code;
  }
  return 0;
}

}  // namespace hafs::cli
