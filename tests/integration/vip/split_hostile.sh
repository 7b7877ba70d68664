#!/usr/bin/env bash
# Hostile adverts change nothing; a split brain heals within one advert interval.
# Every director runs two independent instances:
#   VI_3: VRRPv3, vrid 51, advert 50 ms, VIP 10.99.0.100   (split-and-heal)
#   VI_2: VRRPv2 + auth PASS, vrid 52, advert 1 s, VIP 10.99.0.101 (auth checks)
set -u
source "$(dirname "$0")/lib.sh"
ADVERT_MS=50
SLACK_MS=${SLACK_MS:-150}

conf() {
  cat >"$WORK/$1.conf" <<CONF
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 51
  version 3
  priority $2
  advert_int 0.05
  virtual_ipaddress {
    10.99.0.100/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  version 2
  priority $2
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass hafs
  }
  virtual_ipaddress {
    10.99.0.101/24
  }
}
CONF
}

counters() {  # counters NODE INSTANCE -> "became_master drop_bad_auth drop_bad_checksum drop_bad_length drop_bad_ttl"
  status "$1" | $PY -c '
import json, sys
i = [x for x in json.load(sys.stdin)["instances"] if x["name"] == sys.argv[1]][0]
c = i["counters"]
print(c["became_master"], c["released_master"], c["drop_bad_auth"], c["drop_bad_checksum"], c["drop_bad_length"], c["drop_bad_ttl"])' "$2"
}

vip_topology
conf d1 150
conf d2 100
conf d3 90
vip_start_arp_capture
vip_start_traffic 20
for n in d1 d2 d3; do start_vipd "$n" "$WORK/$n.conf"; done
expect_within 5 is_state d1 VI_3 MASTER || fail "d1 VI_3 not elected"
expect_within 8 is_state d1 VI_2 MASTER || fail "d1 VI_2 not elected"
expect_within 3 is_state d2 VI_2 BACKUP || fail "d2 VI_2 not BACKUP"
sleep 1

# ---- Hostile packets from the client namespace -------------------------------------------
declare -A before
for n in d1 d2 d3; do for i in VI_2 VI_3; do before[$n$i]=$(counters $n $i); done; done
ns cl ip route add 224.0.0.0/4 dev eth0
for k in v2-badauth v2-owner-badauth v2-badchecksum v2-truncated v2-ttl; do
  for _ in 1 2 3; do ns cl $PY "$VIPCHECK" inject "$k" 10.99.0.10 224.0.0.18 52 || fail "inject $k"; done
  ns cl $PY "$VIPCHECK" inject "$k" 10.99.0.10 10.99.0.2 52   # unicast to a backup, too
done
for k in v3-badchecksum v3-truncated v3-ttl; do
  for _ in 1 2 3; do ns cl $PY "$VIPCHECK" inject "$k" 10.99.0.10 224.0.0.18 51 || fail "inject $k"; done
done
sleep 3.5  # > v2 Master_Down_Interval: had any of them been accepted, a state would have changed
for n in d1 d2 d3; do
  for i in VI_2 VI_3; do
    read -r bm0 rm0 _ <<<"${before[$n$i]}"
    read -r bm1 rm1 au ck ln tt <<<"$(counters $n $i)"
    [ "$bm0 $rm0" = "$bm1 $rm1" ] || fail "$n $i: state changed under hostile packets ($bm0/$rm0 -> $bm1/$rm1)"
    if [ $i = VI_2 ]; then
      say "$n $i drops: bad_auth=$au bad_checksum=$ck bad_length=$ln bad_ttl=$tt"
      [ "$au" -ge 6 ] && [ "$ck" -ge 3 ] && [ "$ln" -ge 3 ] && [ "$tt" -ge 3 ] || fail "$n $i: hostile packets not all counted"
    else
      [ "$ck" -ge 3 ] && [ "$ln" -ge 3 ] && [ "$tt" -ge 3 ] || fail "$n $i: v3 hostile packets not all counted ($ck $ln $tt)"
    fi
  done
done
is_state d1 VI_2 MASTER && is_state d1 VI_3 MASTER && pass "hostile packets: d1 still MASTER of both, all drops counted" \
  || fail "d1 lost mastership to hostile packets"

# ---- Split and heal -----------------------------------------------------------------------
say "cutting d1 off the bridge for 5 s"
ns sw ip link set p1 nomaster
expect_within 3 is_state d2 VI_3 MASTER && pass "split: d2 became MASTER too" || fail "split: d2 did not take over"
is_state d1 VI_3 MASTER || fail "split: d1 not MASTER on its side"
sleep 4.5
is_state d3 VI_3 BACKUP || fail "split: d3 should stay BACKUP under d2"
t_heal=$(now)
ns sw ip link set p1 master br0
say "link restored"
expect_within 2 is_state d2 VI_3 BACKUP || fail "heal: d2 still MASTER"
# When exactly did d2 step down? From its own log (ms timestamps, same clock).
t_down=$(grep 'VI_3: MASTER -> BACKUP' "$WORK/vipd-d2.log" | tail -1 | awk '{print $1" "$2}')
dt=$($PY -c "import datetime,sys; t=datetime.datetime.strptime(sys.argv[1], '%Y-%m-%d %H:%M:%S.%f').timestamp(); print(int((t - float(sys.argv[2])) * 1000))" "$t_down" "$t_heal")
say "heal: one master after ${dt} ms (advert ${ADVERT_MS} ms)"
echo "GAP heal-converge ${dt}" >>"$WORK/gaps"
[ "$dt" -le $((ADVERT_MS + SLACK_MS)) ] || fail "heal took ${dt} ms > one advert (+${SLACK_MS} ms slack)"
has_vip d2 10.99.0.100 && fail "heal: d2 kept the VIP"
has_vip d1 10.99.0.100 || fail "heal: d1 lost the VIP"
sleep 1
[ "$($PY "$VIPCHECK" holder "$POLL_LOG" "$t_heal")" = d1 ] && pass "heal: VIP reachable, served by d1" || fail "heal: client not back on d1"
n=$(garps_since 10.99.0.100 "$t_heal")
[ "$n" -ge 1 ] && pass "heal: d1 re-announced ARP ($n)" || fail "heal: no gratuitous ARP after heal"
read -r g _ < <(gap_since "$t_heal" "$(now)")
say "client gap after heal: $g ms"
vip_finish
