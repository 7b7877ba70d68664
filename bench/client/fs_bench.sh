#!/usr/bin/env bash
# The client benchmark of issue 3: the same workloads, on the same disk, in the same run, on
#   the local disk · GlusterFS replica 3 · hafs replica 3 · GlusterFS distribute 3 · hafs distribute 3
# plus the web workload (nginx serving a 300-byte page and a 200 KiB image from each, wrk).
# Prints every figure with its ratio to GlusterFS and to the local disk. Needs root; installs
# glusterfs-server, nginx-light and wrk from Debian. Not run by CI.
#
#   sudo bench/client/fs_bench.sh [--quick] [--root-fs] [--hafs-env "VAR=VALUE ..."] [BUILD_BIN_DIR]
# --hafs-env: hafs-fuse's environment for both hafs volumes, e.g. "HAFS_MD_CACHE=0" to measure
# without one of the client's caches (docs/client.md lists the switches).
# Each contender (the local disk, each volume's three bricks) runs on a fresh ext4 of its own,
# made in a file on the same disk (fresh_fs in bench/lib.sh); --root-fs runs them all in one
# folder of the root file system instead, one after another, as before 2026-12-05.
set -euo pipefail
QUICK=0; HAFS_ENV=(); ROOT_FS=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; shift ;;
    --root-fs) ROOT_FS=1; shift ;;
    --hafs-env) read -ra HAFS_ENV <<< "$2"; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-fsbench-$$
ARGS=(--seq-mib 1024 --files 5000 --tree 50000 --mkdirs 2000)
[ $QUICK = 1 ] && ARGS=(--seq-mib 128 --files 1000 --tree 5000 --mkdirs 300)
. "$HERE/../lib.sh"
bench_packages glusterfs-server glusterfs-client nginx-light wrk curl
bench_init

mkdir -p "$W/local"
if [ $ROOT_FS = 0 ]; then for t in local gr3 hr3 gd3 hd3; do fresh_fs "$W/$t"; done; fi
gluster_vol gr3 replica; hafs_vol hr3 replicate "$BIN" "${HAFS_ENV[@]}"
gluster_vol gd3 distribute; hafs_vol hd3 distribute "$BIN" "${HAFS_ENV[@]}"

declare -A RES
for t in local gr3 hr3 gd3 hd3; do
  dir=$W/local; [ $t != local ] && dir=$W/mnt-$t/bench
  echo "running workloads on $t ..." >&2
  RES[$t]=$(python3 "$HERE/fs_workloads.py" "$dir" "${ARGS[@]}")
  if [ $t = hr3 ] || [ $t = hd3 ]; then
    # readdir-prefetch is off by default: one more cold find of the same tree through a second
    # mount with it, mounted only for that (a second mount gets every change pushed to it).
    p=$W/mnt-$t-prefetch
    hafs_mount $t "$p" "log-file=$W/$t-prefetch-fuse.log,readdir-prefetch" "${HAFS_ENV[@]}"
    more=$(python3 "$HERE/fs_workloads.py" "$p/bench" --find-only cold_find_prefetch_s)
    umount "$p" || umount -l "$p"
    RES[$t]=$(python3 -c 'import json, sys; a = json.loads(sys.argv[1]); a.update(json.loads(sys.argv[2])); print(json.dumps(a))' \
      "${RES[$t]}" "$more")
  fi
done

# The web workload: nginx serving from each target, wrk with keep-alive.
head -c 300 /dev/urandom | base64 | head -c 300 > "$W/page.html"
head -c 204800 /dev/urandom > "$W/image.jpg"
WEB=()
web() {  # NAME DOCROOT
  cp "$W/page.html" "$W/image.jpg" "$2/"
  bench_nginx "$1" "$2" /page.html /image.jpg
  WEB+=("$1 $(sed 's/:[0-9]*//g' <<< "$NGINX_RES")")
}
web local "$W/local"; web gr3 "$W/mnt-gr3"; web hr3 "$W/mnt-hr3"
# The way to mount a web root (docs/admin-guide.md §4): read-only, for each replica-3 volume
# the same files through a second mount with `ro` (rows web_page_ro_rps, web_image_ro_rps).
mkdir -p "$W/mnt-gr3-ro"; mount -t glusterfs -o ro "$HOST:/gr3" "$W/mnt-gr3-ro"; MOUNTS+=("$W/mnt-gr3-ro")
hafs_mount hr3 "$W/mnt-hr3-ro" "ro,log-file=$W/hr3-ro-fuse.log" "${HAFS_ENV[@]}"
for t in gr3 hr3; do
  bench_nginx "$t-ro" "$W/mnt-$t-ro" /page.html /image.jpg
  WEB+=("$t-ro $(sed 's/:[0-9]*//g' <<< "$NGINX_RES")")
done

for t in local gr3 hr3 gd3 hd3; do echo "$t ${RES[$t]}"; done > "$W/results.txt"
printf '%s\n' "${WEB[@]}" > "$W/web.txt"
python3 "$HERE/fs_report.py" "$W/results.txt" "$W/web.txt"

# The floor under every hafs figure, measured now: one FUSE request that hafs-fuse answers from
# memory (a lookup of an absent name in a directory it made: md-cache knows it is absent) and
# one brick round trip (hafs-bench-client-rpc: a trivial getattr on loopback, alone and three
# at once as replicate sends them).
echo
python3 - "$W/mnt-hr3/bench/floor" <<'PY'
import os, sys, time
d = sys.argv[1]; os.makedirs(d); n = 5000; t = time.perf_counter()
for i in range(n):
    try: os.stat(f"{d}/absent{i}")
    except FileNotFoundError: pass
print(f"one FUSE request answered from hafs-fuse's memory: {(time.perf_counter() - t) / n * 1e6:.0f} us")
PY
"$BIN/hafs-bench-client-rpc" 3000 2>/dev/null | grep -E "^(getattr sync|3 getattr in parallel \(futures\))" |
  sed 's/^/brick round trip: /' || true
