// Names the calling thread as `top -H`, `ps -L`, perf and /proc/PID/task/*/comm show it.
#pragma once

#include <pthread.h>

#include <string>

namespace hafs {

// Linux keeps 15 bytes of a thread's name; longer names are cut there.
inline void NameThisThread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace hafs
