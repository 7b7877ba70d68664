// ReadChannel: a brick's second listening port, serving reads in the fixed binary frames of
// common/read_wire.h and every other unary call in the call frames of common/call_wire.h
// (docs/brickd.md "The read channel", "Calls over the channel"). Clients learn the port from
// the session's welcome and fall back to gRPC when it is absent.
//
// One thread accepts; each connection gets a thread of its own that answers its requests
// one after the other (a client sends one request per connection at a time and keeps a
// pool). Every request is checked against auth.allow/auth.reject, as every gRPC call is.
//
// Thread-safety: Start() and the destructor from one thread; the callbacks are called from
// the connection threads concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace hafs::brick {

class ReadChannel {
 public:
  // Serves one read into `data` (resized to what was read); returns 0 or an errno.
  using ReadFn = std::function<int(std::string_view gfid, uint64_t offset, uint32_t size, std::string* data, bool* eof)>;
  // Whether the caller at `peer` (gRPC's peer syntax: "ipv4:1.2.3.4:5678", "ipv6:[::1]:5678")
  // is served.
  using AuthFn = std::function<bool(const std::string& peer)>;
  // Who sent a call: the connection's peer and what its hello said.
  struct Caller {
    std::string peer;
    std::string session;  // the client's session id ("" before a hello)
    std::string key;      // the presented internal key
  };
  // Serves one call (common/call_wire.h): `payload` is the serialised request; returns a gRPC
  // status code and sets `out` to the serialised reply (code 0) or the error's text.
  // kNotServed: the caller is refused, nothing was done.
  using CallFn = std::function<int(uint32_t method, const Caller& caller, std::string_view payload, std::string* out)>;
  static constexpr int kNotServed = -1;

  struct Options {
    std::string host = "127.0.0.1";  // as in --listen (brackets around IPv6 allowed)
    int port = 0;                    // 0: pick a free one
    size_t max_connections = 1024;   // more are told kNotServed and closed (the client uses gRPC)
    size_t max_frame = 5u << 20;     // a larger call frame ends its connection (as gRPC's limit)
  };

  // `call` may be empty: call frames then end their connection (reads only).
  static Result<std::unique_ptr<ReadChannel>> Start(const Options& options, ReadFn read, AuthFn auth,
                                                    CallFn call = nullptr);
  // Closes the listener and every connection, and waits for their threads.
  ~ReadChannel();
  ReadChannel(const ReadChannel&) = delete;
  ReadChannel& operator=(const ReadChannel&) = delete;

  int port() const { return port_; }

 private:
  struct Conn {
    int fd = -1;
    std::string peer;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  ReadChannel() = default;
  void AcceptLoop();
  void Serve(Conn* c);
  void Reap(bool all);  // joins finished connection threads (all: every one); mu_ not held

  ReadFn read_;
  AuthFn auth_;
  CallFn call_;
  size_t max_connections_ = 0;
  size_t max_frame_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<Conn> conns_;
};

}  // namespace hafs::brick
