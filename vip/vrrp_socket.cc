#include "vip/vrrp_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "vip/constants.h"

namespace hafs::vip {

VrrpSocket::~VrrpSocket() {
  if (fd_ >= 0) close(fd_);
}

Status VrrpSocket::Open(const std::string& ifname, int ifindex, uint32_t local, bool multicast) {
  ifindex_ = ifindex;
  local_ = local;
  fd_ = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtoVrrp);
  if (fd_ < 0) return Status::FromErrno(errno, "raw socket (IP protocol 112; needs CAP_NET_RAW)");
  if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size())) < 0)
    return Status::FromErrno(errno, fmt::format("SO_BINDTODEVICE {}", ifname));
  int ttl = kVrrpTtl;  // RFC 5798 §5.1.1.3: TTL MUST be 255
  if (setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) < 0) return Status::FromErrno(errno, "IP_TTL");
  if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0) return Status::FromErrno(errno, "IP_MULTICAST_TTL");
  int tos = 0xC0;  // precedence "internetwork control", as keepalived sends
  setsockopt(fd_, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
  int off = 0;
  setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof(off));
  ip_mreqn mr{};
  mr.imr_ifindex = ifindex;
  mr.imr_address.s_addr = htonl(local);
  if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0) return Status::FromErrno(errno, "IP_MULTICAST_IF");
  if (multicast) {
    mr.imr_multiaddr.s_addr = htonl(kVrrpGroupHostOrder);
    if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
      return Status::FromErrno(errno, fmt::format("IP_ADD_MEMBERSHIP 224.0.0.18 on {}", ifname));
  }
  return Status::Ok();
}

Status VrrpSocket::Send(const std::vector<uint8_t>& vrrp, uint32_t dst) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(dst);
  iovec iov{const_cast<uint8_t*>(vrrp.data()), vrrp.size()};
  // IP_PKTINFO pins the source address: once the VIP sits on the interface the kernel could
  // otherwise pick it, and peers would see a changed sender (and a wrong v3 pseudo-header).
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(in_pktinfo))] = {};
  msghdr msg{};
  msg.msg_name = &to;
  msg.msg_namelen = sizeof(to);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
  in_pktinfo pi{};
  pi.ipi_ifindex = ifindex_;
  pi.ipi_spec_dst.s_addr = htonl(local_);
  std::memcpy(CMSG_DATA(c), &pi, sizeof(pi));
  if (sendmsg(fd_, &msg, 0) < 0) return Status::FromErrno(errno, "send VRRP advert");
  return Status::Ok();
}

ssize_t VrrpSocket::Recv(uint8_t* buf, size_t len) { return recv(fd_, buf, len, 0); }

}  // namespace hafs::vip
