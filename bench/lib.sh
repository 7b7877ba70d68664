# Shared by the benchmarks that compare hafs with GlusterFS on this machine: packages,
# one glusterd, GlusterFS and hafs volumes of three bricks on the same disk, and a cleanup
# that removes all of it (mounts, volumes, processes by PID, the work folder) on any exit.
#
#   W=/var/tmp/hafs-xbench-$$; . "$(dirname "$0")/../lib.sh"; bench_init
#   gluster_vol gr3 replica; hafs_vol hr3 replicate "$BIN" [VAR=VALUE...]
#   ...; hafs_down hr3      # optional: a volume made fresh per round
# Volumes mount on $W/mnt-NAME; hafs brick ports are in HAFS_PORTS[NAME] (for
# `hafs-brick-inspect 127.0.0.1:PORT stats`). Not run by CI.

HOST=$(hostname)
PIDS=(); MOUNTS=(); GVOLS=(); GLUSTERD_PID=""; LOOP_FS=()
declare -A HAFS_PORTS HAFS_PIDS

cpu() {  # PID... : CPU seconds used so far (user + system, all threads)
  python3 - "$@" <<'PY'
import os, sys
t = 0
for p in sys.argv[1:]:
    s = open(f"/proc/{p}/stat").read()
    f = s[s.rindex(")") + 2:].split()
    t += int(f[11]) + int(f[12])
print(t / os.sysconf("SC_CLK_TCK"))
PY
}

bench_packages() {  # PACKAGE... : installs those missing, from Debian
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  [ ${#need[@]} = 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

bench_cleanup() {
  local rc=$?
  if [ $rc != 0 ]; then  # say why before the evidence goes
    for f in "$W"/*-fuse.log "$W"/*-h?.out; do [ -f "$f" ] && { echo "== $f"; tail -5 "$f"; } >&2; done
  fi
  for m in "${MOUNTS[@]:-}"; do [ -n "$m" ] && umount -l "$m" 2>/dev/null || true; done
  for v in "${GVOLS[@]:-}"; do
    [ -n "$v" ] && { gluster --mode=script volume stop "$v" force >/dev/null 2>&1; gluster --mode=script volume delete "$v" >/dev/null 2>&1; } || true
  done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$GLUSTERD_PID" ] && kill "$GLUSTERD_PID" 2>/dev/null || true
  sleep 0.5
  local f m dev img
  for f in "${LOOP_FS[@]:-}"; do  # DIR:DEVICE:IMAGE
    [ -n "$f" ] || continue
    IFS=: read -r m dev img <<< "$f"
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    losetup -d "$dev" 2>/dev/null || true; rm -f "$img"
  done
  rm -rf "$W"
}

# fresh_fs DIR [SIZE] : mounts a new ext4 (with its journal, mkfs's defaults: a file system as
# a brick server would have) on DIR, made in a sparse file next to $W — on the same disk.
# Every contender of a benchmark gets one of its own, so none pays for the files another
# deleted: on an ext4 without a journal (this machine's root), inode allocation skips every
# inode freed in the last minutes, and a create after a mass delete cost a brick ~600 us
# more (docs/brickd.md). Removed by bench_cleanup.
fresh_fs() {
  local dir=$1 size=${2:-24G} img dev
  img="$W-$(basename "$dir").img"
  mkdir -p "$dir"; truncate -s "$size" "$img"
  dev=$(losetup -f --show --direct-io=on "$img")
  LOOP_FS+=("$dir:$dev:$img")
  mkfs.ext4 -q -F "$dev" >/dev/null
  mount "$dev" "$dir"
}

bench_init() {  # needs W
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$W"
}

glusterd_up() {  # starts glusterd unless this machine's is running (stopped again on exit)
  # (glusterd processes of other network namespaces do not count: ask this one's.)
  gluster --mode=script volume list >/dev/null 2>&1 && return 0
  /usr/sbin/glusterd -p "$W/glusterd.pid"; sleep 2; GLUSTERD_PID=$(cat "$W/glusterd.pid")
}

gluster_vol() {  # NAME replica|distribute : three bricks under $W/NAME, mounted on $W/mnt-NAME
  local name=$1 kind=$2 spec="" i
  glusterd_up
  # glusterd refuses loopback brick hosts; the host's own name stays on this machine.
  for i in 0 1 2; do mkdir -p "$W/$name/g$i"; spec+=" $HOST:$W/$name/g$i"; done
  if [ "$kind" = replica ]; then gluster --mode=script volume create "$name" replica 3 $spec force >/dev/null
  else gluster --mode=script volume create "$name" $spec force >/dev/null; fi
  GVOLS+=("$name")
  gluster --mode=script volume start "$name" >/dev/null
  mkdir -p "$W/mnt-$name"; mount -t glusterfs "$HOST:/$name" "$W/mnt-$name"; MOUNTS+=("$W/mnt-$name")
}

hafs_vol() {  # NAME replicate|distribute BIN_DIR [VAR=VALUE for the client...]; HAFS_BRICK_ENV: the bricks'
  local name=$1 type=$2 bin=$3 bricks="" sep="" volid i port; shift 3
  volid=0b7e2c4d-6666-4777-8888-$(printf '%06d%06d' $$ ${#PIDS[@]})
  HAFS_PORTS[$name]=""; HAFS_PIDS[$name]=""
  for i in 0 1 2; do
    mkdir -p "$W/$name/h$i"
    # shellcheck disable=SC2086  # HAFS_BRICK_ENV is a list of VAR=VALUE words
    env ${HAFS_BRICK_ENV:-} "$bin/hafs-brickd" --brick-path "$W/$name/h$i" --volume-id "$volid" --brick-id $i --log-level warn \
      > "$W/$name-h$i.out" 2>&1 &
    PIDS+=($!); HAFS_PIDS[$name]+=" $!"
    for _ in $(seq 100); do grep -q 'listening on' "$W/$name-h$i.out" 2>/dev/null && break; sleep 0.05; done
    port=$(grep -m1 'listening on' "$W/$name-h$i.out"); port=${port##*:}
    HAFS_PORTS[$name]+=" $port"
    bricks+="$sep{\"host\":\"127.0.0.1\",\"port\":$port,\"path\":\"$W/$name/h$i\"}"; sep=","
  done
  local replica=3; [ "$type" = distribute ] && replica=1
  echo "{\"name\":\"$name\",\"id\":\"$volid\",\"type\":\"$type\",\"replica\":$replica,\"bricks\":[$bricks]}" > "$W/$name.json"
  mkdir -p "$W/mnt-$name"
  env "$@" "$bin/mount.hafs" "$W/$name.json" "$W/mnt-$name" -o "log-file=$W/$name-fuse.log"
  MOUNTS+=("$W/mnt-$name")
}

hafs_down() {  # NAME : unmounts, stops its bricks, removes them
  umount "$W/mnt-$1" 2>/dev/null || umount -l "$W/mnt-$1" 2>/dev/null || true
  local pid
  for pid in ${HAFS_PIDS[$1]:-}; do kill "$pid" 2>/dev/null || true; done
  HAFS_PIDS[$1]=""; rm -rf "${W:?}/$1"
}

hafs_stats_cmd() {  # NAME : a shell command printing every brick's call counts
  local p cmd=""
  for p in ${HAFS_PORTS[$1]}; do cmd+="$BIN/hafs-brick-inspect 127.0.0.1:$p stats; "; done
  echo "$cmd"
}

hafs_mount() {  # NAME DIR OPTS [VAR=VALUE...] : one more mount of hafs volume NAME on DIR
  local name=$1 dir=$2 opts=$3; shift 3
  mkdir -p "$dir"
  env "$@" "$BIN/mount.hafs" "$W/$name.json" "$dir" -o "$opts"
  MOUNTS+=("$dir")
}

# bench_nginx NAME DOCROOT URLPATH... : nginx (2 workers, sendfile, no open_file_cache)
# serving DOCROOT on a free loopback port; wrk with keep-alive (2 threads, 20 connections,
# ${WRK_SECS:-8} s) on each URLPATH in turn. Sets NGINX_RES to "REQS_PER_S:REQUESTS" per path,
# space-separated (not in a subshell: bench_cleanup stops nginx by its PID if this fails).
bench_nginx() {
  local name=$1 root=$2 port out="" p res pid; shift 2
  NGINX_RES=""
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$W/nginx-$name"
  cat > "$W/nginx-$name/nginx.conf" <<CONF
worker_processes 2; pid $W/nginx-$name/nginx.pid; error_log $W/nginx-$name/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; open_file_cache off;
  server { listen 127.0.0.1:$port; root $root; } }
CONF
  rm -f "$W/nginx-$name/nginx.pid"
  nginx -c "$W/nginx-$name/nginx.conf" -p "$W/nginx-$name"
  for _ in $(seq 100); do [ -s "$W/nginx-$name/nginx.pid" ] && break; sleep 0.05; done
  pid=$(cat "$W/nginx-$name/nginx.pid"); PIDS+=("$pid")
  for p in "$@"; do
    curl -sf "http://127.0.0.1:$port$p" | cmp -s - "$root$p" ||
      { echo "nginx $name: GET $p failed or served other bytes" >&2; kill "$pid"; return 1; }
    res=$(timeout $(( ${WRK_SECS:-8} + 30 )) wrk -t2 -c20 -d"${WRK_SECS:-8}s" "http://127.0.0.1:$port$p")
    out+=" $(awk '/Requests\/sec/{r=$2} / requests in /{n=$1} END{print r ":" n}' <<< "$res")"
  done
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  NGINX_RES=${out# }
}
