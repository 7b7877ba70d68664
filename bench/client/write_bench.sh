#!/usr/bin/env bash
# Streaming writes of issue 3, before/after in one run: a sequential 1 GiB write (1 MiB
# blocks, then fsync) and 4 parallel writers (4 x 256 MiB, each fsync'd), on
#   the local disk · GlusterFS replica 3 · hafs replica 3 "before" · hafs replica 3 "after"
# all on the same disk, interleaved ROUNDS times (the machine is shared: medians and ratios
# from the same run are what count). "after" is BIN; "before" is BEFORE_BIN if given, else
# BIN with write-behind off unless --before-brick-env is given (HAFS_WRITE_BEHIND=0: each write(2)
# waits for its round trip;
# --before-env sets another environment, e.g. "HAFS_EAGER_LOCK=0 HAFS_WRITE_BEHIND=0";
# --before-brick-env the before bricks', e.g. "HAFS_BRICK_DIRECT_WRITE_KIB=0").
# Needs root; installs glusterfs-server from Debian. Not run by CI.
#
#   sudo bench/client/write_bench.sh [--mib 1024] [--rounds 3] [--before-env "VAR=VALUE ..."]
#                                    [--before-brick-env "VAR=VALUE ..."] BIN [BEFORE_BIN]
set -euo pipefail
MIB=1024; ROUNDS=3; BEFORE_ENV_SET=""; BEFORE_BRICK_ENV=""
while [ $# -gt 0 ]; do
  case $1 in
    --mib) MIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --before-env) BEFORE_ENV_SET=$2; shift 2 ;;
    --before-brick-env) BEFORE_BRICK_ENV=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n 2,15p "$0" >&2; exit 2; }
AFTER=$(cd "$1" && pwd); BEFORE=$(cd "${2:-$1}" && pwd); BEFORE_ENV=$BEFORE_ENV_SET
[ $# = 1 ] && [ -z "$BEFORE_ENV$BEFORE_BRICK_ENV" ] && BEFORE_ENV=HAFS_WRITE_BEHIND=0
W=/var/tmp/hafs-writebench-$$
. "$(dirname "$0")/../lib.sh"
bench_packages glusterfs-server glusterfs-client
bench_init
mkdir -p "$W/local"
gluster_vol gr3 replica

run() {  # DIR -> "seq_MBps par4_MBps"
  python3 - "$1" "$MIB" <<'PY'
import os, sys, threading, time
d, mib = sys.argv[1], int(sys.argv[2])
block = os.urandom(1 << 20)
def write(path, n):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    for _ in range(n): os.write(fd, block)
    os.fsync(fd); os.close(fd)
t = time.monotonic(); write(f"{d}/seq.bin", mib); seq = mib * 1.048576 / (time.monotonic() - t)
ts = [threading.Thread(target=write, args=(f"{d}/par{k}.bin", mib // 4)) for k in range(4)]
t = time.monotonic(); [x.start() for x in ts]; [x.join() for x in ts]
par = mib * 1.048576 / (time.monotonic() - t)
for k in range(4):  # a writer that failed (its exception stays in its thread) must not count
    size = os.stat(f"{d}/par{k}.bin").st_size
    if size != (mib // 4) << 20: sys.exit(f"{d}/par{k}.bin has {size} bytes: a writer failed")
print(f"{seq:.1f} {par:.1f}")
PY
}
declare -A SEQ PAR
for r in $(seq "$ROUNDS"); do
  for t in local gr3 before after; do
    dir=$W/local; [ $t != local ] && dir=$W/mnt-$t
    [ $t = before ] && HAFS_BRICK_ENV=$BEFORE_BRICK_ENV hafs_vol before replicate "$BEFORE" $BEFORE_ENV
    [ $t = after ] && hafs_vol after replicate "$AFTER"
    sync; echo 3 > /proc/sys/vm/drop_caches
    read -r seq_mbps par_mbps < <(run "$dir")
    # (Files are removed with the volume, not by unlink through it: on a busy shared disk a
    # brick's unlink of 1 GiB can outlast the client's ping-timeout deadline.)
    case $t in before|after) hafs_down $t ;; local) rm -f "$W"/local/*.bin ;; gr3) rm -f "$W"/mnt-gr3/*.bin ;; esac
    SEQ[$t]+="$seq_mbps "; PAR[$t]+="$par_mbps "
    echo "round $r $t: seq ${seq_mbps} MB/s, 4 writers ${par_mbps} MB/s" >&2
  done
done
python3 - <<PY
import statistics as st
seq = {k: [float(x) for x in v.split()] for k, v in {"local": "${SEQ[local]}", "gr3": "${SEQ[gr3]}", "before": "${SEQ[before]}", "after": "${SEQ[after]}"}.items()}
par = {k: [float(x) for x in v.split()] for k, v in {"local": "${PAR[local]}", "gr3": "${PAR[gr3]}", "before": "${PAR[before]}", "after": "${PAR[after]}"}.items()}
print(f"{'MB/s (median of $ROUNDS)':28} {'disk':>8} {'gluster r3':>10} {'hafs before':>11} {'hafs after':>10} {'after/gl':>8} {'before/gl':>9} {'after/(disk/3)':>14}")
for name, res in (("sequential ${MIB} MiB write", seq), ("4 parallel writers", par)):
    m = {k: st.median(v) for k, v in res.items()}
    print(f"{name:28} {m['local']:8.1f} {m['gr3']:10.1f} {m['before']:11.1f} {m['after']:10.1f} "
          f"{m['after']/m['gr3']:8.2f} {m['before']/m['gr3']:9.2f} {m['after']/(m['local']/3):14.2f}")
PY
