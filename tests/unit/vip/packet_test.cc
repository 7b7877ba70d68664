#include "vip/packet.h"

#include <gtest/gtest.h>

#include "vip/constants.h"

namespace hafs::vip {
namespace {

constexpr uint32_t kSrc = 0x0A630001;  // 10.99.0.1
constexpr uint32_t kGroup = kVrrpGroupHostOrder;

// Wraps a VRRP payload in an IPv4 header the way the kernel hands it to a raw socket.
std::vector<uint8_t> WithIp(const std::vector<uint8_t>& vrrp, uint8_t ttl = 255, uint32_t src = kSrc, uint32_t dst = kGroup) {
  std::vector<uint8_t> d(20 + vrrp.size());
  d[0] = 0x45;
  d[2] = static_cast<uint8_t>(d.size() >> 8);
  d[3] = static_cast<uint8_t>(d.size());
  d[8] = ttl;
  d[9] = kIpProtoVrrp;
  for (int i = 0; i < 4; ++i) {
    d[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
    d[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  std::copy(vrrp.begin(), vrrp.end(), d.begin() + 20);
  return d;
}

Advert V2() {
  Advert a;
  a.version = 2;
  a.vrid = 51;
  a.priority = 150;
  a.interval_cs = 100;
  a.auth_type = kAuthPass;
  a.auth_data = AuthField("secret");
  a.addrs = {0x0A6300FE};
  return a;
}

Advert V3() {
  Advert a;
  a.version = 3;
  a.vrid = 52;
  a.priority = 90;
  a.interval_cs = 5;
  a.addrs = {0x0A6300FE, 0x0A6301FE};
  return a;
}

TEST(VipPacket, ChecksumOfRfc1071Example) {
  // RFC 1071 §3 example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum is its complement.
  std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(InternetChecksum(d), static_cast<uint16_t>(~0xddf2));
}

TEST(VipPacket, V2WireLayout) {
  auto w = EncodeAdvert(V2(), kSrc, kGroup);
  ASSERT_EQ(w.size(), 8u + 4u + 8u);
  EXPECT_EQ(w[0], 0x21);  // version 2, type 1
  EXPECT_EQ(w[1], 51);
  EXPECT_EQ(w[2], 150);
  EXPECT_EQ(w[3], 1);
  EXPECT_EQ(w[4], kAuthPass);
  EXPECT_EQ(w[5], 1);  // seconds
  EXPECT_EQ(w[12], 's');
  EXPECT_EQ(InternetChecksum(w), 0);  // v2: no pseudo-header
}

TEST(VipPacket, V3WireLayoutAndPseudoHeader) {
  auto w = EncodeAdvert(V3(), kSrc, kGroup);
  ASSERT_EQ(w.size(), 8u + 8u);
  EXPECT_EQ(w[0], 0x31);
  EXPECT_EQ(w[4], 0);
  EXPECT_EQ(w[5], 5);  // centiseconds
  // Without the pseudo-header the sum must NOT verify: it covers src/dst/proto/len.
  EXPECT_NE(InternetChecksum(w), 0);
  auto r = DecodeIpPacket(WithIp(w));
  EXPECT_EQ(r.reason, DropReason::kNone);
  // Same bytes from another source fail: the pseudo-header binds the sender.
  EXPECT_EQ(DecodeIpPacket(WithIp(w, 255, kSrc + 1)).reason, DropReason::kBadChecksum);
}

TEST(VipPacket, RoundTripV2) {
  auto r = DecodeIpPacket(WithIp(EncodeAdvert(V2(), kSrc, kGroup)));
  ASSERT_EQ(r.reason, DropReason::kNone);
  EXPECT_EQ(r.adv.version, 2);
  EXPECT_EQ(r.adv.vrid, 51);
  EXPECT_EQ(r.adv.priority, 150);
  EXPECT_EQ(r.adv.interval_cs, 100);
  EXPECT_EQ(r.adv.auth_data, AuthField("secret"));
  ASSERT_EQ(r.adv.addrs.size(), 1u);
  EXPECT_EQ(r.adv.addrs[0], 0x0A6300FEu);
  EXPECT_EQ(r.src, kSrc);
  EXPECT_EQ(r.ttl, 255);
}

TEST(VipPacket, RoundTripV3) {
  auto r = DecodeIpPacket(WithIp(EncodeAdvert(V3(), kSrc, kGroup)));
  ASSERT_EQ(r.reason, DropReason::kNone);
  EXPECT_EQ(r.adv.interval_cs, 5);
  EXPECT_EQ(r.adv.addrs.size(), 2u);
}

TEST(VipPacket, V3IntervalIsTwelveBits) {
  Advert a = V3();
  a.interval_cs = 4095;
  auto r = DecodeIpPacket(WithIp(EncodeAdvert(a, kSrc, kGroup)));
  ASSERT_EQ(r.reason, DropReason::kNone);
  EXPECT_EQ(r.adv.interval_cs, 4095);
}

TEST(VipPacket, DropsBadTtl) {
  EXPECT_EQ(DecodeIpPacket(WithIp(EncodeAdvert(V3(), kSrc, kGroup), 254)).reason, DropReason::kBadTtl);
  EXPECT_EQ(DecodeIpPacket(WithIp(EncodeAdvert(V2(), kSrc, kGroup), 1)).reason, DropReason::kBadTtl);
}

TEST(VipPacket, DropsFlippedBit) {
  for (auto adv : {V2(), V3()}) {
    auto w = EncodeAdvert(adv, kSrc, kGroup);
    w[2] ^= 0x01;  // priority changed in flight
    EXPECT_EQ(DecodeIpPacket(WithIp(w)).reason, DropReason::kBadChecksum);
  }
}

TEST(VipPacket, DropsTruncated) {
  auto w = EncodeAdvert(V2(), kSrc, kGroup);
  for (size_t len = 0; len < w.size(); ++len) {
    std::vector<uint8_t> cut(w.begin(), w.begin() + static_cast<long>(len));
    EXPECT_EQ(DecodeIpPacket(WithIp(cut)).reason, DropReason::kBadLength) << len;
  }
  // An IP header that claims more than was received is cut to what arrived.
  auto d = WithIp(EncodeAdvert(V3(), kSrc, kGroup));
  d.resize(d.size() - 3);
  EXPECT_EQ(DecodeIpPacket(d).reason, DropReason::kBadLength);
  EXPECT_EQ(DecodeIpPacket(std::vector<uint8_t>(10, 0x45)).reason, DropReason::kBadLength);
}

TEST(VipPacket, DropsCountBeyondPayload) {
  auto w = EncodeAdvert(V3(), kSrc, kGroup);
  w[3] = 200;  // claims 200 addresses
  EXPECT_EQ(DecodeIpPacket(WithIp(w)).reason, DropReason::kBadLength);
}

TEST(VipPacket, DropsUnknownVersionAndType) {
  auto w = EncodeAdvert(V3(), kSrc, kGroup);
  w[0] = 0x41;
  EXPECT_EQ(DecodeIpPacket(WithIp(w)).reason, DropReason::kBadVersion);
  w[0] = 0x32;
  EXPECT_EQ(DecodeIpPacket(WithIp(w)).reason, DropReason::kBadType);
}

TEST(VipPacket, InstanceChecks) {
  WireSettings v2{2, 51, 100, kAuthPass, AuthField("secret")};
  Advert a = V2();
  EXPECT_EQ(CheckAgainstInstance(a, v2), DropReason::kNone);
  a.auth_data = AuthField("wrong");
  EXPECT_EQ(CheckAgainstInstance(a, v2), DropReason::kBadAuth);
  a = V2();
  a.auth_type = kAuthNone;
  EXPECT_EQ(CheckAgainstInstance(a, v2), DropReason::kBadAuth);
  a = V2();
  a.interval_cs = 200;
  EXPECT_EQ(CheckAgainstInstance(a, v2), DropReason::kBadInterval);
  a = V2();
  a.vrid = 50;
  EXPECT_EQ(CheckAgainstInstance(a, v2), DropReason::kBadVrid);
  // A v3 instance takes the master's interval, but rejects v2 packets.
  WireSettings v3{3, 52, 10, 0, {}};
  Advert b = V3();
  EXPECT_EQ(CheckAgainstInstance(b, v3), DropReason::kNone);
  b.version = 2;
  EXPECT_EQ(CheckAgainstInstance(b, v3), DropReason::kBadVersion);
}

TEST(VipPacket, AuthFieldTruncatesAndPads) {
  auto f = AuthField("0123456789");
  EXPECT_EQ(f[7], '7');
  auto g = AuthField("ab");
  EXPECT_EQ(g[2], 0);
}

TEST(VipPacket, Ipv4Text) {
  uint32_t a = 0;
  ASSERT_TRUE(ParseIpv4("10.99.0.254", &a));
  EXPECT_EQ(a, 0x0A6300FEu);
  EXPECT_EQ(Ipv4ToString(a), "10.99.0.254");
  EXPECT_FALSE(ParseIpv4("10.99.0", &a));
}

}  // namespace
}  // namespace hafs::vip
