#!/usr/bin/env bash
# add-brick + rebalance on a distributed-replicate volume (2 x 2 -> 3 x 2) under a concurrent
# writer on a live FUSE mount: every file reads back with the writer's checksum, the new
# replica set holds files on both of its bricks, and no heal entries are left behind (a
# replicated write refused while its file migrates must not leave pending counters).
set -euo pipefail
BIN=$(cd "${HAFS_BIN_DIR:?set HAFS_BIN_DIR to the bin folder of a build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/hafs-rebalance-repl-test.XXXXXX)
M=$WORK/mnt
MGMTD_PID="" WRITER_PID=""
log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
fail() {
  log "FAIL: $*"
  tail -n 30 "$WORK/mgmtd.log" 2>/dev/null || true
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
within() {
  local limit=$1; shift
  local end=$(( $(date +%s%N) + limit * 1000000000 ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s%N)" -gt "$end" ] && return 1
    sleep 0.1
  done
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/hafs-mgmtd" --state-dir "$WORK/state" --listen "127.0.0.1:$PORT" --log-file "$WORK/mgmtd.log" \
  > "$WORK/mgmtd.out" 2>&1 &
MGMTD_PID=$!
within 10 grep -q "listening on" "$WORK/mgmtd.out" || fail "mgmtd did not start: $(cat "$WORK/mgmtd.out")"
H="$BIN/hafs --remote-host 127.0.0.1:$PORT"
B=127.0.0.1:$WORK
within 15 $H volume create dr replica 2 $B/b0 $B/b1 $B/b2 $B/b3 force || fail "volume create"
$H volume start dr >/dev/null
mkdir -p "$M"
within 20 "$BIN/mount.hafs" "127.0.0.1:$PORT:/dr" "$M" -o "log-file=$WORK/fuse.log" || fail "mount"

python3 "$HERE/writer.py" "$M" 300 "$WORK/ready" "$WORK/stop" "$WORK/writer.log" > "$WORK/writer.out" 2>&1 &
WRITER_PID=$!
within 60 test -e "$WORK/ready" || fail "writer did not get ready: $(cat "$WORK/writer.out")"
$H volume add-brick dr $B/b4 force >"$WORK/err" 2>&1 && fail "add-brick of half a replica set was accepted"
grep -q "number of bricks" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
$H volume add-brick dr $B/b4 $B/b5 force || fail "add-brick"
$H volume rebalance dr start >/dev/null || fail "rebalance start"
done_() { $H --json volume rebalance dr status | grep -q '"status": "completed"'; }
within 150 done_ || fail "rebalance did not complete: $($H volume rebalance dr status)"
$H volume rebalance dr status
touch "$WORK/stop"
wait "$WRITER_PID" || fail "the writer failed: $(cat "$WORK/writer.out")"
WRITER_PID=""
cat "$WORK/writer.out"
$H --json volume rebalance dr status | grep -q '"failures": 0' || fail "rebalance had failures"
( cd "$M" && sha256sum -c --quiet "$WORK/writer.log" ) || fail "checksums differ from the writer's log"
n4=$(find "$WORK/b4" -path "$WORK/b4/.hafs" -prune -o -type f -print | wc -l)
n5=$(find "$WORK/b5" -path "$WORK/b5/.hafs" -prune -o -type f -print | wc -l)
log "the new replica set holds $n4 / $n5 files"
[ "$n4" -gt 0 ] && [ "$n4" = "$n5" ] || fail "the new replica set is not filled alike ($n4 / $n5)"
pending() { [ "$($H --json volume heal dr info | python3 -c 'import json,sys; print(sum(b["entries"] for b in json.load(sys.stdin)["bricks"]))')" = 0 ]; }
within 20 pending || fail "heal entries left: $($H volume heal dr info)"
