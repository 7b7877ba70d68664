// The raw IP protocol 112 socket of one VRRP instance: sends adverts with TTL 255 from a fixed
// source address (IP_PKTINFO), to 224.0.0.18 or to each unicast peer, and receives whole IPv4
// datagrams (header included) from the instance's interface only.
// Ownership: owns its socket. Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "common/status.h"

namespace hafs::vip {

class VrrpSocket {
 public:
  VrrpSocket() = default;
  ~VrrpSocket();
  VrrpSocket(const VrrpSocket&) = delete;
  VrrpSocket& operator=(const VrrpSocket&) = delete;

  // multicast: join 224.0.0.18 on the interface (RFC 5798 §5.1.1.2).
  Status Open(const std::string& ifname, int ifindex, uint32_t local, bool multicast);
  Status Send(const std::vector<uint8_t>& vrrp, uint32_t dst);
  // Non-blocking; returns bytes read, or -1 with errno (EAGAIN when drained).
  ssize_t Recv(uint8_t* buf, size_t len);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  uint32_t local_ = 0;
};

}  // namespace hafs::vip
