#include "mgmtd/background/self_heal_daemon.h"

#include <sstream>

#include <grpcpp/grpcpp.h>

#include "client-fuse/graph.h"
#include "common/gfid.h"
#include "common/log.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::mgmtd {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string Opt(const mgmtpb::Volume& v, const std::string& key, const std::string& def) {
  auto it = v.options().find(key);
  return it == v.options().end() ? def : it->second;
}

bool On(const std::string& v) { return v == "on" || v == "true" || v == "yes" || v == "enable" || v == "1"; }

std::string Endpoint(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

constexpr size_t kMaxPerCrawl = 100000;

}  // namespace

SelfHealDaemon::SelfHealDaemon(std::string self_host) : self_host_(std::move(self_host)) {}
SelfHealDaemon::~SelfHealDaemon() { Stop(); }

void SelfHealDaemon::Start() {
  std::lock_guard lock(mu_);
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void SelfHealDaemon::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  runs_.clear();
}

void SelfHealDaemon::Update(const mgmtpb::ClusterState& state) {
  std::lock_guard lock(mu_);
  state_ = state;
  trigger_all_ = true;  // a change (a brick back on a new port, an option) is a reason to look
  cv_.notify_all();
}

void SelfHealDaemon::Trigger(const std::string& volume) {
  std::lock_guard lock(mu_);
  if (volume.empty()) trigger_all_ = true;
  else triggered_.insert(volume);
  cv_.notify_all();
}

void SelfHealDaemon::FillProgress(const std::string& volume, mgmtpb::BrickProcess* b) {
  std::lock_guard lock(mu_);
  auto v = progress_.find(volume);
  if (v == progress_.end()) return;
  auto p = v->second.find(b->path());
  if (p == v->second.end()) return;
  b->set_shd_healed(p->second.healed);
  b->set_shd_failed(p->second.failed);
  b->set_shd_split_brain(p->second.split_brain);
  b->set_shd_queued(p->second.queued);
  b->set_shd_rate(p->second.rate);
  b->set_shd_state(p->second.state);
}

void SelfHealDaemon::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    auto state = state_;
    auto triggered = triggered_;
    bool all = trigger_all_;
    triggered_.clear();
    trigger_all_ = false;
    lock.unlock();
    auto now = Clock::now();
    std::set<std::string> live;
    for (const auto& v : state.volumes()) {
      bool local = false;
      for (const auto& b : v.bricks()) local |= b.host() == self_host_;
      if (v.state() != mgmtpb::STARTED || v.replica() < 2 || !local) continue;
      live.insert(v.name());
      auto& run = runs_[v.name()];
      bool paused = !On(Opt(v, "cluster.self-heal-daemon", "on"));
      if (paused) {
        for (auto& [path, p] : run.bricks) p.state = "paused";
        std::lock_guard l(mu_);
        progress_[v.name()] = run.bricks;
        continue;
      }
      if (all || triggered.count(v.name()) || now >= run.next_crawl) Crawl(v, run);
    }
    for (auto it = runs_.begin(); it != runs_.end();) it = live.count(it->first) ? std::next(it) : runs_.erase(it);
    lock.lock();
    for (auto it = progress_.begin(); it != progress_.end();)
      it = live.count(it->first) ? std::next(it) : progress_.erase(it);
    cv_.wait_for(lock, 500ms, [&] { return !running_ || trigger_all_ || !triggered_.empty(); });
  }
}

void SelfHealDaemon::Crawl(const mgmtpb::Volume& v, VolumeRun& run) {
  auto publish = [&] {
    std::lock_guard l(mu_);
    progress_[v.name()] = run.bricks;
  };
  int timeout_s = std::atoi(Opt(v, "cluster.heal-timeout", "600").c_str());
  run.next_crawl = Clock::now() + std::min<std::chrono::seconds>(std::chrono::seconds(timeout_s), 10s);
  // The client graph this daemon heals through, rebuilt when a brick moved.
  client::Volfile vf;
  vf.name = v.name();
  vf.id = v.id();
  vf.type = v.type();
  vf.replica = v.replica();
  std::string key;
  for (const auto& b : v.bricks()) {
    if (b.port() == 0) {
      for (auto& [path, p] : run.bricks) p.state = "waiting for bricks";
      return publish();
    }
    vf.bricks.push_back({b.host(), b.port(), b.path()});
    key += b.host() + ":" + std::to_string(b.port()) + ";";
  }
  for (const auto& [k, val] : v.options()) vf.options[k] = val;
  key += vf.quorum_type() + std::to_string(vf.quorum_count());
  if (run.graph_key != key) {
    run.graph.reset();
    auto g = client::Graph::Build(vf, "hafs-shd@" + self_host_, 3s);
    if (!g.ok()) {
      HAFS_LOG_DEBUG("heal daemon: volume {}: {}", v.name(), g.status().ToString());
      for (auto& [path, p] : run.bricks) p.state = "waiting for bricks";
      run.next_crawl = Clock::now() + 2s;
      return publish();
    }
    run.graph = std::move(*g);
    run.graph_key = key;
  }
  auto sets = run.graph->replica_sets();

  // Crawl the heal index of every local brick.
  struct Item {
    std::string path;
    size_t set;
    Gfid gfid;
  };
  std::vector<Item> items;
  for (int i = 0; i < v.bricks_size(); ++i) {
    const auto& b = v.bricks(i);
    if (b.host() != self_host_) continue;
    auto& prog = run.bricks[b.path()];
    prog.state = "crawling";
    auto stub = proto::Brick::NewStub(grpc::CreateChannel(Endpoint(b.host(), b.port()),
                                                          grpc::InsecureChannelCredentials()));
    std::string after;
    size_t found = 0;
    while (found < kMaxPerCrawl) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 3s);
      proto::HealIndexRequest req;
      req.set_start_after(after);
      req.set_limit(1000);
      proto::HealIndexReply rep;
      if (!stub->HealIndex(&ctx, req, &rep).ok()) break;
      for (const auto& g : rep.gfids()) {
        if (auto gfid = Gfid::FromBytes(g)) {
          items.push_back({b.path(), static_cast<size_t>(i / std::max(1, v.replica())), *gfid});
          ++found;
        }
      }
      if (rep.complete() || rep.gfids().empty()) break;
      after = rep.gfids(rep.gfids_size() - 1);
    }
    prog.queued = found;
    prog.state = found ? "healing" : "idle";
  }
  publish();
  if (items.empty()) return;

  // Heal in parallel, throttled.
  int threads = std::clamp(std::atoi(Opt(v, "cluster.shd-max-threads", "4").c_str()), 1, 64);
  int max_rate = std::max(0, std::atoi(Opt(v, "cluster.shd-max-heal-rate", "0").c_str()));
  std::atomic<size_t> next{0};
  std::mutex pace_mu;
  auto next_slot = Clock::now();
  auto started = Clock::now();
  std::mutex prog_mu;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard l(mu_);
        if (!running_) return;
      }
      size_t k = next.fetch_add(1);
      if (k >= items.size()) return;
      if (max_rate > 0) {
        Clock::time_point slot;
        {
          std::lock_guard l(pace_mu);
          slot = std::max(next_slot, Clock::now());
          next_slot = slot + std::chrono::microseconds(1000000 / max_rate);
        }
        std::this_thread::sleep_until(slot);
      }
      const auto& it = items[k];
      Status st = it.set < sets.size() ? sets[it.set]->Heal(it.gfid) : Status(EINVAL, "no replica set");
      std::lock_guard l(prog_mu);
      auto& p = run.bricks[it.path];
      if (st.ok() || st.err() == ENOENT) ++p.healed;
      else if (st.err() == EIO) ++p.split_brain;
      else ++p.failed;
      if (!st.ok() && st.err() != ENOENT)
        HAFS_LOG_DEBUG("heal daemon: {} gfid {}: {}", v.name(), it.gfid.ToString(), st.ToString());
      if (p.queued) --p.queued;
      double secs = std::chrono::duration<double>(Clock::now() - started).count();
      p.rate = secs > 0 ? (k + 1) / secs : 0;
      if ((k & 63) == 0) publish();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  for (auto& [path, p] : run.bricks) p.state = "idle";
  HAFS_LOG_INFO("heal daemon: volume {}: crawled {} pending entries on this node in {} ms", v.name(), items.size(),
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  // Healing may uncover more (a directory's new entries): look again soon.
  run.next_crawl = Clock::now() + 2s;
  publish();
}

std::string SelfHealDaemon::DumpState() {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  o << "heal daemon: volumes " << progress_.size() << "\n";
  for (const auto& [vol, bricks] : progress_)
    for (const auto& [path, p] : bricks)
      o << "  " << vol << " " << path << " state=" << p.state << " healed=" << p.healed << " failed=" << p.failed
        << " split_brain=" << p.split_brain << " queued=" << p.queued << " rate=" << p.rate << "/s\n";
  return o.str();
}

}  // namespace hafs::mgmtd
