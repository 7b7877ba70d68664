#include "vip/packet.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vip/constants.h"

namespace hafs::vip {
namespace {

uint32_t Get32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void Put32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

// Partial sum of the v3 IPv4 pseudo-header: src, dst, zero, protocol, VRRP length (RFC 5798 §5.2.8).
uint32_t PseudoHeaderSum(uint32_t src, uint32_t dst, uint16_t len) {
  uint32_t sum = 0;
  sum += src >> 16;
  sum += src & 0xFFFF;
  sum += dst >> 16;
  sum += dst & 0xFFFF;
  sum += kIpProtoVrrp;
  sum += len;
  return sum;
}

}  // namespace

std::string_view DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kNone: return "none";
    case DropReason::kBadLength: return "bad_length";
    case DropReason::kBadTtl: return "bad_ttl";
    case DropReason::kBadProtocol: return "bad_protocol";
    case DropReason::kBadVersion: return "bad_version";
    case DropReason::kBadType: return "bad_type";
    case DropReason::kBadChecksum: return "bad_checksum";
    case DropReason::kBadVrid: return "bad_vrid";
    case DropReason::kBadAuth: return "bad_auth";
    case DropReason::kBadInterval: return "bad_interval";
    case DropReason::kNotPeer: return "not_peer";
    case DropReason::kOwnPacket: return "own_packet";
    case DropReason::kCount: break;
  }
  return "?";
}

uint16_t InternetChecksum(std::span<const uint8_t> data, uint32_t seed) {
  uint64_t sum = seed;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += Get16(&data[i]);
  if (i < data.size()) sum += uint32_t{data[i]} << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

std::vector<uint8_t> EncodeAdvert(const Advert& adv, uint32_t src, uint32_t dst) {
  const size_t count = std::min<size_t>(adv.addrs.size(), kMaxAddresses);
  const size_t len = kHeaderLen + 4 * count + (adv.version == kVersion2 ? kAuthDataLen : 0);
  std::vector<uint8_t> out(len, 0);
  out[0] = static_cast<uint8_t>((adv.version << 4) | kTypeAdvert);
  out[1] = adv.vrid;
  out[2] = adv.priority;
  out[3] = static_cast<uint8_t>(count);
  if (adv.version == kVersion2) {
    out[4] = adv.auth_type;
    // RFC 3768 §5.3.7: Adver Int in whole seconds.
    out[5] = static_cast<uint8_t>(std::clamp(adv.interval_cs / 100, 1, 255));
  } else {
    // RFC 5798 §5.2.6-7: 4 reserved bits, 12-bit Max Adver Int in centiseconds.
    uint16_t iv = std::min<uint16_t>(adv.interval_cs, kV3MaxAdverIntCs);
    out[4] = static_cast<uint8_t>(iv >> 8);
    out[5] = static_cast<uint8_t>(iv & 0xFF);
  }
  for (size_t i = 0; i < count; ++i) Put32(&out[kHeaderLen + 4 * i], adv.addrs[i]);
  if (adv.version == kVersion2) std::memcpy(&out[kHeaderLen + 4 * count], adv.auth_data.data(), kAuthDataLen);
  uint32_t seed = adv.version == kVersion3 ? PseudoHeaderSum(src, dst, static_cast<uint16_t>(len)) : 0;
  uint16_t ck = InternetChecksum(out, seed);
  out[6] = ck >> 8;
  out[7] = ck & 0xFF;
  return out;
}

Received DecodeIpPacket(std::span<const uint8_t> d) {
  Received r;
  auto fail = [&r](DropReason why) {
    r.reason = why;
    return r;
  };
  if (d.size() < 20) return fail(DropReason::kBadLength);
  if ((d[0] >> 4) != 4) return fail(DropReason::kBadProtocol);
  const size_t ihl = size_t{d[0] & 0x0Fu} * 4;
  if (ihl < 20 || d.size() < ihl) return fail(DropReason::kBadLength);
  const size_t total = Get16(&d[2]);
  // The kernel hands raw sockets the datagram as received; never read past either length.
  const size_t ip_len = std::min(total, d.size());
  if (ip_len < ihl) return fail(DropReason::kBadLength);
  r.ttl = d[8];
  r.src = Get32(&d[12]);
  r.dst = Get32(&d[16]);
  if (d[9] != kIpProtoVrrp) return fail(DropReason::kBadProtocol);
  // RFC 3768 §7.1 / RFC 5798 §7.1: MUST verify TTL is 255.
  if (r.ttl != kVrrpTtl) return fail(DropReason::kBadTtl);
  std::span<const uint8_t> v = d.subspan(ihl, ip_len - ihl);
  if (v.size() < kHeaderLen) return fail(DropReason::kBadLength);
  const uint8_t version = v[0] >> 4;
  if (version != kVersion2 && version != kVersion3) return fail(DropReason::kBadVersion);
  if ((v[0] & 0x0F) != kTypeAdvert) return fail(DropReason::kBadType);
  Advert& a = r.adv;
  a.version = version;
  a.vrid = v[1];
  a.priority = v[2];
  const size_t count = v[3];
  const size_t need = kHeaderLen + 4 * count + (version == kVersion2 ? kAuthDataLen : 0);
  // RFC 5798 §7.1: MUST verify the packet length >= the VRRP header (+ the addresses it announces).
  if (v.size() < need) return fail(DropReason::kBadLength);
  v = v.first(need);  // trailing bytes (padding) are not covered by the checksum
  uint32_t seed = version == kVersion3 ? PseudoHeaderSum(r.src, r.dst, static_cast<uint16_t>(need)) : 0;
  if (InternetChecksum(v, seed) != 0) return fail(DropReason::kBadChecksum);
  if (version == kVersion2) {
    a.auth_type = v[4];
    a.interval_cs = static_cast<uint16_t>(v[5] * 100);
    std::memcpy(a.auth_data.data(), &v[kHeaderLen + 4 * count], kAuthDataLen);
  } else {
    a.interval_cs = static_cast<uint16_t>(Get16(&v[4]) & kV3MaxAdverIntCs);
  }
  a.addrs.reserve(count);
  for (size_t i = 0; i < count; ++i) a.addrs.push_back(Get32(&v[kHeaderLen + 4 * i]));
  return r;
}

DropReason CheckAgainstInstance(const Advert& adv, const WireSettings& mine) {
  if (adv.vrid != mine.vrid) return DropReason::kBadVrid;
  if (adv.version != mine.version) return DropReason::kBadVersion;
  if (adv.version == kVersion2) {
    // RFC 3768 §7.1: auth type must match; for PASS the data must match.
    if (adv.auth_type != mine.auth_type) return DropReason::kBadAuth;
    if (mine.auth_type == kAuthPass && adv.auth_data != mine.auth_data) return DropReason::kBadAuth;
    // RFC 3768 §7.1: MUST drop an advert whose Adver Interval differs from the local one.
    if (adv.interval_cs != mine.interval_cs) return DropReason::kBadInterval;
  }
  if (adv.interval_cs == 0) return DropReason::kBadInterval;
  return DropReason::kNone;
}

std::array<uint8_t, 8> AuthField(std::string_view pass) {
  std::array<uint8_t, 8> f{};
  std::memcpy(f.data(), pass.data(), std::min<size_t>(pass.size(), f.size()));
  return f;
}

std::string Ipv4ToString(uint32_t h) {
  return fmt::format("{}.{}.{}.{}", h >> 24, (h >> 16) & 0xFF, (h >> 8) & 0xFF, h & 0xFF);
}

bool ParseIpv4(std::string_view s, uint32_t* out) {
  std::string tmp(s);
  in_addr a{};
  if (inet_pton(AF_INET, tmp.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}

}  // namespace hafs::vip
