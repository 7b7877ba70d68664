#include "mgmtd/background/self_heal_daemon.h"

#include <sys/stat.h>

#include <deque>
#include <set>
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

// Adds `deltas` to the counters of gfid on one brick.
Status Accuse(client::ProtocolLayer* c, const std::string& gfid, const std::map<std::string, int64_t>& deltas) {
  proto::XattropRequest x;
  x.set_gfid(gfid);
  for (const auto& [k, d] : deltas) (*x.mutable_deltas())[k] = d;
  auto r = c->Xattrop(x).get();
  return r.ok() ? Status::Ok() : r.status();
}

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

void SelfHealDaemon::TriggerFull(const std::string& volume) {
  std::lock_guard lock(mu_);
  full_triggered_.insert(volume);
  cv_.notify_all();
}

bool SelfHealDaemon::Running() {
  std::lock_guard l(mu_);
  return running_;
}

void SelfHealDaemon::FillProgress(const std::string& volume, mgmtpb::BrickProcess* b) {
  std::lock_guard lock(mu_);
  if (auto f = full_.find(volume); f != full_.end()) {
    if (auto p = f->second.find(b->path()); p != f->second.end()) {
      const auto& fp = p->second;
      b->set_full_state(fp.state);
      b->set_full_crawled(fp.crawled);
      b->set_full_healed(fp.healed);
      b->set_full_failed(fp.failed);
      b->set_full_eta_s(fp.eta_s);
      auto end = fp.state == "running" ? Clock::now() : fp.ended;
      b->set_full_elapsed_s(std::chrono::duration<double>(end - fp.started).count());
    }
  }
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
    auto full = full_triggered_;
    bool all = trigger_all_;
    triggered_.clear();
    full_triggered_.clear();
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
      if (all || triggered.count(v.name()) || full.count(v.name()) || now >= run.next_crawl) Crawl(v, run);
      if (full.count(v.name())) {
        if (!run.graph) {
          std::lock_guard l(mu_);
          full_triggered_.insert(v.name());  // bricks not reachable yet: try again
        } else {
          FullCrawl(v, run);
          Crawl(v, run);  // what the full crawl recorded but could not finish
        }
      }
    }
    for (auto it = runs_.begin(); it != runs_.end();) it = live.count(it->first) ? std::next(it) : runs_.erase(it);
    lock.lock();
    for (auto it = progress_.begin(); it != progress_.end();)
      it = live.count(it->first) ? std::next(it) : progress_.erase(it);
    for (auto it = full_.begin(); it != full_.end();) it = live.count(it->first) ? std::next(it) : full_.erase(it);
    cv_.wait_for(lock, 500ms,
                 [&] { return !running_ || trigger_all_ || !triggered_.empty() || !full_triggered_.empty(); });
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
      client::AddInternalKey(&ctx);
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
  // A gfid pending on two local bricks of one set is healed once (both heals would queue on
  // the same locks, and the second has nothing left to do).
  {
    std::set<std::pair<size_t, Gfid>> seen;
    std::vector<Item> once;
    for (auto& it : items)
      if (seen.emplace(it.set, it.gfid).second) once.push_back(std::move(it));
    items = std::move(once);
    for (auto& [path, p] : run.bricks) p.queued = 0;
    for (const auto& it : items) ++run.bricks[it.path].queued;
  }

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

void SelfHealDaemon::FullCrawl(const mgmtpb::Volume& v, VolumeRun& run) {
  auto sets = run.graph->replica_sets();
  auto bricks = run.graph->bricks();
  const size_t r = static_cast<size_t>(std::max(1, v.replica()));
  for (size_t s = 0; s < sets.size() && Running(); ++s) {
    // One node crawls each set: the one holding the set's first brick that is up.
    int crawler = -1;
    for (size_t k = 0; k < r && s * r + k < bricks.size(); ++k) {
      if (bricks[s * r + k]->up()) {
        crawler = static_cast<int>(s * r + k);
        break;
      }
    }
    if (crawler < 0 || v.bricks(crawler).host() != self_host_) continue;
    const std::string key = v.bricks(crawler).path();
    FullProgress prog;
    prog.state = "running";
    prog.started = Clock::now();
    auto publish = [&] {
      std::lock_guard l(mu_);
      full_[v.name()][key] = prog;
    };
    publish();
    HAFS_LOG_INFO("full heal crawl of volume {} replica set {} started", v.name(), s);
    std::vector<client::ProtocolLayer*> children(bricks.begin() + s * r, bricks.begin() + (s + 1) * r);
    auto counter = [&](const char* kind, size_t child) {
      return fmt::format("pending.{}.{}", kind, s * r + child);
    };
    std::deque<Gfid> dirs{Gfid::Root()};
    std::set<Gfid> visited;
    size_t dirs_done = 0;
    std::string failure;
    while (!dirs.empty() && Running()) {
      Gfid dir = dirs.front();
      dirs.pop_front();
      if (!visited.insert(dir).second) continue;
      // List the directory on every up brick.
      std::vector<std::optional<std::vector<proto::DirEntry>>> lists(r);
      size_t listed = 0;
      for (size_t k = 0; k < r; ++k) {
        if (!children[k]->up()) continue;
        auto l = children[k]->ListDirectory(dir);
        if (l.ok()) {
          lists[k] = std::move(*l);
          ++listed;
        } else if (l.err() != ENOENT) {
          HAFS_LOG_DEBUG("full heal: {} on brick {}: {}", dir.ToString(), s * r + k, l.status().ToString());
        }
      }
      if (listed < 2) {
        failure = "fewer than two bricks of the replica set answer";
        break;
      }
      // By name: the entry on each brick that has it.
      std::map<std::string, std::vector<const proto::DirEntry*>> by_name;
      for (size_t k = 0; k < r; ++k) {
        if (!lists[k]) continue;
        for (const auto& e : *lists[k]) {
          auto& slot = by_name[e.name()];
          slot.resize(r, nullptr);
          slot[k] = &e;
        }
      }
      std::vector<bool> lacks(r, false);
      std::vector<std::pair<Gfid, std::string>> recreated;  // entries to heal after the directory
      struct FileFix {
        Gfid gfid;
        std::string name;
        size_t source;
        std::vector<size_t> data_sinks, meta_sinks;
      };
      std::vector<FileFix> fixes;
      for (auto& [name, copies] : by_name) {
        ++prog.crawled;
        const proto::DirEntry* first = nullptr;
        bool conflict = false, missing = false;
        for (size_t k = 0; k < r; ++k) {
          if (!lists[k]) continue;
          const auto* e = copies[k];
          if (!e) {
            missing = true;
            continue;
          }
          if (!first) first = e;
          else if (e->gfid() != first->gfid() || (e->attr().mode() & S_IFMT) != (first->attr().mode() & S_IFMT))
            conflict = true;
        }
        auto gfid = Gfid::FromBytes(first->gfid());
        if (conflict || !gfid) {
          ++prog.failed;
          HAFS_LOG_ERROR("full heal: volume {}: '{}' in directory {} has different gfids or types on the replicas; "
                         "not healing (resolve by hand)", v.name(), name, dir.ToString());
          continue;
        }
        bool is_dir = S_ISDIR(first->attr().mode());
        if (missing) {
          for (size_t k = 0; k < r; ++k)
            if (lists[k] && !copies[k]) lacks[k] = true;
          recreated.push_back({*gfid, name});
        } else if (!is_dir) {
          // Same entry everywhere: compare what a reader would see. The source is the size a
          // strict majority of the replicas agree on, else the biggest copy (then the latest
          // mtime): a copy truncated or rewritten behind hafs's back is outvoted.
          size_t src = r;
          std::map<uint64_t, size_t> votes;
          size_t present = 0;
          for (size_t k = 0; k < r; ++k)
            if (copies[k]) ++votes[copies[k]->attr().size()], ++present;
          for (size_t k = 0; k < r && src == r; ++k)
            if (copies[k] && votes[copies[k]->attr().size()] * 2 > present) src = k;
          if (src == r) {
            for (size_t k = 0; k < r; ++k) {
              if (!copies[k]) continue;
              if (src == r) {
                src = k;
                continue;
              }
              const auto& a = copies[k]->attr();
              const auto& b = copies[src]->attr();
              if (a.size() > b.size() || (a.size() == b.size() && a.mtime_ns() > b.mtime_ns())) src = k;
            }
          }
          FileFix fix{*gfid, name, src, {}, {}};
          const auto& sa = copies[src]->attr();
          for (size_t k = 0; k < r; ++k) {
            if (!copies[k] || k == src) continue;
            const auto& a = copies[k]->attr();
            if (a.size() != sa.size()) fix.data_sinks.push_back(k);
            if (a.mode() != sa.mode() || a.uid() != sa.uid() || a.gid() != sa.gid()) fix.meta_sinks.push_back(k);
          }
          if (!fix.data_sinks.empty() || !fix.meta_sinks.empty()) fixes.push_back(std::move(fix));
        }
        if (is_dir) dirs.push_back(*gfid);
      }
      // Entries missing on some replicas: the replicas holding every entry accuse the others
      // (pending.entry) and the directory is healed from them.
      if (std::any_of(lacks.begin(), lacks.end(), [](bool b) { return b; })) {
        std::vector<size_t> sources;
        for (size_t k = 0; k < r; ++k)
          if (lists[k] && !lacks[k]) sources.push_back(k);
        if (sources.empty()) {
          prog.failed += recreated.size();
          HAFS_LOG_ERROR("full heal: volume {}: directory {}: no replica holds every entry (each lacks some); "
                         "not healing it (resolve by hand)", v.name(), dir.ToString());
        } else {
          std::map<std::string, int64_t> deltas;
          for (size_t k = 0; k < r; ++k)
            if (lacks[k]) deltas[counter("entry", k)] = 1;
          Status st = Status::Ok();
          for (size_t k : sources)
            if (Status a = Accuse(children[k], dir.Bytes(), deltas); !a.ok()) st = a;
          if (st.ok()) st = sets[s]->Heal(dir);
          if (st.ok()) {
            // The recreated files get their contents now (their data counters were set by the copy).
            for (auto& [g, name] : recreated) {
              Status h = sets[s]->Heal(g);
              if (h.ok() || h.err() == ENOENT) ++prog.healed;
              else ++prog.failed;
            }
            HAFS_LOG_INFO("full heal: volume {}: directory {}: restored {} entries missing on some replicas",
                          v.name(), dir.ToString(), recreated.size());
          } else {
            prog.failed += recreated.size();
            HAFS_LOG_WARN("full heal: volume {}: directory {}: {}", v.name(), dir.ToString(), st.ToString());
          }
        }
      }
      // Files whose replicas differ without a record: accuse the stale copies, heal.
      for (auto& f : fixes) {
        std::map<std::string, int64_t> deltas;
        for (size_t k : f.data_sinks) deltas[counter("data", k)] = 1;
        for (size_t k : f.meta_sinks) deltas[counter("metadata", k)] = 1;
        Status st = Accuse(children[f.source], f.gfid.Bytes(), deltas);
        if (st.ok()) st = sets[s]->Heal(f.gfid);
        if (st.ok()) {
          ++prog.healed;
          HAFS_LOG_INFO("full heal: volume {}: '{}' ({}) differed between replicas; healed from brick {}", v.name(),
                        f.name, f.gfid.ToString(), s * r + f.source);
        } else {
          ++prog.failed;
          HAFS_LOG_WARN("full heal: volume {}: '{}' ({}): {}", v.name(), f.name, f.gfid.ToString(), st.ToString());
        }
      }
      ++dirs_done;
      double secs = std::chrono::duration<double>(Clock::now() - prog.started).count();
      double per_dir = static_cast<double>(prog.crawled) / static_cast<double>(dirs_done);
      double rate = secs > 0 ? static_cast<double>(prog.crawled) / secs : 0;
      prog.eta_s = rate > 0 ? static_cast<double>(dirs.size()) * per_dir / rate : 0;
      if ((dirs_done & 15) == 0 || dirs.empty()) publish();
    }
    prog.ended = Clock::now();
    prog.eta_s = 0;
    if (!failure.empty()) prog.state = "failed: " + failure;
    else if (!dirs.empty()) prog.state = "failed: stopped";
    else prog.state = "done";
    publish();
    HAFS_LOG_INFO("full heal crawl of volume {} replica set {}: {} (crawled {}, healed {}, failed {}) in {} ms",
                  v.name(), s, prog.state, prog.crawled, prog.healed, prog.failed,
                  std::chrono::duration_cast<std::chrono::milliseconds>(prog.ended - prog.started).count());
  }
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
