#!/usr/bin/env bash
# 150/100/90 failover chain, preemption and nopreempt, with a client polling the VIP every 20 ms.
#   failover.sh VERSION ADVERT_SECONDS     e.g. "3 0.05" or "2 1"
# A node "dies" by kill -9 of its hafs-vipd and its service (the UDP responder); it "returns" by
# restarting both. Every takeover must happen within Master_Down_Interval (+ slack for a loaded
# 2-core machine) and be followed by a gratuitous ARP seen on the bridge.
set -u
VERSION=${1:-3}
ADVERT=${2:-0.05}
source "$(dirname "$0")/lib.sh"
SLACK_MS=${SLACK_MS:-200}

conf() {  # conf NODE PRIO [extra lines]
  local auth=""
  [ "$VERSION" = 2 ] && auth="authentication {
    auth_type PASS
    auth_pass hafs
  }"
  cat >"$WORK/$1.conf" <<CONF
global_defs {
  router_id $1
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  version $VERSION
  priority $2
  advert_int $ADVERT
  $auth
  virtual_ipaddress {
    10.99.0.100/24
  }
  ${3:-}
}
CONF
}

# Master_Down_Interval in ms for a backup of priority $1 (RFC 3768/5798 §6.1).
mdi_ms() {
  awk -v p="$1" -v a="$ADVERT" -v v="$VERSION" 'BEGIN {
    skew = (v == 2) ? (256 - p) / 256 * 1000 : (256 - p) * a * 1000 / 256; printf "%d", 3 * a * 1000 + skew }'
}

kill_node() {  # kill -9 the daemon and the service of a node
  local d r
  eval "d=\$VIPD_$1; r=\$RESP_$1"
  kill -KILL "$d" "$r" 2>/dev/null
}
revive_node() {  # revive NODE [conf suffix]
  spawn "$1" "$WORK/resp-$1.log" $PY "$VIPCHECK" serve "$1" 7000
  eval "RESP_$1=$LAST_PID"
  start_vipd "$1" "$WORK/$1.conf"
}

# check_takeover WHAT T0 NEW_HOLDER BOUND_MS
check_takeover() {
  local what=$1 t0=$2 who=$3 bound=$4 end
  if ! expect_within 10 is_state "$who" VI_1 MASTER; then fail "$what: $who never became MASTER"; return; fi
  expect_within 3 has_vip "$who" 10.99.0.100 || fail "$what: VIP not on $who"
  sleep 0.6  # let the poller see the new holder for a while
  end=$(now)
  read -r g _ < <(gap_since "$t0" "$end")
  after=$($PY "$VIPCHECK" holder "$POLL_LOG" "$t0")
  say "$what: client gap ${g} ms, now answered by $after (bound $bound ms)"
  echo "GAP $what ${g}" >>"$WORK/gaps"
  [ "$after" = "$who" ] || fail "$what: client answered by '$after', expected $who"
  [ "$g" != inf ] && [ "$g" -le "$bound" ] || fail "$what: gap ${g} ms > ${bound} ms"
  local n
  n=$(garps_since 10.99.0.100 "$t0")
  [ "$n" -ge 1 ] && pass "$what: $n gratuitous ARP(s) on the bridge" || fail "$what: no gratuitous ARP after takeover"
}

say "VRRPv$VERSION advert ${ADVERT}s in namespaces $P*"
vip_topology
conf d1 150
conf d2 100
conf d3 90
for n in d1 d2 d3; do "$BIN/hafs-vipd" -t -f "$WORK/$n.conf" >/dev/null || { echo "config check failed"; exit 1; }; done
vip_start_arp_capture
vip_start_traffic 20
start_vipd d1 "$WORK/d1.conf"
start_vipd d2 "$WORK/d2.conf"
start_vipd d3 "$WORK/d3.conf"

limit=$(awk -v a="$ADVERT" 'BEGIN { printf "%d", 10 * a + 5 }')
expect_within "$limit" is_state d1 VI_1 MASTER && pass "d1 (150) elected" || fail "d1 not elected"
expect_within 3 is_state d2 VI_1 BACKUP || fail "d2 not BACKUP"
expect_within 3 is_state d3 VI_1 BACKUP || fail "d3 not BACKUP"
has_vip d2 10.99.0.100 && fail "VIP also on d2"
has_vip d3 10.99.0.100 && fail "VIP also on d3"
expect_within 5 holder_is d1 || fail "client never reached d1 through the VIP"

t0=$(now); kill_node d1
check_takeover "failover 150->100" "$t0" d2 $(($(mdi_ms 100) + SLACK_MS))
t0=$(now); kill_node d2
check_takeover "failover 100->90" "$t0" d3 $(($(mdi_ms 90) + SLACK_MS))
t0=$(now); revive_node d1
# The returning node waits one Master_Down_Interval as a backup, then preempts (RFC 5798 §6.4.2).
check_takeover "preempt 90->150" "$t0" d1 $((SLACK_MS + 100))
is_state d3 VI_1 BACKUP || fail "d3 did not step down"
has_vip d3 10.99.0.100 && fail "d3 kept the VIP after preemption"

revive_node d2
expect_within 5 is_state d2 VI_1 BACKUP || fail "revived d2 not BACKUP"
t0=$(now); kill_node d1
check_takeover "failover 150->100 (2nd)" "$t0" d2 $(($(mdi_ms 100) + SLACK_MS))
conf d1 150 nopreempt
t0=$(now); revive_node d1
expect_within 5 is_state d1 VI_1 BACKUP || fail "nopreempt d1 not BACKUP"
sleep "$(awk -v a="$ADVERT" 'BEGIN { print 8 * a + 0.5 }')"
if is_state d1 VI_1 BACKUP && is_state d2 VI_1 MASTER; then pass "nopreempt: d1 (150) stays BACKUP, d2 keeps the VIP"; else fail "nopreempt: d1 took over"; fi
read -r g _ < <(gap_since "$t0" "$(now)")
after=$($PY "$VIPCHECK" holder "$POLL_LOG" "$t0")
[ "$after" = d2 ] || fail "nopreempt: client moved to $after"
say "nopreempt: longest client gap while d1 returned: $g ms"

cat "$WORK/gaps"
vip_finish
