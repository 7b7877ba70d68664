#include "vip/scripts.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "common/log.h"

namespace hafs::vip {

Result<pid_t> ProcessTable::Spawn(const std::string& command, TimePoint deadline, Done done) {
  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid == 0) {
    // Child: own process group (so a timeout kills the tree), default signal state, stdin from /dev/null.
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before any kill
  children_.emplace(pid, Child{deadline, std::move(done)});
  return pid;
}

void ProcessTable::Reap() {
  for (int guard = 0; guard < 1024; ++guard) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    Child c = std::move(it->second);
    children_.erase(it);
    int code = (!c.killed && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    if (c.done) c.done(code);
  }
}

void ProcessTable::KillOverdue(TimePoint now) {
  for (auto& [pid, c] : children_) {
    if (!c.killed && now >= c.deadline) {
      HAFS_LOG_WARN("child {} exceeded its timeout, killing its process group", pid);
      kill(-pid, SIGKILL);
      c.killed = true;
    }
  }
}

TimePoint ProcessTable::NextDeadline() const {
  TimePoint t = TimePoint::max();
  for (const auto& [pid, c] : children_)
    if (!c.killed && c.deadline < t) t = c.deadline;
  return t;
}

void ProcessTable::KillAll() {
  for (auto& [pid, c] : children_) {
    kill(-pid, SIGKILL);
    c.killed = true;
    c.done = nullptr;  // owners are going away
  }
  for (int i = 0; i < 200 && !children_.empty(); ++i) {  // ≤ 2 s
    Reap();
    if (!children_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void TrackScript::Tick(TimePoint now, ProcessTable& procs) {
  if (running_ || now < next_run_) return;
  next_run_ = now + cfg_.interval;
  auto spawned = procs.Spawn(cfg_.command, now + cfg_.timeout, [this](int code) {
    running_ = false;
    const bool ok = code == 0;
    if (ok) {
      ++ok_streak_;
      fail_streak_ = 0;
    } else {
      ++fail_streak_;
      ok_streak_ = 0;
    }
    if (passing_ && !ok && fail_streak_ >= cfg_.fall) {
      passing_ = false;
      HAFS_LOG_WARN("vrrp_script {} failed {} time(s) (exit {}): now FAILING", cfg_.name, fail_streak_, code);
      changed_ = true;
    } else if (!passing_ && ok && ok_streak_ >= cfg_.rise) {
      passing_ = true;
      HAFS_LOG_INFO("vrrp_script {} succeeded {} time(s): now passing", cfg_.name, ok_streak_);
      changed_ = true;
    }
  });
  if (spawned.ok()) {
    running_ = true;
  } else {
    HAFS_LOG_ERROR("vrrp_script {}: {}", cfg_.name, spawned.status().ToString());
  }
}

void NotifyQueue::Pump(TimePoint now, std::chrono::milliseconds timeout, ProcessTable& procs) {
  if (running_ || queue_.empty()) return;
  std::string cmd = std::move(queue_.front());
  queue_.pop_front();
  auto spawned = procs.Spawn(cmd, now + timeout, [this, cmd](int code) {
    running_ = false;
    if (code != 0) HAFS_LOG_WARN("notify '{}' ended with {}", cmd, code);
  });
  if (spawned.ok()) {
    running_ = true;
  } else {
    HAFS_LOG_ERROR("notify '{}': {}", cmd, spawned.status().ToString());
  }
}

}  // namespace hafs::vip
