#!/usr/bin/env bash
# Trackers that lower the priority instead of faulting: track_interface (a second interface of d1,
# weight -60) and vrrp_script (weight -60). d1 150 -> 90 < d2 100: d2 preempts; when the tracker
# recovers d1 is back at 150 and preempts in turn. Also: the lowered priority is on the wire and in status.
set -u
source "$(dirname "$0")/lib.sh"

vip_topology
ns d1 ip link add mon0 type veth peer name mon1  # a second interface to track (dummy may be absent)
ns d1 ip link set mon1 up
ns d1 ip link set mon0 up
touch "$WORK/d1.ok"
cat >"$WORK/d1.conf" <<CONF
vrrp_script chk_file {
  script "test -e $WORK/d1.ok"
  interval 0.1
  fall 1
  rise 1
  weight -60
}
vrrp_instance VI_W {
  interface eth0
  virtual_router_id 91
  version 3
  priority 150
  advert_int 0.05
  virtual_ipaddress {
    10.99.0.100/24
  }
  track_interface {
    mon0 weight -60
  }
  track_script {
    chk_file
  }
}
CONF
sed -e 's/priority 150/priority 100/' -e '/track_interface {/,/^  }/d' -e '/track_script {/,/^  }/d' \
  -e '/vrrp_script chk_file {/,/^}/d' "$WORK/d1.conf" >"$WORK/d2.conf"
for n in d1 d2; do "$BIN/hafs-vipd" -t -f "$WORK/$n.conf" >/dev/null || { "$BIN/hafs-vipd" -t -f "$WORK/$n.conf"; exit 1; }; done
vip_start_traffic 20
start_vipd d1 "$WORK/d1.conf"
start_vipd d2 "$WORK/d2.conf"
expect_within 5 is_state d1 VI_W MASTER && pass "d1 (150) MASTER" || fail "d1 not elected"
expect_within 3 is_state d2 VI_W BACKUP || fail "d2 not BACKUP"

prio_of() { status "$1" | awk -F'[:,]' '/"priority"/ { gsub(/ /, "", $2); print $2; exit }'; }

# track_interface: mon0 down -> 90.
ns d1 ip link set mon0 down
expect_within 3 is_state d2 VI_W MASTER && pass "mon0 down: d2 preempts the weakened d1" || fail "d2 did not take over"
expect_within 2 is_state d1 VI_W BACKUP || fail "d1 not BACKUP"
[ "$(prio_of d1)" = 90 ] && pass "d1 effective priority 90" || fail "d1 priority $(prio_of d1), expected 90"
has_vip d1 10.99.0.100 && fail "d1 kept the VIP"
ns d1 ip link set mon0 up
expect_within 3 is_state d1 VI_W MASTER && pass "mon0 up: d1 back at 150 and MASTER" || fail "d1 did not preempt back"

# vrrp_script with a negative weight.
rm -f "$WORK/d1.ok"
expect_within 3 is_state d2 VI_W MASTER && pass "script failing: d2 takes over" || fail "d2 did not take over on script weight"
[ "$(prio_of d1)" = 90 ] || fail "d1 priority $(prio_of d1) with the script failing, expected 90"
# Both trackers failing: 150 - 120 = 30.
ns d1 ip link set mon0 down
expect_within 2 bash -c "[ \"\$(ip netns exec ${P}d1 $BIN/hafs-vipd --status -S $WORK/d1.sock | awk -F'[:,]' '/\"priority\"/ { gsub(/ /, \"\", \$2); print \$2; exit }')\" = 30 ]" \
  && pass "weights add up: priority 30" || fail "priority with both trackers failing: $(prio_of d1)"
ns d1 ip link set mon0 up
touch "$WORK/d1.ok"
expect_within 3 is_state d1 VI_W MASTER && pass "trackers recovered: d1 MASTER again" || fail "d1 did not return"
vip_finish
