#include "client-fuse/volfile.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/gfid.h"

namespace hafs::client {

namespace {
Status Bad(const std::string& what) { return Status(EINVAL, "volfile: " + what); }
}  // namespace

Result<Volfile> Volfile::Parse(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Bad(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Bad("top level must be an object");
  Volfile v;
  try {
    v.name = j.at("name").get<std::string>();
    v.id = j.at("id").get<std::string>();
    v.type = j.at("type").get<std::string>();
    v.replica = j.value("replica", 1);
    for (const auto& b : j.at("bricks")) {
      BrickAddress a;
      a.host = b.at("host").get<std::string>();
      a.port = b.at("port").get<int>();
      a.path = b.value("path", "");
      v.bricks.push_back(a);
    }
    if (j.contains("removing"))
      for (const auto& r : j.at("removing")) v.removing.push_back(r.get<std::string>());
    if (j.contains("options")) {
      for (auto& [k, val] : j.at("options").items()) v.options[k] = val.is_string() ? val.get<std::string>() : val.dump();
    }
  } catch (const nlohmann::json::exception& e) {
    return Bad(std::string("missing or mistyped field: ") + e.what());
  }
  if (v.name.empty()) return Bad("empty volume name");
  if (!Gfid::Parse(v.id)) return Bad("id is not a UUID: " + v.id);
  if (v.type != "replicate" && v.type != "distribute" && v.type != "distributed-replicate")
    return Bad("unknown volume type '" + v.type + "'");
  if (v.bricks.empty()) return Bad("no bricks");
  if (v.type == "distribute") v.replica = 1;
  if (v.replica < 1 || v.replica > 16) return Bad("replica must be 1..16");
  if (v.bricks.size() % v.replica != 0) return Bad("brick count is not a multiple of the replica count");
  if (v.type == "replicate" && static_cast<int>(v.bricks.size()) != v.replica)
    return Bad("a replicate volume has exactly `replica` bricks");
  for (const auto& b : v.bricks) {
    if (b.host.empty() || b.port <= 0 || b.port > 65535) return Bad("brick with a bad host or port: " + b.Endpoint());
  }
  if (v.ping_timeout_ms() <= 0) return Bad("network.ping-timeout must be a positive number of seconds");
  auto q = v.quorum_type();
  if (q != "auto" && q != "none" && q != "fixed") return Bad("cluster.quorum-type must be auto, none or fixed");
  if (q == "fixed" && (v.quorum_count() < 1 || v.quorum_count() > v.replica))
    return Bad("cluster.quorum-count must be 1..replica");
  return v;
}

Result<Volfile> Volfile::Load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::FromErrno(errno ? errno : ENOENT, "volfile " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return Parse(ss.str());
}

std::string Volfile::ToJson() const {
  nlohmann::json j;
  j["name"] = name;
  j["id"] = id;
  j["type"] = type;
  j["replica"] = replica;
  j["bricks"] = nlohmann::json::array();
  for (auto& b : bricks) j["bricks"].push_back({{"host", b.host}, {"port", b.port}, {"path", b.path}});
  j["options"] = options;
  if (!removing.empty()) j["removing"] = removing;
  return j.dump(2);
}

static int IntOption(const std::map<std::string, std::string>& o, const std::string& k, int def) {
  auto it = o.find(k);
  if (it == o.end()) return def;
  try {
    size_t pos = 0;
    double v = std::stod(it->second, &pos);
    if (pos != it->second.size()) return -1;
    return static_cast<int>(v);
  } catch (...) {
    return -1;
  }
}

int Volfile::ping_timeout_ms() const {
  auto it = options.find("network.ping-timeout");
  if (it == options.end()) return 3000;
  try {
    size_t pos = 0;
    double s = std::stod(it->second, &pos);
    if (pos != it->second.size() || s <= 0 || s > 3600) return -1;
    return static_cast<int>(s * 1000);
  } catch (...) {
    return -1;
  }
}

std::string Volfile::quorum_type() const {
  auto it = options.find("cluster.quorum-type");
  return it == options.end() ? "auto" : it->second;
}

int Volfile::quorum_count() const { return IntOption(options, "cluster.quorum-count", 0); }

}  // namespace hafs::client
