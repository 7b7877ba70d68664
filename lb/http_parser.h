// Strict HTTP/1.x message-head parser and chunked-body scanner for hafs-lb.
//
// Hand written (not llhttp/http-parser) because the balancer needs one exact,
// conservative reading of framing to stop request smuggling: CL+TE together,
// duplicate differing Content-Length, obs-fold, bare LF, whitespace before the
// colon and any Transfer-Encoding other than "chunked" are all rejected rather than
// "repaired" (see docs/lb.md). The head is parsed in one pass once the blank line
// has arrived; views point into the caller's buffer and die with it.
// Thread-safety: stateless functions; a ChunkedScanner belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace hafs::lb::http {

enum class Parse { kIncomplete, kDone, kError };
enum class Body { kNone, kLength, kChunked, kUntilClose };

struct Header {
  std::string_view name;
  std::string_view value;
};

struct Head {
  // request: method, uri; response: status, reason
  std::string_view method;
  std::string_view uri;
  int status = 0;
  int minor = 1;  // HTTP/1.<minor>
  std::vector<Header> headers;
  size_t head_len = 0;  // bytes of the head including the blank line
  Body body = Body::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;  // the sender allows another message on this connection
  bool has_host = false;

  // First header with this (case-insensitive) name, or empty.
  std::string_view Find(std::string_view name) const;
};

// Parses a request head from the start of buf. On kError, *error_status is the
// status to answer (400, 414, 431, 501, 505).
Parse ParseRequest(std::string_view buf, size_t max_head, Head* out, int* error_status);
// Parses a response head; `request_method` decides whether a body follows (HEAD).
Parse ParseResponse(std::string_view buf, size_t max_head, std::string_view request_method, Head* out);

bool IsIdempotent(std::string_view method);
bool EqualsNoCase(std::string_view a, std::string_view b);
// Value of cookie `name` in a Cookie header value, or empty.
std::string_view FindCookie(std::string_view cookie_header, std::string_view name);

// Scans a chunked body as it passes through, without altering it, to find where
// it ends and to reject malformed framing.
class ChunkedScanner {
 public:
  // Consumes up to n bytes; *used is how many belong to the body. kDone when the
  // final CRLF after the last chunk and trailers was consumed.
  Parse Feed(const char* p, size_t n, size_t* used);

 private:
  enum State { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailerStart, kTrailer, kTrailerLf, kFinalLf, kEnd };
  State state_ = kSize;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  size_t ext_len_ = 0;
  size_t trailer_len_ = 0;
};

}  // namespace hafs::lb::http
