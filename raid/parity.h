// RAID5 parity arithmetic: byte-wise XOR of equal-length buffers (MD §1: the parity
// chunk is the XOR of the stripe's data chunks). Uses ISA-L's SIMD xor_gen when the
// buffers are 32-byte aligned, a 64-bit loop otherwise. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace hafs::raid {

// dst = srcs[0] ^ srcs[1] ^ ... (dst may not alias a source). srcs may be empty (dst = 0).
void XorGen(const std::vector<const uint8_t*>& srcs, uint8_t* dst, size_t len);
// dst ^= src.
void XorInto(uint8_t* dst, const uint8_t* src, size_t len);

// A page-aligned heap buffer (ISA-L and O_DIRECT-friendly).
struct AlignedFree { void operator()(uint8_t* p) const; };
using AlignedBuf = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBuf AllocAligned(size_t len);

}  // namespace hafs::raid
