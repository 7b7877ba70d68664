#include "vip/netlink.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

namespace hafs::vip {
namespace {

void AddAttr(std::vector<uint8_t>& buf, uint16_t type, const void* data, size_t len) {
  const size_t at = buf.size();
  const size_t rta_len = RTA_LENGTH(len);
  buf.resize(at + RTA_ALIGN(rta_len), 0);
  auto* rta = reinterpret_cast<rtattr*>(buf.data() + at);
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(rta_len);
  std::memcpy(RTA_DATA(rta), data, len);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Rtnl::~Rtnl() {
  if (fd_ >= 0) close(fd_);
}

Status Rtnl::Open() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return Status::FromErrno(errno, "netlink socket");
  timeval tv{1, 0};  // every wait has a deadline: a stuck kernel answer fails the call
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) return Status::FromErrno(errno, "netlink bind");
  return Status::Ok();
}

Status Rtnl::Request(int type, int flags, int family, int ifindex, const uint8_t* addr, int prefix,
                     const std::string& label, int ok_errno) {
  if (fd_ < 0) return Status(EBADF, "netlink not open");
  std::vector<uint8_t> buf(NLMSG_LENGTH(sizeof(ifaddrmsg)), 0);
  auto* ifa = reinterpret_cast<ifaddrmsg*>(NLMSG_DATA(reinterpret_cast<nlmsghdr*>(buf.data())));
  ifa->ifa_family = static_cast<uint8_t>(family);
  ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  const size_t alen = family == AF_INET6 ? 16 : 4;
  if (family == AF_INET6) {
    ifa->ifa_flags = IFA_F_NODAD;
    AddAttr(buf, IFA_ADDRESS, addr, alen);
  } else {
    AddAttr(buf, IFA_LOCAL, addr, alen);
    AddAttr(buf, IFA_ADDRESS, addr, alen);
  }
  if (!label.empty() && type == RTM_NEWADDR) AddAttr(buf, IFA_LABEL, label.c_str(), label.size() + 1);
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data());
  nlh->nlmsg_len = static_cast<uint32_t>(buf.size());
  nlh->nlmsg_type = static_cast<uint16_t>(type);
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  nlh->nlmsg_seq = ++seq_;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
    return Status::FromErrno(errno, "netlink send");
  // Read until the ACK for our sequence number (bounded: SO_RCVTIMEO and a message budget).
  alignas(nlmsghdr) uint8_t rx[8192];
  for (int budget = 0; budget < 64; ++budget) {
    ssize_t n = recv(fd_, rx, sizeof(rx), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "netlink recv");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(rx); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_ || h->nlmsg_type != NLMSG_ERROR) continue;
      int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
      if (err == 0 || err == ok_errno) return Status::Ok();
      return Status::FromErrno(err, fmt::format("netlink {} address", type == RTM_NEWADDR ? "add" : "delete"));
    }
  }
  return Status(ETIMEDOUT, "netlink: no ack");
}

Status Rtnl::AddAddress(int ifindex, uint32_t addr, int prefix, const std::string& label) {
  const uint32_t be = htonl(addr);
  return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, AF_INET, ifindex, reinterpret_cast<const uint8_t*>(&be), prefix,
                 label, EEXIST);
}

Status Rtnl::DelAddress(int ifindex, uint32_t addr, int prefix) {
  const uint32_t be = htonl(addr);
  return Request(RTM_DELADDR, 0, AF_INET, ifindex, reinterpret_cast<const uint8_t*>(&be), prefix, "", EADDRNOTAVAIL);
}

Status Rtnl::AddAddressAny(int family, int ifindex, const std::array<uint8_t, 16>& bytes, int prefix) {
  return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, family, ifindex, bytes.data(), prefix, "", EEXIST);
}

Status Rtnl::DelAddressAny(int family, int ifindex, const std::array<uint8_t, 16>& bytes, int prefix) {
  return Request(RTM_DELADDR, 0, family, ifindex, bytes.data(), prefix, "", EADDRNOTAVAIL);
}

Result<int> InterfaceIndex(const std::string& ifname) {
  unsigned idx = if_nametoindex(ifname.c_str());
  if (idx == 0) return Status::FromErrno(errno ? errno : ENODEV, fmt::format("interface {}", ifname));
  return static_cast<int>(idx);
}

bool InterfaceUp(const std::string& ifname) {
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return false;
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname.c_str());
  if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return false;
  return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

Result<std::array<uint8_t, 6>> InterfaceMac(const std::string& ifname) {
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return Status::FromErrno(errno, "socket");
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname.c_str());
  if (ioctl(s.get(), SIOCGIFHWADDR, &ifr) < 0) return Status::FromErrno(errno, fmt::format("SIOCGIFHWADDR {}", ifname));
  std::array<uint8_t, 6> mac{};
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, 6);
  return mac;
}

std::vector<uint32_t> InterfaceAddresses(const std::string& ifname) {
  std::vector<uint32_t> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || ifname != i->ifa_name) continue;
    out.push_back(ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr));
  }
  freeifaddrs(list);
  return out;
}

}  // namespace hafs::vip
