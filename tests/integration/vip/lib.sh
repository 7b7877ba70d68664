# Shared netns fixture for the hafs-vipd integration tests and benchmark (sourced, bash).
# Topology, all inside namespaces this run creates (names carry the PID, so runs never collide):
#   ${P}sw : bridge br0 (the "switch"), ports p1 p2 p3 pc
#   ${P}d1 ${P}d2 ${P}d3 : directors, eth0 = 10.99.0.1-3/24
#   ${P}cl : client, eth0 = 10.99.0.10/24
# VIPs used by the tests: 10.99.0.100 (external), 10.99.0.101 (internal); UDP responders on port 7000.
# Everything started here is recorded and stopped by PID in vip_cleanup (trap EXIT).
set -u
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VIPCHECK="$HERE/vipcheck.py"
BIN=${HAFS_BIN_DIR:-}
P="hv$$"
WORK=$(mktemp -d /tmp/hafs-vip-test.XXXXXX)
PIDS=()
FAILS=0

say() { echo "[$(date +%T.%3N)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
now() { date +%s.%N; }

vip_cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for ns in sw d1 d2 d3 cl; do ip netns del "$P$ns" 2>/dev/null; done
  if [ -n "${VIP_KEEP_WORK:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap vip_cleanup EXIT
trap 'exit 143' TERM INT  # a killed test still cleans up

# ns NAME CMD...: run in a namespace of this run.
ns() { local n=$1; shift; ip netns exec "$P$n" "$@"; }

# spawn NAME LOGFILE CMD...: start a background process in a namespace; its PID goes to PIDS
# and LAST_PID (never call it inside $(...): the PID list would be lost with the subshell).
spawn() {
  local n=$1 log=$2; shift 2
  ip netns exec "$P$n" "$@" >"$log" 2>&1 &
  LAST_PID=$!
  disown "$LAST_PID" 2>/dev/null || true  # no "Killed" job notices when a test kills it
  PIDS+=("$LAST_PID")
}

vip_topology() {
  ip netns add "${P}sw"
  ns sw ip link set lo up
  ns sw ip link add br0 type bridge
  ns sw ip link set br0 up
  local i=1
  for n in d1 d2 d3 cl; do
    ip netns add "$P$n"
    ns "$n" ip link set lo up
    local port=p$i
    [ $n = cl ] && port=pc
    ip link add eth0 netns "$P$n" type veth peer name "$port" netns "${P}sw"
    ns sw ip link set "$port" master br0
    ns sw ip link set "$port" up
    ns "$n" ip link set eth0 up
    local addr=10.99.0.$i
    [ $n = cl ] && addr=10.99.0.10
    ns "$n" ip addr add "$addr/24" dev eth0
    i=$((i + 1))
  done
  # Let DAD-free IPv4 settle: wait until each director reaches the client (bounded).
  for n in d1 d2 d3; do
    local ok=0
    for _ in $(seq 1 50); do
      if ns cl ping -c1 -W1 -q "10.99.0.${n#d}" >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.1
    done
    [ $ok = 1 ] || { echo "topology: $n unreachable"; exit 1; }
  done
}

# Start a UDP responder on every director and the client poller (20 ms unless $1 given).
vip_start_traffic() {
  local iv=${1:-20} vip=${2:-10.99.0.100}
  for n in d1 d2 d3; do
    spawn "$n" "$WORK/resp-$n.log" $PY "$VIPCHECK" serve "$n" 7000
    eval "RESP_$n=$LAST_PID"
  done
  POLL_LOG=$WORK/poll.log
  spawn cl "$WORK/poller.err" $PY "$VIPCHECK" poll "$vip" 7000 "$iv" "$POLL_LOG"
}

# Capture ARP and ICMPv6 (neighbor discovery) on the bridge with epoch timestamps.
vip_start_arp_capture() {
  ARP_LOG=$WORK/arp.txt
  spawn sw "$ARP_LOG" tcpdump -tt -n -l -i br0 'arp or icmp6'
  sleep 0.5
}

# expect_within SECONDS CMD...: poll CMD every 20 ms until it succeeds; false on timeout.
expect_within() {
  local limit=$1; shift
  local end=$(( $(date +%s%N) / 1000000 + ${limit%.*} * 1000 ))
  case $limit in *.*) local frac=${limit#*.}000; end=$((end + 10#${frac:0:3})) ;; esac
  while :; do
    "$@" && return 0
    [ $(( $(date +%s%N) / 1000000 )) -gt $end ] && return 1
    sleep 0.02
  done
}

# has_vip NODE VIP: the address is configured on NODE's eth0.
has_vip() { ns "$1" ip -4 -o addr show dev eth0 | grep -q " $2/"; }

# status NODE: the daemon's JSON status.
status() { ns "$1" "$BIN/hafs-vipd" --status -S "$WORK/$1.sock"; }

# state_of NODE INSTANCE: MASTER/BACKUP/FAULT from the status socket.
# Parsed with awk, not python: tests poll this every 20 ms and a python start per poll would eat
# the CPU the 20 ms client poller needs on a 2-core machine (and show up as fake gaps).
# The JSON keys of an instance are sorted, so "name" precedes "state".
state_of() {
  status "$1" 2>/dev/null | awk -v want="$2" -F'"' '
    $2 == "name" { name = $4 }
    $2 == "state" && name == want { print $4; exit }'
}
is_state() { [ "$(state_of "$1" "$2")" = "$3" ]; }

# start_vipd NODE CONF: starts hafs-vipd in NODE with CONF; the PID is in VIPD_<node>.
start_vipd() {
  local n=$1 conf=$2
  spawn "$n" "$WORK/vipd-$n.log" "$BIN/hafs-vipd" -f "$conf" -S "$WORK/$n.sock" -l info
  eval "VIPD_$n=$LAST_PID"
}

# last_holder: the node that sent the most recent reply to the poller (cheap: reads one line).
last_holder() { tail -n 1 "$POLL_LOG" 2>/dev/null | awk '{ print $2 }'; }
holder_is() { [ "$(last_holder)" = "$1" ]; }

gap_since() { $PY "$VIPCHECK" gap "$POLL_LOG" "$1" "$2"; }
garps_since() { $PY "$VIPCHECK" garp "$ARP_LOG" "$1" "$2"; }

vip_finish() {
  if [ "$FAILS" -ne 0 ]; then
    echo "---- $FAILS failure(s); daemon logs:"
    for f in "$WORK"/vipd-*.log "$WORK"/ka-*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 40 "$f"; }; done
    exit 1
  fi
  echo "all checks passed"
}
