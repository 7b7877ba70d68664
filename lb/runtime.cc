#include "lb/runtime.h"

#include <xxhash.h>

#include <limits>

namespace hafs::lb {

uint64_t HashBytes(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

bool ServerRt::Usable() const {
  if (!st->up.load(std::memory_order_relaxed)) return false;
  if (st->Admin() != AdminState::kReady) return false;
  if (st->weight.load(std::memory_order_relaxed) <= 0) return false;
  int maxconn = conf->params.maxconn;
  return maxconn == 0 || st->c.cur_sess.load(std::memory_order_relaxed) < maxconn;
}

bool ServerRt::Reserve() const { return st->c.SessionStartBelow(conf->params.maxconn); }

bool BackendRt::Saturated() const {
  for (const auto& s : servers) {
    int maxconn = s.conf->params.maxconn;
    if (maxconn > 0 && s.st->up.load(std::memory_order_relaxed) && s.st->Admin() == AdminState::kReady &&
        s.st->weight.load(std::memory_order_relaxed) > 0 && s.st->c.cur_sess.load(std::memory_order_relaxed) >= maxconn)
      return true;
  }
  return false;
}

const ServerRt* BackendRt::FindByCookie(std::string_view value) const {
  if (value.empty()) return nullptr;
  for (const auto& s : servers)
    if (s.conf->params.cookie == value) return &s;
  return nullptr;
}

const ServerRt* BackendRt::FindByName(std::string_view name) const {
  for (const auto& s : servers)
    if (s.conf->name == name) return &s;
  return nullptr;
}

namespace {

// Weighted map-based hashing over `cands` (like HAProxy's map-based source/uri hashing).
const ServerRt* PickHashed(const std::vector<const ServerRt*>& cands, uint64_t h) {
  uint64_t total = 0;
  for (auto* s : cands) total += static_cast<uint64_t>(s->st->weight.load(std::memory_order_relaxed));
  if (total == 0) return nullptr;
  uint64_t slot = h % total;
  for (auto* s : cands) {
    uint64_t w = static_cast<uint64_t>(s->st->weight.load(std::memory_order_relaxed));
    if (slot < w) return s;
    slot -= w;
  }
  return cands.back();
}

}  // namespace

const ServerRt* BackendRt::Pick(const PickInput& in) const {
  thread_local std::vector<const ServerRt*> cands;  // no allocation per request
  cands.clear();
  for (bool backup : {false, true}) {
    for (const auto& s : servers)
      if (s.conf->params.backup == backup && &s != in.exclude && s.Usable()) cands.push_back(&s);
    if (!cands.empty()) {
      if (backup) return cands.front();  // first usable backup, like HAProxy without allbackups
      break;
    }
  }
  if (cands.empty()) return nullptr;
  switch (conf->balance) {
    case Balance::kFirst:
      return cands.front();
    case Balance::kSource:
      return PickHashed(cands, in.source_hash);
    case Balance::kUri: {
      std::string_view path = in.uri.substr(0, in.uri.find('?'));
      return PickHashed(cands, HashBytes(path));
    }
    case Balance::kLeastConn: {
      // Lowest connections per unit of weight; ties rotate so equal servers share evenly.
      size_t start = st->rr.fetch_add(1, std::memory_order_relaxed) % cands.size();
      const ServerRt* best = nullptr;
      double best_load = std::numeric_limits<double>::max();
      for (size_t i = 0; i < cands.size(); ++i) {
        const ServerRt* s = cands[(start + i) % cands.size()];
        double load = static_cast<double>(s->st->c.cur_sess.load(std::memory_order_relaxed)) /
                      s->st->weight.load(std::memory_order_relaxed);
        if (load < best_load) best_load = load, best = s;
      }
      return best;
    }
    case Balance::kRoundRobin: {
      // Smooth weighted round-robin (exact shares, interleaved) over the usable servers.
      std::lock_guard lk(st->pick_mu);
      int64_t total = 0;
      const ServerRt* best = nullptr;
      for (auto* s : cands) {
        int64_t w = s->st->weight.load(std::memory_order_relaxed);
        s->st->swrr_current += w;
        total += w;
        if (!best || s->st->swrr_current > best->st->swrr_current) best = s;
      }
      best->st->swrr_current -= total;
      return best;
    }
  }
  return cands.front();
}

const BackendRt* Runtime::FindBackend(std::string_view name) const {
  for (const auto& b : backends)
    if (b->conf->name == name) return b.get();
  return nullptr;
}

std::shared_ptr<Runtime> BuildRuntimeState(Config cfg, StateRegistry& reg, uint64_t generation) {
  auto rt = std::make_shared<Runtime>();
  rt->cfg = std::move(cfg);
  rt->generation = generation;
  for (const auto& p : rt->cfg.proxies) {
    if (!p.has_backend) continue;
    auto b = std::make_unique<BackendRt>();
    b->conf = &p;
    b->st = reg.Backend(p.name);
    for (const auto& s : p.servers) {
      ServerRt srv;
      srv.conf = &s;
      srv.st = reg.Server(p.name, s.name, s.params.weight, s.params.disabled);
      srv.st->weight = s.params.weight;
      if (!s.params.check) srv.st->up = true;  // unchecked servers are always considered up
      b->servers.push_back(std::move(srv));
    }
    rt->backends.push_back(std::move(b));
  }
  for (const auto& p : rt->cfg.proxies) {
    if (!p.has_frontend) continue;
    FrontendRt fe;
    fe.conf = &p;
    fe.st = reg.Frontend(p.name);
    std::string be = p.default_backend;
    if (be.empty() && p.has_backend && !p.servers.empty()) be = p.name;
    if (!be.empty()) fe.backend = rt->FindBackend(be);
    rt->frontends.push_back(std::move(fe));
  }
  return rt;
}

}  // namespace hafs::lb
