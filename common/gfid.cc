#include "common/gfid.h"

#include <random>

namespace hafs {

Gfid Gfid::Random() {
  // One generator per thread: no locking on the create path.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  Gfid g;
  uint64_t a = rng(), b = rng();
  std::memcpy(g.bytes_.data(), &a, 8);
  std::memcpy(g.bytes_.data() + 8, &b, 8);
  g.bytes_[6] = (g.bytes_[6] & 0x0f) | 0x40;  // RFC 4122 version 4
  g.bytes_[8] = (g.bytes_[8] & 0x3f) | 0x80;  // RFC 4122 variant
  if (g.IsNull() || g.IsRoot()) return Random();
  return g;
}

std::optional<Gfid> Gfid::FromBytes(std::string_view raw) {
  if (raw.size() != kSize) return std::nullopt;
  Gfid g;
  std::memcpy(g.bytes_.data(), raw.data(), kSize);
  return g;
}

std::optional<Gfid> Gfid::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Gfid g;
  size_t out = 0;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g.bytes_[out++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return g;
}

std::string Gfid::ToString() const {
  static const char* hex = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < kSize; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(hex[bytes_[i] >> 4]);
    s.push_back(hex[bytes_[i] & 15]);
  }
  return s;
}

}  // namespace hafs
