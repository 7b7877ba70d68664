// Gratuitous ARP (RFC 5227 §3 "ARP Announcement"; RFC 5798 §6.4.2 requires it on takeover)
// sent through an AF_PACKET socket so clients and switches learn the VIP's new MAC at once.
// Ownership: GarpSender owns its packet socket. Thread-safety: one thread.
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

}  // namespace hafs::vip
