// Control channel of a running array (`hafs-raid --run`): a unix stream socket at
// <run dir>/<NAME>.sock. A client sends one line "<command> [arg]\n"; the server answers
// "OK\n" or "ERR <errno> <message>\n" followed by free text, then closes.
// Thread-safety: ControlServer runs its own accept thread and calls the handler there.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace hafs::raid {

// Where maps, sockets and pid files live: $HAFS_RAID_RUN_DIR or /run/hafs-raid.
std::string RunDir();
std::string SocketPath(const std::string& name);
std::string MapPath(const std::string& name);

class ControlServer {
 public:
  // Handler: (command, argument, output text) -> status.
  using Handler = std::function<Status(const std::string&, const std::string&, std::string*)>;
  ~ControlServer();
  Status Start(const std::string& path, Handler h);
  void Stop();

 private:
  void Loop();
  int fd_ = -1;
  std::string path_;
  Handler handler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sends a command to a running array. ENOENT/ECONNREFUSED when none is running.
// timeout_ms bounds the whole exchange.
Result<std::string> ControlCall(const std::string& name, const std::string& cmd, const std::string& arg,
                                int timeout_ms);

}  // namespace hafs::raid
