#!/usr/bin/env bash
# The client's connections to its bricks (docs/client.md, "Wake-ups per call"): each brick gets
# two, one for the session stream (heartbeats, invalidations) and one for calls; both stay up
# while the mount is idle for several keepalive periods (the call connection is polled by no
# thread then, only by gRPC's backup poller); a brick killed and restarted on its port gets
# both back and the mount reads and writes through it again.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2   # network.ping-timeout 2 s: keepalive every 1 s
A=$WORK/mntA
mount_vol "$A"
FUSE=$(pgrep -f "hafs-fuse.*$A( |$)" | head -1)
[ -n "$FUSE" ] || fail "no hafs-fuse process for $A"

conns() {  # the mount's established connections to brick N, as "localport" lines
  ss -tnpH state established "dport = :${BRICK_PORT[$1]}" | grep "pid=$FUSE," | awk '{print $3}' | sort
}
two_conns() { [ "$(conns "$1" | wc -l)" = 2 ]; }
ups() { grep -c "brick 127.0.0.1:$WORK/b$1 is up" "$WORK/fuse-mntA.log"; }
taken_back() { [ "$(ups "$1")" -ge 2 ]; }

log "write and read a file: every brick is used"
echo hello > "$A/f" || fail "write failed"
cold
[ "$(cat "$A/f")" = hello ] || fail "read back wrong data"
for n in 0 1 2; do
  within 5 two_conns $n || fail "brick $n: $(conns $n | wc -l) connections, expected 2 (session + calls)"
done
before=$(for n in 0 1 2; do conns $n; done)

log "idle for 6 s (keepalive every 1 s): the same connections stay"
sleep 6
after=$(for n in 0 1 2; do conns $n; done)
[ "$before" = "$after" ] || fail "connections changed while idle: before [$(echo $before)] after [$(echo $after)]"

log "brick 1 killed and restarted on its port: both connections come back, writes reach it"
kill_brick 1
restart_brick 1
within 15 two_conns 1 || fail "brick 1: $(conns 1 | wc -l) connections after its restart"
within 10 taken_back 1 ||
  fail "the mount did not take brick 1 back: $(tail -3 "$WORK/fuse-mntA.log")"
t0=$(date +%s.%N)
for i in $(seq 20); do echo "v$i" > "$A/g$i" || fail "write g$i failed after the brick's restart"; done
sync
for i in $(seq 20); do
  within 10 test -f "$WORK/b1/g$i" || fail "g$i did not reach the restarted brick"
done
log "20 writes after the restart in $(echo "$(date +%s.%N) - $t0" | bc) s"
