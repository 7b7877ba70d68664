#include "vip/garp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace hafs::vip {

GarpSender::~GarpSender() {
  if (fd_ >= 0) close(fd_);
}

Status GarpSender::Open() {
  fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd_ < 0) return Status::FromErrno(errno, "AF_PACKET socket");
  // We only send; a zero-length receive queue keeps the kernel from queueing ARP traffic for us.
  int zero = 0;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &zero, sizeof(zero));
  return Status::Ok();
}

Status GarpSender::Announce(int ifindex, const std::array<uint8_t, 6>& mac, uint32_t addr) {
  // ARP packet for Ethernet/IPv4 (RFC 826): htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request).
  uint8_t pkt[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};
  const uint32_t be = htonl(addr);
  std::memcpy(pkt + 8, mac.data(), 6);   // sender hardware address
  std::memcpy(pkt + 14, &be, 4);         // sender protocol address = VIP
  std::memset(pkt + 18, 0, 6);           // target hardware address: ignored in an announcement
  std::memcpy(pkt + 24, &be, 4);         // target protocol address = VIP (RFC 5227 §3)
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = ifindex;
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xFF, 6);
  if (sendto(fd_, pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0)
    return Status::FromErrno(errno, "send gratuitous ARP");
  return Status::Ok();
}

}  // namespace hafs::vip
