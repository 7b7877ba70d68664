// ReadChannel: a brick's second listening port, serving reads and nothing else in the fixed
// binary frames of common/read_wire.h (docs/brickd.md "The read channel"). Clients learn
// the port from the session's welcome and fall back to gRPC's Read when it is absent.
//
// One thread accepts; each connection gets a thread of its own that answers its requests
// one after the other (a client sends one read per connection at a time and keeps a pool).
// Every request is checked against auth.allow/auth.reject, as every gRPC call is.
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

  struct Options {
    std::string host = "127.0.0.1";  // as in --listen (brackets around IPv6 allowed)
    int port = 0;                    // 0: pick a free one
    size_t max_connections = 512;    // more are closed at once (the client falls back to gRPC)
  };

  static Result<std::unique_ptr<ReadChannel>> Start(const Options& options, ReadFn read, AuthFn auth);
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
  size_t max_connections_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<Conn> conns_;
};

}  // namespace hafs::brick
