#include "vip/quorum.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace hafs::vip {

QuorumGuard::~QuorumGuard() {
  if (fd_ >= 0) close(fd_);
}

Status QuorumGuard::Open(int ifindex, const std::array<uint8_t, 6>& mac, uint32_t local, std::vector<uint32_t> peers,
                         int min, Micros interval) {
  ifindex_ = ifindex;
  mac_ = mac;
  local_ = local;
  peers_ = std::move(peers);
  min_ = min;
  interval_ = interval;
  fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd_ < 0) return Status::FromErrno(errno, "quorum AF_PACKET socket");
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ARP);
  sll.sll_ifindex = ifindex;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) return Status::FromErrno(errno, "quorum bind");
  return Status::Ok();
}

void QuorumGuard::Drain(TimePoint now) {
  uint8_t buf[256];
  for (int budget = 0; budget < 256; ++budget) {
    sockaddr_ll from{};
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) return;
    if (n < 28 || from.sll_pkttype == PACKET_OUTGOING) continue;
    // Ethernet/IPv4 ARP (RFC 826): sender protocol address at offset 14.
    if (buf[0] != 0 || buf[1] != 1 || buf[2] != 0x08 || buf[3] != 0x00 || buf[4] != 6 || buf[5] != 4) continue;
    uint32_t spa = 0;
    std::memcpy(&spa, buf + 14, 4);
    spa = ntohl(spa);
    if (std::find(peers_.begin(), peers_.end(), spa) != peers_.end()) last_heard_[spa] = now;
  }
}

void QuorumGuard::Tick(TimePoint now) {
  if (now < next_probe_) return;
  next_probe_ = now + interval_;
  for (uint32_t peer : peers_) {
    uint8_t pkt[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};  // ARP request
    const uint32_t spa = htonl(local_), tpa = htonl(peer);
    std::memcpy(pkt + 8, mac_.data(), 6);
    std::memcpy(pkt + 14, &spa, 4);
    std::memcpy(pkt + 24, &tpa, 4);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xFF, 6);
    (void)sendto(fd_, pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }
}

int QuorumGuard::Reachable(TimePoint now) const {
  int n = 0;
  for (const auto& [peer, t] : last_heard_) n += now - t <= 3 * interval_;
  return n;
}

}  // namespace hafs::vip
