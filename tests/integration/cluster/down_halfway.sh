#!/usr/bin/env bash
# hafs-cluster down after an `up` that died half-way: `up` is SIGKILLed at several moments
# (namespaces half made, storage half started, web nodes half mounted ...) and `down` must
# leave no process, mount or namespace behind each time; `up` afterwards works again.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${HAFS_SOURCE_DIR:-$(cd "$HERE/../../.." && pwd)}
BIN=${HAFS_BIN_DIR:?HAFS_BIN_DIR must name the bin directory of a build}
PY=/usr/bin/python3
DIR=$(mktemp -d /tmp/hafs-cluster-halfway.XXXXXX)
PREFIX="hch$$-"
PORT=$($PY "$HERE/poller.py" ports $$)   # three free loopback ports below the ephemeral range
C="$PY $SRC/tools/cluster/hafs-cluster --dir $DIR"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
cleanup() {
  set +e
  timeout 120 $C down >/dev/null 2>&1
  for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX"); do ip netns del "$ns"; done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

nothing_left() {
  local what=$1 left_ns left_proc left_mnt
  left_ns=$(ip netns list | awk '{print $1}' | grep "^$PREFIX")
  left_proc=$($PY "$HERE/poller.py" procs "$PREFIX" "$DIR")
  left_mnt=$(cat /proc/[0-9]*/mounts 2>/dev/null | grep -F "$DIR" | sort -u)
  if [ -z "$left_ns$left_proc$left_mnt" ]; then pass "$what: nothing left"
  else fail "$what: left namespaces [$left_ns] processes [$left_proc] mounts [$left_mnt]"; fi
}

for t in 0.3 1 2 3; do
  timeout -s KILL "$t" $C up --bin-dir "$BIN" --prefix "$PREFIX" --port "$PORT" >/dev/null 2>&1
  echo "up killed after $t s: $(ip netns list | grep -c "^$PREFIX") namespaces, $($PY "$HERE/poller.py" procs "$PREFIX" "$DIR" | wc -l) processes"
  timeout 120 $C down >/dev/null 2>&1 || fail "down after up killed at $t s"
  nothing_left "up killed after $t s, then down"
done
# an up that fails by itself (too short a deadline) leaves the cluster for inspection; down removes it
timeout 60 $C up --bin-dir "$BIN" --prefix "$PREFIX" --port "$PORT" --timeout 2 >/dev/null 2>&1 \
  && echo "note: up finished within 2 s" || pass "up --timeout 2 failed with a message"
timeout 120 $C down >/dev/null 2>&1 || fail "down after a failed up"
nothing_left "failed up, then down"
if timeout 150 $C up --bin-dir "$BIN" --prefix "$PREFIX" --port "$PORT" >/dev/null 2>&1 \
   && [ "$($C status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["healthy"])')" = True ]; then
  pass "a full up works after all that"
else fail "up after the half-way runs"; fi
timeout 120 $C down >/dev/null 2>&1 || fail "final down"
nothing_left "final down"
[ "$FAILS" -eq 0 ] || { echo "---- $FAILS failure(s)"; exit 1; }
echo "all checks passed"
