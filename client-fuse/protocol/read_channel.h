// ReadChannelClient: the client end of one brick's read channel (common/read_wire.h,
// docs/brickd.md "The read channel"): a pool of TCP connections with one read in flight on
// each. BrickClient owns one, aims it at the port the session's welcome names, and aborts it
// when the brick is declared down, so a read never waits on a dead brick longer than a gRPC
// call would.
//
// Thread-safety: every method may be called from any thread at once.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/brick.pb.h"

namespace hafs::client {

class ReadChannelClient {
 public:
  // One read sent, its reply not yet taken. Dropped untaken, its connection is closed.
  class Call {
   public:
    ~Call();

   private:
    friend class ReadChannelClient;
    ReadChannelClient* owner = nullptr;
    int fd = -1;
    uint64_t generation = 0;
    uint64_t tag = 0;
    uint32_t size = 0;
  };

  // What Receive found: the reply, or that the channel failed (`transport` set: the read was
  // not answered; gRPC may still answer it).
  struct Outcome {
    Result<proto::ReadReply> reply = Status(EIO, "no reply");
    bool transport = false;
    bool refused = false;  // the brick does not serve this address on the channel
  };

  ~ReadChannelClient();

  // Aims the pool at host:port (the port a new session's welcome names; 0: no channel) and
  // closes every connection of the previous aim. Resolves `host` (the caller's thread). A
  // reply may take up to `call_timeout` (as a gRPC call's deadline).
  void Reset(const std::string& host, int port, std::chrono::milliseconds call_timeout);
  // The brick is down: reads in flight fail at once, idle connections are closed, and no new
  // read is sent until the next Reset.
  void Abort();
  // Stop using the channel until the next Reset (it failed in a way gRPC may not).
  void Disable(const std::string& why);

  // Sends the read. nullptr: no channel now (absent, disabled, or the connection failed):
  // the caller reads over gRPC.
  std::unique_ptr<Call> Send(const proto::ReadRequest& req, std::chrono::milliseconds connect_timeout);
  // Waits for the reply of `call` (up to the call timeout; Abort ends the wait at once).
  Outcome Receive(std::unique_ptr<Call> call);

  // Connections open now (idle and busy), for tests.
  size_t connections() const;

 private:
  int Connect(std::chrono::milliseconds timeout);  // a new connection or -1; mu_ not held
  void Done(int fd, uint64_t generation, bool reusable);

  mutable std::mutex mu_;
  uint64_t generation_ = 0;  // bumped by Reset and Abort: older connections are not reused
  bool enabled_ = false;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  std::chrono::milliseconds call_timeout_{60000};
  std::string name_;  // host:port, for messages
  std::vector<int> idle_;
  std::set<int> busy_;
  uint64_t next_tag_ = 1;
};

}  // namespace hafs::client
