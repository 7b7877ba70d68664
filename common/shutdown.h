// Clean shutdown on SIGTERM/SIGINT for daemons: Install() blocks the signals in every
// thread (call it before starting threads) and Wait() returns the signal that arrived,
// so shutdown runs in ordinary code, not in a signal handler.
#pragma once

#include <chrono>

namespace hafs::shutdown {

void Install();
// Blocks until SIGTERM or SIGINT; returns the signal number. SIGUSR1 calls on_dump and keeps waiting.
int Wait(void (*on_dump)() = nullptr);

}  // namespace hafs::shutdown
