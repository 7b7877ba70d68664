#include "vip/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "common/log.h"
#include "vip/constants.h"
#include "vip/fsm.h"
#include "vip/garp.h"
#include "vip/netlink.h"
#include "vip/packet.h"
#include "vip/quorum.h"
#include "vip/scripts.h"
#include "vip/status.h"
#include "vip/vrrp_socket.h"

namespace hafs::vip {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kTrackerPeriod{100};  // how often track_interface is sampled

struct ScriptTrack {
  TrackScript* script;
  int weight;  // 0: failing faults the instance
};
struct IfaceTrack {
  std::string ifname;
  int weight;  // 0: down faults the instance
  bool up = true;
};

struct Instance {
  InstanceConfig cfg;
  int ifindex = 0;
  uint32_t local = 0;
  std::array<uint8_t, 6> mac{};
  WireSettings wire;
  std::unique_ptr<VrrpFsm> fsm;
  VrrpSocket sock;
  std::vector<ScriptTrack> scripts;
  std::vector<IfaceTrack> ifaces;
  std::unique_ptr<QuorumGuard> quorum;
  std::set<int> sibling_vrids;  // other instances on the same interface: their adverts are not "bad VRID"
  struct Group* group = nullptr;
  NotifyQueue notify;
  std::string fault_reason;
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> drops{};
  uint64_t received = 0;
  uint64_t send_errors = 0;
  uint64_t netlink_errors = 0;
  TimePoint garp_repeat_at = TimePoint::max();
};

struct Group {
  SyncGroupConfig cfg;
  std::vector<Instance*> members;
  NotifyQueue notify;
  VrrpState state = VrrpState::kInit;
};

class DaemonImpl final : public Daemon {
 public:
  DaemonImpl(Config cfg, DaemonOptions opts) : cfg_(std::move(cfg)), opts_(std::move(opts)) {}
  ~DaemonImpl() override {
    procs_.KillAll();
    if (sigfd_ >= 0) close(sigfd_);
    if (status_fd_ >= 0) {
      close(status_fd_);
      unlink(opts_.status_socket.c_str());
    }
    if (fifo_fd_ >= 0) close(fifo_fd_);
  }

  Status Init();
  Status Run() override;

 private:
  void Loop();
  void Shutdown();
  void ReadPackets(Instance& in, TimePoint now);
  void Apply(Instance& in, TimePoint now);
  void OnTransition(Instance& in, const FsmAction& a, TimePoint now);
  void SendAdvert(Instance& in, uint8_t prio);
  void InstallVips(Instance& in);
  void RemoveVips(Instance& in);
  void Garp(Instance& in);
  void Notify(Instance& in, VrrpState to);
  void FifoLine(const std::string& line);
  void EvaluateTrackers(TimePoint now);
  void ServeStatus();
  std::vector<InstanceStatus> Snapshot() const;
  TimePoint NextWake(TimePoint now) const;

  Config cfg_;
  DaemonOptions opts_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::map<std::string, std::unique_ptr<TrackScript>> scripts_;
  ProcessTable procs_;
  Rtnl rtnl_;
  GarpSender garp_;
  NaSender na_;
  int sigfd_ = -1;
  int status_fd_ = -1;
  int fifo_fd_ = -1;
  bool forcing_ = false;  // inside a sync-group move: member transitions do not move the group again
  TimePoint next_tracker_{};
};

Status DaemonImpl::Init() {
  HAFS_RETURN_IF_ERROR(rtnl_.Open());
  HAFS_RETURN_IF_ERROR(garp_.Open());
  bool any_v6 = false;
  for (const auto& ic : cfg_.instances)
    for (const auto& x : ic.excluded) any_v6 = any_v6 || x.family == AF_INET6;
  if (any_v6) HAFS_RETURN_IF_ERROR(na_.Open());
  for (const auto& s : cfg_.scripts) scripts_[s.name] = std::make_unique<TrackScript>(s);
  for (const auto& ic : cfg_.instances) {
    auto in = std::make_unique<Instance>();
    in->cfg = ic;
    auto idx = InterfaceIndex(ic.interface);
    if (!idx.ok()) return Status(idx.err(), fmt::format("vrrp_instance {}: {}", ic.name, idx.status().ToString()));
    in->ifindex = *idx;
    auto mac = InterfaceMac(ic.interface);
    if (!mac.ok()) return mac.status();
    in->mac = *mac;
    if (ic.unicast_src) {
      in->local = *ic.unicast_src;
    } else {
      for (uint32_t a : InterfaceAddresses(ic.interface)) {
        bool is_vip = std::any_of(ic.vips.begin(), ic.vips.end(), [a](const VipAddress& v) { return v.addr == a; });
        if (!is_vip) {
          in->local = a;
          break;
        }
      }
    }
    if (in->local == 0) return Status(EADDRNOTAVAIL, fmt::format("vrrp_instance {}: no IPv4 address on {}", ic.name, ic.interface));
    in->wire.version = static_cast<uint8_t>(ic.version);
    in->wire.vrid = static_cast<uint8_t>(ic.vrid);
    in->wire.interval_cs = ic.advert_cs;
    in->wire.auth_type = static_cast<uint8_t>(ic.auth_type);
    in->wire.auth_data = AuthField(ic.auth_pass);
    FsmConfig fc;
    fc.version = in->wire.version;
    fc.priority = static_cast<uint8_t>(ic.priority);
    fc.advert_cs = ic.advert_cs;
    fc.preempt = !ic.nopreempt;
    fc.preempt_delay = std::chrono::duration_cast<Micros>(ic.preempt_delay);
    fc.primary_addr = in->local;
    in->fsm = std::make_unique<VrrpFsm>(fc);
    HAFS_RETURN_IF_ERROR(in->sock.Open(ic.interface, in->ifindex, in->local, ic.unicast_peers.empty()));
    for (const auto& t : ic.track_scripts) {
      TrackScript* s = scripts_.at(t.name).get();
      in->scripts.push_back({s, t.weight.value_or(s->config().weight)});
    }
    for (const auto& t : ic.track_interfaces) {
      if (!InterfaceIndex(t.name).ok()) return Status(ENODEV, fmt::format("track_interface {}: no such interface", t.name));
      in->ifaces.push_back({t.name, t.weight.value_or(0)});
    }
    if (!ic.quorum_peers.empty()) {
      in->quorum = std::make_unique<QuorumGuard>();
      HAFS_RETURN_IF_ERROR(in->quorum->Open(in->ifindex, in->mac, in->local, ic.quorum_peers, ic.quorum_min,
                                            std::chrono::duration_cast<Micros>(ic.quorum_interval)));
    }
    // Start from a clean slate, as keepalived does: a VIP left by a crashed run is removed.
    RemoveVips(*in);
    instances_.push_back(std::move(in));
  }
  for (auto& a : instances_)
    for (auto& b : instances_)
      if (a != b && a->cfg.interface == b->cfg.interface) a->sibling_vrids.insert(b->cfg.vrid);
  for (const auto& gc : cfg_.groups) {
    auto g = std::make_unique<Group>();
    g->cfg = gc;
    for (const auto& m : gc.members)
      for (auto& in : instances_)
        if (in->cfg.name == m) {
          in->group = g.get();
          g->members.push_back(in.get());
        }
    groups_.push_back(std::move(g));
  }
  // Status socket.
  status_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (status_fd_ < 0) return Status::FromErrno(errno, "status socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (opts_.status_socket.size() >= sizeof(sa.sun_path)) return Status(ENAMETOOLONG, "status socket path too long");
  std::memcpy(sa.sun_path, opts_.status_socket.c_str(), opts_.status_socket.size());
  unlink(opts_.status_socket.c_str());
  if (bind(status_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || listen(status_fd_, 8) < 0)
    return Status::FromErrno(errno, "status socket " + opts_.status_socket);
  if (!cfg_.global.notify_fifo.empty()) {
    const char* p = cfg_.global.notify_fifo.c_str();
    if (mkfifo(p, 0600) < 0 && errno != EEXIST) return Status::FromErrno(errno, "mkfifo " + cfg_.global.notify_fifo);
    // O_RDWR keeps the FIFO open without a reader, so lines wait in the pipe (up to its size) in order.
    fifo_fd_ = open(p, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fifo_fd_ < 0) return Status::FromErrno(errno, "open notify_fifo " + cfg_.global.notify_fifo);
  }
  return Status::Ok();
}

Status DaemonImpl::Run() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGCHLD, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  sigfd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd_ < 0) return Status::FromErrno(errno, "signalfd");
  TimePoint now = Clock::now();
  for (auto& in : instances_) {
    if (in->quorum) in->quorum->Tick(now);  // first probes before the first election
    HAFS_LOG_INFO("{}: VRRPv{} vrid {} prio {} advert {} ms on {} from {} ({})", in->cfg.name, in->cfg.version,
                  in->cfg.vrid, in->cfg.priority, in->cfg.advert_cs * 10, in->cfg.interface, Ipv4ToString(in->local),
                  in->cfg.unicast_peers.empty() ? "multicast 224.0.0.18" : "unicast");
    in->fsm->Start(now);
    Apply(*in, now);
  }
  Loop();
  Shutdown();
  return Status::Ok();
}

TimePoint DaemonImpl::NextWake(TimePoint now) const {
  TimePoint t = std::max(now, next_tracker_);
  for (const auto& in : instances_) {
    t = std::min(t, in->fsm->NextDeadline());
    t = std::min(t, in->garp_repeat_at);
    if (in->quorum) t = std::min(t, in->quorum->NextProbe());
  }
  for (const auto& [name, s] : scripts_) t = std::min(t, s->next_run());
  t = std::min(t, procs_.NextDeadline());
  return t;
}

void DaemonImpl::Loop() {
  std::vector<pollfd> fds;
  for (;;) {
    TimePoint now = Clock::now();
    fds.clear();
    fds.push_back({sigfd_, POLLIN, 0});
    fds.push_back({status_fd_, POLLIN, 0});
    for (auto& in : instances_) fds.push_back({in->sock.fd(), POLLIN, 0});
    for (auto& in : instances_)
      if (in->quorum) fds.push_back({in->quorum->fd(), POLLIN, 0});
    auto wait = std::max(Micros(0), std::chrono::duration_cast<Micros>(NextWake(now) - now));
    timespec ts{static_cast<time_t>(wait.count() / 1000000), static_cast<long>(wait.count() % 1000000) * 1000};
    int n = ppoll(fds.data(), fds.size(), &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      HAFS_LOG_ERROR("ppoll: {}", std::strerror(errno));
      return;
    }
    now = Clock::now();
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      while (read(sigfd_, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
          HAFS_LOG_INFO("signal {}: shutting down", si.ssi_signo);
          return;
        }
        if (si.ssi_signo == SIGUSR1) HAFS_LOG_INFO("status:\n{}", StatusJson(cfg_.global.router_id, Snapshot()));
      }
    }
    if (fds[1].revents & POLLIN) ServeStatus();
    for (size_t i = 0; i < instances_.size(); ++i)
      if (fds[2 + i].revents & POLLIN) ReadPackets(*instances_[i], now);
    for (size_t i = 0, q = 2 + instances_.size(); i < instances_.size(); ++i) {
      if (!instances_[i]->quorum) continue;
      if (fds[q++].revents & POLLIN) instances_[i]->quorum->Drain(now);
      instances_[i]->quorum->Tick(now);
    }
    procs_.Reap();
    procs_.KillOverdue(now);
    EvaluateTrackers(now);
    for (auto& in : instances_) {
      if (now >= in->fsm->NextDeadline()) {
        in->fsm->OnTimer(now);
        Apply(*in, now);
      }
      if (now >= in->garp_repeat_at) {
        in->garp_repeat_at = TimePoint::max();
        if (in->fsm->state() == VrrpState::kMaster) Garp(*in);
      }
      in->notify.Pump(now, cfg_.global.notify_timeout, procs_);
    }
    for (auto& g : groups_) g->notify.Pump(now, cfg_.global.notify_timeout, procs_);
  }
}

void DaemonImpl::ReadPackets(Instance& in, TimePoint now) {
  uint8_t buf[2048];
  for (int budget = 0; budget < 64; ++budget) {  // bounded: a flood cannot starve the timers
    ssize_t n = in.sock.Recv(buf, sizeof(buf));
    if (n < 0) return;
    Received r = DecodeIpPacket(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    DropReason why = r.reason;
    if (why == DropReason::kNone) {
      if (r.src == in.local) continue;  // our own advert (multicast loop is off; belt and braces)
      if (r.adv.vrid != in.cfg.vrid && in.sibling_vrids.count(r.adv.vrid)) continue;
      if (!in.cfg.unicast_peers.empty() &&
          std::find(in.cfg.unicast_peers.begin(), in.cfg.unicast_peers.end(), r.src) == in.cfg.unicast_peers.end())
        why = DropReason::kNotPeer;
      else
        why = CheckAgainstInstance(r.adv, in.wire);
    }
    if (why != DropReason::kNone) {
      uint64_t c = ++in.drops[static_cast<size_t>(why)];
      if ((c & (c - 1)) == 0)  // log the 1st, 2nd, 4th, 8th … of each kind: visible, never a flood
        HAFS_LOG_WARN("{}: dropped advert from {}: {} (count {})", in.cfg.name, Ipv4ToString(r.src), DropReasonName(why), c);
      continue;
    }
    ++in.received;
    in.fsm->OnAdvert(now, r.src, r.adv.priority, r.adv.interval_cs);
    Apply(in, now);
  }
}

void DaemonImpl::Apply(Instance& in, TimePoint now) {
  for (const FsmAction& a : in.fsm->TakeActions()) {
    switch (a.kind) {
      case FsmAction::Kind::kSendAdvert:
        SendAdvert(in, a.priority);
        break;
      case FsmAction::Kind::kGarp:
        HAFS_LOG_INFO("{}: {}", in.cfg.name, a.reason);
        Garp(in);
        break;
      case FsmAction::Kind::kTransition:
        OnTransition(in, a, now);
        break;
    }
  }
}

void DaemonImpl::OnTransition(Instance& in, const FsmAction& a, TimePoint now) {
  HAFS_LOG_INFO("{}: {} -> {} ({}), priority {}", in.cfg.name, StateName(a.from), StateName(a.to), a.reason,
                in.fsm->priority());
  if (a.to == VrrpState::kMaster) {
    InstallVips(in);
    Garp(in);  // RFC 5798 §6.4.2: broadcast a gratuitous ARP for each VIP
    in.garp_repeat_at = now + in.cfg.garp_master_delay;
  } else if (a.from == VrrpState::kMaster) {
    RemoveVips(in);
    in.garp_repeat_at = TimePoint::max();
  }
  Notify(in, a.to);
  Group* g = in.group;
  if (!g) return;
  if (g->state != a.to && a.to != VrrpState::kInit) {
    g->state = a.to;
    const char* st = StateName(a.to);
    const std::string& cmd = a.to == VrrpState::kMaster   ? g->cfg.notify_master
                             : a.to == VrrpState::kBackup ? g->cfg.notify_backup
                                                          : g->cfg.notify_fault;
    if (!cmd.empty()) g->notify.Push(cmd);
    if (!g->cfg.notify.empty()) g->notify.Push(fmt::format("{} GROUP '{}' {}", g->cfg.notify, g->cfg.name, st));
    FifoLine(fmt::format("GROUP \"{}\" {}", g->cfg.name, st));
  }
  if (forcing_ || (a.to != VrrpState::kMaster && a.to != VrrpState::kBackup)) return;
  // vrrp_sync_group: the other members follow, so the external and internal VIPs move as one.
  forcing_ = true;
  for (Instance* m : g->members) {
    if (m == &in) continue;
    m->fsm->Force(now, a.to, fmt::format("sync group {} follows {}", g->cfg.name, in.cfg.name));
    Apply(*m, now);
  }
  forcing_ = false;
}

void DaemonImpl::SendAdvert(Instance& in, uint8_t prio) {
  Advert adv;
  adv.version = in.wire.version;
  adv.vrid = in.wire.vrid;
  adv.priority = prio;
  adv.interval_cs = in.cfg.advert_cs;
  adv.auth_type = in.wire.auth_type;
  adv.auth_data = in.wire.auth_data;
  for (const auto& v : in.cfg.vips) adv.addrs.push_back(v.addr);
  auto send = [&](uint32_t dst) {
    Status st = in.sock.Send(EncodeAdvert(adv, in.local, dst), dst);
    if (!st.ok()) {
      uint64_t c = ++in.send_errors;
      if ((c & (c - 1)) == 0) HAFS_LOG_WARN("{}: {} (count {})", in.cfg.name, st.ToString(), c);
    }
  };
  if (in.cfg.unicast_peers.empty()) {
    send(kVrrpGroupHostOrder);
  } else {
    for (uint32_t p : in.cfg.unicast_peers) send(p);  // v3 checksum differs per peer (pseudo-header)
  }
}

void DaemonImpl::InstallVips(Instance& in) {
  for (const auto& v : in.cfg.vips) {
    int idx = in.ifindex;
    if (!v.dev.empty() && v.dev != in.cfg.interface) {
      auto r = InterfaceIndex(v.dev);
      if (!r.ok()) {
        HAFS_LOG_ERROR("{}: {}", in.cfg.name, r.status().ToString());
        continue;
      }
      idx = *r;
    }
    Status st = rtnl_.AddAddress(idx, v.addr, v.prefix, v.label);
    if (!st.ok()) {
      ++in.netlink_errors;
      HAFS_LOG_ERROR("{}: add {}/{}: {}", in.cfg.name, Ipv4ToString(v.addr), v.prefix, st.ToString());
    }
  }
  for (const auto& x : in.cfg.excluded) {
    auto idx = x.dev.empty() ? Result<int>(in.ifindex) : InterfaceIndex(x.dev);
    Status st = idx.ok() ? rtnl_.AddAddressAny(x.family, *idx, x.bytes, x.prefix) : idx.status();
    if (!st.ok()) {
      ++in.netlink_errors;
      HAFS_LOG_ERROR("{}: add {}: {}", in.cfg.name, x.text, st.ToString());
    }
  }
}

void DaemonImpl::RemoveVips(Instance& in) {
  for (const auto& v : in.cfg.vips) {
    auto idx = v.dev.empty() ? Result<int>(in.ifindex) : InterfaceIndex(v.dev);
    if (!idx.ok()) continue;
    Status st = rtnl_.DelAddress(*idx, v.addr, v.prefix);
    if (!st.ok()) {
      ++in.netlink_errors;
      HAFS_LOG_ERROR("{}: delete {}/{}: {}", in.cfg.name, Ipv4ToString(v.addr), v.prefix, st.ToString());
    }
  }
  for (const auto& x : in.cfg.excluded) {
    auto idx = x.dev.empty() ? Result<int>(in.ifindex) : InterfaceIndex(x.dev);
    if (!idx.ok()) continue;
    Status st = rtnl_.DelAddressAny(x.family, *idx, x.bytes, x.prefix);
    if (!st.ok()) {
      ++in.netlink_errors;
      HAFS_LOG_ERROR("{}: delete {}: {}", in.cfg.name, x.text, st.ToString());
    }
  }
}

void DaemonImpl::Garp(Instance& in) {
  for (const auto& v : in.cfg.vips) {
    int idx = in.ifindex;
    auto mac = in.mac;
    if (!v.dev.empty() && v.dev != in.cfg.interface) {
      auto r = InterfaceIndex(v.dev);
      auto m = InterfaceMac(v.dev);
      if (!r.ok() || !m.ok()) continue;
      idx = *r;
      mac = *m;
    }
    Status st = garp_.Announce(idx, mac, v.addr);
    if (!st.ok()) HAFS_LOG_WARN("{}: {}", in.cfg.name, st.ToString());
  }
  for (const auto& x : in.cfg.excluded) {
    const std::string& dev = x.dev.empty() ? in.cfg.interface : x.dev;
    auto idx = InterfaceIndex(dev);
    auto mac = InterfaceMac(dev);
    if (!idx.ok() || !mac.ok()) continue;
    Status st;
    if (x.family == AF_INET6) {
      st = na_.Announce(*idx, *mac, x.bytes);
    } else {
      uint32_t a = (uint32_t{x.bytes[0]} << 24) | (uint32_t{x.bytes[1]} << 16) | (uint32_t{x.bytes[2]} << 8) | x.bytes[3];
      st = garp_.Announce(*idx, *mac, a);
    }
    if (!st.ok()) HAFS_LOG_WARN("{}: {}", in.cfg.name, st.ToString());
  }
}

void DaemonImpl::Notify(Instance& in, VrrpState to) {
  const char* st = StateName(to);
  const std::string* cmd = nullptr;
  if (to == VrrpState::kMaster) cmd = &in.cfg.notify_master;
  if (to == VrrpState::kBackup) cmd = &in.cfg.notify_backup;
  if (to == VrrpState::kFault) cmd = &in.cfg.notify_fault;
  if (to == VrrpState::kInit) cmd = &in.cfg.notify_stop;
  if (to == VrrpState::kInit) st = "STOP";
  if (cmd && !cmd->empty()) in.notify.Push(*cmd);
  // keepalived's `notify` convention: $1 INSTANCE, $2 name, $3 state, $4 priority.
  if (!in.cfg.notify.empty())
    in.notify.Push(fmt::format("{} INSTANCE '{}' {} {}", in.cfg.notify, in.cfg.name, st, in.fsm->priority()));
  FifoLine(fmt::format("INSTANCE \"{}\" {} {}", in.cfg.name, st, in.fsm->priority()));
}

void DaemonImpl::FifoLine(const std::string& line) {
  if (fifo_fd_ < 0) return;
  std::string l = line + "\n";
  if (write(fifo_fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
    HAFS_LOG_WARN("notify_fifo full or closed; event line lost: {}", line);
}

void DaemonImpl::EvaluateTrackers(TimePoint now) {
  procs_.Reap();  // script verdicts arrive here
  bool changed = false;
  for (auto& [name, s] : scripts_) {
    changed = s->TakeChanged() || changed;
    s->Tick(now, procs_);
  }
  if (now >= next_tracker_) {
    next_tracker_ = now + kTrackerPeriod;
    changed = true;  // interfaces are sampled, and script verdicts may have arrived in Reap()
  }
  if (!changed) return;
  // Per instance: own fault and effective priority.
  std::map<Instance*, std::string> own_fault;
  for (auto& in : instances_) {
    std::string fault;
    int prio = in->cfg.priority;
    if (!InterfaceUp(in->cfg.interface)) fault = fmt::format("interface {} down", in->cfg.interface);
    for (const auto& t : in->scripts) {
      bool ok = t.script->passing();
      if (t.weight == 0 && !ok) fault = fmt::format("vrrp_script {} failing", t.script->config().name);
      if (t.weight > 0 && ok) prio += t.weight;
      if (t.weight < 0 && !ok) prio += t.weight;
    }
    for (auto& t : in->ifaces) {
      t.up = InterfaceUp(t.ifname);
      if (t.weight == 0 && !t.up) fault = fmt::format("track_interface {} down", t.ifname);
      if (t.weight > 0 && t.up) prio += t.weight;
      if (t.weight < 0 && !t.up) prio += t.weight;
    }
    if (in->quorum && !in->quorum->HasQuorum(now))
      fault = fmt::format("quorum lost ({}/{} peers answer, {} needed)", in->quorum->Reachable(now), in->quorum->peers(),
                          in->quorum->min());
    own_fault[in.get()] = fault;
    in->fsm->SetPriority(now, static_cast<uint8_t>(std::clamp(prio, 1, 254)));
    Apply(*in, now);
  }
  for (auto& in : instances_) {
    std::string fault = own_fault[in.get()];
    if (fault.empty() && in->group) {
      for (Instance* m : in->group->members)
        if (!own_fault[m].empty()) fault = fmt::format("sync group {}: {} in fault ({})", in->group->cfg.name, m->cfg.name, own_fault[m]);
    }
    in->fault_reason = fault;
    in->fsm->SetFault(now, !fault.empty(), fault.empty() ? "fault cleared" : fault);
    Apply(*in, now);
  }
}

std::vector<InstanceStatus> DaemonImpl::Snapshot() const {
  std::vector<InstanceStatus> out;
  for (const auto& in : instances_) {
    InstanceStatus s;
    s.name = in->cfg.name;
    s.state = StateName(in->fsm->state());
    s.interface = in->cfg.interface;
    s.vrid = in->cfg.vrid;
    s.version = in->cfg.version;
    s.base_priority = in->cfg.priority;
    s.priority = in->fsm->priority();
    s.master = in->fsm->master_addr() ? Ipv4ToString(in->fsm->master_addr()) : "";
    s.advert_ms = in->cfg.advert_cs * 10;
    s.fault_reason = in->fault_reason;
    for (const auto& v : in->cfg.vips) s.vips.push_back(fmt::format("{}/{}", Ipv4ToString(v.addr), v.prefix));
    for (const auto& x : in->cfg.excluded) s.vips.push_back(x.text);
    s.sync_group = in->group ? in->group->cfg.name : "";
    const FsmCounters& c = in->fsm->counters();
    s.counters = {{"became_master", c.became_master},     {"released_master", c.released_master},
                  {"adverts_sent", c.adverts_sent},       {"adverts_received", in->received},
                  {"reasserts", c.reasserts},             {"preempt_held", c.preempt_held},
                  {"priority_zero_received", c.priority_zero_received},
                  {"send_errors", in->send_errors},       {"netlink_errors", in->netlink_errors}};
    for (size_t r = 1; r < in->drops.size(); ++r)
      s.counters[fmt::format("drop_{}", DropReasonName(static_cast<DropReason>(r)))] = in->drops[r];
    out.push_back(std::move(s));
  }
  return out;
}

void DaemonImpl::ServeStatus() {
  for (int i = 0; i < 16; ++i) {
    int c = accept4(status_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    std::string doc = StatusJson(cfg_.global.router_id, Snapshot());
    // The reply is small; a client that does not read within the socket buffer just gets cut off.
    timeval tv{0, 200000};
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t off = 0;
    while (off < doc.size()) {
      ssize_t n = send(c, doc.data() + off, doc.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(c);
  }
}

void DaemonImpl::Shutdown() {
  TimePoint now = Clock::now();
  for (auto& in : instances_) {
    in->fsm->Stop(now);
    Apply(*in, now);  // priority-0 advert (RFC 5798 §6.4.3) and VIPs removed
    RemoveVips(*in);
  }
  // Let notify_stop scripts run, bounded by the notify timeout.
  const TimePoint deadline = now + cfg_.global.notify_timeout;
  for (int i = 0; i < 10000 && Clock::now() < deadline; ++i) {
    bool idle = true;
    for (auto& in : instances_) {
      in->notify.Pump(Clock::now(), cfg_.global.notify_timeout, procs_);
      idle = idle && in->notify.idle();
    }
    if (idle) break;
    procs_.Reap();
    procs_.KillOverdue(Clock::now());
    usleep(5000);
  }
  procs_.KillAll();
  HAFS_LOG_INFO("stopped");
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Create(Config cfg, DaemonOptions opts) {
  auto d = std::make_unique<DaemonImpl>(std::move(cfg), std::move(opts));
  HAFS_RETURN_IF_ERROR(d->Init());
  return std::unique_ptr<Daemon>(std::move(d));
}

}  // namespace hafs::vip
