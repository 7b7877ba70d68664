// VRRP advertisement codec (v2 RFC 3768 and v3 RFC 5798, IPv4): encode the VRRP payload,
// decode and validate a received IPv4 datagram, and check an advert against one instance's
// wire settings. Pure functions, no I/O; every rejection has a DropReason so the daemon can count it.
// Thread-safety: stateless, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hafs::vip {

struct Advert {
  uint8_t version = 3;
  uint8_t vrid = 0;
  uint8_t priority = 0;
  // Advert interval in centiseconds. v2 carries whole seconds on the wire (RFC 3768 §5.3.7),
  // so a v2 interval is always a multiple of 100 here.
  uint16_t interval_cs = 100;
  uint8_t auth_type = 0;               // v2 only
  std::array<uint8_t, 8> auth_data{};  // v2 only, zero padded
  std::vector<uint32_t> addrs;         // IPv4, host byte order
};

enum class DropReason : int {
  kNone = 0,
  kBadLength,     // truncated IP header or VRRP payload, or count does not fit the payload
  kBadTtl,        // TTL != 255
  kBadProtocol,   // not IP protocol 112
  kBadVersion,    // not the version the instance speaks
  kBadType,       // not ADVERTISEMENT
  kBadChecksum,
  kBadVrid,       // no instance with this VRID
  kBadAuth,       // v2 auth type or password mismatch
  kBadInterval,   // v2 advert interval differs from ours (RFC 3768 §7.1 says drop)
  kNotPeer,       // unicast instance: sender is not in unicast_peer
  kOwnPacket,     // our own advert looped back
  kCount
};
std::string_view DropReasonName(DropReason r);

// RFC 1071 one's-complement checksum over data (initial partial sum `seed`).
uint16_t InternetChecksum(std::span<const uint8_t> data, uint32_t seed = 0);

// Encodes the VRRP part (what follows the IP header). src/dst (host order) feed the v3
// IPv4 pseudo-header (RFC 5798 §5.2.8); v2 checksums the VRRP message alone (RFC 3768 §5.3.8).
std::vector<uint8_t> EncodeAdvert(const Advert& adv, uint32_t src, uint32_t dst);

struct Received {
  DropReason reason = DropReason::kNone;
  Advert adv;
  uint32_t src = 0;  // host order
  uint32_t dst = 0;
  uint8_t ttl = 0;
};
// Decodes a whole IPv4 datagram as a raw socket delivers it, checking IP header, TTL,
// version/type, length and checksum (RFC 3768 §7.1 / RFC 5798 §7.1, the instance-independent part).
Received DecodeIpPacket(std::span<const uint8_t> datagram);

// Instance-dependent checks of RFC 3768 §7.1 / RFC 5798 §7.1.
struct WireSettings {
  uint8_t version = 3;
  uint8_t vrid = 0;
  uint16_t interval_cs = 100;
  uint8_t auth_type = 0;
  std::array<uint8_t, 8> auth_data{};
};
DropReason CheckAgainstInstance(const Advert& adv, const WireSettings& mine);

// Password as carried in the 8-octet auth field: truncated to 8, zero padded (RFC 3768 §5.3.10).
std::array<uint8_t, 8> AuthField(std::string_view pass);

std::string Ipv4ToString(uint32_t host_order);
// Parses dotted quad; false if malformed.
bool ParseIpv4(std::string_view s, uint32_t* host_order);

}  // namespace hafs::vip
