#include "common/shutdown.h"

#include <signal.h>

namespace hafs::shutdown {

static sigset_t Set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

void Install() {
  sigset_t set = Set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int Wait(void (*on_dump)()) {
  sigset_t set = Set();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGUSR1) {
      if (on_dump) on_dump();
      continue;
    }
    return sig;
  }
}

}  // namespace hafs::shutdown
