#!/usr/bin/env bash
# Sync group + track_script + notify scripts + notify_fifo + status socket, over unicast VRRPv3.
# Each director runs two instances (VI_EXT 10.99.0.100, VI_INT 10.99.0.101) in one vrrp_sync_group;
# VI_EXT tracks "is the balancer answering?" (here: is the node's responder process alive).
# Stopping the balancer on the master must move BOTH VIPs within interval x fall + one advert.
set -u
source "$(dirname "$0")/lib.sh"
INTERVAL=0.2
FALL=2
ADVERT=0.05
SLACK_MS=${SLACK_MS:-250}

cat >"$WORK/notify.sh" <<'SH'
#!/bin/sh
# notify.sh LOG INSTANCE NAME STATE PRIO: appends a line; flags any overlap for the same instance.
log=$1; name=$3
lock="$log.$name.lock"
mkdir "$lock" 2>/dev/null || echo "OVERLAP $name" >>"$log"
echo "$3 $4 $5" >>"$log"
sleep 0.05
rmdir "$lock" 2>/dev/null
SH
chmod +x "$WORK/notify.sh"

conf() {  # conf NODE PRIO
  local me=$1 peers=""
  for p in 1 2 3; do [ "d$p" != "$me" ] && peers="$peers 10.99.0.$p
"; done
  cat >"$WORK/$me.conf" <<CONF
global_defs {
  router_id $me
  notify_fifo $WORK/$me.fifo
}
vrrp_script chk_lb {
  script "kill -0 \$(cat $WORK/$me.lb.pid)"
  interval $INTERVAL
  fall $FALL
  rise 1
  weight 0
}
vrrp_sync_group G_DIRECTOR {
  group {
    VI_EXT
    VI_INT
  }
}
vrrp_instance VI_EXT {
  interface eth0
  virtual_router_id 61
  version 3
  priority $2
  advert_int $ADVERT
  unicast_src_ip 10.99.0.${me#d}
  unicast_peer {
$peers  }
  virtual_ipaddress {
    10.99.0.100/24
  }
  virtual_ipaddress_excluded {
    2001:db8:99::100/64
  }
  track_script {
    chk_lb
  }
  notify $WORK/notify.sh $WORK/notify-$me.log
}
vrrp_instance VI_INT {
  interface eth0
  virtual_router_id 62
  version 3
  priority $2
  advert_int $ADVERT
  unicast_src_ip 10.99.0.${me#d}
  unicast_peer {
$peers  }
  virtual_ipaddress {
    10.99.0.101/24
  }
  notify $WORK/notify.sh $WORK/notify-$me.log
}
CONF
}

# Both VIPs on exactly one node, the same one.
together_on() {
  local n
  for n in d1 d2 d3; do
    if [ "$n" = "$1" ]; then
      has_vip "$n" 10.99.0.100 && has_vip "$n" 10.99.0.101 || return 1
    else
      has_vip "$n" 10.99.0.100 && return 1
      has_vip "$n" 10.99.0.101 && return 1
    fi
  done
  return 0
}

vip_topology
conf d1 150
conf d2 100
conf d3 90
for n in d1 d2 d3; do
  "$BIN/hafs-vipd" -t -f "$WORK/$n.conf" >/dev/null || { echo "config check failed"; "$BIN/hafs-vipd" -t -f "$WORK/$n.conf"; exit 1; }
  mkfifo "$WORK/$n.fifo"
  spawn "$n" "$WORK/fifo-$n.txt" cat "$WORK/$n.fifo"
done
ns cl ip -6 addr add 2001:db8:99::10/64 dev eth0 nodad
vip_start_arp_capture
vip_start_traffic 20
for n in d1 d2 d3; do eval "echo \$RESP_$n" >"$WORK/$n.lb.pid"; done
start_vipd d1 "$WORK/d1.conf"
start_vipd d2 "$WORK/d2.conf"
start_vipd d3 "$WORK/d3.conf"

expect_within 5 together_on d1 && pass "both VIPs on d1" || fail "VIPs not together on d1"
expect_within 3 is_state d1 VI_INT MASTER || fail "d1 VI_INT not MASTER"
sleep 0.5

# Stop the balancer on the master.
t0=$(now)
kill -KILL "$RESP_d1"
bound=$(awk -v i="$INTERVAL" -v f="$FALL" -v a="$ADVERT" -v s="$SLACK_MS" 'BEGIN { printf "%d", (i * f + a) * 1000 + s }')
if expect_within 5 together_on d2; then
  dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')
  say "balancer stopped on d1: both VIPs on d2 after ${dt} ms (bound $bound ms)"
  [ "$dt" -le "$bound" ] || fail "track_script move took ${dt} ms > $bound ms"
else
  fail "VIPs did not move to d2 together"
fi
# The IPv6 VIP (virtual_ipaddress_excluded) moved too and was announced with an unsolicited NA.
has_vip6() { ns "$1" ip -6 -o addr show dev eth0 | grep -q ' 2001:db8:99::100/64'; }
expect_within 2 has_vip6 d2 && ! has_vip6 d1 && pass "IPv6 VIP moved to d2" || fail "IPv6 VIP not moved to d2"
# The NA follows the address add: wait for it rather than racing the capture.
na_seen() { [ "$(awk -v t="$t0" '$1 >= t && /neighbor advertisement, tgt is 2001:db8:99::100,/' "$ARP_LOG" | grep -c 'IP6 2001:db8:99::100 > ff02::1')" -ge 1 ]; }
expect_within 2 na_seen && pass "unsolicited NA for the IPv6 VIP seen on the bridge" || fail "no unsolicited NA after takeover"
ns cl ping -6 -c1 -W1 -q 2001:db8:99::100 >/dev/null && pass "client reaches the IPv6 VIP" || fail "IPv6 VIP unreachable"
mac_d2=$(ns d2 ip -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ns cl ip -6 neigh show 2001:db8:99::100 | grep -q "lladdr $mac_d2" \
  && pass "client's neighbour entry points at d2" || fail "client's neighbour entry: $(ns cl ip -6 neigh show 2001:db8:99::100)"
is_state d1 VI_EXT FAULT && is_state d1 VI_INT FAULT && pass "d1: both instances FAULT (sync group)" || fail "d1 not FAULT: $(state_of d1 VI_EXT)/$(state_of d1 VI_INT)"
sleep 0.6
read -r g _ < <(gap_since "$t0" "$(now)")
say "client gap while the balancer moved: $g ms"
echo "GAP track_script ${g}" >>"$WORK/gaps"
[ "$g" != inf ] && [ "$g" -le "$bound" ] || fail "client gap $g ms > $bound ms"
[ "$($PY "$VIPCHECK" holder "$POLL_LOG" "$t0")" = d2 ] || fail "client not served by d2"

# Status socket of d2: state, priority, master address, counters.
status d2 >"$WORK/status-d2.json"
$PY - "$WORK/status-d2.json" <<'PYCHK' || fail "status socket content"
import json, sys
d = json.load(open(sys.argv[1]))
ins = {i["name"]: i for i in d["instances"]}
assert d["router_id"] == "d2", d
for n in ("VI_EXT", "VI_INT"):
    i = ins[n]
    assert i["state"] == "MASTER", i
    assert i["priority"] == 100 and i["master"] == "10.99.0.2", i
    assert i["sync_group"] == "G_DIRECTOR", i
    assert i["counters"]["became_master"] >= 1 and i["counters"]["adverts_received"] > 10, i
    assert i["counters"]["priority_zero_received"] >= 0
print("status ok")
PYCHK

# Balancer back on d1: the script passes again, the fault clears, d1 preempts with both VIPs.
spawn d1 "$WORK/resp-d1.log" $PY "$VIPCHECK" serve d1 7000
echo "$LAST_PID" >"$WORK/d1.lb.pid"
expect_within 5 together_on d1 && pass "balancer back: both VIPs return to d1" || fail "VIPs did not return to d1"
is_state d2 VI_EXT BACKUP && is_state d2 VI_INT BACKUP || fail "d2 did not step down"

# SIGTERM: the master resigns with priority 0 and the next node takes over after Skew_Time only.
t0=$(now)
kill -TERM "$VIPD_d1"
expect_within 3 together_on d2 && pass "graceful stop of d1: both VIPs on d2" || fail "no takeover after SIGTERM"
dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')
say "takeover after SIGTERM of the master: ${dt} ms"
has_vip d1 10.99.0.100 && fail "d1 kept its VIP after SIGTERM"
sleep 0.5

# The instance's own interface is tracked: d2's link going down faults it; d3 takes both VIPs.
ns d2 ip link set eth0 down
expect_within 2 is_state d2 VI_EXT FAULT && pass "link down on d2: FAULT" || fail "d2 not FAULT with its link down"
expect_within 3 together_on d3 && pass "both VIPs on d3" || fail "d3 did not take over from a faulted d2"
is_state d3 VI_INT MASTER || fail "d3 VI_INT not MASTER"

# Notify scripts: in order, never overlapping per instance; FIFO: every event line, in order.
for n in d1 d2; do
  grep -q OVERLAP "$WORK/notify-$n.log" && fail "$n: notify scripts overlapped"
done
grep -q '^VI_EXT MASTER 150' "$WORK/notify-d1.log" || fail "d1 notify: no MASTER line"
expect_seq() {  # expect_seq FILE PATTERN...: the patterns appear in this order
  local file=$1; shift
  $PY - "$file" "$@" <<'PYSEQ'
import sys
lines = open(sys.argv[1]).read().splitlines()
pos = 0
for pat in sys.argv[2:]:
    while pos < len(lines) and pat not in lines[pos]:
        pos += 1
    if pos == len(lines):
        print("missing in order:", pat, "in", lines)
        sys.exit(1)
    pos += 1
PYSEQ
}
expect_seq "$WORK/notify-d1.log" "VI_EXT BACKUP" "VI_EXT MASTER" "VI_EXT FAULT" "VI_EXT BACKUP" "VI_EXT MASTER" "VI_EXT STOP" || fail "d1 notify order"
expect_seq "$WORK/fifo-d1.txt" 'INSTANCE "VI_EXT" BACKUP' 'INSTANCE "VI_EXT" MASTER' 'INSTANCE "VI_EXT" FAULT' \
  'INSTANCE "VI_EXT" BACKUP' 'INSTANCE "VI_EXT" MASTER' 'INSTANCE "VI_EXT" STOP' || fail "d1 fifo order"
expect_seq "$WORK/fifo-d1.txt" 'GROUP "G_DIRECTOR" MASTER' 'GROUP "G_DIRECTOR" FAULT' 'GROUP "G_DIRECTOR" MASTER' || fail "d1 fifo group lines"
expect_seq "$WORK/fifo-d2.txt" 'INSTANCE "VI_INT" BACKUP' 'INSTANCE "VI_INT" MASTER' 'INSTANCE "VI_INT" BACKUP' 'INSTANCE "VI_INT" MASTER' || fail "d2 fifo order"
vip_finish
