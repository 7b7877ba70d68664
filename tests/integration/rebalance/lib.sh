# Shared by the rebalance tests: one hafs-mgmtd (a pool of one) on a free loopback port, a
# FUSE mount at $M and a writer, all stopped and removed on any exit. Source it, then
# call start_mgmtd.
set -euo pipefail
BIN=$(cd "${HAFS_BIN_DIR:?set HAFS_BIN_DIR to the bin folder of a build}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "/tmp/hafs-$(basename "$0" .sh).XXXXXX")
M=$WORK/mnt
MGMTD_PID="" WRITER_PID=""
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
fail() {
  log "FAIL: $*"
  tail -n 30 "$WORK/mgmtd.log" 2>/dev/null || true
  # The mount's warnings and errors say which layer refused what.
  grep -E " (warning|error|critical) " "$WORK/fuse.log" 2>/dev/null | tail -n 30 || true
  exit 1
}
cleanup() {
  local rc=$?
  set +e  # every step of the cleanup runs, whatever the previous one returned
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
  if mountpoint -q "$M" 2>/dev/null; then fusermount3 -u "$M" 2>/dev/null || umount -l "$M" 2>/dev/null || true; fi
  for p in $(pgrep -f "hafs-fuse.*$WORK" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  [ -n "$MGMTD_PID" ] && kill "$MGMTD_PID" 2>/dev/null && wait "$MGMTD_PID" 2>/dev/null
  for p in $(pgrep -f "hafs-brickd.*$WORK" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.2
  if [ $rc -ne 0 ] && [ -n "${HAFS_KEEP_FAILED:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  if [ $rc -eq 0 ]; then log "PASS"; else log "exit $rc"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/../lib_common.sh"  # within

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_mgmtd() {
  : > "$WORK/mgmtd.out"
  "$BIN/hafs-mgmtd" --state-dir "$WORK/state" --listen "127.0.0.1:$PORT" --log-file "$WORK/mgmtd.log" \
    >> "$WORK/mgmtd.out" 2>&1 &
  MGMTD_PID=$!
  within 10 grep -q "listening on" "$WORK/mgmtd.out" || fail "mgmtd did not start: $(cat "$WORK/mgmtd.out")"
}
H="$BIN/hafs --remote-host 127.0.0.1:$PORT"
