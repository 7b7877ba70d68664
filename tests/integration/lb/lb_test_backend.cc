// lb_test_backend: a small real HTTP/1.1 server used as a web backend by the hafs-lb
// integration tests (thread per connection, keep-alive, content-length and chunked).
//   lb_test_backend --port P --name NAME
// Paths: /            -> 200 "NAME\n" (X-Backend: NAME, X-Seen-XFF: <X-Forwarded-For>)
//        /health      -> 200 "ok"   (/health-fail -> 500)
//        /chunked     -> chunked body "NAME\n" in 3 chunks
//        /big?n=N     -> N bytes of 'x'
//        /slow?ms=N   -> answer after N ms (X-In-Flight: /slow requests in flight as it began, itself included)
//        /echo        -> echoes the request body (content-length or chunked)
//        /headers     -> the request head as received, as the body
//        /noclen      -> "NAME\n" delimited by closing the connection
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string g_name = "backend";
std::atomic<int> g_slow_in_flight{0};

bool ReadMore(int fd, std::string& buf) {
  char tmp[65536];
  ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<size_t>(n));
  return true;
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string HeaderValue(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(c));
  std::string key = "\r\n" + name + ":";
  auto p = lower.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  auto e = head.find("\r\n", p);
  std::string v = head.substr(p, e - p);
  while (!v.empty() && v[0] == ' ') v.erase(0, 1);
  return v;
}

long QueryNumber(const std::string& uri, const std::string& key) {
  auto p = uri.find(key + "=");
  if (p == std::string::npos) return 0;
  return std::atol(uri.c_str() + p + key.size() + 1);
}

// Reads a body per the head's framing from buf (after the head); false on EOF/garbage.
bool ReadBody(int fd, std::string& buf, const std::string& head, std::string* body) {
  std::string te = HeaderValue(head, "transfer-encoding");
  if (!te.empty()) {
    for (;;) {
      size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos)
        if (!ReadMore(fd, buf)) return false;
      size_t len = std::strtoul(buf.substr(0, eol).c_str(), nullptr, 16);
      buf.erase(0, eol + 2);
      while (buf.size() < len + 2)
        if (!ReadMore(fd, buf)) return false;
      body->append(buf.substr(0, len));
      buf.erase(0, len + 2);
      if (len == 0) return true;  // (no trailers in tests)
    }
  }
  size_t cl = std::strtoul(HeaderValue(head, "content-length").c_str(), nullptr, 10);
  while (buf.size() < cl)
    if (!ReadMore(fd, buf)) return false;
  *body = buf.substr(0, cl);
  buf.erase(0, cl);
  return true;
}

void Serve(int fd) {
  std::string buf;
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!ReadMore(fd, buf)) return close(fd), void();
    std::string head = buf.substr(0, end + 2);
    buf.erase(0, end + 4);
    std::string line = head.substr(0, head.find("\r\n"));
    std::string method = line.substr(0, line.find(' '));
    std::string uri = line.substr(line.find(' ') + 1);
    uri = uri.substr(0, uri.find(' '));
    bool http10 = line.find("HTTP/1.0") != std::string::npos;
    bool close_after = http10 || HeaderValue(head, "connection") == "close";
    std::string body;
    if (!ReadBody(fd, buf, head, &body)) return close(fd), void();
    std::string extra = "X-Backend: " + g_name + "\r\nX-Seen-XFF: " + HeaderValue(head, "x-forwarded-for") + "\r\n";
    if (close_after) extra += "Connection: close\r\n";
    std::string resp;
    int status = 200;
    std::string out = g_name + "\n";
    if (uri.rfind("/slow", 0) == 0) {
      extra += "X-In-Flight: " + std::to_string(g_slow_in_flight.fetch_add(1) + 1) + "\r\n";
      std::this_thread::sleep_for(std::chrono::milliseconds(QueryNumber(uri, "ms")));
      g_slow_in_flight.fetch_sub(1);
    } else if (uri.rfind("/big", 0) == 0) {
      out.assign(static_cast<size_t>(QueryNumber(uri, "n")), 'x');
    } else if (uri == "/echo") {
      out = body;
    } else if (uri == "/headers") {
      out = head;
    } else if (uri == "/health") {
      out = "ok";
    } else if (uri == "/health-fail") {
      status = 500;
    }
    if (uri == "/noclen") {  // HTTP/1.0 style: the body ends when the connection closes
      SendAll(fd, "HTTP/1.1 200 OK\r\n" + extra + "\r\n" + out);
      close(fd);
      return;
    }
    if (uri == "/chunked") {
      resp = "HTTP/1.1 200 OK\r\n" + extra + "Transfer-Encoding: chunked\r\n\r\n";
      std::string part = g_name + "\n";
      resp += "1\r\n" + part.substr(0, 1) + "\r\n";
      char hex[16];
      std::snprintf(hex, sizeof(hex), "%zx", part.size() - 1);
      resp += std::string(hex) + "\r\n" + part.substr(1) + "\r\n0\r\n\r\n";
    } else {
      resp = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") + "\r\n" + extra +
             "Content-Length: " + std::to_string(out.size()) + "\r\n\r\n";
      if (method != "HEAD") resp += out;
    }
    if (!SendAll(fd, resp) || close_after) return close(fd), void();
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--name")) g_name = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || listen(ls, 1024) < 0) {
    std::perror("bind");
    return 1;
  }
  for (;;) {
    int fd = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::thread(Serve, fd).detach();
  }
}
