// libFuzzer target: the request/response head parser and the chunked scanner must
// never crash, read out of bounds or loop, and must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lb/http_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hafs::lb::http;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Head h;
  int err = 0;
  if (ParseRequest(in, 16384, &h, &err) == Parse::kDone) {
    if (h.head_len > in.size()) __builtin_trap();
    if (h.body == Body::kChunked && h.Find("content-length").data() != nullptr) __builtin_trap();  // CL+TE accepted
    std::string_view rest = in.substr(h.head_len);
    if (h.body == Body::kChunked) {
      ChunkedScanner s;
      size_t used = 0;
      s.Feed(rest.data(), rest.size(), &used);
      if (used > rest.size()) __builtin_trap();
    }
    (void)FindCookie(h.Find("cookie"), "SERVERID");
  }
  Head r;
  (void)ParseResponse(in, 16384, "GET", &r);
  ChunkedScanner whole, bytewise;
  size_t used = 0;
  Parse a = whole.Feed(in.data(), in.size(), &used);
  size_t off = 0;
  Parse b = Parse::kIncomplete;
  while (off < in.size() && b == Parse::kIncomplete) {
    size_t u = 0;
    b = bytewise.Feed(in.data() + off, 1, &u);
    off += u;
    if (u == 0) break;
  }
  if (a != b) __builtin_trap();  // chunk boundaries must not change the verdict
  return 0;
}
