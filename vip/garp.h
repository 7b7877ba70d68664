// Address announcements after a takeover, so clients and switches learn the VIP's new MAC at once:
// gratuitous ARP for IPv4 (RFC 5227 §3 "ARP Announcement"; RFC 5798 §6.4.2 requires it) through an
// AF_PACKET socket, and unsolicited Neighbor Advertisements for IPv6 (RFC 4861 §7.2.6).
// Ownership: each sender owns its socket. Thread-safety: one thread.
#pragma once

#include <array>
#include <cstdint>

#include "common/status.h"

namespace hafs::vip {

class GarpSender {
 public:
  GarpSender() = default;
  ~GarpSender();
  GarpSender(const GarpSender&) = delete;
  GarpSender& operator=(const GarpSender&) = delete;

  Status Open();
  // Broadcasts an ARP request with sender = target = addr (host order) from mac on ifindex.
  Status Announce(int ifindex, const std::array<uint8_t, 6>& mac, uint32_t addr);

 private:
  int fd_ = -1;
};

class NaSender {
 public:
  NaSender() = default;
  ~NaSender();
  NaSender(const NaSender&) = delete;
  NaSender& operator=(const NaSender&) = delete;

  Status Open();
  // Sends an unsolicited NA for addr (network order) to ff02::1 on ifindex, from addr itself.
  Status Announce(int ifindex, const std::array<uint8_t, 6>& mac, const std::array<uint8_t, 16>& addr);

 private:
  int fd_ = -1;
};

}  // namespace hafs::vip
