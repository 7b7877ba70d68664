// The read channel's wire format: a brick's second listening port that serves Read and
// nothing else, in fixed binary frames over plain TCP (docs/brickd.md "The read channel").
// Why: a 4 KiB read over gRPC costs ~110 µs of CPU on each side in HTTP/2 framing,
// metadata and thread hand-offs; the same request as one 40-byte frame each way is a
// write() and a read() on each side.
//
// One request at a time per connection; the client keeps a pool of connections. All
// integers are little-endian.
//
//   request (40 bytes): u32 magic kRequestMagic, u32 size, u64 offset, 16 bytes gfid, u64 tag
//   reply   (24 bytes): u32 magic kReplyMagic, i32 err (an errno, 0 = OK), u32 length,
//                       u32 flags (kEof, kRefused), u64 tag (the request's), then `length` bytes of data
//
// A request that is not well formed (bad magic) ends the connection; a read the brick
// refuses (size over its limit, null gfid, auth) is an ordinary reply with `err` set.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace hafs::read_wire {

inline constexpr uint32_t kRequestMagic = 0x52464148;  // "HAFR"
inline constexpr uint32_t kReplyMagic = 0x50464148;    // "HAFP"
inline constexpr size_t kRequestSize = 40;
inline constexpr size_t kReplyHeaderSize = 24;
inline constexpr uint32_t kEof = 1;
// The caller's address is not served (auth.allow/auth.reject); the connection is closed after
// this reply. The client reads over gRPC instead, where a pool-internal key may apply.
inline constexpr uint32_t kRefused = 2;

struct Request {
  uint32_t size = 0;
  uint64_t offset = 0;
  uint8_t gfid[16] = {};
  uint64_t tag = 0;
};

struct ReplyHeader {
  int32_t err = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
  uint64_t tag = 0;
};

namespace detail {
inline void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
}  // namespace detail

inline void Encode(const Request& r, uint8_t out[kRequestSize]) {
  detail::Put32(out, kRequestMagic);
  detail::Put32(out + 4, r.size);
  detail::Put64(out + 8, r.offset);
  std::memcpy(out + 16, r.gfid, 16);
  detail::Put64(out + 32, r.tag);
}

// False if the frame is not a request (wrong magic).
inline bool Decode(const uint8_t in[kRequestSize], Request* r) {
  if (detail::Get32(in) != kRequestMagic) return false;
  r->size = detail::Get32(in + 4);
  r->offset = detail::Get64(in + 8);
  std::memcpy(r->gfid, in + 16, 16);
  r->tag = detail::Get64(in + 32);
  return true;
}

inline void Encode(const ReplyHeader& h, uint8_t out[kReplyHeaderSize]) {
  detail::Put32(out, kReplyMagic);
  detail::Put32(out + 4, static_cast<uint32_t>(h.err));
  detail::Put32(out + 8, h.length);
  detail::Put32(out + 12, h.flags);
  detail::Put64(out + 16, h.tag);
}

inline bool Decode(const uint8_t in[kReplyHeaderSize], ReplyHeader* h) {
  if (detail::Get32(in) != kReplyMagic) return false;
  h->err = static_cast<int32_t>(detail::Get32(in + 4));
  h->length = detail::Get32(in + 8);
  h->flags = detail::Get32(in + 12);
  h->tag = detail::Get64(in + 16);
  return true;
}

}  // namespace hafs::read_wire
