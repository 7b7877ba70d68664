// Quorum guard (hafs extension, off unless `quorum_peer` is configured): an instance may only be
// BACKUP-eligible-for-master while enough of a configured set of on-link peers / the gateway
// answer ARP. Reachability is probed with ARP requests on the instance's interface and any ARP
// frame from a peer counts as proof of life. Without quorum the instance goes to FAULT, so a node
// cut off from the network neither becomes nor stays master (split-brain guard).
// Ownership: owns its AF_PACKET socket. Thread-safety: one thread (the daemon loop).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "common/status.h"
#include "vip/fsm.h"

namespace hafs::vip {

class QuorumGuard {
 public:
  QuorumGuard() = default;
  ~QuorumGuard();
  QuorumGuard(const QuorumGuard&) = delete;
  QuorumGuard& operator=(const QuorumGuard&) = delete;

  // peers/local in host order; min = how many peers must answer; interval = probe period.
  Status Open(int ifindex, const std::array<uint8_t, 6>& mac, uint32_t local, std::vector<uint32_t> peers, int min,
              Micros interval);
  int fd() const { return fd_; }
  // Reads pending ARP frames (call when fd() is readable).
  void Drain(TimePoint now);
  // Sends probes when due.
  void Tick(TimePoint now);
  TimePoint NextProbe() const { return next_probe_; }
  // A peer is reachable if it was heard within 3 probe intervals.
  int Reachable(TimePoint now) const;
  bool HasQuorum(TimePoint now) const { return Reachable(now) >= min_; }
  int min() const { return min_; }
  size_t peers() const { return peers_.size(); }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  std::array<uint8_t, 6> mac_{};
  uint32_t local_ = 0;
  std::vector<uint32_t> peers_;
  int min_ = 0;
  Micros interval_{};
  TimePoint next_probe_{};
  std::map<uint32_t, TimePoint> last_heard_;
};

}  // namespace hafs::vip
