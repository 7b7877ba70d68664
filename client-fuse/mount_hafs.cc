// mount.hafs: the helper mount(8) runs for `mount -t hafs SPEC DIR [-o OPTS]` and for fstab
// lines such as `HOST:/VOL /var/www hafs defaults,_netdev 0 0`. SPEC is HOST[:PORT]:/VOLUME
// (volfile from hafs-mgmtd) or the absolute path of a volfile. It runs hafs-fuse, which
// detaches once the volume is mounted, and returns its verdict.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      opts += (opts.empty() ? "" : ",") + std::string(argv[++i]);
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      opts += (opts.empty() ? "" : ",") + a.substr(2);
    } else if (a == "-n" || a == "-s" || a == "-f" || a == "-v" || a == "-r" || a == "-w") {
      if (a == "-r") opts += std::string(opts.empty() ? "" : ",") + "ro";
      // fake/sloppy/verbose flags from mount(8): nothing to do
    } else if (a == "-t" && i + 1 < argc) {
      ++i;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    std::cerr << "usage: mount.hafs HOST[:PORT]:/VOLUME|/path/to/volfile MOUNTPOINT [-o options]\n";
    return 1;
  }
  const std::string& spec = pos[0];
  std::vector<std::string> args;
  // hafs-fuse lives next to this helper (installed together), else on PATH.
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::string fuse = "hafs-fuse";
  for (auto dir : {self.parent_path(), self.parent_path().parent_path() / "bin",
                   self.parent_path().parent_path() / "sbin"}) {
    if (!ec && std::filesystem::exists(dir / "hafs-fuse")) {
      fuse = (dir / "hafs-fuse").string();
      break;
    }
  }
  args.push_back(fuse);
  if (!spec.empty() && spec[0] == '/') {
    args.insert(args.end(), {"--volfile", spec});
  } else {
    auto sep = spec.find(":/");
    if (sep == std::string::npos || sep == 0 || sep + 2 >= spec.size()) {
      std::cerr << "mount.hafs: '" << spec << "' is not HOST:/VOLUME or an absolute volfile path\n";
      return 1;
    }
    args.insert(args.end(), {"--volfile-server", spec.substr(0, sep), "--volume", spec.substr(sep + 2)});
  }
  if (!opts.empty()) args.insert(args.end(), {"-o", opts});
  args.push_back(pos[1]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  if (fuse.find('/') != std::string::npos) ::execv(cargs[0], cargs.data());
  else ::execvp(cargs[0], cargs.data());
  std::cerr << "mount.hafs: cannot run hafs-fuse: " << std::strerror(errno) << "\n";
  return 1;
}
