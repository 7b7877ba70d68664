#!/usr/bin/env bash
# Mixed group: hafs-vipd (150) + keepalived (100) + hafs-vipd (90) on one VRID.
#   interop.sh VERSION ADVERT_SECONDS [unicast]     e.g. "3 0.05", "2 1", "3 0.05 unicast"
# They must see each other (no checksum/auth/version drops), elect the same master and fail over
# and preempt as in failover.sh. keepalived runs from Debian with a private config (-f) and private
# pid files (-p/-r/-c/-b), --dont-fork, inside this run's namespace; it is stopped by PID.
set -u
VERSION=${1:-3}
ADVERT=${2:-0.05}
MODE=${3:-multicast}
source "$(dirname "$0")/lib.sh"
SLACK_MS=${SLACK_MS:-250}
command -v keepalived >/dev/null || { echo "keepalived not installed (tools/install-deps)"; exit 1; }

body() {  # body PRIO NODE: the vrrp_instance both implementations read
  local auth="" uc=""
  if [ "$MODE" = unicast ]; then
    uc="unicast_src_ip 10.99.0.${2#d}
  unicast_peer {"
    for p in 1 2 3; do [ "d$p" != "$2" ] && uc="$uc
    10.99.0.$p"; done
    uc="$uc
  }"
  fi
  [ "$VERSION" = 2 ] && auth="authentication {
    auth_type PASS
    auth_pass hafs
  }"
  cat <<CONF
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  version $VERSION
  priority $1
  advert_int $ADVERT
  $auth
  $uc
  virtual_ipaddress {
    10.99.0.100/24
  }
}
CONF
}
body 150 d1 >"$WORK/d1.conf"
body 90 d3 >"$WORK/d3.conf"
{ printf 'global_defs {\n  router_id ka_d2\n  script_user root\n}\n'; body 100 d2; } >"$WORK/ka.conf"

start_keepalived() {
  rm -f "$WORK"/ka*.pid
  spawn d2 "$WORK/ka-d2.log" keepalived -f "$WORK/ka.conf" -P -n -l -D -G -R \
    -p "$WORK/ka.pid" -r "$WORK/ka-vrrp.pid" -c "$WORK/ka-chk.pid" -b "$WORK/ka-bfd.pid"
  KA=$LAST_PID
  expect_within 5 test -s "$WORK/ka-vrrp.pid" || fail "keepalived VRRP child did not start"
  KA_VRRP=$(cat "$WORK/ka-vrrp.pid" 2>/dev/null)
  [ -n "$KA_VRRP" ] && PIDS+=("$KA_VRRP")
}
ka_is_master() { has_vip d2 10.99.0.100 && grep -q 'Entering MASTER STATE' "$WORK/ka-d2.log"; }
mdi_ms() {
  awk -v p="$1" -v a="$ADVERT" -v v="$VERSION" 'BEGIN {
    skew = (v == 2) ? (256 - p) / 256 * 1000 : (256 - p) * a * 1000 / 256; printf "%d", 3 * a * 1000 + skew }'
}
drops_ok() {  # hafs node saw keepalived's adverts and dropped none as malformed
  status "$1" | $PY -c '
import json, sys
c = json.load(sys.stdin)["instances"][0]["counters"]
bad = {k: v for k, v in c.items() if k.startswith("drop_") and v}
print(bad if bad else "no drops", "received", c["adverts_received"])
sys.exit(1 if bad else 0)'
}
gap_check() {  # gap_check WHAT T0 HOLDER BOUND
  sleep 0.6
  read -r g _ < <(gap_since "$2" "$(now)")
  local h
  h=$($PY "$VIPCHECK" holder "$POLL_LOG" "$2")
  say "$1: client gap $g ms, served by $h (bound $4 ms)"
  [ "$h" = "$3" ] || fail "$1: client served by $h, expected $3"
  [ "$g" != inf ] && [ "$g" -le "$4" ] || fail "$1: gap $g ms > $4 ms"
}

say "interop VRRPv$VERSION advert ${ADVERT}s $MODE, keepalived $(keepalived --version 2>&1 | head -1)"
vip_topology
vip_start_traffic 20
start_vipd d1 "$WORK/d1.conf"
start_keepalived
start_vipd d3 "$WORK/d3.conf"
limit=$(awk -v a="$ADVERT" 'BEGIN { printf "%d", 10 * a + 5 }')
expect_within "$limit" is_state d1 VI_1 MASTER || fail "hafs d1 (150) not elected"
sleep "$(awk -v a="$ADVERT" 'BEGIN { print 5 * a + 0.3 }')"
has_vip d2 10.99.0.100 && fail "keepalived also holds the VIP (does not see hafs-vipd)"
grep -q 'Entering BACKUP STATE' "$WORK/ka-d2.log" && pass "keepalived (100) is BACKUP under hafs-vipd (150)" || fail "keepalived not BACKUP"
is_state d3 VI_1 BACKUP || fail "d3 not BACKUP"
drops_ok d3 && pass "hafs d3 accepts every advert (incl. keepalived's)" || fail "d3 dropped adverts"

t0=$(now)
kill -KILL "$VIPD_d1" "$RESP_d1"
expect_within 10 ka_is_master && pass "failover hafs 150 -> keepalived 100" || fail "keepalived did not take over"
is_state d3 VI_1 BACKUP || fail "d3 (90) should stay BACKUP under keepalived"
gap_check "failover 150->ka100" "$t0" d2 $(($(mdi_ms 100) + SLACK_MS))
drops_ok d3 || fail "d3 dropped keepalived's adverts while it was master"

t0=$(now)
# The VRRP child first: killed parent-first, it could get its parent-death signal and resign cleanly.
kill -KILL "$KA_VRRP" "$KA" "$RESP_d2"
expect_within 10 is_state d3 VI_1 MASTER && pass "failover keepalived 100 -> hafs 90" || fail "d3 did not take over"
gap_check "failover ka100->90" "$t0" d3 $(($(mdi_ms 90) + SLACK_MS))

t0=$(now)
spawn d1 "$WORK/resp-d1.log" $PY "$VIPCHECK" serve d1 7000
RESP_d1=$LAST_PID
start_vipd d1 "$WORK/d1.conf"
expect_within 10 is_state d1 VI_1 MASTER && pass "hafs d1 preempts" || fail "d1 did not preempt"
gap_check "preempt 90->150" "$t0" d1 $((SLACK_MS + 100))

# keepalived returns below a hafs master: it must stay BACKUP (and stop holding its stale VIP).
spawn d2 "$WORK/resp-d2.log" $PY "$VIPCHECK" serve d2 7000
RESP_d2=$LAST_PID
mv "$WORK/ka-d2.log" "$WORK/ka-d2.first.log"
start_keepalived
sleep "$(awk -v a="$ADVERT" 'BEGIN { print 10 * a + 1 }')"
is_state d1 VI_1 MASTER || fail "d1 lost mastership when keepalived returned"
has_vip d2 10.99.0.100 && fail "restarted keepalived holds the VIP"
drops_ok d1 && pass "hafs d1 accepts keepalived's adverts" || fail "d1 dropped keepalived's adverts"
# keepalived (now master-capable at 100) must see hafs-vipd's priority 0 when d1 stops cleanly.
t0=$(now)
kill -TERM "$VIPD_d1" "$RESP_d1"
expect_within 5 ka_is_master && pass "graceful stop of hafs d1: keepalived takes over" || fail "keepalived did not take over after SIGTERM"
dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')
say "keepalived took over ${dt} ms after hafs-vipd resigned (priority 0)"
vip_finish
