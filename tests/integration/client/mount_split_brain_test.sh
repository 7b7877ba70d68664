#!/usr/bin/env bash
# Split-brain through a real client, with the bricks of a real hafs-mgmtd (issue 3):
# - quorum on (the default): brick A down, write X; A back, B and C down: the write is
#   refused (EROFS) and no pair of replicas ends up accusing each other;
# - cluster.quorum-type none: the same sequence makes A and B/C accuse each other; a read
#   gives EIO (never a silent choice); `heal info split-brain` lists the file and
#   `heal split-brain bigger-file` resolves it; then every brick holds the same bytes.
# "Down" is SIGSTOP (the brick hangs; the client declares it down after network.ping-timeout):
# a killed brick would be restarted by mgmtd's supervisor at once. The heal daemon is
# disabled so that nothing heals behind the test's back.
source "$(dirname "$0")/lib.sh"

STOPPED=()
extra_cleanup() {
  for p in "${STOPPED[@]:-}"; do [ -n "$p" ] && kill -CONT "$p" 2>/dev/null; done
  true
}
trap 'rc=$?; extra_cleanup; cleanup $rc' EXIT INT TERM

start_mgmtd
create_replica3 gv0
$H volume set gv0 network.ping-timeout 2 > /dev/null
$H volume heal gv0 disable > /dev/null
$H volume start gv0 > /dev/null
status_json() { $H --json volume status gv0; }
within 20 all_online gv0 || fail "bricks did not come online"
PIDS=($(status_json | python3 -c 'import json,sys; print(" ".join(str(b["pid"]) for b in json.load(sys.stdin)["bricks"]))'))
[ "${#PIDS[@]}" = 3 ] || fail "brick pids: ${PIDS[*]}"

fuse_mount() {
  mkdir -p "$1"; MOUNTS+=("$1")
  timeout 30 "$BIN/hafs-fuse" --volfile-server "127.0.0.1:$PORT" --volume gv0 "$1" \
    -o "log-file=$WORK/fuse-$(basename "$1").log,connect-timeout=5" || fail "mount $1"
  within 5 mountpoint -q "$1" || fail "$1 is not mounted"
}
down() { kill -STOP "${PIDS[$1]}"; STOPPED+=("${PIDS[$1]}"); }
up() { kill -CONT "${PIDS[$1]}"; }
# sequence FILE: writes X with brick 0 down, then Y (longer) with bricks 1 and 2 down, through
# one open descriptor (no lookup in between that could heal brick 0). Prints the outcome of
# each write.
sequence() {
  python3 - "$1" "$WORK" "${PIDS[@]}" <<'PY'
import os, sys, time, signal
path, work, pids = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"base\n", 0); os.fsync(fd)
def stop(i): os.kill(pids[i], signal.SIGSTOP)
def cont(i): os.kill(pids[i], signal.SIGCONT)
stop(0)
try:
    os.pwrite(fd, b"X written while brick 0 was down\n", 0); os.fsync(fd); print("X ok")
except OSError as e:
    print("X", e.errno)
cont(0)
time.sleep(5)          # the client reconnects to brick 0 (backoff <= 2 s, ping-timeout 2 s)
stop(1); stop(2)
try:
    os.pwrite(fd, b"Y written while bricks 1 and 2 were down, longer than X\n", 0); os.fsync(fd); print("Y ok")
except OSError as e:
    print("Y", e.errno)
cont(1); cont(2)
os.close(fd)
PY
}

log "quorum on (auto): the second write is refused, nobody accuses each other"
fuse_mount "$WORK/mq"
sequence "$WORK/mq/q.txt" > "$WORK/q.out"
cat "$WORK/q.out"
grep -qx "X ok" "$WORK/q.out" || fail "with 2 of 3 bricks up the write should succeed"
grep -qx "Y 30" "$WORK/q.out" || fail "with 1 of 3 bricks up the write should get EROFS (30): $(cat "$WORK/q.out")"
$H volume heal gv0 info split-brain > "$WORK/sb0" || fail "heal info split-brain"
grep -q "Number of entries in split-brain: 0" "$WORK/sb0" || fail "quorum on produced a split-brain: $(cat "$WORK/sb0")"
fusermount3 -u "$WORK/mq"
sleep 3
fuse_mount "$WORK/mq2"   # a fresh mount: no cached pages
within 20 grep -q "X written" "$WORK/mq2/q.txt" || fail "read after the sequence: $(cat "$WORK/mq2/q.txt" 2>&1)"
grep -q "Y written" "$WORK/mq2/q.txt" && fail "the refused write is visible"
fusermount3 -u "$WORK/mq2"

log "quorum none: a real split-brain, EIO, listed, resolved"
$H volume set gv0 cluster.quorum-type none > /dev/null
fuse_mount "$WORK/mn"
sequence "$WORK/mn/sb.txt" > "$WORK/n.out"
cat "$WORK/n.out"
grep -qx "X ok" "$WORK/n.out" || fail "write X"
grep -qx "Y ok" "$WORK/n.out" || fail "with quorum none the write on one brick should succeed: $(cat "$WORK/n.out")"
fusermount3 -u "$WORK/mn"
sleep 3   # the bricks answer again
fuse_mount "$WORK/mr"   # a fresh mount: no cached pages
if cat "$WORK/mr/sb.txt" > "$WORK/read.out" 2> "$WORK/read.err"; then
  fail "a split-brained file was read without error: $(cat "$WORK/read.out")"
fi
grep -q "Input/output error" "$WORK/read.err" || fail "expected EIO, got: $(cat "$WORK/read.err")"
$H volume heal gv0 info split-brain > "$WORK/sb1" || fail "heal info split-brain"
grep -q "Number of entries in split-brain: 1" "$WORK/sb1" || fail "split-brain not listed: $(cat "$WORK/sb1")"
cmp -s "$WORK/b0/sb.txt" "$WORK/b1/sb.txt" && fail "the replicas should differ before the resolution"
$H volume heal gv0 split-brain bigger-file /sb.txt > "$WORK/res" || fail "resolution: $(cat "$WORK/res")"
cat "$WORK/res"
cmp "$WORK/b0/sb.txt" "$WORK/b1/sb.txt" || fail "bricks 0 and 1 differ after the resolution"
cmp "$WORK/b0/sb.txt" "$WORK/b2/sb.txt" || fail "bricks 0 and 2 differ after the resolution"
grep -q "Y written" "$WORK/b1/sb.txt" || fail "bigger-file did not pick the bigger copy"
within 20 grep -q "Y written" "$WORK/mr/sb.txt" || fail "the file is not readable after the resolution"
$H volume heal gv0 info split-brain | grep -q "Number of entries in split-brain: 0" || fail "still listed"
log "split-brain produced only without quorum, reported as EIO, resolved by policy"
