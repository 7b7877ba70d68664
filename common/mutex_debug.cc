#include "common/mutex_debug.h"

#include <cstdlib>
#include <cstring>

#include <absl/synchronization/mutex.h>

namespace hafs {

void TurnOffMutexDeadlockDetection() {
  const char* keep = std::getenv("HAFS_ABSL_DEADLOCK_CHECK");
  if (keep && std::strcmp(keep, "1") == 0) return;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace hafs
