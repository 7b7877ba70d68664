// Gfid: the 128-bit identity of every inode in a volume. Chosen by the client at
// create time so all replicas agree; the root directory is 00…01. Printed in the
// usual 8-4-4-4-12 UUID form. Value type, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hafs {

class Gfid {
 public:
  static constexpr size_t kSize = 16;
  Gfid() { bytes_.fill(0); }

  static Gfid Root() {
    Gfid g;
    g.bytes_[15] = 1;
    return g;
  }
  static Gfid Random();
  // From 16 raw bytes (the wire form); nullopt if the length is wrong.
  static std::optional<Gfid> FromBytes(std::string_view raw);
  // From "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (case-insensitive); nullopt if malformed.
  static std::optional<Gfid> Parse(std::string_view text);

  std::string ToString() const;
  std::string Bytes() const { return std::string(reinterpret_cast<const char*>(bytes_.data()), kSize); }
  const uint8_t* data() const { return bytes_.data(); }
  bool IsNull() const { return *this == Gfid(); }
  bool IsRoot() const { return *this == Root(); }

  bool operator==(const Gfid& o) const { return bytes_ == o.bytes_; }
  bool operator!=(const Gfid& o) const { return !(*this == o); }
  bool operator<(const Gfid& o) const { return bytes_ < o.bytes_; }

  size_t Hash() const {
    uint64_t a, b;
    std::memcpy(&a, bytes_.data(), 8);
    std::memcpy(&b, bytes_.data() + 8, 8);
    return a ^ (b * 0x9e3779b97f4a7c15ULL);
  }

 private:
  std::array<uint8_t, kSize> bytes_;
};

struct GfidHash {
  size_t operator()(const Gfid& g) const { return g.Hash(); }
};

}  // namespace hafs
