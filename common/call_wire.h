// Call frames: every unary brick RPC, carried over the brick's read channel (the port named by
// `Welcome.read_port`, when the welcome also says `channel_calls`) instead of gRPC
// (docs/brickd.md "Calls over the channel"). Why: on this kind of machine a gRPC call costs
// about 80 µs of CPU on each side (HTTP/2 framing, metadata, completion queues, thread
// hand-offs) against ~10 µs for the same protobuf message in one frame each way; a replica-3
// create + 4 KiB write is six calls.
//
// The payload of a frame is the request or reply message exactly as gRPC would carry it
// (protobuf), so both transports reach the same handlers and give the same answers. One
// request at a time per connection, as for reads; integers little-endian.
//
//   request (24 bytes + length): u32 kCallMagic, u32 method (below), u32 length, u32 0,
//                                u64 tag, then `length` bytes of the serialised request
//   reply   (24 bytes + length): u32 kCallReplyMagic, i32 code (a gRPC status code, 0 = OK),
//                                u32 length, u32 flags (kNotServed), u64 tag (the request's),
//                                then the serialised reply (code 0) or the error's text
//
// Method 0 is the connection's hello, sent first on every connection that carries calls and
// never answered: its payload is u32 n, n bytes of the client's session id (so that the
// brick does not echo the client's own changes back to it), then the pool's internal key
// (may be empty; brickd/auth.h).
//
// A reply flagged kNotServed means the request was not carried out (the caller's address is
// refused, or the brick has no room for another connection): the client sends it over gRPC,
// where the internal key and gRPC's own limits apply, and the connection is closed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/read_wire.h"

namespace hafs::call_wire {

inline constexpr uint32_t kCallMagic = 0x43464148;       // "HAFC"
inline constexpr uint32_t kCallReplyMagic = 0x44464148;  // "HAFD"
inline constexpr size_t kHeaderSize = 24;
inline constexpr uint32_t kHello = 0;
inline constexpr uint32_t kNotServed = 1;

// Every RPC the channel carries: (number, name, request, reply). The numbers are the wire's
// and never change meaning. Clients send reads in read frames (read_wire.h, no protobuf);
// Session (a stream), Ping and Stats stay on gRPC.
#define HAFS_CHANNEL_CALLS(X)                   \
  X(1, Lookup, EntryRequest, EntryReply)        \
  X(2, Getattr, GfidRequest, AttrReply)         \
  X(3, Setattr, SetattrRequest, AttrReply)      \
  X(4, Mkdir, MkdirRequest, EntryReply)         \
  X(5, Create, CreateRequest, EntryReply)       \
  X(6, Mknod, MknodRequest, EntryReply)         \
  X(7, Symlink, SymlinkRequest, EntryReply)     \
  X(8, Readlink, GfidRequest, ReadlinkReply)    \
  X(9, Link, LinkRequest, EntryReply)           \
  X(10, Unlink, NameRequest, EntryReply)        \
  X(11, Rmdir, NameRequest, EntryReply)         \
  X(12, Rename, RenameRequest, RenameReply)     \
  X(13, Opendir, GfidRequest, AttrReply)        \
  X(14, Readdir, ReaddirRequest, ReaddirReply)  \
  X(15, Open, OpenRequest, OpenReply)           \
  X(16, Release, ReleaseRequest, ErrReply)      \
  X(17, Write, WriteRequest, WriteReply)        \
  X(18, Truncate, TruncateRequest, AttrReply)   \
  X(19, Fallocate, FallocateRequest, AttrReply) \
  X(20, Fsync, FsyncRequest, ErrReply)          \
  X(21, Statfs, GfidRequest, StatfsReply)       \
  X(22, Setxattr, SetxattrRequest, ErrReply)    \
  X(23, Getxattr, GetxattrRequest, XattrReply)  \
  X(24, Listxattr, GfidRequest, ListxattrReply) \
  X(25, Removexattr, RemovexattrRequest, ErrReply) \
  X(26, Access, AccessRequest, ErrReply)        \
  X(27, Inodelk, InodelkRequest, ErrReply)      \
  X(28, Entrylk, EntrylkRequest, ErrReply)      \
  X(29, ReleaseLocks, ReleaseLocksRequest, ReleaseLocksReply) \
  X(30, Xattrop, XattropRequest, XattropReply)  \
  X(31, HealIndex, HealIndexRequest, HealIndexReply) \
  X(32, Read, ReadRequest, ReadReply)

enum class Method : uint32_t {
#define HAFS_CALL_ENUM(n, Name, Req, Rep) k##Name = n,
  HAFS_CHANNEL_CALLS(HAFS_CALL_ENUM)
#undef HAFS_CALL_ENUM
};

struct Header {
  uint32_t magic = 0;
  uint32_t method_or_code = 0;  // a request's method; a reply's gRPC status code
  uint32_t length = 0;
  uint32_t flags = 0;
  uint64_t tag = 0;
};

inline void Encode(const Header& h, uint8_t out[kHeaderSize]) {
  read_wire::detail::Put32(out, h.magic);
  read_wire::detail::Put32(out + 4, h.method_or_code);
  read_wire::detail::Put32(out + 8, h.length);
  read_wire::detail::Put32(out + 12, h.flags);
  read_wire::detail::Put64(out + 16, h.tag);
}

inline Header Decode(const uint8_t in[kHeaderSize]) {
  Header h;
  h.magic = read_wire::detail::Get32(in);
  h.method_or_code = read_wire::detail::Get32(in + 4);
  h.length = read_wire::detail::Get32(in + 8);
  h.flags = read_wire::detail::Get32(in + 12);
  h.tag = read_wire::detail::Get64(in + 16);
  return h;
}

// The hello's payload.
inline std::string HelloPayload(std::string_view session, std::string_view key) {
  std::string out(4, '\0');
  read_wire::detail::Put32(reinterpret_cast<uint8_t*>(out.data()), static_cast<uint32_t>(session.size()));
  out.append(session);
  out.append(key);
  return out;
}

// False if `payload` is not a hello's.
inline bool ParseHello(std::string_view payload, std::string* session, std::string* key) {
  if (payload.size() < 4) return false;
  uint32_t n = read_wire::detail::Get32(reinterpret_cast<const uint8_t*>(payload.data()));
  if (n > payload.size() - 4) return false;
  session->assign(payload.substr(4, n));
  key->assign(payload.substr(4 + n));
  return true;
}

}  // namespace hafs::call_wire
