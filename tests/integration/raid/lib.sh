# Shared helpers for the hafs-raid integration scripts: a private run dir, cleanup of
# everything started (daemon by PID, FUSE mount, loop devices, temp files) even on failure.
set -euo pipefail
B="${HAFS_BIN_DIR:?}/hafs-raid"
T=$(mktemp -d /tmp/hafs-raid-integ.XXXXXX)
export HAFS_RAID_RUN_DIR="$T/run"
PIDS=()
LOOPS=()
MOUNTS=()
RUN_ARGS=()
# Order matters: filesystems on the export, then loop devices, then the daemons (by PID),
# then whatever FUSE mount a killed daemon left behind (lazily, it cannot block).
cleanup() {
  set +e
  for m in "${MOUNTS[@]}"; do timeout 10 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for m in $(grep " $T/" /proc/mounts | awk '{print $2}'); do umount -l "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_within SECONDS CMD...: polls until CMD succeeds.
expect_within() {
  local t=$1; shift
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "not true within ${t}s: $*"
    sleep 0.1
  done
}
members() { # members PREFIX COUNT SIZE
  local i
  for i in $(seq 0 $(($2 - 1))); do truncate -s "$3" "$T/$1$i.img"; echo "$T/$1$i.img"; done
}
# start_array NAME [DIR]: runs the array in the background, with a FUSE export in DIR if given.
start_array() {
  local name=$1 dir=${2:-}
  if [ -n "$dir" ]; then
    mkdir -p "$dir"
    "$B" --run "$name" --fuse "$dir" "${RUN_ARGS[@]}" >"$T/$name.log" 2>&1 &
  else
    "$B" --run "$name" "${RUN_ARGS[@]}" >"$T/$name.log" 2>&1 &
  fi
  PIDS+=($!)
  local pid=$! end=$((SECONDS + 15))
  until [ -f "$HAFS_RAID_RUN_DIR/$name.pid" ]; do
    kill -0 "$pid" 2>/dev/null || fail "hafs-raid --run $name exited: $(cat "$T/$name.log")"
    [ $SECONDS -lt $end ] || fail "hafs-raid --run $name not ready within 15s: $(cat "$T/$name.log")"
    sleep 0.1
  done
  if [ -n "$dir" ]; then expect_within 10 test -f "$dir/$name"; fi
}
