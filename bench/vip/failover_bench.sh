#!/usr/bin/env bash
# Failover and preemption gaps seen by a client polling the VIP every 10 ms, hafs-vipd vs
# keepalived (Debian) in the same run and the same namespaces. Not part of CI.
#   HAFS_BIN_DIR=build/bin bench/vip/failover_bench.sh [V3_ROUNDS [V2_ROUNDS]]   (root; 2-3 minutes)
# Settings: VRRPv2 advert 1 s, VRRPv3 100 ms, VRRPv3 20 ms. Two directors (150 master, 100 backup).
# A round: kill -9 the master's daemon and service (failover gap), then restart both (preemption
# gap: the returning 150 takes the VIP back). Medians over ROUNDS rounds; ratio = hafs / keepalived.
set -u
ROUNDS=${1:-7}          # rounds for the v3 settings
V2_ROUNDS=${2:-3}       # rounds for v2 (each takes ~8 s)
source "$(dirname "$0")/../../tests/integration/vip/lib.sh"
BIN=${HAFS_BIN_DIR:?set HAFS_BIN_DIR to the build bin/ folder}
POLL_MS=10

conf_body() {  # conf_body VERSION ADVERT PRIO
  local auth=""
  [ "$1" = 2 ] && auth="authentication {
    auth_type PASS
    auth_pass hafs
  }"
  cat <<CONF
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 71
  version $1
  priority $3
  advert_int $2
  $auth
  virtual_ipaddress {
    10.99.0.100/24
  }
}
CONF
}

start_impl() {  # start_impl IMPL NODE VERSION ADVERT PRIO -> sets DPID_<node> (and DPID2_<node> for keepalived's child)
  local impl=$1 n=$2
  if [ "$impl" = hafs ]; then
    conf_body "$3" "$4" "$5" >"$WORK/$n.conf"
    start_vipd "$n" "$WORK/$n.conf"
    eval "DPID_$n=$LAST_PID; DPID2_$n="
  else
    { printf 'global_defs {\n  router_id ka_%s\n  script_user root\n}\n' "$n"; conf_body "$3" "$4" "$5"; } >"$WORK/ka-$n.conf"
    rm -f "$WORK/ka-$n"*.pid
    spawn "$n" "$WORK/ka-$n.log" keepalived -f "$WORK/ka-$n.conf" -P -n -l -G -R \
      -p "$WORK/ka-$n.pid" -r "$WORK/ka-$n-vrrp.pid" -c "$WORK/ka-$n-chk.pid" -b "$WORK/ka-$n-bfd.pid"
    local parent=$LAST_PID
    expect_within 5 test -s "$WORK/ka-$n-vrrp.pid" || { echo "keepalived did not start"; exit 1; }
    local child
    child=$(cat "$WORK/ka-$n-vrrp.pid")
    PIDS+=("$child")
    eval "DPID_$n=$parent; DPID2_$n=$child"
  fi
}
kill_impl() {  # SIGKILL child first, then parent
  local a b
  eval "a=\$DPID_$1; b=\$DPID2_$1"
  [ -n "$b" ] && kill -KILL "$b" 2>/dev/null
  kill -KILL "$a" 2>/dev/null
}
stop_impl() {
  local a b
  eval "a=\$DPID_$1; b=\$DPID2_$1"
  kill -TERM "$a" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$a" 2>/dev/null || break; sleep 0.1; done
  [ -n "$b" ] && kill -KILL "$b" 2>/dev/null
  ns "$1" ip addr del 10.99.0.100/24 dev eth0 2>/dev/null
  true
}
served_by() { holder_is "$1"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else print a[int((NR+1)/2)]}'; }

vip_topology
vip_start_traffic "$POLL_MS"
CAP=$WORK/wire.txt
spawn sw "$CAP" tcpdump -tt -n -l -i br0 'ip proto 112 or arp'
sleep 0.5
declare -A RESULT
for setting in "2 1" "3 0.1" "3 0.02"; do
  read -r ver adv <<<"$setting"
  wait_s=$(awk -v a="$adv" 'BEGIN { print 4 * a + 3 }')
  for impl in keepalived hafs; do
    fo="" pe="" to=""
    start_impl $impl d1 "$ver" "$adv" 150
    start_impl $impl d2 "$ver" "$adv" 100
    expect_within 15 served_by d1 || { echo "$impl v$ver: d1 never served"; continue; }
    sleep 0.5
    rounds=$ROUNDS
    [ "$ver" = 2 ] && rounds=$V2_ROUNDS
    for r in $(seq 1 "$rounds"); do
      # A random phase against the advert timer, so neither implementation is measured at a lucky moment.
      sleep "$(awk -v a="$adv" -v s="$RANDOM" 'BEGIN { srand(s); print rand() * a }')"
      t0=$(now); kill_impl d1; kill -KILL "$RESP_d1"
      expect_within "$wait_s" served_by d2 || echo "  $impl: no failover in round $r"
      sleep 0.3
      read -r g _ < <(gap_since "$t0" "$(now)"); fo="$fo $g"
      to="$to $($PY "$VIPCHECK" takeover "$CAP" 10.99.0.1 10.99.0.100 "$t0")"
      spawn d1 "$WORK/resp-d1.log" $PY "$VIPCHECK" serve d1 7000; RESP_d1=$LAST_PID
      ns d1 ip addr del 10.99.0.100/24 dev eth0 2>/dev/null  # what a rebooted node would have lost
      t0=$(now); start_impl $impl d1 "$ver" "$adv" 150
      expect_within "$wait_s" served_by d1 || echo "  $impl: no preemption in round $r"
      sleep 0.3
      read -r g _ < <(gap_since "$t0" "$(now)"); pe="$pe $g"
      say "$impl v$ver advert ${adv}s round $r: failover $(echo "$fo" | awk '{print $NF}') ms (wire: last advert -> GARP $(echo "$to" | awk '{print $NF}') ms), preempt $(echo "$pe" | awk '{print $NF}') ms"
      sleep 0.3
    done
    stop_impl d1; stop_impl d2
    RESULT[$impl,$ver,$adv]="$(echo "$fo" | median) $(echo "$pe" | median) $(echo "$to" | median)"
    sleep 0.5
  done
done

echo
echo "Medians ($ROUNDS rounds for v3, $V2_ROUNDS for v2). Client gap: a client polling every $POLL_MS ms;"
echo "wire: old master's last advert -> new master's first gratuitous ARP on the bridge (phase-free);"
echo "MDI: RFC Master_Down_Interval of the priority-100 backup. ratio = hafs-vipd / keepalived."
printf '%-10s | %-26s | %-26s | %-21s\n' "" "failover client gap (ms)" "failover on the wire (ms)" "preempt client gap"
printf '%-10s | %8s %8s %7s | %8s %8s %7s | %6s %6s %6s   %s\n' setting keepal. hafs ratio keepal. hafs ratio keep. hafs ratio MDI
ratio() { awk -v h="$1" -v k="$2" 'BEGIN { if (k + 0 > 0 && h != "n/a") printf "%.2f", h / k; else print "n/a" }'; }
for setting in "2 1" "3 0.1" "3 0.02"; do
  read -r ver adv <<<"$setting"
  read -r kf kp kt <<<"${RESULT[keepalived,$ver,$adv]:-n/a n/a n/a}"
  read -r hf hp ht <<<"${RESULT[hafs,$ver,$adv]:-n/a n/a n/a}"
  mdi=$(awk -v a="$adv" -v v="$ver" 'BEGIN { skew = (v == 2) ? 156 / 256 * 1000 : 156 * a * 1000 / 256; printf "%d", 3 * a * 1000 + skew }')
  printf '%-10s | %8s %8s %7s | %8s %8s %7s | %6s %6s %6s   %s\n' "v$ver ${adv}s" "$kf" "$hf" "$(ratio "$hf" "$kf")" \
    "$kt" "$ht" "$(ratio "$ht" "$kt")" "$kp" "$hp" "$(ratio "$hp" "$kp")" "$mdi"
done
