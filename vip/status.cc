#include "vip/status.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

namespace hafs::vip {

std::string StatusJson(const std::string& router_id, const std::vector<InstanceStatus>& instances) {
  nlohmann::json doc;
  doc["router_id"] = router_id;
  doc["instances"] = nlohmann::json::array();
  for (const auto& s : instances) {
    nlohmann::json j;
    j["name"] = s.name;
    j["state"] = s.state;
    j["interface"] = s.interface;
    j["vrid"] = s.vrid;
    j["version"] = s.version;
    j["base_priority"] = s.base_priority;
    j["priority"] = s.priority;
    j["master"] = s.master;
    j["advert_ms"] = s.advert_ms;
    j["fault_reason"] = s.fault_reason;
    j["vips"] = s.vips;
    j["sync_group"] = s.sync_group;
    j["counters"] = s.counters;
    doc["instances"].push_back(std::move(j));
  }
  return doc.dump(2) + "\n";
}

Result<std::string> QueryStatus(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    close(fd);
    return Status(ENAMETOOLONG, "status socket path too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    Status st = Status::FromErrno(errno, "connect " + path);
    close(fd);
    return st;
  }
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
      close(fd);
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Status(ETIMEDOUT, "status socket: no end of reply");
}

}  // namespace hafs::vip
