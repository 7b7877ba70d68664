// Fan-out helpers for layers over several children: start every child's call, then wait
// for all of them, so the children work in parallel.
#pragma once

#include <optional>
#include <vector>

#include "client-fuse/layer.h"

namespace hafs::client {

// Results indexed by child; std::nullopt for children not in `who`.
template <typename Rep, typename Start>
std::vector<std::optional<Result<Rep>>> FanOut(size_t n, const std::vector<size_t>& who, Start start) {
  std::vector<std::optional<Future<Rep>>> futures(n);
  for (size_t i : who) futures[i].emplace(start(i));
  std::vector<std::optional<Result<Rep>>> out(n);
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

}  // namespace hafs::client
