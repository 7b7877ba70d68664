#!/usr/bin/env bash
# The client benchmark of issue 3: the same workloads, on the same disk, in the same run, on
#   the local disk · GlusterFS replica 3 · hafs replica 3 · GlusterFS distribute 3 · hafs distribute 3
# plus the web workload (nginx serving a 300-byte page and a 200 KiB image from each, wrk).
# Prints every figure with its ratio to GlusterFS and to the local disk. Needs root; installs
# glusterfs-server, nginx-light and wrk from Debian. Not run by CI.
#
#   sudo bench/client/fs_bench.sh [--quick] [BUILD_BIN_DIR]
set -euo pipefail
QUICK=0
[ "${1:-}" = --quick ] && { QUICK=1; shift; }
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-fsbench-$$
HOST=$(hostname)
ARGS=(--seq-mib 1024 --files 5000 --tree 50000 --mkdirs 2000)
[ $QUICK = 1 ] && ARGS=(--seq-mib 128 --files 1000 --tree 5000 --mkdirs 300)
export DEBIAN_FRONTEND=noninteractive
for p in glusterfs-server glusterfs-client nginx-light wrk; do
  dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' || NEED+=" $p"
done
[ -n "${NEED:-}" ] && apt-get install -y -qq $NEED >/dev/null

PIDS=(); MOUNTS=(); GVOLS=(); STARTED_GLUSTERD=0
cleanup() {
  for m in "${MOUNTS[@]:-}"; do [ -n "$m" ] && umount -l "$m" 2>/dev/null || true; done
  for v in "${GVOLS[@]:-}"; do
    [ -n "$v" ] && { gluster --mode=script volume stop "$v" force >/dev/null 2>&1; gluster --mode=script volume delete "$v" >/dev/null 2>&1; } || true
  done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ $STARTED_GLUSTERD = 1 ] && pkill glusterd 2>/dev/null || true
  sleep 0.5; rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"

pgrep -x glusterd >/dev/null || { /usr/sbin/glusterd -p "$W/glusterd.pid"; STARTED_GLUSTERD=1; sleep 2; }

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
hafs_vol() {  # NAME replicate|distribute
  local name=$1 type=$2 bricks="" sep=""
  for i in 0 1 2; do
    mkdir -p "$W/$name/h$i"
    "$BIN/hafs-brickd" --brick-path "$W/$name/h$i" --volume-id "$VOLID" --brick-id $i --log-level warn \
      > "$W/$name-h$i.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q 'listening on' "$W/$name-h$i.out" && break; sleep 0.05; done
    local port; port=$(grep -m1 'listening on' "$W/$name-h$i.out"); port=${port##*:}
    bricks+="$sep{\"host\":\"127.0.0.1\",\"port\":$port,\"path\":\"$W/$name/h$i\"}"; sep=","
  done
  local replica=3; [ "$type" = distribute ] && replica=1
  echo "{\"name\":\"$name\",\"id\":\"$VOLID\",\"type\":\"$type\",\"replica\":$replica,\"bricks\":[$bricks]}" > "$W/$name.json"
  mkdir -p "$W/mnt-$name"; "$BIN/mount.hafs" "$W/$name.json" "$W/mnt-$name" -o "log-file=$W/$name-fuse.log"
  MOUNTS+=("$W/mnt-$name")
}

mkdir -p "$W/local"
gluster_vol gr3 replica; hafs_vol hr3 replicate
gluster_vol gd3 distribute; hafs_vol hd3 distribute

declare -A RES
for t in local gr3 hr3 gd3 hd3; do
  dir=$W/local; [ $t != local ] && dir=$W/mnt-$t/bench
  echo "running workloads on $t ..." >&2
  RES[$t]=$(python3 "$HERE/fs_workloads.py" "$dir" "${ARGS[@]}")
done

# The web workload: nginx serving from each target, wrk with keep-alive.
head -c 300 /dev/urandom | base64 | head -c 300 > "$W/page.html"
head -c 204800 /dev/urandom > "$W/image.jpg"
WEB=()
web() {  # NAME DOCROOT
  local name=$1 root=$2 port
  cp "$W/page.html" "$W/image.jpg" "$root/"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$W/nginx-$name"
  cat > "$W/nginx-$name/nginx.conf" <<CONF
worker_processes 2; pid $W/nginx-$name/nginx.pid; error_log $W/nginx-$name/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; open_file_cache off;
  server { listen 127.0.0.1:$port; root $root; } }
CONF
  nginx -c "$W/nginx-$name/nginx.conf" -p "$W/nginx-$name"
  sleep 0.3
  local page img
  page=$(wrk -t2 -c20 -d8s "http://127.0.0.1:$port/page.html" | awk '/Requests\/sec/{print $2}')
  img=$(wrk -t2 -c20 -d8s "http://127.0.0.1:$port/image.jpg" | awk '/Requests\/sec/{print $2}')
  kill "$(cat "$W/nginx-$name/nginx.pid")"
  WEB+=("$name $page $img")
}
web local "$W/local"; web gr3 "$W/mnt-gr3"; web hr3 "$W/mnt-hr3"

for t in local gr3 hr3 gd3 hd3; do echo "$t ${RES[$t]}"; done > "$W/results.txt"
printf '%s\n' "${WEB[@]}" > "$W/web.txt"
python3 "$HERE/fs_report.py" "$W/results.txt" "$W/web.txt"
