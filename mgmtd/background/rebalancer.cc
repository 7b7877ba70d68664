#include "mgmtd/background/rebalancer.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "client-fuse/distribute/distribute_layer.h"
#include "client-fuse/distribute/layout.h"
#include "client-fuse/graph.h"
#include "common/log.h"

namespace hafs::mgmtd {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using client::Layer;

namespace {

constexpr uint32_t kChunk = 1u << 20;
constexpr int kDtDir = 4;

std::string ShapeKey(const mgmtpb::Volume& v) {
  std::string k;
  for (const auto& b : v.bricks()) k += b.host() + ":" + b.path() + "|";
  k += "-";
  for (const auto& r : v.removing()) k += r + "|";
  return k;
}

Result<client::Volfile> VolfileOf(const mgmtpb::Volume& v) {
  client::Volfile f;
  f.name = v.name();
  f.id = v.id();
  f.type = v.type();
  f.replica = std::max(1, v.replica());
  for (const auto& b : v.bricks()) {
    if (b.port() == 0) return Status(EAGAIN, fmt::format("brick {}:{} is not online", b.host(), b.path()));
    f.bricks.push_back({b.host(), b.port(), b.path()});
  }
  for (const auto& [k, val] : v.options()) f.options[k] = val;
  f.removing.assign(v.removing().begin(), v.removing().end());
  return f;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Copies [0, end-of-file) of `gfid` from `src` to `dst`; returns the bytes copied.
Result<uint64_t> CopyData(Layer* src, Layer* dst, const Gfid& gfid) {
  uint64_t off = 0;
  for (;;) {
    proto::ReadRequest r;
    r.set_gfid(gfid.Bytes());
    r.set_offset(off);
    r.set_size(kChunk);
    auto rep = src->Read(r).get();
    if (!rep.ok()) return rep.status();
    if (rep->data().empty()) break;
    proto::WriteRequest w;
    w.set_gfid(gfid.Bytes());
    w.set_offset(off);
    w.set_data(rep->data());
    auto wr = dst->Write(w).get();
    if (!wr.ok()) return wr.status();
    off += rep->data().size();
    if (rep->eof()) break;
  }
  return off;
}

Status Truncate(Layer* l, const Gfid& gfid, uint64_t size) {
  proto::SetattrRequest s;
  s.set_gfid(gfid.Bytes());
  s.set_valid(proto::SetattrRequest::SIZE);
  s.set_size(size);
  auto r = l->Setattr(s).get();
  return r.ok() ? Status::Ok() : r.status();
}

Status Migrate(Layer* l, const Gfid& gfid, const std::string& command) {
  proto::SetxattrRequest x;
  x.set_gfid(gfid.Bytes());
  x.set_name("hafs.migrate");
  x.set_value(command);
  auto r = l->Setxattr(x).get();
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace

Rebalancer::Rebalancer(std::string self_host, std::string state_dir)
    : self_host_(std::move(self_host)), state_dir_(std::move(state_dir)) {}
Rebalancer::~Rebalancer() { Stop(); }

std::string Rebalancer::CrawlerHost(const mgmtpb::Volume& v) { return v.bricks().empty() ? "" : v.bricks(0).host(); }

void Rebalancer::Start() {
  std::lock_guard lock(mu_);
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void Rebalancer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Rebalancer::Update(const mgmtpb::ClusterState& state) {
  std::lock_guard lock(mu_);
  state_ = state;
  cv_.notify_all();
}

mgmtpb::RebalanceNode Rebalancer::Progress(const std::string& volume) {
  std::lock_guard lock(mu_);
  auto it = progress_.find(volume);
  if (it != progress_.end()) return it->second;
  mgmtpb::RebalanceNode n;
  n.set_node(self_host_);
  n.set_status("not started");
  n.set_eta_s(-1);
  return n;
}

std::string Rebalancer::DumpState() {
  std::lock_guard lock(mu_);
  std::string out = "rebalance:\n";
  for (const auto& [vol, n] : progress_)
    out += fmt::format("  {} run {}: {} scanned {} moved {} bytes {} failures {} dirs {} last {}\n", vol, n.id(),
                       n.status(), n.scanned(), n.moved(), n.bytes(), n.failures(), n.dirs(), n.last_dir());
  return out;
}

std::string Rebalancer::FileOf(const std::string& volume) const { return state_dir_ + "/rebalance/" + volume + ".json"; }

void Rebalancer::Load(const std::string& volume, Run* run) {
  std::ifstream f(FileOf(volume));
  if (!f) return;
  try {
    auto j = nlohmann::json::parse(f);
    auto& n = run->node;
    n.set_id(j.at("id").get<std::string>());
    n.set_status(j.at("status").get<std::string>());
    n.set_scanned(j.at("scanned").get<uint64_t>());
    n.set_moved(j.at("moved").get<uint64_t>());
    n.set_bytes(j.at("bytes").get<uint64_t>());
    n.set_failures(j.at("failures").get<uint64_t>());
    n.set_skipped(j.at("skipped").get<uint64_t>());
    n.set_dirs(j.at("dirs").get<uint64_t>());
    n.set_last_dir(j.at("last_dir").get<std::string>());
    n.set_fix_layout_only(j.value("fix_layout_only", false));
    run->elapsed_before = j.at("elapsed_s").get<double>();
    n.set_elapsed_s(run->elapsed_before);
    for (const auto& d : j.at("done_dirs")) run->done_dirs.insert(d.get<std::string>());
  } catch (const std::exception& e) {
    HAFS_LOG_WARN("rebalance progress file {} unreadable ({}); starting over", FileOf(volume), e.what());
    *run = Run();
  }
}

void Rebalancer::Publish(const std::string& volume, const Run& run, bool save) {
  auto n = run.node;
  n.set_node(self_host_);
  {
    std::lock_guard lock(mu_);
    progress_[volume] = n;
  }
  if (!save) return;
  nlohmann::json j;
  j["id"] = n.id();
  j["status"] = n.status();
  j["scanned"] = n.scanned();
  j["moved"] = n.moved();
  j["bytes"] = n.bytes();
  j["failures"] = n.failures();
  j["skipped"] = n.skipped();
  j["dirs"] = n.dirs();
  j["last_dir"] = n.last_dir();
  j["elapsed_s"] = n.elapsed_s();
  j["fix_layout_only"] = n.fix_layout_only();
  j["done_dirs"] = run.done_dirs;
  std::error_code ec;
  std::filesystem::create_directories(state_dir_ + "/rebalance", ec);
  std::string tmp = FileOf(volume) + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump();
    f.flush();
    if (!f) {
      HAFS_LOG_WARN("cannot save rebalance progress to {}", tmp);
      return;
    }
  }
  std::filesystem::rename(tmp, FileOf(volume), ec);
  if (ec) HAFS_LOG_WARN("cannot save rebalance progress: {}", ec.message());
}

void Rebalancer::Loop() {
  std::unique_lock lock(mu_);
  while (running_) {
    auto state = state_;
    lock.unlock();
    for (const auto& v : state.volumes()) {
      const auto& ctl = v.rebalance();
      if (ctl.state().empty() || CrawlerHost(v) != self_host_) continue;
      Run run;
      Load(v.name(), &run);
      if (run.node.id() != ctl.id()) {
        run = Run();
        run.node.set_id(ctl.id());
        run.node.set_status("not started");
        run.node.set_fix_layout_only(ctl.fix_layout_only());
      }
      run.node.set_eta_s(-1);
      const std::string& st = run.node.status();
      bool finished = st == "completed" || st == "failed";
      if (!finished && ctl.state() == "started" && v.state() == mgmtpb::STARTED) {
        Crawl(v);
        continue;
      }
      if (!finished) run.node.set_status(ctl.state() == "paused" ? "paused" : ctl.state() == "stopped" ? "stopped" : st);
      Publish(v.name(), run, false);
    }
    lock.lock();
    cv_.wait_for(lock, 500ms);
  }
}

bool Rebalancer::Interrupted(const std::string& volume, const std::string& id) {
  std::lock_guard lock(mu_);
  if (!running_) return true;
  for (const auto& v : state_.volumes())
    if (v.name() == volume)
      return v.rebalance().id() != id || v.rebalance().state() != "started" || v.state() != mgmtpb::STARTED;
  return true;
}

void Rebalancer::Crawl(const mgmtpb::Volume& v) {
  Run run;
  Load(v.name(), &run);
  const auto& ctl = v.rebalance();
  bool resuming = run.node.id() == ctl.id();
  if (!resuming) {
    run = Run();
    run.node.set_id(ctl.id());
    run.node.set_fix_layout_only(ctl.fix_layout_only());
  }
  run.resumed = Clock::now();
  run.node.set_status("in progress");
  run.node.set_error("");
  auto volfile = VolfileOf(v);
  if (!volfile.ok()) {
    run.node.set_error(volfile.status().message());
    Publish(v.name(), run, false);
    std::this_thread::sleep_for(500ms);
    return;
  }
  auto graph = client::Graph::Build(*volfile, "rebalance@" + self_host_, 10s);
  if (!graph.ok()) {
    run.node.set_error(graph.status().ToString());
    Publish(v.name(), run, false);
    std::this_thread::sleep_for(1s);
    return;
  }
  // Files in the volume now, for the ETA (inodes in use on every brick, directories counted once).
  {
    proto::GfidRequest r;
    r.set_gfid(Gfid::Root().Bytes());
    auto s = (*graph)->top().Statfs(r).get();
    if (s.ok() && s->files() >= s->ffree()) run.bytes_total_estimate = s->files() - s->ffree();
  }
  HAFS_LOG_INFO("rebalance of {} (run {}) {} on this node: {} directories already done", v.name(), ctl.id(),
                resuming ? "resumes" : "starts", run.done_dirs.size());
  Publish(v.name(), run, true);
  std::string shape = ShapeKey(v);
  std::vector<std::tuple<Gfid, std::string, Gfid, std::string>> queue;
  queue.emplace_back(Gfid(), "", Gfid::Root(), "/");
  for (size_t i = 0; i < queue.size(); ++i) {
    auto [parent, name, dir, path] = queue[i];
    bool reshaped = false;
    {
      std::lock_guard lock(mu_);
      for (const auto& cur : state_.volumes())
        if (cur.name() == v.name()) reshaped = ShapeKey(cur) != shape;
    }
    if (reshaped) {
      // Bricks added or removed meanwhile: every layout written so far is out of date.
      HAFS_LOG_INFO("rebalance of {}: the volume's bricks changed; crawling again", v.name());
      run.done_dirs.clear();
      run.node.set_elapsed_s(run.elapsed_before + std::chrono::duration<double>(Clock::now() - run.resumed).count());
      Publish(v.name(), run, true);
      return;
    }
    if (Directory(v, **graph, run, parent, name, dir, path, &queue) == Verdict::kInterrupted) {
      run.node.set_elapsed_s(run.elapsed_before + std::chrono::duration<double>(Clock::now() - run.resumed).count());
      Publish(v.name(), run, true);
      return;
    }
  }
  run.node.set_status("completed");
  run.node.set_eta_s(0);
  run.node.set_elapsed_s(run.elapsed_before + std::chrono::duration<double>(Clock::now() - run.resumed).count());
  Publish(v.name(), run, true);
  HAFS_LOG_INFO("rebalance of {} completed: {} files scanned, {} moved ({} bytes), {} failures", v.name(),
                run.node.scanned(), run.node.moved(), run.node.bytes(), run.node.failures());
}

Rebalancer::Verdict Rebalancer::Directory(const mgmtpb::Volume& v, client::Graph& g, Run& run, const Gfid& parent,
                                          const std::string& name, const Gfid& dir, const std::string& path,
                                          std::vector<std::tuple<Gfid, std::string, Gfid, std::string>>* queue) {
  auto& dist = g.distribute();
  auto subs = dist.subvolumes();
  size_t n = subs.size();
  bool fix_only = v.rebalance().fix_layout_only();
  std::string key = dir.ToString();
  bool done = run.done_dirs.count(key) > 0;
  auto elapsed = [&] { return run.elapsed_before + std::chrono::duration<double>(Clock::now() - run.resumed).count(); };
  auto publish = [&](bool save) {
    run.node.set_status("in progress");
    run.node.set_elapsed_s(elapsed());
    double rate = run.node.elapsed_s() > 0 ? (run.node.scanned() + run.node.dirs()) / run.node.elapsed_s() : 0;
    double left = static_cast<double>(run.bytes_total_estimate) - run.node.scanned() - run.node.dirs();
    run.node.set_eta_s(rate > 0 && run.bytes_total_estimate ? std::max(0.0, left / rate) : -1);
    Publish(v.name(), run, save);
  };
  client::Layout layout;
  std::vector<std::string> active;
  for (const auto& s : subs)
    if (s.active) active.push_back(s.id);
  layout = client::Layout::Equal(active);

  if (!done) {
    // 1. The directory on every subvolume (new bricks have none of the old directories).
    std::optional<proto::Attr> attr;
    std::vector<size_t> missing;
    for (size_t i = 0; i < n; ++i) {
      proto::GfidRequest r;
      r.set_gfid(dir.Bytes());
      auto a = subs[i].layer->Getattr(r).get();
      if (a.ok()) {
        if (!attr) attr = a->attr();
      } else if (a.err() == ENOENT || a.err() == ESTALE) {
        missing.push_back(i);
      }
    }
    if (attr && !dir.IsRoot()) {
      for (size_t i : missing) {
        proto::MkdirRequest m;
        m.set_parent(parent.Bytes());
        m.set_name(name);
        m.set_gfid(dir.Bytes());
        m.set_mode(attr->mode() & 07777);
        m.mutable_caller()->set_uid(attr->uid());
        m.mutable_caller()->set_gid(attr->gid());
        auto r = subs[i].layer->Mkdir(m).get();
        if (!r.ok() && r.err() != EEXIST) {
          HAFS_LOG_WARN("rebalance: mkdir {} on subvolume {}: {}", path, subs[i].id, r.status().ToString());
          run.node.set_failures(run.node.failures() + 1);
        }
      }
    }
    // 2. The new layout everywhere.
    proto::SetxattrRequest x;
    x.set_gfid(dir.Bytes());
    x.set_name("hafs.layout");
    x.set_value(layout.Encode());
    for (size_t i = 0; i < n; ++i) {
      auto r = subs[i].layer->Setxattr(x).get();
      if (!r.ok()) {
        HAFS_LOG_WARN("rebalance: layout of {} on subvolume {}: {}", path, subs[i].id, r.status().ToString());
        run.node.set_failures(run.node.failures() + 1);
      }
    }
    dist.ForgetLayout(dir);
  }

  // 3. Every subvolume's entries: subdirectories to visit, files to move.
  std::set<std::string> seen_dirs;
  std::set<std::pair<size_t, std::string>> arrived;  // files moved to a subvolume listed later
  uint64_t since_publish = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t cookie = 0;
    for (int page = 0; page < 1000000; ++page) {
      proto::ReaddirRequest r;
      r.set_gfid(dir.Bytes());
      r.set_cookie(cookie);
      r.set_max_entries(512);
      auto rep = subs[i].layer->Readdir(r).get();
      if (!rep.ok()) {
        if (rep.err() != ENOENT) {
          HAFS_LOG_WARN("rebalance: readdir {} on subvolume {}: {}", path, subs[i].id, rep.status().ToString());
          run.node.set_failures(run.node.failures() + 1);
        }
        break;
      }
      for (const auto& e : rep->entries()) {
        cookie = e.next_cookie();
        if (e.name() == "." || e.name() == "..") continue;
        Gfid eg = Gfid::FromBytes(e.gfid()).value_or(Gfid());
        if (eg.IsNull()) {
          proto::EntryRequest l;
          l.set_parent(dir.Bytes());
          l.set_name(e.name());
          auto lr = subs[i].layer->Lookup(l).get();
          if (!lr.ok()) continue;
          eg = Gfid::FromBytes(lr->attr().gfid()).value_or(Gfid());
        }
        if (static_cast<int>(e.type()) == kDtDir) {
          if (seen_dirs.insert(e.name()).second) queue->emplace_back(dir, e.name(), eg, path + e.name() + "/");
          continue;
        }
        if (done || fix_only) continue;
        if (std::string_view(e.name()).starts_with(client::kMigrationTempPrefix)) {
          // A copy left by a migration that did not finish (this crawler is the only one).
          proto::NameRequest u;
          u.set_parent(dir.Bytes());
          u.set_name(e.name());
          (void)subs[i].layer->Unlink(u).get();
          continue;
        }
        if (arrived.count({i, e.name()})) continue;
        run.node.set_scanned(run.node.scanned() + 1);
        int to = -1;
        std::string want = layout.Pick(e.name());
        for (size_t k = 0; k < n; ++k)
          if (subs[k].id == want) to = static_cast<int>(k);
        if (to >= 0 && static_cast<size_t>(to) != i) {
          uint64_t bytes = 0;
          bool skipped = false;
          Status st = MigrateFile(g, subs, i, static_cast<size_t>(to), dir, e.name(), eg, &bytes, &skipped);
          if (!st.ok()) {
            HAFS_LOG_WARN("rebalance: moving {}{} from {} to {}: {}", path, e.name(), subs[i].id, subs[to].id,
                          st.ToString());
            run.node.set_failures(run.node.failures() + 1);
          } else if (skipped) {
            run.node.set_skipped(run.node.skipped() + 1);
          } else {
            run.node.set_moved(run.node.moved() + 1);
            run.node.set_bytes(run.node.bytes() + bytes);
            arrived.insert({static_cast<size_t>(to), e.name()});
          }
        }
        if (++since_publish % 32 == 0) publish(false);
        if (Interrupted(v.name(), v.rebalance().id())) {
          publish(true);
          return Verdict::kInterrupted;
        }
      }
      if (rep->eof() || rep->entries().empty()) break;
    }
  }
  if (!done) {
    run.done_dirs.insert(key);
    run.node.set_dirs(run.node.dirs() + 1);
    run.node.set_last_dir(path);
  }
  publish(true);
  if (Interrupted(v.name(), v.rebalance().id())) return Verdict::kInterrupted;
  return Verdict::kContinue;
}

Status Rebalancer::MigrateFile(client::Graph&, const std::vector<client::Subvolume>& subs, size_t from, size_t to,
                               const Gfid& dir, const std::string& name, const Gfid& gfid, uint64_t* bytes,
                               bool* skipped) {
  Layer* src = subs[from].layer;
  Layer* dst = subs[to].layer;
  proto::GfidRequest g;
  g.set_gfid(gfid.Bytes());
  auto a = src->Getattr(g).get();
  if (!a.ok()) return a.err() == ENOENT ? Status::Ok() : a.status();  // deleted meanwhile
  const auto& at = a->attr();
  if (!S_ISREG(at.mode()) || at.nlink() > 1 || at.mode() == client::kMigratingMode) {
    *skipped = true;
    return Status::Ok();
  }
  std::string temp = std::string(client::kMigrationTempPrefix) + gfid.ToString();
  auto unlink_temp = [&] {
    proto::NameRequest u;
    u.set_parent(dir.Bytes());
    u.set_name(temp);
    (void)dst->Unlink(u).get();
  };
  unlink_temp();
  // 1. An invisible copy with the same gfid, marked as still being made.
  proto::CreateRequest c;
  c.set_parent(dir.Bytes());
  c.set_name(temp);
  c.set_gfid(gfid.Bytes());
  c.set_mode(01000);
  c.set_exclusive(true);
  auto cr = dst->Create(c).get();
  if (!cr.ok()) return Status(cr.err(), "create the copy: " + cr.status().message());
  (void)Migrate(dst, gfid, "live");
  {
    proto::SetattrRequest s;
    s.set_gfid(gfid.Bytes());
    s.set_valid(proto::SetattrRequest::MODE);
    s.set_mode(01000);
    (void)dst->Setattr(s).get();
  }
  auto abort = [&](Status why) {
    (void)Migrate(src, gfid, "thaw");
    unlink_temp();
    return why;
  };
  // 2. The bulk of the data while writers go on.
  auto copied = CopyData(src, dst, gfid);
  if (!copied.ok()) return abort(copied.status());
  // 3. Freeze the source (changes in progress finish first), then copy whatever changed.
  uint64_t freeze_ms = std::min<uint64_t>(600000, 30000 + at.size() / 20000);
  if (Status st = Migrate(src, gfid, fmt::format("freeze {}", freeze_ms)); !st.ok()) return abort(st);
  auto b = src->Getattr(g).get();
  if (!b.ok()) return abort(b.status());
  const auto& bt = b->attr();
  // Timestamps tick coarsely: a file written in the last seconds is copied again to be sure.
  bool changed = bt.size() != at.size() || bt.mtime_ns() != at.mtime_ns() || bt.ctime_ns() != at.ctime_ns() ||
                 NowNs() - bt.mtime_ns() < 5'000'000'000LL;
  if (changed) {
    if (Status st = Truncate(dst, gfid, 0); !st.ok()) return abort(st);
    copied = CopyData(src, dst, gfid);
    if (!copied.ok()) return abort(copied.status());
  }
  if (*copied != bt.size()) {
    if (Status st = Truncate(dst, gfid, bt.size()); !st.ok()) return abort(st);
  }
  // User xattrs travel with the file.
  auto names = src->Listxattr(g).get();
  if (names.ok()) {
    for (const auto& xn : names->names()) {
      proto::GetxattrRequest gx;
      gx.set_gfid(gfid.Bytes());
      gx.set_name(xn);
      auto val = src->Getxattr(gx).get();
      if (!val.ok()) continue;
      proto::SetxattrRequest sx;
      sx.set_gfid(gfid.Bytes());
      sx.set_name(xn);
      sx.set_value(val->value());
      (void)dst->Setxattr(sx).get();
    }
  }
  // 4. The switch: the source answers ESTALE from now on, so clients find the copy.
  if (Status st = Migrate(src, gfid, "gone"); !st.ok()) return abort(st);
  proto::SetattrRequest s;
  s.set_gfid(gfid.Bytes());
  s.set_valid(proto::SetattrRequest::MODE | proto::SetattrRequest::UID | proto::SetattrRequest::GID |
              proto::SetattrRequest::ATIME | proto::SetattrRequest::MTIME);
  s.set_mode(bt.mode() & 07777);
  s.set_uid(bt.uid());
  s.set_gid(bt.gid());
  s.set_atime_ns(bt.atime_ns());
  s.set_mtime_ns(bt.mtime_ns());
  if (auto r = dst->Setattr(s).get(); !r.ok()) HAFS_LOG_WARN("rebalance: attributes of {}: {}", name, r.status().ToString());
  proto::RenameRequest rn;
  rn.set_old_parent(dir.Bytes());
  rn.set_old_name(temp);
  rn.set_new_parent(dir.Bytes());
  rn.set_new_name(name);
  auto rr = dst->Rename(rn).get();
  if (!rr.ok()) {
    // The data is complete in the copy and the gfid finds it; only the name is missing there.
    return Status(rr.err(), fmt::format("rename of the copy of {} into place: {}", name, rr.status().message()));
  }
  // 5. The old name goes, if it still names this file.
  proto::EntryRequest l;
  l.set_parent(dir.Bytes());
  l.set_name(name);
  auto lr = src->Lookup(l).get();
  if (lr.ok() && lr->attr().gfid() == gfid.Bytes()) {
    proto::NameRequest u;
    u.set_parent(dir.Bytes());
    u.set_name(name);
    auto ur = src->Unlink(u).get();
    if (!ur.ok()) return Status(ur.err(), "unlink of the source: " + ur.status().message());
  }
  *bytes = bt.size();
  return Status::Ok();
}

}  // namespace hafs::mgmtd
