#!/usr/bin/env bash
# Quorum guard: with `quorum_peer { 10.99.0.10 }` (the "gateway", here the client) a master cut off
# from the bridge goes to FAULT and drops the VIP instead of staying a second master.
set -u
source "$(dirname "$0")/lib.sh"

conf() {
  cat >"$WORK/$1.conf" <<CONF
vrrp_instance VI_Q {
  interface eth0
  virtual_router_id 81
  version 3
  priority $2
  advert_int 0.05
  virtual_ipaddress {
    10.99.0.100/24
  }
  quorum_peer {
    10.99.0.10
  }
  quorum_interval 0.1
}
CONF
}

vip_topology
conf d1 150
conf d2 100
"$BIN/hafs-vipd" -t -f "$WORK/d1.conf" >/dev/null || { echo "config check failed"; exit 1; }
vip_start_traffic 20
start_vipd d1 "$WORK/d1.conf"
start_vipd d2 "$WORK/d2.conf"
expect_within 5 is_state d1 VI_Q MASTER && pass "d1 elected with quorum" || fail "d1 not elected"
expect_within 3 is_state d2 VI_Q BACKUP || fail "d2 not BACKUP"

t0=$(now)
ns sw ip link set p1 nomaster
expect_within 2 is_state d1 VI_Q FAULT && pass "isolated d1: quorum lost -> FAULT" || fail "isolated d1 did not fault"
dt=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }')
say "d1 gave up ${dt} ms after the cut (3 probe intervals = 300 ms)"
expect_within 2 is_state d2 VI_Q MASTER || fail "d2 did not take over"
dual=0
for _ in $(seq 1 20); do
  has_vip d1 10.99.0.100 && has_vip d2 10.99.0.100 && dual=$((dual + 1))
  sleep 0.1
done
[ $dual = 0 ] && pass "no split brain: the VIP was never on both" || fail "VIP on both nodes $dual/20 samples"
status d1 | grep -q 'quorum lost' || fail "status does not say why d1 is FAULT"
t1=$(now); sleep 0.6
[ "$($PY "$VIPCHECK" holder "$POLL_LOG" "$t1")" = d2 ] && pass "client served by d2 during the cut" || fail "client not served by d2"

ns sw ip link set p1 master br0
expect_within 3 is_state d1 VI_Q MASTER && pass "heal: quorum back, d1 preempts" || fail "d1 did not return"
expect_within 2 is_state d2 VI_Q BACKUP || fail "d2 did not step down"
vip_finish
