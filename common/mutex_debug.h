// absl::Mutex's deadlock detector, which gRPC's core runs into on every lock.
#pragma once

namespace hafs {

// Debian builds abseil without NDEBUG, so absl::Mutex runs its deadlock detector on every
// Lock(): each acquisition is recorded in a process-wide graph (GraphCycles) under a global
// lock, and gRPC's core takes several absl::Mutexes per call. It is a debugging aid:
// hafs-brickd and hafs-mgmtd turn it off at the start of main(), and every BrickClient does
// (hafs-fuse, tools, tests).
// HAFS_ABSL_DEADLOCK_CHECK=1 in the environment keeps it (for comparison).
void TurnOffMutexDeadlockDetection();

}  // namespace hafs
