// Test helper: a gRPC channel to a daemon on loopback, connected before it is returned.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace hafs::testing {

// gRPC 1.51 now and then fails a loopback connect on a loaded machine (reported as
// "connect: No such file or directory") and then fails every call fast for its 1 s backoff.
// Tests are about the daemon, not that: a failed connect is retried after 100 ms, and the
// channel is connected (for up to 10 s) before it is returned, as the mount's own channels
// do (client-fuse/protocol/brick_client.cc). `separate` gives the channel its own connection.
std::shared_ptr<grpc::Channel> TestChannel(const std::string& address, bool separate = false);

}  // namespace hafs::testing
