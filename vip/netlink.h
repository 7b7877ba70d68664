// Address management over raw rtnetlink (RTM_NEWADDR/RTM_DELADDR) and interface queries
// (index, flags, MAC, first IPv4 address). No shelling out to ip(8).
// Ownership: Rtnl owns its netlink socket (closed in the destructor).
// Thread-safety: one Rtnl per thread; the free functions are reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::vip {

class Rtnl {
 public:
  Rtnl() = default;
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  Status Open();
  // Adds addr/prefix to ifindex; an address already present is success.
  Status AddAddress(int ifindex, uint32_t addr, int prefix, const std::string& label);
  // Removes addr/prefix; an address already gone is success.
  Status DelAddress(int ifindex, uint32_t addr, int prefix);
  // Any family: bytes in network order (4 or 16 used). IPv6 is added with IFA_F_NODAD so it is
  // usable at once (the address is ours by election; DAD would hold it back ~1 s).
  Status AddAddressAny(int family, int ifindex, const std::array<uint8_t, 16>& bytes, int prefix);
  Status DelAddressAny(int family, int ifindex, const std::array<uint8_t, 16>& bytes, int prefix);

 private:
  Status Request(int type, int flags, int family, int ifindex, const uint8_t* addr, int prefix, const std::string& label,
                 int ok_errno);
  int fd_ = -1;
  uint32_t seq_ = 1;
};

Result<int> InterfaceIndex(const std::string& ifname);
// True when the interface is administratively up and has carrier (IFF_UP and IFF_RUNNING).
bool InterfaceUp(const std::string& ifname);
Result<std::array<uint8_t, 6>> InterfaceMac(const std::string& ifname);
// IPv4 addresses on ifname in kernel order (host order).
std::vector<uint32_t> InterfaceAddresses(const std::string& ifname);

}  // namespace hafs::vip
