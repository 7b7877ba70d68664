#!/usr/bin/env bash
# Web serving (issue 3: >= 80 % of nginx on the bare disk): nginx + wrk (keep-alive, 2 nginx
# workers, 2 wrk threads, 20 connections) serving a 300-byte page and a 200 KiB image from
#   the bare disk · hafs replica 3 rw mount · the same volume mounted ro (no-open, the default)
#   · mounted ro with HAFS_NO_OPEN=0 (before) · mounted rw with -o no-open · mounted rw with
#   -o no-open,flush-behind (no FLUSH either)
#   [· GlusterFS replica 3 with --gluster]
# all in the same run, on the same disk, printing req/s, the ratio to the disk and the FUSE
# requests per HTTP request (the bridge's counters, getxattr trusted.hafs.fuse-stats).
# Needs root; installs nginx-light, wrk and curl from Debian. Not run by CI.
#
#   sudo bench/client/web_bench.sh [--gluster] [--secs S] [--rounds N] [BUILD_BIN_DIR]
# --rounds N: every target N times, interleaved; the best round of each is reported (the
# machine is shared: the best is the least disturbed).
set -euo pipefail
GLUSTER=0; ROUNDS=1; WRK_SECS=8
while [ $# -gt 0 ]; do
  case $1 in
    --gluster) GLUSTER=1; shift ;;
    --secs) WRK_SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
export WRK_SECS
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-webbench-$$
. "$HERE/../lib.sh"
if [ $GLUSTER = 1 ]; then bench_packages nginx-light wrk curl glusterfs-server glusterfs-client
else bench_packages nginx-light wrk curl; fi
bench_init

mkdir -p "$W/local"
head -c 300 /dev/urandom | base64 | head -c 300 > "$W/local/page.html"
head -c 204800 /dev/urandom > "$W/local/image.jpg"
chmod 0755 "$W" "$W/local"; chmod 0644 "$W/local/"*

hafs_vol hr3 replicate "$BIN"
cp "$W/local/page.html" "$W/local/image.jpg" "$W/mnt-hr3/"
hafs_mount hr3 "$W/mnt-ro" "ro,log-file=$W/ro-fuse.log"
hafs_mount hr3 "$W/mnt-ro-before" "ro,log-file=$W/robefore-fuse.log" HAFS_NO_OPEN=0
hafs_mount hr3 "$W/mnt-rw-noopen" "no-open,log-file=$W/rwnoopen-fuse.log"
hafs_mount hr3 "$W/mnt-rw-noopen-fb" "no-open,flush-behind,log-file=$W/rwnoopenfb-fuse.log"
TARGETS=(disk:$W/local hafs-rw:$W/mnt-hr3 hafs-ro:$W/mnt-ro hafs-ro-before:$W/mnt-ro-before
         hafs-rw-noopen:$W/mnt-rw-noopen hafs-rw-noopen-fb:$W/mnt-rw-noopen-fb)
if [ $GLUSTER = 1 ]; then
  gluster_vol gr3 replica
  cp "$W/local/page.html" "$W/local/image.jpg" "$W/mnt-gr3/"
  TARGETS+=(gluster-r3:$W/mnt-gr3)
fi

fuse_total() {  # DOCROOT: every FUSE request hafs-fuse has seen on that mount (0 if not hafs)
  python3 -c 'import os,sys
try: t = os.getxattr(sys.argv[1], "trusted.hafs.fuse-stats").decode()
except OSError: print(0); raise SystemExit
# counts only: the "<kind>-us" lines are times
print(sum(int(v) for k, v in (l.split() for l in t.splitlines()) if not k.endswith("-us")))' "$1"
}

declare -A PAGE IMG PER
for round in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    name=${t%%:*}; root=${t#*:}
    echo "round $round: $name ..." >&2
    f0=$(fuse_total "$root")
    bench_nginx "$name" "$root" /page.html /image.jpg
    f1=$(fuse_total "$root")
    read -r p i <<< "$NGINX_RES"
    n=$(( ${p#*:} + ${i#*:} ))
    per=$(python3 -c "print(f'{($f1 - $f0) / max($n, 1):.3f}')")
    if [ -z "${PAGE[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if ${p%%:*} > ${PAGE[$name]} else 1)"; then
      PAGE[$name]=${p%%:*}; PER[$name]=$per
    fi
    if [ -z "${IMG[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if ${i%%:*} > ${IMG[$name]} else 1)"; then
      IMG[$name]=${i%%:*}
    fi
  done
done

printf '%-18s %12s %8s %12s %8s %14s\n' target "page req/s" "÷disk" "image req/s" "÷disk" "FUSE req/HTTP"
for t in "${TARGETS[@]}"; do
  name=${t%%:*}
  python3 - "$name" "${PAGE[$name]}" "${PAGE[disk]}" "${IMG[$name]}" "${IMG[disk]}" "${PER[$name]}" <<'PY'
import sys
n, p, pd, i, idisk, per = sys.argv[1], *map(float, sys.argv[2:])
print(f"{n:<18} {p:12.0f} {p / pd:8.2f} {i:12.0f} {i / idisk:8.2f} {per:14.3f}")
PY
done
