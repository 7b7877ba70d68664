#include "tests/support/brickd_process.h"
#include "tests/support/test_channel.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>


namespace hafs::testing {
namespace {

// Reads from fd until `pred(buffer)` holds, EOF, or the deadline; returns the buffer.
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& pred, int timeout_ms) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred(buf)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char tmp[4096];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) break;
    buf.append(tmp, n);
  }
  return buf;
}

pid_t Spawn(const std::vector<std::string>& argv, int* out_fd) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(pipefd[1]);
  *out_fd = pipefd[0];
  return pid;
}

// Waits for pid with a deadline; returns the exit code, or -1 after SIGKILL.
int WaitWithDeadline(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

std::string BrickdPath() {
  if (const char* env = ::getenv("HAFS_BRICKD")) return env;
  return HAFS_BRICKD_PATH;
}

BrickdProcess::BrickdProcess(std::string dir, std::vector<std::string> extra_args, std::string listen)
    : dir_(std::move(dir)), extra_args_(std::move(extra_args)), listen_(std::move(listen)) {
  if (dir_.empty()) {
    std::string tmpl = "/tmp/hafs-brick-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
  } else {
    keep_dir_ = true;
  }
  Launch();
}

void BrickdProcess::Launch() {
  std::vector<std::string> argv = {BrickdPath(), "--brick-path", dir_, "--volume-id", kVolumeId,
                                   "--brick-id", "0", "--listen", listen_, "--log-level", "warn"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  int fd = -1;
  pid_ = Spawn(argv, &fd);
  if (pid_ <= 0) throw std::runtime_error("cannot spawn hafs-brickd");
  output_ = ReadUntil(fd, [](const std::string& b) { return b.find("listening on ") != std::string::npos &&
                                                            b.find('\n', b.find("listening on ")) != std::string::npos; },
                      10000);
  // Keep draining output in the background so the daemon never blocks on a full pipe.
  std::thread([fd] {
    char tmp[4096];
    while (::read(fd, tmp, sizeof tmp) > 0) {
    }
    ::close(fd);
  }).detach();
  auto pos = output_.find("listening on ");
  if (pos == std::string::npos) {
    int rc = WaitWithDeadline(pid_, 3000);
    pid_ = -1;
    throw std::runtime_error("hafs-brickd did not start (exit " + std::to_string(rc) + "): " + output_);
  }
  auto end = output_.find('\n', pos);
  address_ = output_.substr(pos + 13, end - pos - 13);
  stub_ = proto::Brick::NewStub(NewChannel());
}

std::shared_ptr<grpc::Channel> BrickdProcess::NewChannel() const {
  return TestChannel(address_, /*separate=*/true);  // a really separate connection per channel
}

int BrickdProcess::Stop() {
  if (pid_ <= 0) return -1;
  stub_.reset();
  ::kill(pid_, SIGTERM);
  int rc = WaitWithDeadline(pid_, 5000);
  pid_ = -1;
  return rc;
}

int BrickdProcess::port() const { return std::stoi(address_.substr(address_.rfind(':') + 1)); }

void BrickdProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  WaitWithDeadline(pid_, 5000);
  pid_ = -1;
}

void BrickdProcess::Restart() {
  Stop();
  Launch();
}

BrickdProcess::~BrickdProcess() {
  Stop();
  if (!keep_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

int RunToCompletion(const std::vector<std::string>& argv, std::string* output, int timeout_ms) {
  int fd = -1;
  pid_t pid = Spawn(argv, &fd);
  if (pid <= 0) return -1;
  *output = ReadUntil(fd, [](const std::string&) { return false; }, timeout_ms);
  ::close(fd);
  return WaitWithDeadline(pid, 1000);
}

Gfid CreateInRoot(BrickdProcess& b, const std::string& name, int* err) {
  proto::CreateRequest req;
  Gfid g = Gfid::Random();
  req.set_parent(G(Gfid::Root()));
  req.set_name(name);
  req.set_gfid(G(g));
  req.set_mode(0644);
  proto::EntryReply rep;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  *err = b.stub().Create(&ctx, req, &rep).ok() ? rep.err() : -1;
  return g;
}

}  // namespace hafs::testing
