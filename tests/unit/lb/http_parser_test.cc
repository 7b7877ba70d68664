#include <gtest/gtest.h>

#include <string>

#include "lb/http_parser.h"

namespace hafs::lb::http {
namespace {

int RequestError(const std::string& text) {
  Head h;
  int err = 0;
  auto r = ParseRequest(text, 16384, &h, &err);
  if (r != Parse::kError) return r == Parse::kDone ? 0 : -1;
  return err;
}

TEST(LbHttpParser, SimpleRequest) {
  std::string req = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1; SERVERID=web2\r\n\r\nEXTRA";
  Head h;
  int err = 0;
  ASSERT_EQ(ParseRequest(req, 16384, &h, &err), Parse::kDone);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.uri, "/a?b=1");
  EXPECT_EQ(h.minor, 1);
  EXPECT_EQ(h.head_len, req.size() - 5);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.body, Body::kNone);
  EXPECT_EQ(FindCookie(h.Find("cookie"), "SERVERID"), "web2");
  EXPECT_EQ(FindCookie(h.Find("cookie"), "a"), "1");
  EXPECT_EQ(FindCookie(h.Find("cookie"), "SERVER"), "");
}

TEST(LbHttpParser, IncompleteUntilBlankLine) {
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\nHost: x\r\n"), -1);
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\nHo"), -1);
}

TEST(LbHttpParser, Framing) {
  Head h;
  int err = 0;
  ASSERT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", 16384, &h, &err), Parse::kDone);
  EXPECT_EQ(h.body, Body::kLength);
  EXPECT_EQ(h.content_length, 12u);
  ASSERT_EQ(ParseRequest("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 16384, &h, &err), Parse::kDone);
  EXPECT_EQ(h.body, Body::kChunked);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.0\r\n\r\n", 16384, &h, &err), Parse::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 16384, &h, &err), Parse::kDone);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 16384, &h, &err), Parse::kDone);
  EXPECT_FALSE(h.keep_alive);
}

TEST(LbHttpParser, SmugglingAndMalformedInputAreRejected) {
  // CL + TE together (RFC 9112 6.1)
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  // differing duplicate Content-Length
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"), 400);
  // list-valued / signed / hex Content-Length
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\n"), 400);
  // whitespace before the colon, obs-fold, bare LF
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET / HTTP/1.1\nHost: x\n\n"), 400);
  // unknown / stacked transfer codings
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"), 501);
  EXPECT_EQ(RequestError("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  // request line
  EXPECT_EQ(RequestError("GET\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET nope HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(RequestError("GET / FTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\n\r\n"), 400);  // no Host
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400);
  static const char kNul[] = "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
  EXPECT_EQ(RequestError(std::string(kNul, sizeof(kNul) - 1)), 400);
  EXPECT_EQ(RequestError("GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n"), 400);
}

TEST(LbHttpParser, OversizedHeads) {
  std::string huge = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(RequestError(huge), 431);
  std::string long_uri = "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n";
  EXPECT_EQ(RequestError(long_uri), 414);
}

TEST(LbHttpParser, Response) {
  Head h;
  ASSERT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 16384, "GET", &h), Parse::kDone);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, Body::kLength);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 16384, "HEAD", &h), Parse::kDone);
  EXPECT_EQ(h.body, Body::kNone);
  ASSERT_EQ(ParseResponse("HTTP/1.1 204 No Content\r\n\r\n", 16384, "GET", &h), Parse::kDone);
  EXPECT_EQ(h.body, Body::kNone);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(ParseResponse("HTTP/1.0 200 OK\r\n\r\n", 16384, "GET", &h), Parse::kDone);
  EXPECT_EQ(h.body, Body::kUntilClose);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 16384, "GET", &h), Parse::kDone);
  EXPECT_EQ(h.body, Body::kChunked);
  EXPECT_EQ(ParseResponse("HTTP/1.1 2x0 OK\r\n\r\n", 16384, "GET", &h), Parse::kError);
  EXPECT_EQ(ParseResponse("ICY 200 OK\r\n\r\n", 16384, "GET", &h), Parse::kError);
  EXPECT_EQ(ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 16384, "GET", &h),
            Parse::kError);
}

Parse ScanAll(const std::string& body, size_t* used, size_t step = 1) {
  ChunkedScanner s;
  size_t off = 0;
  Parse r = Parse::kIncomplete;
  while (off < body.size() && r == Parse::kIncomplete) {
    size_t n = std::min(step, body.size() - off), u = 0;
    r = s.Feed(body.data() + off, n, &u);
    off += u;
  }
  *used = off;
  return r;
}

TEST(LbHttpParser, ChunkedScanner) {
  std::string ok = "5\r\nhello\r\n1a;ext=1\r\n" + std::string(26, 'z') + "\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t step : {1u, 3u, 1000u}) {
    size_t used = 0;
    EXPECT_EQ(ScanAll(ok, &used, step), Parse::kDone) << step;
    EXPECT_EQ(used, ok.size() - 4) << step;
  }
  size_t used = 0;
  EXPECT_EQ(ScanAll("0\r\n\r\n", &used), Parse::kDone);
  EXPECT_EQ(ScanAll("5\r\nhello\r\n", &used), Parse::kIncomplete);
  EXPECT_EQ(ScanAll("g\r\n", &used), Parse::kError);
  EXPECT_EQ(ScanAll("5\r\nhelloXX", &used), Parse::kError);         // missing CRLF after data
  EXPECT_EQ(ScanAll("5\nhello\r\n", &used), Parse::kError);         // bare LF
  EXPECT_EQ(ScanAll("\r\n", &used), Parse::kError);                 // empty size
  EXPECT_EQ(ScanAll("fffffffffffffffff\r\n", &used), Parse::kError);  // overflow
  EXPECT_EQ(ScanAll("-1\r\n", &used), Parse::kError);
}

}  // namespace
}  // namespace hafs::lb::http
