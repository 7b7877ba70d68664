// ReadChannelClient: the client end of one brick's read channel (common/read_wire.h,
// common/call_wire.h, docs/brickd.md "The read channel"): a pool of TCP connections with one
// read or call in flight on each. BrickClient owns one, aims it at the port the session's
// welcome names, and aborts it when the brick is declared down, so nothing sent on it waits
// on a dead brick longer than a gRPC call would.
//
// Thread-safety: every method may be called from any thread at once.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/brick.pb.h"

namespace hafs::client {

class ReadChannelClient {
 public:
  // One read or call sent, its reply not yet taken. A read dropped untaken closes its
  // connection; a call dropped untaken waits for its reply first (a change sent is a change
  // made, as with a dropped gRPC call: the caller's later calls come after it).
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
    bool is_call = false;
  };

  // What Receive found: the reply, or that the channel failed (`transport` set: the read was
  // not answered; gRPC may still answer it).
  struct Outcome {
    Result<proto::ReadReply> reply = Status(EIO, "no reply");
    bool transport = false;
    bool refused = false;  // the brick does not serve this address on the channel
  };

  // What ReceiveCall found: the serialised reply (code 0), the brick's error (a gRPC status
  // code and its text), or that the channel failed (`transport`: the call may or may not have
  // been carried out; `not_served` too: it was not, send it over gRPC).
  struct CallOutcome {
    int code = 14;  // UNAVAILABLE
    std::string bytes;
    bool transport = false;
    bool not_served = false;
  };

  ~ReadChannelClient();

  // Aims the pool at host:port (the port a new session's welcome names; 0: no channel) and
  // closes every connection of the previous aim. Resolves `host` (the caller's thread). A
  // reply may take up to `call_timeout` (as a gRPC call's deadline). With `calls`, the brick
  // also takes call frames; each new connection's hello names `session` and `key`.
  void Reset(const std::string& host, int port, std::chrono::milliseconds call_timeout, bool calls = false,
             const std::string& session = "", const std::string& key = "");
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

  // Whether calls may be sent now.
  bool calls() const;
  // Sends a call frame whose payload is the concatenation of `payload` (a serialised request,
  // possibly in parts, e.g. a write's head and its shared data). nullptr: not sent (no
  // channel for calls now, or no connection): the caller uses gRPC.
  std::unique_ptr<Call> SendCall(uint32_t method, std::initializer_list<std::string_view> payload,
                                 std::chrono::milliseconds connect_timeout);
  // Waits for the call's reply, up to the call timeout plus `extra` (a lock's wait).
  CallOutcome ReceiveCall(std::unique_ptr<Call> call, std::chrono::milliseconds extra = std::chrono::milliseconds(0));

  // Connections open now (idle and busy), for tests.
  size_t connections() const;

 private:
  int Connect(std::chrono::milliseconds timeout);  // a new connection or -1; mu_ not held
  void Done(int fd, uint64_t generation, bool reusable);
  // A connection for a new request (idle or new; a call's new one has sent its hello): fills
  // call->fd, ->generation, ->tag; false if there is none (channel off, cannot connect).
  bool Take(Call* call, bool for_call, std::chrono::milliseconds connect_timeout, std::string* hello);
  void ReceiveCallOn(Call* call, std::chrono::milliseconds extra, CallOutcome* out);

  mutable std::mutex mu_;
  uint64_t generation_ = 0;  // bumped by Reset and Abort: older connections are not reused
  bool enabled_ = false;
  bool calls_ = false;      // the brick takes call frames
  std::string hello_;       // the call frame every new connection starts with
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  std::chrono::milliseconds call_timeout_{60000};
  std::string name_;  // host:port, for messages
  std::vector<int> idle_;
  std::set<int> busy_;
  uint64_t next_tag_ = 1;
};

}  // namespace hafs::client
