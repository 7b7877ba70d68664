// Fan-out helpers for layers over several children: start every child's call, then wait
// for all of them, so the children work in parallel.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "client-fuse/layer.h"
#include "common/work_pool.h"

namespace hafs::client {

// Results indexed by child; std::nullopt for children not in `who`. Every child's call is
// started before any is waited for, so children whose calls go out at once (bricks) work in
// parallel. Children whose calls run only when waited for (Layer::LazyCalls: replicate) would
// run one after another; give those a `pool`, whose free threads and the caller wait at once.
template <typename Rep, typename Start>
std::vector<std::optional<Result<Rep>>> FanOut(size_t n, const std::vector<size_t>& who, Start start,
                                               WorkPool* pool = nullptr) {
  std::vector<std::optional<Future<Rep>>> futures(n);
  for (size_t i : who) futures[i].emplace(start(i));
  std::vector<std::optional<Result<Rep>>> out(n);
  if (pool && who.size() > 1) {
    pool->ParallelFor(who.size(), who.size() - 1, [&](size_t k) { out[who[k]].emplace(futures[who[k]]->get()); });
    return out;
  }
  for (size_t i : who) out[i].emplace(futures[i]->get());
  return out;
}

template <typename Rep>
std::vector<size_t> Succeeded(const std::vector<size_t>& who, const std::vector<std::optional<Result<Rep>>>& r) {
  std::vector<size_t> ok;
  for (size_t i : who)
    if (r[i] && r[i]->ok()) ok.push_back(i);
  return ok;
}

template <typename Rep>
int FirstError(const std::vector<size_t>& who, const std::vector<std::optional<Result<Rep>>>& r, int fallback) {
  for (size_t i : who)
    if (r[i] && !r[i]->ok()) return r[i]->err();
  return fallback;
}

// True if any child in `who` failed with `err`.
template <typename Rep>
bool AnyError(const std::vector<size_t>& who, const std::vector<std::optional<Result<Rep>>>& r, int err) {
  for (size_t i : who)
    if (r[i] && !r[i]->ok() && r[i]->err() == err) return true;
  return false;
}

// True if every child in `who` failed with one and the same errno (nothing diverged).
template <typename Rep>
bool SameError(const std::vector<size_t>& who, const std::vector<std::optional<Result<Rep>>>& r) {
  if (who.empty()) return false;
  int err = r[who.front()]->err();
  if (err == 0 || err == ENOTCONN) return false;
  for (size_t i : who)
    if (r[i]->err() != err) return false;
  return true;
}

// An error that says the brick's answer was lost (the connection went, the call was cut
// short), not that the brick refused: it may have done the change.
inline bool AnswerLost(int err) { return err == ENOTCONN || err == ECANCELED || err == ETIMEDOUT || err == ECONNRESET; }

// The answer to a change that reached some bricks but fewer than the quorum. `failed` are the
// bricks it did not reach; one without a result was not called (its session was replaced).
// - All of them lost (ENOTCONN, cancelled, timed out): the quorum went away under the change,
//   EROFS, as for a change refused before it started.
// - All of them failed the same way: that error (bricks that filled up at different writes of
//   a pipelined stream answer ENOSPC, not a bare EIO).
// - Anything else: EIO.
template <typename Rep>
Status BelowQuorum(const std::vector<size_t>& failed, const std::vector<std::optional<Result<Rep>>>& r) {
  int common = 0;
  bool all_lost = true, all_same = true;
  for (size_t i : failed) {
    int e = (r[i] && !r[i]->ok()) ? r[i]->err() : ENOTCONN;
    all_lost = all_lost && AnswerLost(e);
    if (common == 0) common = e;
    all_same = all_same && e == common;
  }
  if (failed.empty() || all_lost) return Status(EROFS, "quorum lost during the change: it reached fewer bricks than the quorum");
  if (all_same) return Status(common, fmt::format("the change failed on too many bricks: {}", std::strerror(common)));
  return Status(EIO, "the change reached fewer bricks than the quorum");
}

}  // namespace hafs::client
