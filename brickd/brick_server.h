// BrickServer: a whole brick (storage, locks, sessions, gRPC server) in one object, so that
// main.cc stays thin and tests or tools can host a brick in-process.
// Thread-safety: Start/Shutdown from one thread; the server runs on gRPC's threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "brickd/lock_table.h"
#include "brickd/op_stats.h"
#include "brickd/read_channel.h"
#include "brickd/service.h"
#include "brickd/sessions.h"
#include "brickd/storage.h"

namespace hafs::brick {

struct BrickServerOptions {
  std::string brick_path;
  std::string volume_id;
  uint32_t brick_id = 0;
  std::string listen = "127.0.0.1:0";      // ADDR:PORT, port 0 = pick one
  int read_port = 0;                       // the read channel on listen's address: 0 = pick one, -1 = none
  size_t max_io = 4u << 20;
  size_t direct_write_min = 128 * 1024;  // Storage::Options::direct_write_min; 0: page cache only
  std::chrono::milliseconds max_lease{10000};
  AuthRules auth;                          // --auth-allow, --auth-reject (and the internal key)
  std::string auth_file;                   // if set, replaces `auth` at start and on ReloadAuth()
};

class BrickServer {
 public:
  static Result<std::unique_ptr<BrickServer>> Start(const BrickServerOptions& options);
  ~BrickServer();

  // "ADDR:PORT" actually bound (with the port chosen when 0 was asked).
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // The read channel's port (0: none).
  int read_port() const { return read_port_.load(); }
  std::string DumpState() const;
  // Re-reads the auth file (SIGHUP). A bad file keeps the previous rules and is an error.
  Status ReloadAuth();
  void Shutdown();

 private:
  BrickServer() = default;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<LockTable> locks_;
  std::unique_ptr<SessionRegistry> sessions_;
  std::unique_ptr<OpStats> stats_;
  std::unique_ptr<BrickService> service_;
  AuthGate auth_;
  std::string auth_file_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> read_port_{0};
  std::unique_ptr<ReadChannel> read_channel_;
  std::string address_;
  int port_ = 0;
};

}  // namespace hafs::brick
