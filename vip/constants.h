// VRRP protocol constants, each with the RFC clause that defines it.
// RFC 3768 = VRRP version 2, RFC 5798 = VRRP version 3.
// Thread-safety: constants only.
#pragma once

#include <cstdint>

namespace hafs::vip {

// IP protocol number assigned to VRRP. RFC 3768 §5.2.4 / RFC 5798 §5.1.1.3.
inline constexpr int kIpProtoVrrp = 112;
// IPv4 multicast group for adverts, 224.0.0.18. RFC 3768 §5.2.2 / RFC 5798 §5.1.1.2.
inline constexpr uint32_t kVrrpGroupHostOrder = 0xE0000012u;
// Adverts are sent, and must be received, with IP TTL 255. RFC 3768 §5.2.3, §7.1 / RFC 5798 §5.1.1.3, §7.1.
inline constexpr uint8_t kVrrpTtl = 255;
// Versions. RFC 3768 §5.3.1 (2), RFC 5798 §5.2.1 (3).
inline constexpr uint8_t kVersion2 = 2;
inline constexpr uint8_t kVersion3 = 3;
// The only packet type: ADVERTISEMENT. RFC 3768 §5.3.2 / RFC 5798 §5.2.2.
inline constexpr uint8_t kTypeAdvert = 1;
// Priority 255 = the address owner; 0 = the master resigns. RFC 3768 §5.3.4 / RFC 5798 §5.2.4.
inline constexpr uint8_t kPriorityOwner = 255;
inline constexpr uint8_t kPriorityResign = 0;
// Default backup priority. RFC 3768 §6.1 / RFC 5798 §6.1.
inline constexpr uint8_t kPriorityDefault = 100;
// v2 authentication types. RFC 3768 §5.3.6 (0 none, 1 simple text password; 2 IPAH is deprecated).
inline constexpr uint8_t kAuthNone = 0;
inline constexpr uint8_t kAuthPass = 1;
// v2 authentication data is 8 octets. RFC 3768 §5.3.10.
inline constexpr int kAuthDataLen = 8;
// Fixed header lengths before the address list. RFC 3768 §5.1 / RFC 5798 §5.1.
inline constexpr int kHeaderLen = 8;
// v3 Max Adver Int is a 12-bit field in centiseconds. RFC 5798 §5.2.7.
inline constexpr uint16_t kV3MaxAdverIntCs = 0x0FFF;
// Default advert interval 1 s. RFC 3768 §5.3.7 / RFC 5798 §5.2.7 (100 cs).
inline constexpr uint32_t kDefaultAdvertCs = 100;
// Count IPvX Addrs is an 8-bit field. RFC 3768 §5.3.5 / RFC 5798 §5.2.5.
inline constexpr int kMaxAddresses = 255;
// Virtual router ids 1..255. RFC 3768 §5.3.3 / RFC 5798 §5.2.3.
inline constexpr int kMinVrid = 1;
inline constexpr int kMaxVrid = 255;

}  // namespace hafs::vip
