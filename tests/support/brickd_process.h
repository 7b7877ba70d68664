// Test and benchmark helper: runs the real hafs-brickd binary on an ephemeral loopback port and gives a
// gRPC stub to it. The process is stopped (SIGTERM, then SIGKILL) and its brick directory
// removed when the object goes away, whatever the test's outcome. Throws
// std::runtime_error if the daemon does not start.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/gfid.h"
#include "proto/brick.grpc.pb.h"

namespace hafs::testing {

inline constexpr const char* kVolumeId = "0b7e2c4d-1111-4222-8333-444455556666";

class BrickdProcess {
 public:
  // Creates a fresh brick directory (or reuses `dir` if given) and starts brickd on it.
  // `listen` may name a fixed port so that a restarted brick comes back where clients expect it.
  explicit BrickdProcess(std::string dir = "", std::vector<std::string> extra_args = {},
                         std::string listen = "127.0.0.1:0");
  ~BrickdProcess();

  bool running() const { return pid_ > 0; }
  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }
  const std::string& startup_output() const { return output_; }
  proto::Brick::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> NewChannel() const;

  pid_t pid() const { return pid_; }
  int port() const;
  // Sends SIGTERM and returns the exit status (or -1 if it had to be killed).
  int Stop();
  // SIGKILL, as a crash would; the process is reaped.
  void Kill();
  // Starts it again on the same directory (a new port).
  void Restart();
  // Keeps the directory when this object goes away (for restarts in a new object).
  void KeepDir() { keep_dir_ = true; }

 private:
  void Launch();
  std::string dir_;
  std::vector<std::string> extra_args_;
  std::string listen_;
  pid_t pid_ = -1;
  bool keep_dir_ = false;
  std::string address_;
  std::string output_;
  std::unique_ptr<proto::Brick::Stub> stub_;
};

// The hafs-brickd binary of this build (or $HAFS_BRICKD).
std::string BrickdPath();

// Runs a binary to completion with a time limit; returns its exit code and its stderr+stdout.
int RunToCompletion(const std::vector<std::string>& argv, std::string* output, int timeout_ms = 10000);

inline std::string G(const Gfid& g) { return g.Bytes(); }

// Creates file `name` (mode 0644) in the brick's root under a new gfid, over gRPC. Returns the
// gfid; *err is the brick's errno (0 on success, -1 if the call itself failed).
Gfid CreateInRoot(BrickdProcess& b, const std::string& name, int* err);

}  // namespace hafs::testing
