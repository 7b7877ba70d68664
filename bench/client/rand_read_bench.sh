#!/usr/bin/env bash
# Cold 4 KiB random reads, the one workload of fs_bench.sh where hafs trailed GlusterFS: the
# local disk · GlusterFS replica 3 · hafs replica 3 (· hafs replica 3 with the client or
# brick environment given by --b, for an A/B) in one run, interleaved rounds. Each round
# drops the kernel's caches, then reads READS random 4 KiB blocks of a MIB-MiB file with
# pread (a new seed per round). Prints reads/s per round, the median, the ratios, the CPU
# per read of the client process and of the brick processes (hafs and GlusterFS), and for
# hafs which bricks served the reads.
# Needs root and glusterfs-server (installed from Debian if missing). Not run by CI.
#
#   sudo bench/client/rand_read_bench.sh [--mib 1024] [--reads 3000] [--rounds 3] \
#        [--b VAR=VALUE]... [BUILD_BIN_DIR]
# --b sets the environment of the "hr3b" volume's bricks and client (e.g. GRPC_POLL_STRATEGY=epoll1).
set -euo pipefail
MIB=1024; READS=3000; ROUNDS=3; B=()
while [ $# -gt 0 ]; do
  case $1 in
    --mib) MIB=$2; shift 2 ;;
    --reads) READS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --b) B+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-randbench-$$
. "$HERE/../lib.sh"
bench_packages glusterfs-server glusterfs-client
bench_init

mkdir -p "$W/local"
gluster_vol gr3 replica
hafs_vol hr3 replicate "$BIN"
TARGETS=(local gr3 hr3)
if [ ${#B[@]} -gt 0 ]; then
  # The bricks of hr3b get --b's environment too (export: hafs_vol starts them).
  for kv in "${B[@]}"; do export "${kv?}"; done
  hafs_vol hr3b replicate "$BIN" "${B[@]}"
  for kv in "${B[@]}"; do unset "${kv%%=*}"; done
  TARGETS+=(hr3b)
fi
declare -A FUSE_PID SERVER_PIDS
for t in "${TARGETS[@]}"; do
  [ "$t" = local ] && continue
  for _ in $(seq 100); do mountpoint -q "$W/mnt-$t" && break; sleep 0.1; done
  mountpoint -q "$W/mnt-$t" || { echo "mount $t did not come up" >&2; exit 1; }
  case $t in
    hr3*) FUSE_PID[$t]=$(pgrep -f "hafs-fuse.*$W/mnt-$t( |$)" | head -1); SERVER_PIDS[$t]=${HAFS_PIDS[$t]} ;;
    gr3) FUSE_PID[$t]=$(pgrep -f "glusterfs .*$W/mnt-$t( |$)" | head -1)
         SERVER_PIDS[$t]=$(pgrep -f "glusterfsd .*--volfile-id $t\." | tr '\n' ' ') ;;
  esac
done

dir_of() { [ "$1" = local ] && echo "$W/local" || echo "$W/mnt-$1"; }
reads_per_brick() {  # VOL : each brick's read count, space-separated
  local p
  for p in ${HAFS_PORTS[$1]}; do
    "$BIN/hafs-brick-inspect" "127.0.0.1:$p" stats | awk '$1 == "read" && $2 == "count" {n = $3} END {print n + 0}'
  done | tr '\n' ' '
}

echo "writing ${MIB} MiB to each target ..." >&2
for t in "${TARGETS[@]}"; do
  timeout 900 python3 - "$(dir_of "$t")/rand.bin" "$MIB" <<'PY'
import os, sys
block = os.urandom(1 << 20)
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
for _ in range(int(sys.argv[2])): os.write(fd, block)
os.fsync(fd); os.close(fd)
PY
done
sleep 2  # delayed post-ops are out

: > "$W/rounds.txt"
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1.2
    k0="0"; f0=0; b0=0
    if [ -n "${FUSE_PID[$t]:-}" ]; then
      [ -n "${HAFS_PORTS[$t]:-}" ] && k0=$(reads_per_brick "$t")
      f0=$(cpu "${FUSE_PID[$t]}"); b0=$(cpu ${SERVER_PIDS[$t]})
    fi
    rate=$(timeout 600 python3 - "$(dir_of "$t")/rand.bin" "$READS" "$r" <<'PY'
import os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size
n = int(sys.argv[2]); rnd = random.Random(int(sys.argv[3]))
offs = [rnd.randrange(0, size // 4096) * 4096 for _ in range(n)]
t = time.perf_counter()
for o in offs:
    if len(os.pread(fd, 4096, o)) != 4096: sys.exit("short read")
print(f"{n / (time.perf_counter() - t):.0f}")
PY
)
    extra=""
    if [ -n "${FUSE_PID[$t]:-}" ]; then
      k1="0"; [ -n "${HAFS_PORTS[$t]:-}" ] && k1=$(reads_per_brick "$t")
      f1=$(cpu "${FUSE_PID[$t]}"); b1=$(cpu ${SERVER_PIDS[$t]})
      extra=$(python3 - "$k0" "$k1" "$f0" "$f1" "$b0" "$b1" "$READS" <<'PY'
import sys
k0, k1 = [int(x) for x in sys.argv[1].split()], [int(x) for x in sys.argv[2].split()]
f0, f1, b0, b1, n = (float(x) for x in sys.argv[3:8])
reads = f", brick reads {' '.join(str(b - a) for a, b in zip(k0, k1))}" if k1 != [0] else ""
print(f"client {1e6 * (f1 - f0) / n:.0f} us/read, bricks {1e6 * (b1 - b0) / n:.0f} us/read{reads}")
PY
)
    fi
    echo "round $r $t $rate $extra" | tee -a "$W/rounds.txt" >&2
  done
done

python3 - "$W/rounds.txt" <<'PY'
import statistics, sys
res = {}
for line in open(sys.argv[1]):
    f = line.split()
    res.setdefault(f[2], []).append(float(f[3]))
med = {t: statistics.median(v) for t, v in res.items()}
print("\n| target | cold 4 KiB random reads/s (rounds) | median | ÷ GlusterFS r3 | ÷ local |")
print("|---|---|---|---|---|")
for t, v in res.items():
    print(f"| {t} | {' '.join(f'{x:.0f}' for x in v)} | {med[t]:.0f} | {med[t] / med['gr3']:.2f} | {med[t] / med['local']:.2f} |")
PY
