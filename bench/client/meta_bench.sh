#!/usr/bin/env bash
# Small-file and metadata workloads only (bench/client/meta_workloads.py), in one run on the
# same disk: the local disk · GlusterFS replica 3 · hafs replica 3 "before" (the same binary
# with HAFS_CREATE_LOCK=0 HAFS_CLOSE_RELEASE_SYNC=1 HAFS_QUICK_READ=0 HAFS_PARENT_ATTR=0:
# creates take no lock with them, close waits for the eager-lock release, no quick read, the
# parent's attributes are asked for again) · hafs replica 3 · the same three for distribute 3.
# For hafs it also prints the calls each operation costs on the bricks (round trips per file).
# Needs root and glusterfs-server (installed from Debian if missing). Not run by CI.
#
#   sudo bench/client/meta_bench.sh [--files N] [--mkdirs N] [BUILD_BIN_DIR [BEFORE_BIN_DIR]]
# With BEFORE_BIN_DIR (e.g. the bin folder of a build of an older commit), "before" runs those
# binaries (bricks and client) without the environment switches.
set -euo pipefail
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --files|--mkdirs) ARGS+=("$1" "$2"); shift 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
OLDBIN=$BIN
[ -n "${2:-}" ] && OLDBIN=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-metabench-$$
HOST=$(hostname)
export DEBIAN_FRONTEND=noninteractive
dpkg-query -W -f='${Status}' glusterfs-server 2>/dev/null | grep -q 'install ok installed' ||
  apt-get install -y -qq glusterfs-server glusterfs-client >/dev/null

PIDS=(); MOUNTS=(); GVOLS=(); GLUSTERD_PID=""
cleanup() {
  for m in "${MOUNTS[@]:-}"; do [ -n "$m" ] && umount -l "$m" 2>/dev/null || true; done
  for v in "${GVOLS[@]:-}"; do
    [ -n "$v" ] && { gluster --mode=script volume stop "$v" force >/dev/null 2>&1; gluster --mode=script volume delete "$v" >/dev/null 2>&1; } || true
  done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$GLUSTERD_PID" ] && kill "$GLUSTERD_PID" 2>/dev/null || true
  sleep 0.5; rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"
if ! pgrep -x glusterd >/dev/null; then
  /usr/sbin/glusterd -p "$W/glusterd.pid"; sleep 2; GLUSTERD_PID=$(cat "$W/glusterd.pid")
fi

gluster_vol() {  # NAME replica|distribute
  local name=$1 kind=$2 spec=""
  for i in 0 1 2; do mkdir -p "$W/$name/g$i"; spec+=" $HOST:$W/$name/g$i"; done
  if [ "$kind" = replica ]; then gluster --mode=script volume create "$name" replica 3 $spec force >/dev/null
  else gluster --mode=script volume create "$name" $spec force >/dev/null; fi
  GVOLS+=("$name")
  gluster --mode=script volume start "$name" >/dev/null
  mkdir -p "$W/mnt-$name"; mount -t glusterfs "$HOST:/$name" "$W/mnt-$name"; MOUNTS+=("$W/mnt-$name")
}

VOLID=0b7e2c4d-5555-4666-8777-$(printf '%012d' $$)
declare -A PORTS
hafs_vol() {  # NAME replicate|distribute BIN [ENV...]
  local name=$1 type=$2 bin=$3 bricks="" sep=""; shift 3
  for i in 0 1 2; do
    mkdir -p "$W/$name/h$i"
    "$bin/hafs-brickd" --brick-path "$W/$name/h$i" --volume-id "$VOLID" --brick-id $i --log-level warn \
      > "$W/$name-h$i.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q 'listening on' "$W/$name-h$i.out" && break; sleep 0.05; done
    local port; port=$(grep -m1 'listening on' "$W/$name-h$i.out"); port=${port##*:}
    PORTS[$name]+=" $port"
    bricks+="$sep{\"host\":\"127.0.0.1\",\"port\":$port,\"path\":\"$W/$name/h$i\"}"; sep=","
  done
  local replica=3; [ "$type" = distribute ] && replica=1
  echo "{\"name\":\"$name\",\"id\":\"$VOLID\",\"type\":\"$type\",\"replica\":$replica,\"bricks\":[$bricks]}" > "$W/$name.json"
  mkdir -p "$W/mnt-$name"
  env "$@" "$bin/mount.hafs" "$W/$name.json" "$W/mnt-$name" -o "log-file=$W/$name-fuse.log"
  MOUNTS+=("$W/mnt-$name")
}

BEFORE=(HAFS_CREATE_LOCK=0 HAFS_CLOSE_RELEASE_SYNC=1 HAFS_QUICK_READ=0 HAFS_PARENT_ATTR=0)
[ "$OLDBIN" != "$BIN" ] && BEFORE=(HAFS_UNUSED=1)
mkdir -p "$W/local"
gluster_vol gr3 replica; hafs_vol hr3old replicate "$OLDBIN" "${BEFORE[@]}"; hafs_vol hr3 replicate "$BIN"
gluster_vol gd3 distribute; hafs_vol hd3old distribute "$OLDBIN" "${BEFORE[@]}"; hafs_vol hd3 distribute "$BIN"

TARGETS=(local gr3 hr3old hr3 gd3 hd3old hd3)
declare -A RES
for t in "${TARGETS[@]}"; do
  dir=$W/local; [ $t != local ] && dir=$W/mnt-$t/bench
  stats=(); [ -n "${PORTS[$t]:-}" ] && stats=(--stats-cmd "for p in ${PORTS[$t]}; do $BIN/hafs-brick-inspect 127.0.0.1:\$p stats; done")
  echo "running on $t ..." >&2
  RES[$t]=$(python3 "$HERE/meta_workloads.py" "$dir" "${ARGS[@]}" "${stats[@]}")
done
for t in "${TARGETS[@]}"; do echo "$t ${RES[$t]}"; done > "$W/results.txt"
python3 - "$W/results.txt" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1]):
    name, js = line.split(" ", 1)
    res[name] = json.loads(js)
keys = ["creates_4k_per_s", "creates_empty_per_s", "mkdirs_per_s", "cold_stats_per_s", "cold_reads_per_s", "cold_ls_l_s",
        "rand_4k_reads_per_s"]
for kind, g, old, new in (("replica 3", "gr3", "hr3old", "hr3"), ("distribute 3", "gd3", "hd3old", "hd3")):
    print(f"\n{kind}:\n\n| workload | local | GlusterFS | hafs before | hafs after | after/before | after/GlusterFS | after/local |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        l, gv, o, nv = (res[x][k] for x in ("local", g, old, new))
        inv = k.endswith("_s") and not k.endswith("per_s")  # seconds: smaller is better
        ratio = (lambda a, b: b / a) if inv else (lambda a, b: a / b)
        print(f"| {k} | {l:.0f} | {gv:.1f} | {o:.1f} | {nv:.1f} | {ratio(nv, o):.2f} | {ratio(nv, gv):.2f} | {ratio(nv, l):.3f} |")
    for t in (old, new):
        print(f"{t}: calls per file on all bricks:")
        for k, ops in res[t].get("rpc_per_file", {}).items():
            print(f"  {k}: " + ", ".join(f"{op} {v}" for op, v in sorted(ops.items())))
PY
