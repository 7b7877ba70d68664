#include "raid/parity.h"

#include <isa-l/raid.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace hafs::raid {
namespace {

bool Aligned32(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 31) == 0; }

void XorScalar(uint8_t* dst, const uint8_t* src, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, dst + i, 8);
    std::memcpy(&b, src + i, 8);
    a ^= b;
    std::memcpy(dst + i, &a, 8);
  }
  for (; i < len; ++i) dst[i] ^= src[i];
}

}  // namespace

void AlignedFree::operator()(uint8_t* p) const { std::free(p); }

AlignedBuf AllocAligned(size_t len) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, len ? len : 4096) != 0) throw std::bad_alloc();
  return AlignedBuf(static_cast<uint8_t*>(p));
}

void XorGen(const std::vector<const uint8_t*>& srcs, uint8_t* dst, size_t len) {
  if (srcs.empty()) {
    std::memset(dst, 0, len);
    return;
  }
  if (srcs.size() == 1) {
    std::memcpy(dst, srcs[0], len);
    return;
  }
  bool simd = Aligned32(dst) && len % 32 == 0 && len <= size_t(INT32_MAX);
  for (const uint8_t* s : srcs) simd = simd && Aligned32(s);
  if (simd) {
    // ISA-L: array = sources..., dest last; vects counts both.
    std::vector<void*> v;
    v.reserve(srcs.size() + 1);
    for (const uint8_t* s : srcs) v.push_back(const_cast<uint8_t*>(s));
    v.push_back(dst);
    if (xor_gen(int(v.size()), int(len), v.data()) == 0) return;
  }
  std::memcpy(dst, srcs[0], len);
  for (size_t i = 1; i < srcs.size(); ++i) XorScalar(dst, srcs[i], len);
}

void XorInto(uint8_t* dst, const uint8_t* src, size_t len) {
  // ISA-L's xor_gen wants a destination distinct from its sources, so in-place XOR
  // (read-modify-write parity update) uses the 64-bit loop, which the compiler vectorizes.
  XorScalar(dst, src, len);
}

}  // namespace hafs::raid
