#include "vip/garp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netinet/in.h>
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

// RFC 4861 §4.4: Neighbor Advertisement is ICMPv6 type 136; flags R=0x80 S=0x40 O=0x20 in the
// first octet after the checksum; option 2 = Target Link-Layer Address (length in units of 8 octets).
constexpr uint8_t kIcmp6NeighborAdvert = 136;
constexpr uint8_t kNaFlagOverride = 0x20;  // RFC 4861 §7.2.6: unsolicited NAs SHOULD set Override
constexpr uint8_t kNdOptTargetLinkAddr = 2;
// RFC 4861 §7.1.2: a node MUST drop an NA whose IP Hop Limit is not 255.
constexpr int kNdHopLimit = 255;

NaSender::~NaSender() {
  if (fd_ >= 0) close(fd_);
}

Status NaSender::Open() {
  fd_ = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd_ < 0) return Status::FromErrno(errno, "ICMPv6 raw socket");
  int hops = kNdHopLimit;
  setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
  setsockopt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops));
  int zero = 0;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &zero, sizeof(zero));
  // The kernel fills in the ICMPv6 checksum (pseudo-header included) on IPPROTO_ICMPV6 raw sockets.
  return Status::Ok();
}

Status NaSender::Announce(int ifindex, const std::array<uint8_t, 6>& mac, const std::array<uint8_t, 16>& addr) {
  uint8_t pkt[32] = {kIcmp6NeighborAdvert, 0, 0, 0, kNaFlagOverride, 0, 0, 0};
  std::memcpy(pkt + 8, addr.data(), 16);
  pkt[24] = kNdOptTargetLinkAddr;
  pkt[25] = 1;
  std::memcpy(pkt + 26, mac.data(), 6);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_scope_id = static_cast<uint32_t>(ifindex);
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);  // all-nodes (RFC 4861 §7.2.6)
  iovec iov{pkt, sizeof(pkt)};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  msghdr msg{};
  msg.msg_name = &to;
  msg.msg_namelen = sizeof(to);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
  in6_pktinfo pi{};
  std::memcpy(&pi.ipi6_addr, addr.data(), 16);  // from the VIP itself
  pi.ipi6_ifindex = static_cast<unsigned>(ifindex);
  std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  if (sendmsg(fd_, &msg, 0) < 0) return Status::FromErrno(errno, "send unsolicited NA");
  return Status::Ok();
}

}  // namespace hafs::vip
