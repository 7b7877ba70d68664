#!/usr/bin/env bash
# A/B of a client switch on small files: two hafs replica-3 volumes (3 bricks each on
# 127.0.0.1, one mount each) in one run, mount "a" with the client environment given by --a,
# mount "b" with --b. Alternating rounds of FILES × (create O_EXCL + 4 KiB write + close) in
# a fresh directory; prints files/s, the CPU (user + system, /proc/PID/stat) per file of the
# three bricks and of hafs-fuse, and the bricks' calls per file by kind. No GlusterFS
# (meta_bench.sh compares with it). Needs root (FUSE, trusted xattrs). Not run by CI.
#
#   sudo bench/client/client_ab_bench.sh --a HAFS_CLOSE_GATHER_MS=0 [--b VAR=VAL] \
#        [--files 2000] [--rounds 3] [BUILD_BIN_DIR]
set -euo pipefail
FILES=2000; ROUNDS=3; A=(); B=()
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --a) A+=("$2"); shift 2 ;;
    --b) B+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-clientab-$$
. "$HERE/../lib.sh"
bench_init

hafs_vol a replicate "$BIN" "${A[@]:-HAFS_AB=a}"
hafs_vol b replicate "$BIN" "${B[@]:-HAFS_AB=b}"
declare -A FUSE_PID
for v in a b; do
  for _ in $(seq 100); do mountpoint -q "$W/mnt-$v" && break; sleep 0.1; done
  mountpoint -q "$W/mnt-$v" || { echo "mount $v did not come up" >&2; exit 1; }
  FUSE_PID[$v]=$(pgrep -f "hafs-fuse.*$W/mnt-$v" | head -1)
  [ -n "${FUSE_PID[$v]}" ] || { echo "no hafs-fuse for mount $v" >&2; exit 1; }
done

calls() {  # VOL : "op=count ..." summed over the volume's bricks
  local p
  for p in ${HAFS_PORTS[$1]}; do "$BIN/hafs-brick-inspect" "127.0.0.1:$p" stats; done |
    awk '$2 == "count" {n[$1] += $3} END {for (o in n) if (n[o] > 0) printf "%s=%d ", o, n[o]}'
}

per_file() {  # BEFORE AFTER : the difference of two calls() lines, per file
  python3 - "$1" "$2" "$FILES" <<'PY'
import sys
def parse(s): return {k: int(v) for k, v in (x.split("=") for x in s.split())}
a, b, n = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3])
print(" ".join(f"{k} {(b[k]-a.get(k,0))/n:.2f}" for k in sorted(b) if b[k] - a.get(k, 0) >= n / 100))
PY
}

run() {  # VOL ROUND : prints one result line
  local v=$1 r=$2 d="$W/mnt-$1/r$2" b0 b1 f0 f1 t0 t1 k0 k1
  mkdir -p "$d"
  sleep 2  # the previous round's delayed releases are out
  k0=$(calls "$v"); b0=$(cpu ${HAFS_PIDS[$v]}); f0=$(cpu "${FUSE_PID[$v]}"); t0=$(date +%s.%N)
  timeout 600 python3 - "$d" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
data = b"x" * 4096
for i in range(n):
    fd = os.open(f"{d}/f{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, data); os.close(fd)
PY
  t1=$(date +%s.%N); b1=$(cpu ${HAFS_PIDS[$v]}); f1=$(cpu "${FUSE_PID[$v]}")
  sleep 2; k1=$(calls "$v")
  python3 -c "print(f'$v round $r: {$FILES/($t1-$t0):5.0f} files/s, bricks {($b1-$b0)*1e6/$FILES:5.0f} us CPU/file, hafs-fuse {($f1-$f0)*1e6/$FILES:5.0f} us CPU/file', end='')"
  echo " | calls/file: $(per_file "$k0" "$k1")"
}

echo "hafs replica 3, 3 bricks on 127.0.0.1; a: ${A[*]:-(defaults)}; b: ${B[*]:-(defaults)}; $FILES files per round"
for r in $(seq "$ROUNDS"); do
  run a "$r"
  run b "$r"
done
hafs_down a
hafs_down b
