#include "raid/cli.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <algorithm>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "common/shutdown.h"
#include "raid/array.h"
#include "raid/array_internal.h"
#include "raid/control.h"
#include "raid/fuse_export.h"
#include "raid/report.h"

namespace hafs::raid {
namespace {

constexpr const char* kUsage = R"(Usage:
  hafs-raid --create NAME --level=5 --raid-devices=N [--chunk=512K] [--layout=left-symmetric]
            [--bitmap=internal|none] [--bitmap-chunk=64M] [--assume-clean] [--force] DEV...
  hafs-raid --assemble NAME [--force] DEV...
  hafs-raid --run NAME [--fuse DIR] [DEV...]        serve the array (foreground), control socket in )"
                            R"(/run/hafs-raid
  hafs-raid --detail NAME
  hafs-raid --examine DEV...
  hafs-raid NAME --fail DEV | --remove DEV | --add DEV
  hafs-raid --wait NAME [--timeout=S]             wait for a rebuild to finish
  hafs-raid --stop NAME
  hafs-raid check NAME [--repair]
  hafs-raid status                                 /proc/mdstat-like view of every array
Options: --speed-limit=BYTES/s (rebuild), --log-level=LEVEL
)";

struct Args {
  std::string mode;
  std::vector<std::string> pos;
  int level = 5;
  int raid_devices = 0;
  uint64_t chunk = 0;
  std::string layout;
  bool bitmap = true;
  bool assume_clean = false, force = false, repair = false;
  std::string fuse_dir;
  int timeout_s = 600;
  uint64_t speed_limit = 0;
  uint64_t bitmap_chunk = 0;
  std::string log_level = "warn";
};

int Fail(const std::string& msg, int code = 1) {
  std::cerr << "hafs-raid: " << msg << "\n";
  return code;
}

Result<uint64_t> ParseSize(std::string s) {
  // mdadm sizes: plain numbers are KiB; K/M/G suffixes.
  uint64_t mult = 1024;
  if (!s.empty() && std::isalpha(static_cast<unsigned char>(s.back()))) {
    const char c = char(std::toupper(static_cast<unsigned char>(s.back())));
    s.pop_back();
    mult = c == 'K' ? 1024 : c == 'M' ? 1024 * 1024 : c == 'G' ? 1024ULL * 1024 * 1024 : 0;
    if (!mult) return Status(EINVAL, "bad size suffix");
  }
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end) return Status(EINVAL, "bad size " + s);
  return uint64_t(v) * mult;
}

Result<Args> Parse(int argc, char** argv) {
  Args a;
  auto set_mode = [&](const std::string& m) -> Status {
    if (!a.mode.empty() && a.mode != m) return Status(EINVAL, fmt::format("--{} and --{} cannot be combined", a.mode, m));
    a.mode = m;
    return Status::Ok();
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string val;
    bool has_val = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      val = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_val = true;
    }
    auto value = [&]() -> Result<std::string> {
      if (has_val) return val;
      if (i + 1 >= argc) return Status(EINVAL, arg + " needs a value");
      return std::string(argv[++i]);
    };
    static const std::map<std::string, std::string> modes = {
        {"--create", "create"}, {"-C", "create"}, {"--assemble", "assemble"}, {"-A", "assemble"},
        {"--detail", "detail"}, {"-D", "detail"}, {"--examine", "examine"},   {"-E", "examine"},
        {"--fail", "fail"},     {"-f", "fail"},   {"--remove", "remove"},     {"-r", "remove"},
        {"--add", "add"},       {"-a", "add"},    {"--stop", "stop"},         {"-S", "stop"},
        {"--run", "run"},       {"-R", "run"},    {"--wait", "wait"},         {"-W", "wait"}};
    if (auto m = modes.find(arg); m != modes.end()) {
      HAFS_RETURN_IF_ERROR(set_mode(m->second));
      continue;
    }
    if (arg == "--help" || arg == "-h") return Status(0, "help");
    if (arg == "--level" || arg == "-l") {
      auto v = value();
      if (!v.ok()) return v.status();
      std::string s = *v;
      if (s.rfind("raid", 0) == 0) s = s.substr(4);
      a.level = std::atoi(s.c_str());
    } else if (arg == "--raid-devices" || arg == "-n") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.raid_devices = std::atoi(v->c_str());
    } else if (arg == "--chunk" || arg == "-c") {
      auto v = value();
      if (!v.ok()) return v.status();
      auto sz = ParseSize(*v);
      if (!sz.ok()) return sz.status();
      a.chunk = *sz;
    } else if (arg == "--layout" || arg == "-p" || arg == "--parity") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.layout = *v;
    } else if (arg == "--bitmap" || arg == "-b") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (*v != "internal" && *v != "none") return Status(EINVAL, "--bitmap must be internal or none");
      a.bitmap = *v == "internal";
    } else if (arg == "--bitmap-chunk") {
      auto v = value();
      if (!v.ok()) return v.status();
      auto sz = ParseSize(*v);
      if (!sz.ok()) return sz.status();
      a.bitmap_chunk = *sz;
    } else if (arg == "--fuse") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.fuse_dir = *v;
    } else if (arg == "--timeout") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.timeout_s = std::atoi(v->c_str());
    } else if (arg == "--speed-limit") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.speed_limit = std::strtoull(v->c_str(), nullptr, 10);
    } else if (arg == "--log-level") {
      auto v = value();
      if (!v.ok()) return v.status();
      a.log_level = *v;
    } else if (arg == "--assume-clean") {
      a.assume_clean = true;
    } else if (arg == "--force") {
      a.force = true;
    } else if (arg == "--repair") {
      a.repair = true;
    } else if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      return Status(EINVAL, "unrecognised option " + arg);
    } else if (a.mode.empty() && a.pos.empty() && (arg == "check" || arg == "status")) {
      a.mode = arg;
    } else {
      a.pos.push_back(arg);
    }
  }
  if (a.mode.empty()) return Status(EINVAL, "no command given");
  return a;
}

std::string ArrayName(std::string n) {
  for (const char* p : {"/dev/md/", "/dev/"}) {
    if (n.rfind(p, 0) == 0) n = n.substr(std::strlen(p));
  }
  return n;
}

std::vector<std::string> ReadMap(const std::string& name) {
  std::ifstream f(MapPath(name));
  std::vector<std::string> v;
  for (std::string l; std::getline(f, l);) {
    if (!l.empty()) v.push_back(l);
  }
  return v;
}

Status WriteMap(const std::string& name, const std::vector<std::string>& devs) {
  mkdir(RunDir().c_str(), 0755);
  const std::string tmp = MapPath(name) + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    for (const auto& d : devs) f << d << "\n";
    if (!f) return Status(EIO, "cannot write " + tmp);
  }
  if (rename(tmp.c_str(), MapPath(name).c_str()) != 0) return Status::FromErrno(errno, "rename map");
  return Status::Ok();
}

bool Running(const std::string& name) { return ControlCall(name, "ping", "", 2000).ok(); }

Result<std::vector<std::string>> MembersOf(const std::string& name, const std::vector<std::string>& given) {
  if (!given.empty()) return given;
  auto m = ReadMap(name);
  if (m.empty()) {
    return Status(ENOENT, fmt::format("/dev/md/{} is not assembled (no {}); give its devices", name, MapPath(name)));
  }
  return m;
}

// Keeps the member list in the map in step with membership changes.
void UpdateMap(const std::string& name, const std::string& op, const std::string& dev) {
  auto m = ReadMap(name);
  if (op == "remove") std::erase(m, dev);
  if (op == "add" && std::find(m.begin(), m.end(), dev) == m.end()) m.push_back(dev);
  Status st = WriteMap(name, m);
  if (!st.ok()) HAFS_LOG_WARN("{}", st.ToString());
}

Status ApplyOp(Array& a, const std::string& op, const std::string& dev, std::string* out, const std::string& name) {
  if (op == "fail") {
    HAFS_RETURN_IF_ERROR(a.Fail(dev));
    *out = fmt::format("set {} faulty in /dev/md/{}\n", dev, name);
  } else if (op == "remove") {
    HAFS_RETURN_IF_ERROR(a.Remove(dev));
    *out = fmt::format("hot removed {} from /dev/md/{}\n", dev, name);
  } else if (op == "add") {
    HAFS_RETURN_IF_ERROR(a.Add(dev));
    *out = fmt::format("added {}\n", dev);
  } else {
    return Status(EINVAL, "unknown operation " + op);
  }
  UpdateMap(name, op, dev);
  return Status::Ok();
}

std::string CheckText(const CheckResult& r) {
  return fmt::format("mismatch_cnt = {}\nstripes checked: {}, skipped (degraded): {}{}\n", r.mismatch_sectors,
                     r.stripes_checked, r.stripes_skipped, r.repaired ? ", parity repaired" : "");
}

int CmdRun(const Args& a, const std::string& name, const std::vector<std::string>& given) {
  hafs::shutdown::Install();  // before any thread starts
  if (Running(name)) return Fail(fmt::format("/dev/md/{} is already running", name));
  auto devs = MembersOf(name, given);
  if (!devs.ok()) return Fail(devs.status().ToString());
  AssembleOptions ao;
  ao.force = a.force;
  auto arr = Array::Assemble(*devs, ao);
  if (!arr.ok()) return Fail(arr.status().ToString());
  Array& array = **arr;
  if (a.speed_limit) array.SetRebuildSpeedLimit(a.speed_limit);
  if (Status st = WriteMap(name, *devs); !st.ok()) return Fail(st.ToString());
  std::mutex op_mu;
  std::unique_ptr<FuseExport> exp;
  Status st;
  if (!a.fuse_dir.empty()) {
    exp = std::make_unique<FuseExport>(&array, name);
    st = exp->Start(a.fuse_dir);
    if (!st.ok()) return Fail(st.ToString());
  }
  ControlServer server;
  st = server.Start(SocketPath(name), [&](const std::string& cmd, const std::string& arg, std::string* out) {
    std::lock_guard<std::mutex> g(op_mu);
    if (cmd == "ping") return Status::Ok();
    if (cmd == "detail") *out = FormatDetail(name, array.GetStatus(), true);
    else if (cmd == "status") *out = FormatMdstat(name, array.GetStatus(), true);
    else if (cmd == "rebuilding") *out = array.GetStatus().rebuilding ? "yes\n" : "no\n";
    else if (cmd == "fail" || cmd == "remove" || cmd == "add") return ApplyOp(array, cmd, arg, out, name);
    else if (cmd == "check") {
      auto r = array.Check(arg == "repair");
      if (!r.ok()) return r.status();
      *out = CheckText(*r);
    } else if (cmd == "stop") {
      // Like mdadm refusing to stop an array that is in use.
      if (exp) HAFS_RETURN_IF_ERROR(exp->TryUnmount());
      kill(getpid(), SIGTERM);
    } else {
      return Status(EINVAL, "unknown control command " + cmd);
    }
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st.ToString());
  {
    std::ofstream(RunDir() + "/" + name + ".pid") << getpid() << "\n";
  }
  HAFS_LOG_WARN("raid: /dev/md/{} running with {} of {} devices{}", name, devs->size(), array.geometry().n,
                exp ? " exported at " + a.fuse_dir + "/" + name : "");
  const int sig = hafs::shutdown::Wait();
  HAFS_LOG_WARN("raid: signal {}: stopping /dev/md/{}", sig, name);
  if (exp) exp->Stop();
  server.Stop();
  st = array.Stop();
  unlink((RunDir() + "/" + name + ".pid").c_str());
  if (!st.ok()) return Fail(st.ToString());
  return 0;
}

int CmdOffline(const Args& a, const std::string& name, const std::string& op, const std::string& dev) {
  auto devs = MembersOf(name, {});
  if (!devs.ok()) return Fail(devs.status().ToString());
  AssembleOptions ao;
  ao.readonly = op == "detail" || op == "status" || (op == "check" && !a.repair);
  ao.force = a.force;
  auto arr = Array::Assemble(*devs, ao);
  if (!arr.ok()) return Fail(arr.status().ToString());
  std::string out;
  if (op == "detail") {
    out = FormatDetail(name, (*arr)->GetStatus(), false);
  } else if (op == "status") {
    out = FormatMdstat(name, (*arr)->GetStatus(), false);
  } else if (op == "check") {
    auto r = (*arr)->Check(a.repair);
    if (!r.ok()) return Fail(r.status().ToString());
    out = CheckText(*r);
  } else {
    if (a.speed_limit) (*arr)->SetRebuildSpeedLimit(a.speed_limit);
    Status st = ApplyOp(**arr, op, dev, &out, name);
    if (!st.ok()) return Fail(st.ToString());
    if (op == "add") {
      // Not running: rebuild now, in the foreground.
      auto last = std::chrono::steady_clock::now();
      while (!(*arr)->WaitRebuild(200)) {
        if (std::chrono::steady_clock::now() - last > std::chrono::seconds(5)) {
          last = std::chrono::steady_clock::now();
          std::cout << FormatMdstat(name, (*arr)->GetStatus(), true) << std::flush;
        }
      }
      if ((*arr)->GetStatus().degraded) return Fail("rebuild did not complete");
      out += "rebuild complete\n";
    }
    Status st2 = (*arr)->Stop();
    if (!st2.ok()) return Fail(st2.ToString());
  }
  std::cout << (op == "fail" || op == "remove" || op == "add" ? "hafs-raid: " : "") << out;
  return 0;
}

int CmdExamine(const Args& a) {
  if (a.pos.empty()) return Fail("--examine needs a device");
  int rc = 0;
  for (const auto& dev : a.pos) {
    auto fd = OpenMember(dev, true);
    if (!fd.ok()) {
      rc = Fail(fd.status().ToString());
      continue;
    }
    auto bytes = MemberBytes(*fd);
    auto sb = ReadSuperblock(*fd, dev);
    std::optional<BitmapHeader> bh;
    if (sb.ok() && (sb->feature_map & kFeatureBitmap)) {
      uint8_t raw[256];
      if (pread(*fd, raw, 256, off_t((kSuperOffsetSectors + uint64_t(sb->bitmap_offset)) * kSector)) == 256) {
        auto h = DecodeBitmapHeader(raw);
        if (h.ok()) bh = *h;
      }
    }
    ::close(*fd);
    if (!sb.ok()) {
      rc = Fail(sb.status().message());
      continue;
    }
    std::cout << FormatExamine(dev, *sb, bytes.ok() ? *bytes : 0, bh);
  }
  return rc;
}

int CmdStatus() {
  std::cout << "Personalities : [raid5]\n";
  DIR* d = opendir(RunDir().c_str());
  std::vector<std::string> names;
  if (d) {
    while (dirent* e = readdir(d)) {
      std::string f = e->d_name;
      if (f.size() > 4 && f.compare(f.size() - 4, 4, ".map") == 0) names.push_back(f.substr(0, f.size() - 4));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto r = ControlCall(n, "status", "", 5000);
    if (r.ok()) {
      std::cout << *r;
      continue;
    }
    AssembleOptions ro;
    ro.readonly = true;
    auto arr = Array::Assemble(ReadMap(n), ro);
    if (arr.ok()) std::cout << FormatMdstat(n, (*arr)->GetStatus(), false);
    else std::cout << n << " : inactive (" << arr.status().message() << ")\n\n";
  }
  std::cout << "unused devices: <none>\n";
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  auto parsed = Parse(argc, argv);
  if (!parsed.ok()) {
    if (parsed.status().message() == "help") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "hafs-raid: " << parsed.status().message() << "\n" << kUsage;
    return 2;
  }
  const Args& a = *parsed;
  hafs::log::Init("hafs-raid", a.mode == "run" ? (a.log_level == "warn" ? "info" : a.log_level) : a.log_level);
  if (a.mode == "examine") return CmdExamine(a);
  if (a.mode == "status") return CmdStatus();
  if (a.pos.empty()) return Fail("an array NAME is needed");
  const std::string name = ArrayName(a.pos[0]);
  if (name.empty() || name.find('/') != std::string::npos) return Fail("bad array name " + a.pos[0]);
  std::vector<std::string> devs(a.pos.begin() + 1, a.pos.end());
  // Members are recorded by absolute path: the daemon and later commands may run elsewhere.
  for (auto& d : devs) {
    char* rp = realpath(d.c_str(), nullptr);
    if (rp) {
      d = rp;
      free(rp);
    }
  }

  if (a.mode == "create") {
    if (a.level != 5) return Fail("only RAID5 (--level=5) is supported", 2);
    if (a.raid_devices == 0) return Fail("no raid-devices specified.", 2);
    CreateOptions o;
    o.name = name;
    o.raid_devices = a.raid_devices;
    if (a.layout.empty()) std::cerr << "hafs-raid: layout defaults to left-symmetric\n";
    auto l = ParseLayout(a.layout.empty() ? "left-symmetric" : a.layout);
    if (!l.ok()) return Fail(l.status().message(), 2);
    o.layout = *l;
    if (!a.chunk) std::cerr << "hafs-raid: chunk size defaults to 512K\n";
    o.chunk_bytes = a.chunk ? a.chunk : 512 * 1024;
    o.bitmap = a.bitmap;
    o.bitmap_chunk_bytes = a.bitmap_chunk;
    o.assume_clean = a.assume_clean;
    if (Running(name) || !ReadMap(name).empty()) return Fail(fmt::format("/dev/md/{} already exists", name));
    auto arr = Array::Create(o, devs, a.force);
    if (!arr.ok()) return Fail(arr.status().message());
    std::cerr << fmt::format("hafs-raid: size set to {}K\n", (*arr)->geometry().member_bytes / 1024);
    Status st = (*arr)->Stop();
    if (!st.ok()) return Fail(st.ToString());
    if (Status m = WriteMap(name, devs); !m.ok()) return Fail(m.ToString());
    std::cerr << fmt::format("hafs-raid: array /dev/md/{} created.\n", name);
    return 0;
  }
  if (a.mode == "assemble") {
    if (Running(name)) return Fail(fmt::format("/dev/md/{} is already running", name));
    if (devs.empty()) return Fail("--assemble needs the member devices");
    AssembleOptions ao;
    ao.force = a.force;
    auto arr = Array::Assemble(devs, ao);
    if (!arr.ok()) return Fail(arr.status().message());
    const ArrayStatus s = (*arr)->GetStatus();
    int up = 0, rb = 0;
    for (const auto& m : s.members) {
      up += m.state == MemberState::kInSync;
      rb += m.state == MemberState::kRebuilding;
    }
    Status st = (*arr)->Stop();
    if (!st.ok()) return Fail(st.ToString());
    std::vector<std::string> used;
    for (const auto& m : s.members) {
      if (!m.path.empty()) used.push_back(m.path);
    }
    if (Status m = WriteMap(name, used); !m.ok()) return Fail(m.ToString());
    std::cerr << fmt::format("hafs-raid: /dev/md/{} has been assembled with {} drive{} (out of {}){}.\n", name, up,
                             up == 1 ? "" : "s", s.raid_disks, rb ? fmt::format(" and {} rebuilding", rb) : "");
    return 0;
  }
  if (a.mode == "run") return CmdRun(a, name, devs);
  if (a.mode == "stop") {
    if (Running(name)) {
      auto r = ControlCall(name, "stop", "", 5000);
      if (!r.ok()) return Fail(r.status().ToString());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s);
      while (access(SocketPath(name).c_str(), F_OK) == 0 || access((RunDir() + "/" + name + ".pid").c_str(), F_OK) == 0) {
        if (std::chrono::steady_clock::now() > deadline) return Fail("timed out waiting for the array to stop");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } else if (ReadMap(name).empty()) {
      return Fail(fmt::format("error opening /dev/md/{}: No such file or directory", name));
    }
    unlink(MapPath(name).c_str());
    std::cerr << fmt::format("hafs-raid: stopped /dev/md/{}\n", name);
    return 0;
  }
  if (a.mode == "wait") {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s);
    while (true) {
      auto r = ControlCall(name, "rebuilding", "", 5000);
      if (!r.ok()) return Fail(r.status().ToString());
      if (*r == "no\n") return 0;
      if (std::chrono::steady_clock::now() > deadline) return Fail("timed out waiting for the rebuild");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const bool running = Running(name);
  if (a.mode == "detail" || a.mode == "check") {
    if (running) {
      auto r = ControlCall(name, a.mode, a.repair ? "repair" : "", a.timeout_s * 1000);
      if (!r.ok()) return Fail(r.status().ToString());
      std::cout << *r;
      return 0;
    }
    return CmdOffline(a, name, a.mode, "");
  }
  if (a.mode == "fail" || a.mode == "remove" || a.mode == "add") {
    if (devs.size() != 1) return Fail(fmt::format("--{} needs exactly one device", a.mode));
    if (running) {
      auto r = ControlCall(name, a.mode, devs[0], 30000);
      if (!r.ok()) return Fail(r.status().message());
      std::cout << "hafs-raid: " << *r;
      return 0;
    }
    return CmdOffline(a, name, a.mode, devs[0]);
  }
  return Fail("unknown command " + a.mode, 2);
}

}  // namespace hafs::raid
