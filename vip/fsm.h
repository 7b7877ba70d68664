// VrrpFsm: the VRRP state machine of one virtual router (RFC 3768 §6.4 / RFC 5798 §6.4), with
// keepalived's operational extras (preempt_delay, fault state, re-assert on lower-priority
// adverts after a split, flap damping). Pure: time and events in, actions out; it never does I/O,
// so every transition is unit-tested alone. The daemon turns actions into packets, addresses,
// gratuitous ARP and notify scripts.
// Ownership: plain value object. Thread-safety: none; one thread drives one instance.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace hafs::vip {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Micros = std::chrono::microseconds;

enum class VrrpState { kInit, kBackup, kMaster, kFault };
const char* StateName(VrrpState s);

struct FsmConfig {
  uint8_t version = 3;
  uint8_t priority = 100;         // configured (base) priority; 255 = address owner
  uint16_t advert_cs = 100;       // our Advertisement_Interval in centiseconds
  bool preempt = true;            // RFC default Preempt_Mode = True (RFC 5798 §6.1)
  Micros preempt_delay{0};        // keepalived: hold preemption this long after a lower master is first heard
  uint32_t primary_addr = 0;      // our address, for the equal-priority tie-break (host order)
  // Flap damping: at most `flap_max` entries into MASTER by preemption within `flap_window`;
  // beyond that the node keeps accepting the current master's adverts until the window has room.
  int flap_max = 4;
  Micros flap_window = std::chrono::seconds(10);
};

struct FsmAction {
  enum class Kind { kSendAdvert, kTransition, kGarp };
  Kind kind;
  uint8_t priority = 0;  // kSendAdvert: priority to put on the wire (0 = resign)
  VrrpState from = VrrpState::kInit;
  VrrpState to = VrrpState::kInit;
  std::string reason;
};

struct FsmCounters {
  uint64_t became_master = 0;
  uint64_t released_master = 0;
  uint64_t adverts_sent = 0;
  uint64_t adverts_accepted = 0;
  uint64_t priority_zero_received = 0;
  uint64_t reasserts = 0;          // lower-priority adverts answered at once while master
  uint64_t preempt_held = 0;       // lower-priority adverts accepted because of preempt_delay / damping
};

class VrrpFsm {
 public:
  explicit VrrpFsm(FsmConfig cfg);

  // Init → Master (owner) or Backup (RFC 5798 §6.4.1).
  void Start(TimePoint now);
  // Call when now >= NextDeadline().
  void OnTimer(TimePoint now);
  // A validated advert for our VRID from `src` (host order).
  void OnAdvert(TimePoint now, uint32_t src, uint8_t priority, uint16_t interval_cs);
  // Fault from track_script/track_interface (weight 0) or the group; true enters FAULT.
  void SetFault(TimePoint now, bool fault, const std::string& reason);
  // Effective priority after tracker weights (ignored for the owner, as in keepalived).
  void SetPriority(TimePoint now, uint8_t effective);
  // Sync group: move with the other members (Backup ↔ Master only).
  void Force(TimePoint now, VrrpState to, const std::string& reason);
  // Shutdown: a master resigns with priority 0 (RFC 5798 §6.4.3 "Shutdown").
  void Stop(TimePoint now);

  TimePoint NextDeadline() const { return deadline_; }
  std::vector<FsmAction> TakeActions();

  VrrpState state() const { return state_; }
  uint8_t priority() const { return priority_; }
  uint32_t master_addr() const { return master_addr_; }
  uint16_t master_adver_cs() const { return master_adver_cs_; }
  const FsmCounters& counters() const { return counters_; }
  // Master_Down_Interval and Skew_Time for the current priority/master interval.
  Micros MasterDownInterval() const;
  Micros SkewTime() const;

 private:
  Micros AdvertInterval() const;
  void BecomeMaster(TimePoint now, const std::string& reason);
  void BecomeBackup(TimePoint now, const std::string& reason);
  void Transition(VrrpState to, const std::string& reason);
  void SendAdvert(uint8_t prio);
  bool Damped(TimePoint now);

  FsmConfig cfg_;
  VrrpState state_ = VrrpState::kInit;
  uint8_t priority_;
  uint16_t master_adver_cs_;
  uint32_t master_addr_ = 0;
  TimePoint deadline_ = TimePoint::max();
  TimePoint lower_seen_since_ = TimePoint::min();  // preempt_delay bookkeeping
  TimePoint last_reassert_{};
  bool reasserted_ = false;
  std::deque<TimePoint> master_entries_;
  bool fault_ = false;
  FsmCounters counters_;
  std::vector<FsmAction> actions_;
};

}  // namespace hafs::vip
