#!/usr/bin/env bash
# The thesis evaluation, reproduced: ApacheBench (ab) against the static page, pi.php?n=100000
# and the image, through the external VIP, on two clusters built on this machine in the same run:
#
#   incumbent  GlusterFS 10 replica 3 (one glusterd per storage node) + the same nginx/php-fpm web
#              nodes (gv0 mounted with mount -t glusterfs) + HAProxy 2.6 + keepalived 2.2 on three
#              directors (VRRPv3, 100 ms adverts, priorities 150/100/90, external + internal VIP)
#   hafs       tools/cluster/hafs-cluster up (hafs-mgmtd/brickd, mount -t hafs, hafs-lb, hafs-vipd)
#
# Both have the same shape: 3 storage, 3 web, 3 director network namespaces and a client namespace
# on one bridge (inside a switch namespace); same site files (hafs-cluster's own generator), same
# nginx/php-fpm settings, same balancer frontends (http :80 with SERVERID cookie, tcp :8080
# roundrobin, stats :8404), same health checks. They run one after the other (never together).
#
# Usage (root):  bench/cluster/thesis_bench.sh [--quick] [--repeat R] [--bin-dir DIR]
#                                             [--only incumbent|hafs] [--direct] [--out FILE.tsv]
#   default  n = 1000 5000 10000 20000, c = 1 3 5 10 20 (hours on 2 cores)
#   --quick  n = 1000, c = 1 5 20 (about 2 minutes per round)
#   --repeat R  R rounds, each building, measuring and removing the incumbent and then hafs
#            (alternating, so both see the same machine); the tables show medians over rounds
#   --direct also run the matrix against web node w1 itself (no balancer, no VIP), which splits
#            the difference between the stacks into storage+web and balancer
# Prints one table per page: n, c, requests/s, mean time per request, failed requests, for the
# incumbent and hafs with the ratio hafs/incumbent (req/s: >1 is better for hafs).
#
# Network: addresses 10.214.0.0/24 (incumbent) and hafs-cluster's own subnet exist only inside
# namespaces this script (or hafs-cluster) creates; nothing is sent outside them.
# Bench-only packages (installed here with apt-get when missing; not in tools/deps):
#   glusterfs-server glusterfs-client haproxy keepalived nginx-light php-fpm apache2-utils curl
#   python3 iproute2 util-linux
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=0
DIRECT=0
REPEAT=1
ONLY=""
BIN_DIR=${HAFS_BIN_DIR:-$ROOT/build/bin}
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --direct) DIRECT=1 ;;
    --repeat) REPEAT=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --bin-dir) BIN_DIR=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,26p "$0"; exit 0 ;;
    *) echo "thesis_bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "thesis_bench: --repeat needs a positive integer" >&2; exit 2; }
case $ONLY in ""|incumbent|hafs) ;; *) echo "thesis_bench: --only incumbent|hafs" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "thesis_bench: must run as root" >&2; exit 2; }
if [ $QUICK = 1 ]; then NS=(1000); CS=(1 5 20); else NS=(1000 5000 10000 20000); CS=(1 3 5 10 20); fi
PAGES=("/static.html" "/pi.php?n=100000" "/image.png")
# To re-measure a corner of the matrix: THESIS_N="20000" THESIS_C="3 5" THESIS_PAGES="/static.html"
[ -n "${THESIS_N:-}" ] && read -r -a NS <<<"$THESIS_N"
[ -n "${THESIS_C:-}" ] && read -r -a CS <<<"$THESIS_C"
[ -n "${THESIS_PAGES:-}" ] && read -r -a PAGES <<<"$THESIS_PAGES"

P=hinc-                 # incumbent namespace prefix
SUB=10.214.0            # incumbent subnet (hafs-cluster uses its own)
BR=hincbr0
VIP_EXT=$SUB.100
VIP_INT=$SUB.101
HAFS_PREFIX=hthb-       # hafs-cluster namespaces of this bench (not the demo's hafs-)
HAFS_PORT=18180          # + 10 per round: a fresh loopback port set each time (hafs-cluster refuses one in TIME_WAIT)

W=$(mktemp -d /tmp/hafs-thesis.XXXXXX)
chmod 755 "$W"          # nginx and php-fpm workers (www-data) traverse it to the docroot
RESULTS=$W/results.tsv
: >"$RESULTS"
declare -A HOLDER       # node -> pid of the process holding its mount namespace
NETNS=()                # namespaces we created, in creation order
SPAWNED=()              # pids of daemons we started
HAFS_UP=0

log() { echo "[thesis $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

need_packages() {
  local pkgs=(glusterfs-server glusterfs-client haproxy keepalived nginx-light php-fpm apache2-utils curl python3)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  timeout 300 apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

# ---- cleanup: processes by pid (everything inside our nodes' mount namespaces), mounts, netns ----
mntns_of() { readlink "/proc/$1/ns/mnt" 2>/dev/null; }
pids_in_mntns() {  # pids_in_mntns NS_ID: every process in that mount namespace
  local d
  for d in /proc/[0-9]*; do
    [ "$(readlink "$d/ns/mnt" 2>/dev/null)" = "$1" ] && echo "${d#/proc/}"
  done
}
incumbent_down() {
  local n ns id pids m
  for n in "${!HOLDER[@]}"; do
    [ -d "/proc/${HOLDER[$n]}" ] || continue
    # unmount the glusterfs mounts first (web nodes), while the bricks still answer
    for m in $(nsenter -t "${HOLDER[$n]}" -m -- awk '$3 ~ /^fuse/ {print $2}' /proc/mounts 2>/dev/null | grep "^$W/" ); do
      timeout 10 nsenter -t "${HOLDER[$n]}" -m -- umount "$m" 2>/dev/null \
        || timeout 10 nsenter -t "${HOLDER[$n]}" -m -- umount -l "$m" 2>/dev/null
    done
  done
  for n in "${!HOLDER[@]}"; do
    id=$(mntns_of "${HOLDER[$n]}") || continue
    [ -n "$id" ] || continue
    pids=$(pids_in_mntns "$id" | grep -vx "${HOLDER[$n]}")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  done
  for p in "${SPAWNED[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for n in "${!HOLDER[@]}"; do
    id=$(mntns_of "${HOLDER[$n]}") || continue
    [ -n "$id" ] || continue
    pids=$(pids_in_mntns "$id")
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  done
  for p in "${SPAWNED[@]}"; do kill -KILL "$p" 2>/dev/null; done
  HOLDER=(); SPAWNED=()
  local i
  for ((i = ${#NETNS[@]} - 1; i >= 0; i--)); do
    ns=${NETNS[$i]}
    for _ in $(seq 30); do
      [ -e "/run/netns/$ns" ] || break
      ip netns del "$ns" 2>/dev/null && break
      sleep 0.2
    done
  done
  NETNS=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  incumbent_down
  if [ $HAFS_UP = 1 ]; then
    timeout 120 "$ROOT/tools/cluster/hafs-cluster" --dir "$W/hafs" down >>"$W/hafs-cluster.log" 2>&1 \
      || log "hafs-cluster down failed (see $W/hafs-cluster.log)"
  fi
  if [ -s "$RESULTS" ]; then
    local keep=${OUT:-/tmp/hafs-thesis-results-$(date +%Y%m%d-%H%M%S).tsv}
    cp "$RESULTS" "$keep" && log "raw results kept in $keep"
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for SECONDS WHAT CMD...
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && die "$what: not ready within ${t}s"
    sleep 0.2
  done
}

# ---- incumbent topology ----------------------------------------------------------------------
nsx() { local n=$1; shift; nsenter -t "${HOLDER[$n]}" -m -n -- "$@"; }
spawn() {  # spawn NODE LOG CMD...: a daemon in the node's namespaces; pid in LAST_PID
  local n=$1 lg=$2; shift 2
  setsid nsenter -t "${HOLDER[$n]}" -m -n -- "$@" </dev/null >>"$lg" 2>&1 &
  LAST_PID=$!
  disown
  SPAWNED+=("$LAST_PID")
}
add_node() {  # add_node NAME ADDRESS
  local n=$1 addr=$2 ns=$P$1
  [ -e "/run/netns/$ns" ] && die "namespace $ns exists (another run? delete it with ip netns del $ns)"
  NETNS+=("$ns")
  ip netns add "$ns" && ip -n "$ns" link set lo up || die "ip netns add $ns"
  ip link add eth0 netns "$ns" type veth peer name "$n" netns "${P}sw" || die "veth $n"
  ip -n "${P}sw" link set "$n" master $BR up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  mkdir -p "$W/$n"
  setsid ip netns exec "$ns" unshare --mount --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  HOLDER[$n]=$!
  disown
  local i
  for i in $(seq 100); do
    [ "$(cat "/proc/${HOLDER[$n]}/comm" 2>/dev/null)" = sleep ] && return 0
    sleep 0.02
  done
  die "namespace holder of $n did not start"
}

site_files() {  # the very files hafs-cluster seeds (its generator), with this cluster's VIPs
  mkdir -p "$W/site"
  python3 - "$ROOT/tools/cluster" "$W/site" "$VIP_EXT" "$VIP_INT" <<'PY' || die "cannot generate the site with hafs_cluster.web"
import os, sys
sys.path.insert(0, sys.argv[1])
from hafs_cluster.web import site_files
class S:  # the two attributes site_files reads
    vip_external, vip_internal = sys.argv[3], sys.argv[4]
for name, content in site_files(S()).items():
    data = content if isinstance(content, bytes) else content.encode()
    with open(os.path.join(sys.argv[2], name), "wb") as f:
        f.write(data)
PY
}

start_storage() {
  local i n
  for i in 1 2 3; do
    n=s$i
    mkdir -p "$W/$n/glusterd" "$W/$n/log" "$W/$n/brick"
    # glusterd keeps global state in /var/lib/glusterd, /var/log/glusterfs and /run: give each
    # node private copies inside its own mount namespace (hooks and option groups from the package).
    for d in hooks groups; do [ -d /var/lib/glusterd/$d ] && cp -a /var/lib/glusterd/$d "$W/$n/glusterd/"; done
    nsx $n mount --bind "$W/$n/glusterd" /var/lib/glusterd || die "bind /var/lib/glusterd on $n"
    nsx $n mount --bind "$W/$n/log" /var/log/glusterfs || die "bind /var/log/glusterfs on $n"
    nsx $n mount -t tmpfs -o mode=755 tmpfs /run || die "tmpfs /run on $n"
    nsx $n mkdir -p /run/gluster
    spawn $n "$W/$n/glusterd.out" glusterd -N -p /run/glusterd.pid
  done
  for i in 1 2 3; do wait_for 30 "glusterd on s$i" nsx s$i gluster --mode=script pool list; done
  nsx s1 gluster --mode=script peer probe $SUB.12 >/dev/null || die "peer probe s2"
  nsx s1 gluster --mode=script peer probe $SUB.13 >/dev/null || die "peer probe s3"
  wait_for 30 "gluster pool" sh -c "[ \$(nsenter -t ${HOLDER[s1]} -m -n -- gluster --mode=script peer status | grep -c 'Peer in Cluster (Connected)') -eq 2 ]"
  wait_for 30 "pool seen from s3" sh -c "[ \$(nsenter -t ${HOLDER[s3]} -m -n -- gluster --mode=script peer status | grep -c 'Peer in Cluster (Connected)') -eq 2 ]"
  # bricks on the root filesystem of this one machine: gluster wants `force` for that
  nsx s1 gluster --mode=script volume create gv0 replica 3 \
    $SUB.11:"$W/s1/brick" $SUB.12:"$W/s2/brick" $SUB.13:"$W/s3/brick" force >"$W/create.out" 2>&1 \
    || { cat "$W/create.out" >&2; die "gluster volume create"; }
  nsx s1 gluster --mode=script volume start gv0 >/dev/null || die "gluster volume start"
  wait_for 30 "gv0 bricks online" sh -c "[ \$(nsenter -t ${HOLDER[s1]} -m -n -- gluster --mode=script volume status gv0 detail | grep -c '^Online.*: Y') -eq 3 ]"
  log "GlusterFS gv0 replica 3 on s1..s3 ($(glusterfs --version | head -1))"
}

start_web() {
  local i n d fpm
  fpm=$(ls /usr/sbin/php-fpm* | sort -r | head -1)
  for i in 1 2 3; do
    n=w$i; d=$W/$n
    mkdir -p "$d/mnt" "$d/tmp"/{body,fastcgi,proxy,uwsgi,scgi}
    nsx $n mount -t glusterfs -o "backup-volfile-servers=$SUB.12:$SUB.13,log-file=$d/glusterfs-client.log" \
      $SUB.11:/gv0 "$d/mnt" || die "mount -t glusterfs on $n"
  done
  nsx w1 mkdir -p "$W/w1/mnt/site"
  nsx w1 cp -r "$W/site/." "$W/w1/mnt/site/" || die "seeding the site"
  for i in 1 2 3; do
    n=w$i; d=$W/$n
    # the same settings as hafs-cluster's web nodes (tools/cluster/hafs_cluster/web.py)
    cat >"$d/php-fpm.conf" <<EOF
[global]
pid = $d/php-fpm.pid
error_log = $d/php-fpm-error.log
daemonize = no

[www]
user = www-data
group = www-data
listen = $d/php-fpm.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = static
pm.max_children = 4
env[HAFS_NODE] = $n
php_admin_value[opcache.revalidate_freq] = 1
EOF
    cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 2;
user www-data;
pid $d/nginx.pid;
error_log $d/nginx-error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  keepalive_timeout 30;
  client_body_temp_path $d/tmp/body;
  fastcgi_temp_path $d/tmp/fastcgi;
  proxy_temp_path $d/tmp/proxy;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen 80 default_server;
    root $d/mnt/site;
    index index.php index.html;
    add_header X-Hafs-Node $n always;
    location = /hafs-health { return 200 "ok $n\\n"; }
    location ~ \\.php\$ {
      try_files \$uri =404;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_param HAFS_NODE $n;
      fastcgi_pass unix:$d/php-fpm.sock;
    }
  }
}
EOF
    spawn $n "$d/php-fpm.out" "$fpm" -F -y "$d/php-fpm.conf"
    spawn $n "$d/nginx.out" nginx -c "$d/nginx.conf"
  done
  for i in 1 2 3; do
    wait_for 30 "nginx + php-fpm on w$i" sh -c "[ \"\$(nsenter -t ${HOLDER[w$i]} -m -n -- curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1/index.php)\" = 200 ]"
  done
  log "nginx ($(nginx -v 2>&1 | sed 's/.*\///')) + $(basename "$fpm") on w1..w3, docroot on the glusterfs mount"
}

start_directors() {
  local i n d prio
  local prios=(150 100 90)
  for i in 1 2 3; do
    n=d$i; d=$W/$n; prio=${prios[$((i - 1))]}
    ip netns exec $P$n sysctl -q -w net.ipv4.ip_nonlocal_bind=1
    # the same frontends, checks and timeouts as hafs-cluster's hafs-lb configuration
    cat >"$d/haproxy.cfg" <<EOF
global
  nbthread 2
  stats socket $d/haproxy-admin.sock mode 600 level admin

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout check 500ms
  retries 3
  option redispatch
  option forwardfor
  default-server check inter 200 fall 2 rise 2

frontend www
  bind 0.0.0.0:80
  default_backend web

backend web
  balance roundrobin
  cookie SERVERID insert
  option httpchk GET /hafs-health
  server w1 $SUB.21:80 cookie w1
  server w2 $SUB.22:80 cookie w2
  server w3 $SUB.23:80 cookie w3

listen tcp_rr
  mode tcp
  bind 0.0.0.0:8080
  balance roundrobin
  server w1 $SUB.21:80
  server w2 $SUB.22:80
  server w3 $SUB.23:80

listen stats
  bind 0.0.0.0:8404
  stats enable
  stats uri /stats
  stats refresh 2s
EOF
    haproxy -c -q -f "$d/haproxy.cfg" || die "haproxy config of $n"
    spawn $n "$d/haproxy.out" haproxy -db -f "$d/haproxy.cfg"
    local hpid=$LAST_PID
    cat >"$d/keepalived.conf" <<EOF
global_defs {
  router_id $n
  vrrp_version 3
  script_user root
}
vrrp_script chk_lb {
  script "/bin/kill -0 $hpid"
  interval 0.2
  fall 2
  rise 2
  weight 0
}
vrrp_instance VI_EXT {
  interface eth0
  virtual_router_id 51
  priority $prio
  advert_int 0.1
  virtual_ipaddress {
    $VIP_EXT/24
  }
  track_script {
    chk_lb
  }
}
vrrp_instance VI_INT {
  interface eth0
  virtual_router_id 52
  priority $prio
  advert_int 0.1
  virtual_ipaddress {
    $VIP_INT/24
  }
  track_script {
    chk_lb
  }
}
vrrp_sync_group VG {
  group {
    VI_EXT
    VI_INT
  }
}
EOF
    spawn $n "$d/keepalived.out" keepalived -f "$d/keepalived.conf" -P -n -l -G -R \
      -p "$d/ka.pid" -r "$d/ka-vrrp.pid" -c "$d/ka-chk.pid" -b "$d/ka-bfd.pid"
  done
  wait_for 20 "a director holding the VIP" sh -c "ip -n ${P}d1 -4 -o addr show dev eth0 | grep -q ' $VIP_EXT/'"
  log "HAProxy ($(haproxy -v | head -1 | awk '{print $3}')) + keepalived ($(keepalived -v 2>&1 | head -1 | awk '{print $2}')) on d1..d3; VIP $VIP_EXT on d1"
}

incumbent_up() {
  log "building the incumbent cluster (namespaces ${P}*, subnet $SUB.0/24)"
  rm -rf "$W"/s[123] "$W"/w[123] "$W"/d[123] "$W/client" "$W/site"   # a previous round's bricks and state
  NETNS+=("${P}sw")
  [ -e "/run/netns/${P}sw" ] && die "namespace ${P}sw exists (another run? delete it with ip netns del ${P}sw)"
  ip netns add "${P}sw" || die "ip netns add ${P}sw"
  ip -n "${P}sw" link add $BR type bridge && ip -n "${P}sw" link set $BR up || die "bridge"
  local i
  for i in 1 2 3; do add_node s$i $SUB.1$i; done
  for i in 1 2 3; do add_node w$i $SUB.2$i; done
  for i in 1 2 3; do add_node d$i $SUB.3$i; done
  add_node client $SUB.50
  wait_for 20 "network path client -> d3" ip netns exec ${P}client ping -c1 -W1 -q $SUB.33
  site_files
  start_storage
  start_web
  start_directors
}

# ---- the ab matrix -----------------------------------------------------------------------------
ab_field() { sed -n "s/^$1:[[:space:]]*\([0-9.]*\).*/\1/p" "$2" | head -1; }
run_matrix() {  # run_matrix SYSTEM CLIENT_NETNS VIP ROUND
  local sys=$1 cns=$2 vip=$3 round=$4 page n c out url
  for page in "${PAGES[@]}"; do
    url="http://$vip$page"
    code=$(ip netns exec "$cns" curl -s -m 10 -o /dev/null -w '%{http_code}' "$url")
    [ "$code" = 200 ] || die "$sys: $url answers $code"
    ip netns exec "$cns" ab -q -n 50 -c 5 "$url" >/dev/null 2>&1  # warm caches and opcache
  done
  for page in "${PAGES[@]}"; do
    for n in "${NS[@]}"; do
      for c in "${CS[@]}"; do
        out=$W/ab-$sys-$n-$c.txt
        url="http://$vip$page"
        timeout 3600 ip netns exec "$cns" ab -r -s 30 -n "$n" -c "$c" "$url" >"$out" 2>&1
        local rps tpr failed complete non2xx doclen
        doclen=$(ab_field "Document Length" "$out")
        rps=$(ab_field "Requests per second" "$out")
        tpr=$(sed -n 's/^Time per request:[[:space:]]*\([0-9.]*\) \[ms\] (mean)$/\1/p' "$out" | head -1)
        failed=$(ab_field "Failed requests" "$out")
        complete=$(ab_field "Complete requests" "$out")
        non2xx=$(ab_field "Non-2xx responses" "$out")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$page" "$n" "$c" "${rps:-0}" "${tpr:-0}" \
          "${failed:-$n}" "${non2xx:-0}" "${complete:-0}" "${doclen:-0}" "$round" >>"$RESULTS"
        log "round $round $sys $page n=$n c=$c: ${rps:-?} req/s, ${tpr:-?} ms, failed ${failed:-?}${non2xx:+, non-2xx $non2xx}, ${doclen:-?} B"
      done
    done
  done
}

# ---- main ------------------------------------------------------------------------------------------
need_packages
log "mode: $([ $QUICK = 1 ] && echo quick || echo full) (n: ${NS[*]}; c: ${CS[*]}); pages: ${PAGES[*]}"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq "$REPEAT"); do
  if [ "$ONLY" != hafs ]; then
    incumbent_up
    run_matrix incumbent "${P}client" "$VIP_EXT" "$round"
    [ $DIRECT = 1 ] && run_matrix incumbent-direct "${P}client" "$SUB.21" "$round"
    log "stopping the incumbent cluster"
    incumbent_down
  fi

  if [ "$ONLY" != incumbent ]; then
    [ -x "$ROOT/tools/cluster/hafs-cluster" ] || die "tools/cluster/hafs-cluster is missing"
    log "hafs-cluster up (binaries from $BIN_DIR, namespaces ${HAFS_PREFIX}*)"
    HAFS_UP=1
    rm -rf "$W/hafs"
    timeout 300 "$ROOT/tools/cluster/hafs-cluster" --dir "$W/hafs" up --bin-dir "$BIN_DIR" \
      --prefix "$HAFS_PREFIX" --port $((HAFS_PORT + 10 * round)) >>"$W/hafs-cluster.log" 2>&1 \
      || { tail -20 "$W/hafs-cluster.log" >&2; die "hafs-cluster up failed"; }
    st=$("$ROOT/tools/cluster/hafs-cluster" --dir "$W/hafs" status --json) || die "hafs-cluster status"
    read -r HCNS HVIP < <(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["client_netns"], d["vip_external"])' <<<"$st")
    [ -n "$HVIP" ] || die "no client_netns/vip_external in hafs-cluster status --json"
    log "hafs cluster up: client namespace $HCNS, VIP $HVIP"
    run_matrix hafs "$HCNS" "$HVIP" "$round"
    if [ $DIRECT = 1 ]; then
      HW1=$(python3 -c 'import json,sys; print([n["address"] for n in json.load(sys.stdin)["nodes"] if n["name"] == "w1"][0])' <<<"$st")
      run_matrix hafs-direct "$HCNS" "$HW1" "$round"
    fi
    log "hafs-cluster down"
    timeout 120 "$ROOT/tools/cluster/hafs-cluster" --dir "$W/hafs" down >>"$W/hafs-cluster.log" 2>&1 \
      || log "hafs-cluster down failed"
    HAFS_UP=0
  fi
done

python3 "$HERE/thesis_report.py" "$RESULTS"
