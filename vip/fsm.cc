#include "vip/fsm.h"

#include <fmt/format.h>

#include "vip/constants.h"
#include "vip/packet.h"

namespace hafs::vip {

using std::chrono::duration_cast;

const char* StateName(VrrpState s) {
  switch (s) {
    case VrrpState::kInit: return "INIT";
    case VrrpState::kBackup: return "BACKUP";
    case VrrpState::kMaster: return "MASTER";
    case VrrpState::kFault: return "FAULT";
  }
  return "?";
}

VrrpFsm::VrrpFsm(FsmConfig cfg) : cfg_(cfg), priority_(cfg.priority), master_adver_cs_(cfg.advert_cs) {}

Micros VrrpFsm::AdvertInterval() const { return Micros(int64_t{cfg_.advert_cs} * 10000); }

Micros VrrpFsm::SkewTime() const {
  if (cfg_.version == kVersion2) {
    // RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds.
    return Micros((256 - int64_t{priority_}) * 1000000 / 256);
  }
  // RFC 5798 §6.1: Skew_Time = ((256 - priority) * Master_Adver_Interval) / 256.
  return Micros((256 - int64_t{priority_}) * int64_t{master_adver_cs_} * 10000 / 256);
}

Micros VrrpFsm::MasterDownInterval() const {
  // RFC 3768 §6.1: (3 * Advertisement_Interval) + Skew_Time.
  // RFC 5798 §6.1: (3 * Master_Adver_Interval) + Skew_Time.
  const int64_t iv_cs = cfg_.version == kVersion2 ? cfg_.advert_cs : master_adver_cs_;
  return Micros(3 * iv_cs * 10000) + SkewTime();
}

void VrrpFsm::Transition(VrrpState to, const std::string& reason) {
  FsmAction a{FsmAction::Kind::kTransition};
  a.from = state_;
  a.to = to;
  a.reason = reason;
  if (to == VrrpState::kMaster) ++counters_.became_master;
  if (state_ == VrrpState::kMaster) ++counters_.released_master;
  state_ = to;
  actions_.push_back(std::move(a));
}

void VrrpFsm::SendAdvert(uint8_t prio) {
  FsmAction a{FsmAction::Kind::kSendAdvert};
  a.priority = prio;
  ++counters_.adverts_sent;
  actions_.push_back(std::move(a));
}

void VrrpFsm::BecomeMaster(TimePoint now, const std::string& reason) {
  // RFC 5798 §6.4.1/§6.4.2: send an ADVERTISEMENT, broadcast gratuitous ARP, start Adver_Timer.
  // We emit the transition (the daemon adds the VIPs and sends GARP) before the advert: when we
  // preempt a live master, our advert makes it drop the VIP at once, and clients must already
  // have been told the VIP's new MAC by then, or their packets die in between.
  Transition(VrrpState::kMaster, reason);
  SendAdvert(priority_);
  master_addr_ = cfg_.primary_addr;
  master_entries_.push_back(now);
  deadline_ = now + AdvertInterval();
  lower_seen_since_ = TimePoint::min();
}

void VrrpFsm::BecomeBackup(TimePoint now, const std::string& reason) {
  Transition(VrrpState::kBackup, reason);
  deadline_ = now + MasterDownInterval();
}

void VrrpFsm::Start(TimePoint now) {
  if (state_ != VrrpState::kInit) return;
  master_adver_cs_ = cfg_.advert_cs;
  if (fault_) {
    Transition(VrrpState::kFault, "fault at start");
    deadline_ = TimePoint::max();
  } else if (priority_ == kPriorityOwner) {
    BecomeMaster(now, "address owner (priority 255)");
  } else {
    BecomeBackup(now, "startup");
  }
}

void VrrpFsm::OnTimer(TimePoint now) {
  if (now < deadline_) return;
  switch (state_) {
    case VrrpState::kBackup:
      // RFC 5798 §6.4.2: Master_Down_Timer fired.
      BecomeMaster(now, "master down timer expired");
      break;
    case VrrpState::kMaster:
      // RFC 5798 §6.4.3: Adver_Timer fired.
      SendAdvert(priority_);
      deadline_ = now + AdvertInterval();
      break;
    default:
      deadline_ = TimePoint::max();
  }
}

bool VrrpFsm::Damped(TimePoint now) {
  while (!master_entries_.empty() && now - master_entries_.front() > cfg_.flap_window) master_entries_.pop_front();
  return cfg_.flap_max > 0 && static_cast<int>(master_entries_.size()) >= cfg_.flap_max;
}

void VrrpFsm::OnAdvert(TimePoint now, uint32_t src, uint8_t prio, uint16_t interval_cs) {
  if (state_ == VrrpState::kBackup) {
    if (prio == kPriorityResign) {
      // RFC 5798 §6.4.2: priority 0 → Master_Down_Timer = Skew_Time.
      ++counters_.priority_zero_received;
      deadline_ = now + SkewTime();
      return;
    }
    bool accept = !cfg_.preempt || prio >= priority_;
    if (!accept) {
      // keepalived's preempt_delay: tolerate a lower master for a while after first hearing it.
      if (lower_seen_since_ == TimePoint::min()) lower_seen_since_ = now;
      const bool delaying = now - lower_seen_since_ < cfg_.preempt_delay;
      if (delaying || Damped(now)) {
        ++counters_.preempt_held;
        accept = true;
      }
    } else {
      lower_seen_since_ = TimePoint::min();
    }
    if (accept) {
      ++counters_.adverts_accepted;
      master_addr_ = src;
      // RFC 5798 §6.4.2: learn Master_Adver_Interval, recompute, reset Master_Down_Timer.
      if (cfg_.version == kVersion3 && interval_cs > 0) master_adver_cs_ = interval_cs;
      deadline_ = now + MasterDownInterval();
    }
    // else: discard; the timer runs out and we preempt.
    return;
  }
  if (state_ == VrrpState::kMaster) {
    if (prio == kPriorityResign) {
      // RFC 5798 §6.4.3: another router resigned → send an advert at once, reset Adver_Timer.
      ++counters_.priority_zero_received;
      SendAdvert(priority_);
      deadline_ = now + AdvertInterval();
      return;
    }
    // RFC 5798 §6.4.3: higher priority, or equal priority and larger primary address, wins.
    const bool other_wins = prio > priority_ || (prio == priority_ && src > cfg_.primary_addr);
    if (other_wins) {
      // Parting advert (an extension, harmless to RFC peers): after a split heals, the winner may
      // not have heard us at all; this lower-priority advert makes it re-assert and re-send GARP,
      // so clients whose ARP caches we moved during the split come back at once.
      SendAdvert(priority_);
      master_addr_ = src;
      if (cfg_.version == kVersion3 && interval_cs > 0) master_adver_cs_ = interval_cs;
      BecomeBackup(now, fmt::format("higher priority master {} (prio {})", Ipv4ToString(src), prio));
      return;
    }
    // A lower-priority master exists (split brain healing): re-assert at once instead of waiting
    // for our Adver_Timer, and re-announce ARP because its GARPs may have moved clients away.
    // Rate-limited to one per half advert interval so a chatty peer cannot make us flood.
    if (!reasserted_ || now - last_reassert_ >= AdvertInterval() / 2) {
      reasserted_ = true;
      last_reassert_ = now;
      ++counters_.reasserts;
      SendAdvert(priority_);
      actions_.push_back(FsmAction{FsmAction::Kind::kGarp, 0, state_, state_, "re-assert over lower-priority master"});
      deadline_ = now + AdvertInterval();
    }
  }
  // INIT / FAULT: ignore.
}

void VrrpFsm::SetFault(TimePoint now, bool fault, const std::string& reason) {
  if (fault == fault_) return;
  fault_ = fault;
  if (state_ == VrrpState::kInit) return;
  if (fault) {
    if (state_ == VrrpState::kMaster) SendAdvert(kPriorityResign);
    Transition(VrrpState::kFault, reason);
    deadline_ = TimePoint::max();
  } else if (state_ == VrrpState::kFault) {
    master_adver_cs_ = cfg_.advert_cs;
    if (priority_ == kPriorityOwner) {
      BecomeMaster(now, reason);
    } else {
      BecomeBackup(now, reason);
    }
  }
}

void VrrpFsm::SetPriority(TimePoint now, uint8_t effective) {
  if (cfg_.priority == kPriorityOwner) return;
  if (effective == kPriorityOwner) effective = kPriorityOwner - 1;  // only the configured owner may use 255
  if (effective == kPriorityResign) effective = 1;
  if (effective == priority_) return;
  priority_ = effective;
  if (state_ == VrrpState::kMaster) {
    // Tell the backups now rather than at the next Adver_Timer so a preempting backup reacts fast.
    SendAdvert(priority_);
    deadline_ = now + AdvertInterval();
  }
}

void VrrpFsm::Force(TimePoint now, VrrpState to, const std::string& reason) {
  if (fault_ || state_ == to) return;
  if (to == VrrpState::kMaster && state_ == VrrpState::kBackup) {
    BecomeMaster(now, reason);
  } else if (to == VrrpState::kBackup && state_ == VrrpState::kMaster) {
    BecomeBackup(now, reason);
  } else if (to == VrrpState::kFault) {
    SetFault(now, true, reason);
  }
}

void VrrpFsm::Stop(TimePoint now) {
  (void)now;
  if (state_ == VrrpState::kMaster) SendAdvert(kPriorityResign);
  if (state_ != VrrpState::kInit) Transition(VrrpState::kInit, "stopping");
  deadline_ = TimePoint::max();
}

std::vector<FsmAction> VrrpFsm::TakeActions() {
  std::vector<FsmAction> out;
  out.swap(actions_);
  return out;
}

}  // namespace hafs::vip
