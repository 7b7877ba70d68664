#!/usr/bin/env bash
# Brick CPU end to end: two hafs replica-3 volumes (3 bricks each on 127.0.0.1, one mount
# each) in one run, the first with the bricks' CPU tuning switched off (HAFS_BRICK_TUNE=0 in
# hafs-brickd's environment), the second as built. Alternating rounds of a sequential write
# (1 MiB writes, then fsync) and of create + 4 KiB write + close, on each mount; prints the
# rate and the CPU the three bricks used (user + system, from /proc/PID/stat) per MiB and per
# file. No GlusterFS. Needs root (FUSE, trusted xattrs). Not run by CI.
#
#   sudo bench/brickd/brick_cpu_e2e.sh [--mib 1024] [--files 2000] [--rounds 2] [BUILD_BIN_DIR]
set -euo pipefail
MIB=1024; FILES=2000; ROUNDS=2
while [ $# -gt 0 ]; do
  case $1 in
    --mib) MIB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-brickcpu-$$
. "$HERE/../lib.sh"
bench_init

HAFS_BRICK_TUNE=0 hafs_vol off replicate "$BIN"
HAFS_BRICK_TUNE=1 hafs_vol on replicate "$BIN"
for v in off on; do
  for _ in $(seq 100); do mountpoint -q "$W/mnt-$v" && break; sleep 0.1; done
  mountpoint -q "$W/mnt-$v" || { echo "mount $v did not come up" >&2; exit 1; }
done

run() {  # VOL ROUND : prints one result line
  local v=$1 r=$2 d="$W/mnt-$1/r$2" c0 c1 t0 t1
  mkdir -p "$d"
  c0=$(cpu ${HAFS_PIDS[$v]}); t0=$(date +%s.%N)
  timeout 600 python3 - "$d" "$MIB" <<'PY'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
block = os.urandom(1 << 20)
fd = os.open(f"{d}/seq.bin", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
for _ in range(mib):
    os.write(fd, block)
os.fsync(fd); os.close(fd)
PY
  t1=$(date +%s.%N); c1=$(cpu ${HAFS_PIDS[$v]})
  local seq_mbps seq_cpu
  seq_mbps=$(python3 -c "print(f'{$MIB*1.048576/($t1-$t0):.0f}')")
  seq_cpu=$(python3 -c "print(f'{($c1-$c0)*1000/$MIB:.2f}')")
  c0=$(cpu ${HAFS_PIDS[$v]}); t0=$(date +%s.%N)
  timeout 600 python3 - "$d" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.mkdir(f"{d}/small")
data = b"x" * 4096
for i in range(n):
    fd = os.open(f"{d}/small/f{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, data); os.close(fd)
PY
  t1=$(date +%s.%N); c1=$(cpu ${HAFS_PIDS[$v]})
  local cr_rate cr_cpu
  cr_rate=$(python3 -c "print(f'{$FILES/($t1-$t0):.0f}')")
  cr_cpu=$(python3 -c "print(f'{($c1-$c0)*1e6/$FILES:.0f}')")
  printf "%-4s round %d: seq write %5s MB/s, bricks %6s ms CPU/MiB | create+4K %5s files/s, bricks %5s us CPU/file\n" \
    "$v" "$r" "$seq_mbps" "$seq_cpu" "$cr_rate" "$cr_cpu"
  rm -rf "$d"
}

echo "hafs replica 3, 3 bricks on 127.0.0.1; off = HAFS_BRICK_TUNE=0 on the bricks; $MIB MiB sequential, $FILES files"
for r in $(seq "$ROUNDS"); do
  run off "$r"
  run on "$r"
done
hafs_down off
hafs_down on
