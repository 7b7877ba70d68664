# Shared helpers for the client's mount tests: real bricks, real FUSE mounts, cleaned up on
# any exit. Source it; call hafs_setup first.
set -euo pipefail
BIN=$(cd "${HAFS_BIN_DIR:?set HAFS_BIN_DIR to the bin folder of a build}" && pwd)
VOLID=0b7e2c4d-1111-4222-8333-$(printf '%012d' $$)
WORK=$(mktemp -d /tmp/hafs-mount-test.XXXXXX)
declare -A BRICK_PID BRICK_PORT
MOUNTS=()
MGMTD_PID=""

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }

# cleanup [RC]: unmounts, stops everything the test started, removes $WORK, exits with RC (the
# status the test was leaving with). A test with cleanup of its own calls it from its trap as
# `cleanup $rc` — not `(exit $rc); cleanup`, which under set -e ends the trap at `(exit 1)`
# and left a failed test's mount, mgmtd and bricks behind.
cleanup() {
  local rc=${1:-$?}
  for m in "${MOUNTS[@]:-}"; do
    [ -n "$m" ] && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
  done
  for k in "${!BRICK_PID[@]}"; do kill -9 "${BRICK_PID[$k]}" 2>/dev/null || true; done
  # mgmtd stops the bricks it supervises on SIGTERM; one that has not gone after 5 s is
  # killed, and so are any of its bricks left behind (a CI run once left an mgmtd running).
  if [ -n "$MGMTD_PID" ]; then
    kill "$MGMTD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$MGMTD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$MGMTD_PID" 2>/dev/null || true
    wait "$MGMTD_PID" 2>/dev/null || true
  fi
  pkill -CONT -f "hafs-brickd.*$WORK" 2>/dev/null || true
  pkill -9 -f "hafs-brickd.*$WORK" 2>/dev/null || true
  pkill -9 -f "hafs-fuse.*$WORK" 2>/dev/null || true
  sleep 0.2
  rm -rf "$WORK"
  if [ $rc -eq 0 ]; then log "PASS"; else log "exit $rc"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

# within SECONDS CMD...: retries CMD until it succeeds or the time is up.
source "$(dirname "${BASH_SOURCE[0]}")/../lib_common.sh"  # within
# The Python snippets of the tests import mountcheck.py (drop_caches, seen_within).
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

# The bricks' replication state, read with hafs-brick-inspect: heal_index N lists brick N's
# pending gfids, index_empty succeeds when no brick lists any, pending N GFID prints brick N's
# counters of GFID.
INSPECT="$BIN/hafs-brick-inspect"
heal_index() { "$INSPECT" "127.0.0.1:${BRICK_PORT[$1]}" heal-index | grep -v '^total' || true; }
index_empty() { for n in "${!BRICK_PORT[@]}"; do [ -z "$(heal_index "$n")" ] || return 1; done; }
pending() { "$INSPECT" "127.0.0.1:${BRICK_PORT[$1]}" pending "$2"; }

# start_brick N [PORT]: starts brick N (directory $WORK/bN), on PORT or a free one.
start_brick() {
  local n=$1 port=${2:-0}
  mkdir -p "$WORK/b$n"
  local out="$WORK/b$n.out"
  : > "$out"
  "$BIN/hafs-brickd" --brick-path "$WORK/b$n" --volume-id "$VOLID" --brick-id "$n" \
      --listen "127.0.0.1:$port" --log-level warn > "$out" 2>&1 &
  BRICK_PID[$n]=$!
  within 10 grep -q 'listening on' "$out" || fail "brick $n did not start: $(cat "$out")"
  local line
  line=$(grep -m1 'listening on' "$out")
  BRICK_PORT[$n]=${line##*:}
}

# expect_statfs_sum MOUNT K: the mount's size is the sum of K subvolumes' (bricks on one disk).
expect_statfs_sum() {
  local total one
  total=$(df -k --output=size "$1" | tail -1)
  one=$(df -k --output=size "$WORK/b0" | tail -1)
  [ "$total" -ge $(( one * $2 - $2 )) ] || fail "statfs is not the sum of $2 subvolumes ($total vs $2 x $one)"
}

# cold_walks DIR D F ROUNDS: makes D directories of F empty files in DIR, then lists the tree
# ROUNDS times, the kernel's caches dropped before each `find`: every entry must be listed.
cold_walks() {
  local dir=$1 d=$2 f=$3 rounds=$4
  python3 -c "
import os, sys
for j in range($d):
    os.makedirs('$dir/d%d' % j)
    for i in range($f): open('$dir/d%d/f%d' % (j, i), 'w').close()
"
  for k in $(seq "$rounds"); do
    sync; echo 3 > /proc/sys/vm/drop_caches
    [ "$(find "$dir" | wc -l)" = $(( 1 + d + d * f )) ] || fail "cold find #$k did not list the whole tree"
  done
}

kill_brick() { kill -9 "${BRICK_PID[$1]}" 2>/dev/null || true; wait "${BRICK_PID[$1]}" 2>/dev/null || true; }
restart_brick() { start_brick "$1" "${BRICK_PORT[$1]}"; }

# write_volfile TYPE REPLICA N...: a volfile for bricks N... in $WORK/vol.json
write_volfile() {
  local type=$1 replica=$2; shift 2
  local bricks="" sep=""
  for n in "$@"; do
    bricks+="$sep{\"host\":\"127.0.0.1\",\"port\":${BRICK_PORT[$n]},\"path\":\"$WORK/b$n\"}"
    sep=","
  done
  cat > "$WORK/vol.json" <<JSON
{"name":"testvol","id":"$VOLID","type":"$type","replica":$replica,"bricks":[$bricks],
 "options":{"network.ping-timeout":"2"}}
JSON
}

# mount_vol DIR [OPTS]: mounts $WORK/vol.json on DIR with mount -t hafs (via mount.hafs).
mount_vol() {
  local dir=$1 opts=${2:-log-file=$WORK/fuse-$(basename "$1").log}
  mkdir -p "$dir"
  MOUNTS+=("$dir")
  timeout 30 "$BIN/mount.hafs" "$WORK/vol.json" "$dir" -o "$opts"
  within 5 mountpoint -q "$dir" || fail "$dir is not mounted"
}

# start_mgmtd: one hafs-mgmtd (a pool of one) on a free loopback port, stopped by cleanup.
# Sets PORT, MGMTD_PID and H (the CLI aimed at it).
start_mgmtd() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$BIN/hafs-mgmtd" --state-dir "$WORK/state" --listen "127.0.0.1:$PORT" --log-file "$WORK/mgmtd.log" \
    > "$WORK/mgmtd.out" 2>&1 &
  MGMTD_PID=$!
  within 10 grep -q "listening on" "$WORK/mgmtd.out" || fail "mgmtd did not start: $(cat "$WORK/mgmtd.out")"
  H="$BIN/hafs --remote-host 127.0.0.1:$PORT"
}

# create_replica3 VOL: VOL replica 3 over $WORK/b0..b2 on this host. A fresh mgmtd elects
# itself leader of its one-node pool first: retry until it accepts.
create_replica3() {
  local spec=(replica 3 "127.0.0.1:$WORK/b0" "127.0.0.1:$WORK/b1" "127.0.0.1:$WORK/b2" force)
  mkdir -p "$WORK/b0" "$WORK/b1" "$WORK/b2"
  within 15 $H volume create "$1" "${spec[@]}" || fail "volume create: $($H volume create "$1" "${spec[@]}" 2>&1)"
}

# all_online VOL: every brick of VOL is online according to mgmtd.
all_online() {
  [ "$($H --json volume status "$1" | python3 -c 'import json,sys; print(all(b["online"] for b in json.load(sys.stdin)["bricks"]))')" = True ]
}

# brick_sum read|bytes|direct N...: bricks' read calls ("read", or any op's count), bytes read
# ("bytes") or bytes written around the page cache ("direct"), summed over bricks N..., from
# hafs-brick-inspect's stats.
brick_sum() {
  local what=$1 t=0 c n; shift
  for n in "$@"; do
    if [ "$what" = bytes ]; then
      c=$(timeout 10 "$BIN/hafs-brick-inspect" "127.0.0.1:${BRICK_PORT[$n]}" stats | awk '$1 == "bytes" && $2 == "read" {print $3}')
    elif [ "$what" = direct ]; then
      c=$(timeout 10 "$BIN/hafs-brick-inspect" "127.0.0.1:${BRICK_PORT[$n]}" stats |
        awk '$1 == "bytes" { for (i = 1; i < NF; i++) if ($i == "(direct") { sub(/\)/, "", $(i + 1)); print $(i + 1) } }')
    else
      c=$(timeout 10 "$BIN/hafs-brick-inspect" "127.0.0.1:${BRICK_PORT[$n]}" stats | awk -v op="$what" '$1 == op && $2 == "count" {print $3}')
    fi
    t=$((t + ${c:-0}))
  done
  echo $t
}
# cold [SECONDS]: drops the kernel's caches (then waits SECONDS, e.g. past the attribute timeout).
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; sleep "${1:-0}"; }
