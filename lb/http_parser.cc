#include "lb/http_parser.h"

#include <algorithm>
#include <cstring>

namespace hafs::lb::http {

namespace {

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Finds the end of the head ("\r\n\r\n"). Returns npos if incomplete; sets *bad on a bare LF.
size_t FindHeadEnd(std::string_view buf, bool* bad) {
  *bad = false;
  for (size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i == 0 || buf[i - 1] != '\r') {
      *bad = true;
      return std::string_view::npos;
    }
    if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') return i + 1;
  }
  return std::string_view::npos;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    if (EqualsNoCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Parses header lines in [p, end) (each ending in CRLF) into out->headers and the
// framing fields. Returns an HTTP status (400/501) on error, 0 on success.
int ParseHeaders(std::string_view lines, Head* out) {
  bool have_cl = false, have_te = false;
  std::string_view connection;
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') return 400;  // obs-fold
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return 400;
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!IsTokenChar(c)) return 400;  // includes whitespace before the colon
    std::string_view value = Trim(line.substr(colon + 1));
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return 400;
    if (out->headers.size() >= 100) return 431;
    out->headers.push_back({name, value});
    if (EqualsNoCase(name, "content-length")) {
      uint64_t v = 0;
      if (!ParseDecimal(value, &v)) return 400;
      if (have_cl && v != out->content_length) return 400;
      have_cl = true;
      out->content_length = v;
    } else if (EqualsNoCase(name, "transfer-encoding")) {
      if (have_te) return 400;
      have_te = true;
      if (!EqualsNoCase(value, "chunked")) return 501;
    } else if (EqualsNoCase(name, "connection")) {
      connection = value;
    } else if (EqualsNoCase(name, "host")) {
      if (out->has_host) return 400;
      out->has_host = true;
    }
  }
  if (have_cl && have_te) return 400;  // RFC 9112 6.1: smuggling vector, reject
  if (have_te) {
    if (out->minor == 0) return 400;
    out->body = Body::kChunked;
  } else if (have_cl) {
    out->body = out->content_length ? Body::kLength : Body::kNone;
  }
  if (out->minor >= 1) out->keep_alive = !ContainsToken(connection, "close");
  else out->keep_alive = ContainsToken(connection, "keep-alive");
  return 0;
}

}  // namespace

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::string_view Head::Find(std::string_view name) const {
  for (const auto& h : headers)
    if (EqualsNoCase(h.name, name)) return h.value;
  return {};
}

bool IsIdempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

std::string_view FindCookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view item = Trim(header.substr(0, semi));
    size_t eq = item.find('=');
    if (eq != std::string_view::npos && Trim(item.substr(0, eq)) == name) return Trim(item.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

Parse ParseRequest(std::string_view buf, size_t max_head, Head* out, int* error_status) {
  *out = Head();
  bool bad = false;
  size_t end = FindHeadEnd(buf.substr(0, std::min(buf.size(), max_head)), &bad);
  if (bad) return *error_status = 400, Parse::kError;
  if (end == std::string_view::npos) {
    if (buf.size() >= max_head) {
      // A request line that alone fills the buffer is a too-long URI.
      *error_status = buf.substr(0, max_head).find("\r\n") == std::string_view::npos ? 414 : 431;
      return Parse::kError;
    }
    return Parse::kIncomplete;
  }
  std::string_view head = buf.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return *error_status = 400, Parse::kError;
  out->method = line.substr(0, sp1);
  for (unsigned char c : out->method)
    if (!IsTokenChar(c)) return *error_status = 400, Parse::kError;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return *error_status = 400, Parse::kError;
  out->uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (unsigned char c : out->uri)
    if (c <= 0x20 || c == 0x7f) return *error_status = 400, Parse::kError;
  if (out->uri[0] != '/' && out->uri != "*" && out->uri.substr(0, 7) != "http://" && out->uri.substr(0, 8) != "https://")
    return *error_status = 400, Parse::kError;
  std::string_view version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") out->minor = 1;
  else if (version == "HTTP/1.0") out->minor = 0;
  else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.') return *error_status = 505, Parse::kError;
  else return *error_status = 400, Parse::kError;
  int st = ParseHeaders(head.substr(eol + 2), out);
  if (st) return *error_status = st, Parse::kError;
  if (out->minor == 1 && !out->has_host) return *error_status = 400, Parse::kError;
  out->head_len = end;
  return Parse::kDone;
}

Parse ParseResponse(std::string_view buf, size_t max_head, std::string_view request_method, Head* out) {
  *out = Head();
  bool bad = false;
  size_t end = FindHeadEnd(buf.substr(0, std::min(buf.size(), max_head)), &bad);
  if (bad) return Parse::kError;
  if (end == std::string_view::npos) return buf.size() >= max_head ? Parse::kError : Parse::kIncomplete;
  std::string_view head = buf.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
    return Parse::kError;
  out->minor = line[7] - '0';
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Parse::kError;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) return Parse::kError;
  out->status = status;
  if (ParseHeaders(head.substr(eol + 2), out) != 0) return Parse::kError;
  bool no_body = request_method == "HEAD" || status < 200 || status == 204 || status == 304;
  if (no_body) {
    out->body = Body::kNone;
  } else if (out->body == Body::kNone && out->Find("content-length").empty()) {
    out->body = Body::kUntilClose;
    out->keep_alive = false;
  }
  out->head_len = end;
  return Parse::kDone;
}

Parse ChunkedScanner::Feed(const char* p, size_t n, size_t* used) {
  size_t i = 0;
  auto fail = [&] {
    *used = i;
    return Parse::kError;
  };
  while (i < n && state_ != kEnd) {
    char c = p[i];
    switch (state_) {
      case kSize: {
        int d = (c >= '0' && c <= '9') ? c - '0' : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10 : -1;
        if (d >= 0) {
          if (++size_digits_ > 15) return fail();
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(d);
          ++i;
        } else if (size_digits_ == 0) {
          return fail();
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = kExt, ++i;
        } else if (c == '\r') {
          state_ = kSizeLf, ++i;
        } else {
          return fail();
        }
        break;
      }
      case kExt:
        if (c == '\r') state_ = kSizeLf;
        else if (c == '\n' || ++ext_len_ > 4096) return fail();
        ++i;
        break;
      case kSizeLf:
        if (c != '\n') return fail();
        ++i;
        state_ = remaining_ ? kData : kTrailerStart;
        break;
      case kData: {
        uint64_t take = std::min<uint64_t>(remaining_, n - i);
        i += take;
        remaining_ -= take;
        if (!remaining_) state_ = kDataCr;
        break;
      }
      case kDataCr:
        if (c != '\r') return fail();
        ++i, state_ = kDataLf;
        break;
      case kDataLf:
        if (c != '\n') return fail();
        ++i, state_ = kSize, size_digits_ = 0, ext_len_ = 0;
        break;
      case kTrailerStart:
        if (c == '\r') state_ = kFinalLf;
        else state_ = kTrailer;
        ++i, ++trailer_len_;
        break;
      case kTrailer:
        if (c == '\r') state_ = kTrailerLf;
        else if (c == '\n') return fail();
        if (++trailer_len_ > 8192) return fail();
        ++i;
        break;
      case kTrailerLf:
        if (c != '\n') return fail();
        ++i, state_ = kTrailerStart;
        break;
      case kFinalLf:
        if (c != '\n') return fail();
        ++i, state_ = kEnd;
        break;
      case kEnd:
        break;
    }
  }
  *used = i;
  return state_ == kEnd ? Parse::kDone : Parse::kIncomplete;
}

}  // namespace hafs::lb::http
