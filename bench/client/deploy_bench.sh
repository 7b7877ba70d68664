#!/usr/bin/env bash
# A web root deployed with rsync, then served: rsync -a of FILES small files (4 KiB, in 20
# directories; rsync writes each to a temporary name and renames it into place) into the
# mount, then a cold read of every file on the same mount (kernel caches dropped and the 1 s
# attribute/entry timeouts expired), as a web server on the deploying node would. On
#   GlusterFS replica 3 · hafs replica 3 without write-through (HAFS_CC_WRITE_THROUGH=0: what
#   a renamed file cost before its content was kept through the rename) · hafs replica 3
# all on the same disk, ROUNDS rounds (a fresh target directory each). Prints the deploy time,
# the cold read rate and, for hafs, the bricks' read calls during the reads; ratios to
# GlusterFS. Needs root; installs rsync and glusterfs-server from Debian. Not run by CI.
#
#   sudo bench/client/deploy_bench.sh [--files 1000] [--rounds 2] [BUILD_BIN_DIR]
set -euo pipefail
FILES=1000; ROUNDS=2
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
W=/var/tmp/hafs-deploybench-$$
. "$(dirname "$0")/../lib.sh"
bench_packages rsync glusterfs-server glusterfs-client
bench_init

mkdir -p "$W/src"
python3 - "$W/src" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = f"{d}/d{i % 20}"
    os.makedirs(sub, exist_ok=True)
    with open(f"{sub}/f{i}.html", "wb") as f:
        f.write(os.urandom(4096))
PY
gluster_vol gr3 replica
hafs_vol off replicate "$BIN" HAFS_CC_WRITE_THROUGH=0
hafs_vol on replicate "$BIN"
for v in off on; do
  for _ in $(seq 100); do mountpoint -q "$W/mnt-$v" && break; sleep 0.1; done
  mountpoint -q "$W/mnt-$v" || { echo "mount $v did not come up" >&2; exit 1; }
done

reads() {  # VOL : read calls so far on its bricks
  local p
  for p in ${HAFS_PORTS[$1]}; do "$BIN/hafs-brick-inspect" "127.0.0.1:$p" stats; done |
    awk '$1 == "read" && $2 == "count" { s += $3 } END { print s + 0 }'
}

round() {  # VOL ROUND : "deploy_s reads_per_s brick_reads"
  local v=$1 dst=$W/mnt-$1/site$2 t0 t1 r0 r1 rate
  t0=$(date +%s.%N)
  rsync -a "$W/src/" "$dst/"
  t1=$(date +%s.%N)
  sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1.2
  r0=0; [ "$v" != gr3 ] && r0=$(reads "$v")
  rate=$(python3 - "$dst" "$W/src" <<'PY'
import os, sys, time
dst, src = sys.argv[1], sys.argv[2]
names = [os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs]
t = time.perf_counter()
for p in names:
    with open(dst + p[len(src):], "rb") as f:
        data = f.read()
    if data != open(p, "rb").read():
        sys.exit(f"{p}: wrong content read back")
print(f"{len(names) / (time.perf_counter() - t):.0f}")
PY
)
  r1=0; [ "$v" != gr3 ] && r1=$(reads "$v")
  echo "$(python3 -c "print(f'{$t1 - $t0:.2f}')") $rate $((r1 - r0))"
}

declare -A DEP RATE CALLS
for r in $(seq "$ROUNDS"); do
  for v in gr3 off on; do
    read -r d rate calls < <(round "$v" "$r")
    DEP[$v]+=" $d"; RATE[$v]+=" $rate"; CALLS[$v]+=" $calls"
    echo "round $r $v: rsync of $FILES files ${d} s, cold reads ${rate}/s, brick read calls $calls" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '%-44s %12s %12s %12s %8s %8s\n' "median of $ROUNDS rounds ($FILES files of 4 KiB)" "GlusterFS r3" "hafs r3 off" "hafs r3" "off/gl" "hafs/gl"
g=$(echo "${DEP[gr3]}" | median); o=$(echo "${DEP[off]}" | median); n=$(echo "${DEP[on]}" | median)
printf '%-44s %12s %12s %12s %8.2f %8.2f\n' "rsync deploy, s (speed ratio)" "$g" "$o" "$n" "$(echo "$g / $o" | bc -l)" "$(echo "$g / $n" | bc -l)"
g=$(echo "${RATE[gr3]}" | median); o=$(echo "${RATE[off]}" | median); n=$(echo "${RATE[on]}" | median)
printf '%-44s %12s %12s %12s %8.2f %8.2f\n' "first cold read of the deployed files, /s" "$g" "$o" "$n" "$(echo "$o / $g" | bc -l)" "$(echo "$n / $g" | bc -l)"
printf '%-44s %12s %12s %12s\n' "brick read calls during those reads" "-" "$(echo "${CALLS[off]}" | median)" "$(echo "${CALLS[on]}" | median)"
