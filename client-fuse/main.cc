// hafs-fuse: mounts a hafs volume. See docs/client.md.
//
//   hafs-fuse --volfile FILE MOUNTPOINT [-o OPTIONS] [-f]
//   hafs-fuse --volfile-server HOST[:PORT] --volume NAME MOUNTPOINT [-o OPTIONS] [-f]
//
// Without -f the process detaches once the volume is mounted; every error before that
// (bad volfile, unreachable bricks, mount failure) is printed and the exit status is 1.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "client-fuse/fuse/fuse_bridge.h"
#include "client-fuse/mount_options.h"
#include "client-fuse/volfile_source.h"
#include "common/cli.h"
#include "common/log.h"

namespace {

using hafs::client::MountOptions;

// Reports the outcome of mounting to the waiting parent (one line), then detaches stdio.
class Parent {
 public:
  explicit Parent(int fd) : fd_(fd) {}
  void Report(const std::string& line) {
    if (fd_ < 0) return;
    std::string l = line + "\n";
    (void)!::write(fd_, l.data(), l.size());
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// The kernel caps FUSE readahead at the backing device's default (128 KiB) whatever the
// filesystem asks for; raise it to 1 MiB so a sequential read is one brick call per MiB.
// The device number comes from /proc/self/mountinfo: a stat() of the mount point would be
// a FUSE request that this very process has not started serving yet.
void RaiseReadahead(const std::string& mountpoint) {
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  while (std::getline(info, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (!(fields >> id >> parent >> devno >> root >> point) || point != mountpoint) continue;
    std::ofstream ra("/sys/class/bdi/" + devno + "/read_ahead_kb");
    ra << "1024\n";
  }
}

int Run(const MountOptions& mo, Parent& parent) {
  std::vector<std::string> servers;
  if (!mo.server.empty()) servers.push_back(mo.server);
  servers.insert(servers.end(), mo.backup_servers.begin(), mo.backup_servers.end());
  auto volfile = mo.volfile.empty()
                     ? hafs::client::FetchVolfile(servers, mo.volume, std::chrono::milliseconds(mo.connect_timeout_ms))
                     : hafs::client::Volfile::Load(mo.volfile);
  if (!volfile.ok()) {
    parent.Report("error: " + volfile.status().ToString());
    return 1;
  }
  char host[256] = "client";
  ::gethostname(host, sizeof host - 1);
  auto graph = hafs::client::Graph::Build(*volfile, std::string(host) + ":" + mo.mountpoint,
                                          std::chrono::milliseconds(mo.connect_timeout_ms), /*caches=*/true);
  if (!graph.ok()) {
    parent.Report("error: " + graph.status().ToString());
    return 1;
  }
  if (auto* wb = (*graph)->write_behind()) wb->SetWindow(mo.write_behind_window);
  if (auto* ra = (*graph)->read_ahead()) ra->SetWindow(mo.read_ahead_window == 0 ? 1 : mo.read_ahead_window);
  if (auto* mdc = (*graph)->md_cache())
    mdc->SetTimeout(std::chrono::milliseconds(static_cast<int64_t>(mo.md_cache_timeout * 1000)));
  hafs::client::FuseBridge::Options bo;
  bo.attr_timeout = mo.attribute_timeout;
  bo.entry_timeout = mo.entry_timeout;
  bo.negative_timeout = mo.negative_timeout;
  bo.read_only = mo.read_only;
  bo.no_open = mo.NoOpen();
  bo.flush_behind = mo.flush_behind;
  bo.readdir_prefetch = mo.readdir_prefetch;
  if (bo.readdir_prefetch > 0 && (!(*graph)->md_cache() || mo.md_cache_timeout <= 0)) {
    // The listings it reads are kept by md-cache alone: without it they would be read twice.
    HAFS_LOG_WARN("readdir-prefetch needs the metadata cache (md-cache-timeout > 0); it stays off");
    bo.readdir_prefetch = 0;
  }
  bo.quick_read_max = static_cast<uint32_t>(mo.quick_read_max);
  if (auto* cc = (*graph)->content_cache())
    cc->SetLimits(bo.quick_read_max, mo.cache_size,
                  std::chrono::milliseconds(static_cast<int64_t>(mo.content_cache_timeout * 1000)));
  hafs::client::FuseBridge bridge(**graph, bo);

  std::vector<std::string> argv_s = {"hafs-fuse", "-o", mo.FuseOptionString(volfile->name)};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, &hafs::client::FuseBridge::Ops(), sizeof(fuse_lowlevel_ops), &bridge);
  if (!se) {
    parent.Report("error: cannot create the FUSE session (bad mount options?)");
    return 1;
  }
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mo.mountpoint.c_str()) != 0) {
    parent.Report("error: cannot mount on " + mo.mountpoint + " (is /dev/fuse there, and the directory empty?)");
    fuse_session_destroy(se);
    return 1;
  }
  bridge.AttachSession(se);
  RaiseReadahead(mo.mountpoint);
  // Mounted from a server: follow the volume's changes (bricks moving to new ports).
  std::unique_ptr<hafs::client::VolfileWatcher> watcher;
  if (mo.volfile.empty()) {
    hafs::client::Graph* g = graph->get();
    watcher = std::make_unique<hafs::client::VolfileWatcher>(servers, mo.volume, [g](const hafs::client::Volfile& v) {
      if (auto st = g->Apply(v); !st.ok()) HAFS_LOG_WARN("new volfile not applied: {}", st.ToString());
    });
  }
  HAFS_LOG_INFO("volume {} mounted on {} ({} bricks, replica {})", volfile->name, mo.mountpoint,
                volfile->bricks.size(), volfile->replica);
  parent.Report("ok");

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, 64);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  HAFS_LOG_INFO("unmounting {}", mo.mountpoint);
  watcher.reset();
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // 1 MiB write buffers (write-behind copies, gRPC messages) come and go all the time: keep
  // them in the heap instead of an mmap + page faults + munmap each (-35 % client CPU per
  // MiB written, measured; see docs/client.md, "Write-behind"). Only glibc's malloc reads
  // these; the normal build links jemalloc, which keeps freed extents for reuse by itself
  // (docs/client.md, "The allocator").
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  // gRPC's poll engine, not epoll1: with epoll1 one thread at a time polls every socket, most
  // often a brick's session thread, so each reply woke it and it woke the FUSE thread waiting
  // for the reply. With poll, a thread waiting for its call polls that call's connection
  // itself (sessions have connections of their own): one wake-up per reply
  // (docs/client.md, "Wake-ups per call"). GRPC_POLL_STRATEGY=epoll1 brings epoll1 back.
  // An idle connection is then polled by no thread but gRPC's backup poller: every 100 ms
  // (not 5 s), so keepalive acks and a closed connection are seen in time.
  setenv("GRPC_POLL_STRATEGY", "poll", 0);
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", 0);
  CLI::App app{"hafs-fuse: mount a hafs volume"};
  MountOptions mo;
  std::string opts;
  app.add_option("--volfile", mo.volfile, "volume description (JSON) to mount from");
  app.add_option("--volfile-server", mo.server, "hafs-mgmtd to fetch the volfile from (HOST[:PORT])");
  app.add_option("--volume", mo.volume, "volume name on the volfile server");
  app.add_option("-o", opts, "mount options: ro, attribute-timeout=S, entry-timeout=S, negative-timeout=S, "
                             "log-level=L, log-file=F, backup-volfile-servers=H2:H3, connect-timeout=S");
  app.add_flag("-f,--foreground", mo.foreground, "stay in the foreground");
  app.add_option("mountpoint", mo.mountpoint, "where to mount")->required();
  if (auto done = hafs::ParseCommandLine(app, argc, argv, 2)) return *done;  // as a bad -o (docs/client.md)
  if (auto st = mo.Parse(opts); !st.ok()) {
    std::cerr << "hafs-fuse: " << st.message() << "\n";
    return 2;
  }
  if (mo.volfile.empty() && (mo.server.empty() || mo.volume.empty())) {
    std::cerr << "hafs-fuse: give --volfile FILE, or --volfile-server HOST --volume NAME\n";
    return 2;
  }
  std::error_code ec;
  mo.mountpoint = std::filesystem::absolute(mo.mountpoint, ec).lexically_normal().string();
  while (mo.mountpoint.size() > 1 && mo.mountpoint.back() == '/') mo.mountpoint.pop_back();

  if (mo.foreground) {
    if (!hafs::log::Init("hafs-fuse", mo.log_level, mo.log_file)) std::cerr << "hafs-fuse: bad log options\n";
    Parent parent(-1);
    return Run(mo, parent);
  }
  // Fork before any thread exists (gRPC and FUSE threads do not survive fork); the parent
  // waits for the child's verdict so `mount` reports errors synchronously.
  int p[2];
  if (::pipe(p) != 0) return 1;
  pid_t pid = ::fork();
  if (pid < 0) return 1;
  if (pid > 0) {
    ::close(p[1]);
    std::string verdict;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof buf)) > 0) verdict.append(buf, n);
    ::close(p[0]);
    if (verdict.rfind("ok", 0) == 0) return 0;
    if (verdict.empty()) verdict = "error: the mount process died\n";
    std::cerr << "hafs-fuse: " << verdict;
    ::waitpid(pid, nullptr, WNOHANG);
    return 1;
  }
  ::close(p[0]);
  ::setsid();
  if (mo.log_file.empty()) mo.log_file = mo.DefaultLogFile();
  std::filesystem::create_directories(std::filesystem::path(mo.log_file).parent_path(), ec);
  if (!hafs::log::Init("hafs-fuse", mo.log_level, mo.log_file)) {
    Parent parent(p[1]);
    parent.Report("error: cannot open log file " + mo.log_file);
    return 1;
  }
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 2) ::close(devnull);
  }
  ::chdir("/");
  Parent parent(p[1]);
  return Run(mo, parent);
}
