// The pure part of replication: reading the pending changelog counters of a replica set and
// deciding who is behind (docs/replication.md). No I/O, so it is tested alone.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hafs::client {

// What brick i counts for brick j (names[j]'s counter in counters[i]; 0 if absent).
int64_t Count(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<std::string>& names,
              size_t i, size_t j);
// Brick i counts for itself: a "fool", with a change of unknown outcome (see below).
inline bool IsFool(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<std::string>& names,
                   size_t i) {
  return Count(counters, names, i, i) > 0;
}

// counters[i]: the counters brick i returned; answered[i]: whether it answered at all;
// names[j]: the counter that records "brick j is behind" (e.g. "pending.data.7").
// Returns accused[j] (brick j is a sink); *split is set when at least two bricks answered
// and every one of them is accused (no copy has every change another completed).
//
// Brick i knows j is behind when it counts more for j than for itself (each pre-op adds 1
// for everyone, each post-op takes 1 off for every brick that did the change). A brick that
// counts for itself (a "fool": a change of unknown outcome — it failed, it died, a client died,
// or one is in flight) is a sink only when a sane brick (no count for itself, accused by
// nobody) can be the source; when every answering brick is a fool, none is singled out.
// docs/replication.md, "Who is behind".
std::vector<bool> ComputeAccused(const std::vector<std::map<std::string, int64_t>>& counters,
                                 const std::vector<bool>& answered, const std::vector<std::string>& names,
                                 bool* split);

// True when at least two bricks answered and every one of them accuses itself: the state
// of a transaction (or an eager lock) in flight, or of a client that died inside one. Only
// a caller holding the lock can tell the two apart; then heal takes the biggest (then
// newest) copy as the source.
bool AllFools(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
              const std::vector<std::string>& names);

// True when some answering brick accuses itself and no answering brick that does not accuse
// itself accuses it or is counted less than it by it: a client died inside an entry change (or
// holding an eager entry lock) and no brick can be trusted as the only source — a directory
// then gets a conservative merge (every name some brick has is created where it is missing,
// nothing removed). When a sane brick accuses the fool, the fool's change failed; when the fool
// counts less for a sane brick than for itself, its own change was refused for want of quorum
// (docs/replication.md): either way the usual source/sink heal applies.
bool NeedsMerge(const std::vector<std::map<std::string, int64_t>>& counters, const std::vector<bool>& answered,
                const std::vector<std::string>& names);

}  // namespace hafs::client
