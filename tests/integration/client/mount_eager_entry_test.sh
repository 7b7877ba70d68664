#!/usr/bin/env bash
# Eager entry locks on a replica-3 volume (docs/client.md, "Eager entry locks"):
# (a) a stream of creates in one directory takes the directory's entry lock once, not once per
#     create (entrylk calls on a brick, compared with a mount run with HAFS_EAGER_ENTRY=0);
#     fsync of the directory settles its changelog at once;
# (b) two mounts creating 500 files each in the same directory at once: no error, the second
#     mount's first create waits < 0.8 s while the first keeps creating (the brick tells the
#     holder, which lets go), all 1000 names on all three bricks, and after the idle delay no
#     pending changelog is left;
# (c) kill -9 of the client in the middle of a create stream: the directory's counters stay
#     on every brick (each accuses itself); a lookup from another mount heals (merges) and the
#     three bricks agree;
# (d) the client dies holding the eager entry lock while a brick was away, the brick returns:
#     the brick that missed the creates must not become the source (the merge keeps them);
# (e) kill -9 of a brick in the middle of a create stream, restart: heal makes the listings
#     identical.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA
B=$WORK/mntB
O=$WORK/mntOff
H=$WORK/mntHeal
mount_vol "$A"
mount_vol "$B"
HAFS_EAGER_ENTRY=0 mount_vol "$O"
# Heal is started by lookups that reach the replicate layer: the mount that looks names up
# after a crash runs without the metadata cache (which would answer them from memory).
HAFS_MD_CACHE=0 mount_vol "$H"

# What is pending, for failure messages.
show_pending() {
  local n g
  for n in 0 1 2; do
    for g in $(heal_index $n); do echo "brick $n $g: $(pending $n "$g" | tr '\n' ' ')"; done
  done
}
entrylks() { "$INSPECT" "127.0.0.1:${BRICK_PORT[0]}" stats | awk '$1 == "entrylk" {print $3}'; }
listing() { ls -A "$WORK/b$1/$2" | sort; }
same_listing() {  # same_listing DIR [COUNT]: the three bricks list the same names (COUNT of them)
  local l0
  l0=$(listing 0 "$1") || return 1
  [ "$l0" = "$(listing 1 "$1")" ] && [ "$l0" = "$(listing 2 "$1")" ] || return 1
  [ -z "${2:-}" ] || [ "$(echo "$l0" | grep -c .)" = "$2" ]
}
# Looks up every name some brick has from mount $1 (a lookup heals what it finds). Not ls:
# readdirplus hands the kernel every entry, which then answers the stats without a lookup.
lookup_all() {
  local m=$1 d=$2 f
  stat "$m/$d" > /dev/null 2>&1 || true
  for f in $( (listing 0 "$d"; listing 1 "$d"; listing 2 "$d") 2>/dev/null | sort -u); do
    stat "$m/$d/$f" > /dev/null 2>&1 || true
  done
}

create_n() {  # create_n DIR PREFIX COUNT
  timeout 120 python3 - "$1" "$2" "$3" <<'PY'
import os, sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    os.close(os.open(f"{d}/{p}{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
PY
}

log "(a) entrylk calls for 100 creates, eager entry lock on and off"
mkdir "$A/solo" "$O/solo_off"
sleep 1.5
before=$(entrylks)
create_n "$A/solo" f 100 || fail "creates on the eager mount failed"
on=$(( $(entrylks) - before ))
before=$(entrylks)
create_n "$O/solo_off" f 100 || fail "creates on the HAFS_EAGER_ENTRY=0 mount failed"
off=$(( $(entrylks) - before ))
log "entrylk calls on brick 0 for 100 creates: eager $on, HAFS_EAGER_ENTRY=0 $off"
[ "$on" -le 10 ] || fail "$on entrylk calls for 100 creates in one directory: the entry lock was not kept"
[ "$off" -ge 100 ] || fail "HAFS_EAGER_ENTRY=0 took only $off entry locks for 100 creates"
within 5 index_empty || fail "changelog still pending 5 s after the creates: $(heal_index 0)"
same_listing solo 100 || fail "the bricks disagree on solo/"
# fsync of the directory sends the delayed post-op at once (no idle wait).
mkdir "$A/synced"
sleep 1.5
timeout 30 python3 - "$A/synced" <<'PY' || fail "creates + fsync of the directory failed"
import os, sys
d = sys.argv[1]
for i in range(20):
    os.close(os.open(f"{d}/s{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)
os.close(fd)
PY
"$INSPECT" "127.0.0.1:${BRICK_PORT[0]}" heal-index > "$WORK/after_fsync"
for g in $(grep -v '^total' "$WORK/after_fsync"); do
  pending 0 "$g" | grep -q '^pending.entry' && fail "fsync of the directory left its entry changelog pending: $(pending 0 "$g" | tr '\n' ' ')"
done

log "(b) two mounts create 500 files each in one directory at once"
mkdir "$A/shared"
sleep 1.5
timeout 180 python3 - "$A/shared" "$B/shared" <<'PY' || fail "concurrent creates failed or were slow"
import os, sys, threading, time
a, b = sys.argv[1], sys.argv[2]
errors, a_done = [], [0]
def make(d, p, n, counter=None):
    for i in range(n):
        try:
            os.close(os.open(f"{d}/{p}{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except OSError as e:
            errors.append(f"{p}{i}: {e}")
        if counter is not None:
            counter[0] += 1
ta = threading.Thread(target=make, args=(a, "a", 500, a_done))
ta.start()
time.sleep(0.3)
assert a_done[0] > 0 and ta.is_alive(), f"mount A's stream is not running ({a_done[0]} created)"
t0 = time.monotonic()
os.close(os.open(f"{b}/b-first", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
first = time.monotonic() - t0
n_at_first = a_done[0]
make(b, "b", 499)
ta.join()
print(f"mount B's first create while A streams: {first * 1000:.0f} ms; A had made {n_at_first}")
assert not errors, f"errors: {errors[:5]}"
assert first < 0.8, f"mount B's first create waited {first:.2f} s for mount A's entry lock"
PY
sleep 2.5   # the idle delay (1 s) has passed for both mounts: nothing may be pending
index_empty || fail "changelog pending 2.5 s after the concurrent creates: $(for n in 0 1 2; do heal_index $n; done | tr '\n' ' ')"
same_listing shared 1000 || fail "the bricks disagree on shared/: $(for n in 0 1 2; do listing $n shared | wc -l; done | tr '\n' ' ')"
[ "$(ls "$B/shared" | wc -l)" = 1000 ] || fail "mount B lists $(ls "$B/shared" | wc -l) names"

log "(c) kill -9 of the client in a create stream"
C=$WORK/mntC
mount_vol "$C"
mkdir "$C/crash"
sleep 1.5   # the root directory's eager entry lock (the mkdir's) is released: only crash/ is in the test
C_PID=$(pgrep -f "hafs-fuse.*$C( |$)" | head -1)
[ -n "$C_PID" ] || fail "no hafs-fuse for $C"
( timeout 60 python3 - "$C/crash" 2>/dev/null <<'PY' || true
import os, sys
for i in range(1000000):
    os.close(os.open(f"{sys.argv[1]}/k{i}", os.O_CREAT | os.O_WRONLY, 0o644))
PY
) &
PY_BG=$!
within 10 sh -c "[ \$(ls '$WORK/b0/crash' | wc -l) -gt 50 ]" || fail "the create stream did not start"
kill -9 "$C_PID"
wait $PY_BG || true
fusermount3 -u "$C" 2>/dev/null || umount -l "$C" 2>/dev/null || true
left=$(heal_index 0 | wc -l)
[ "$left" -gt 0 ] || fail "no pending changelog after the client died in a create stream"
selfacc=0
for g in $(heal_index 0); do
  if pending 0 "$g" | grep -q '^pending.entry.0 = [1-9]'; then
    for n in 0 1 2; do pending $n "$g" | grep -q "^pending.entry.$n = [1-9]" || fail "brick $n lost its pre-op on $g"; done
    selfacc=1
  fi
done
[ $selfacc = 1 ] || fail "the directory's entry counters are not left on every brick: $(heal_index 0 | tr '\n' ' ')"
log "pending after the crash: $left gfids on brick 0, the directory's counters on every brick"
healed_c() { lookup_all "$H" crash; same_listing crash && index_empty; }
within 60 healed_c || fail "lookups did not heal crash/: $(for n in 0 1 2; do listing $n crash | wc -l; done | tr '\n' ' ') names, pending: $(show_pending)"
log "healed: $(listing 0 crash | wc -l) names identical on the three bricks, nothing pending"

log "(d) the client dies holding the entry lock while brick 2 is away"
mkdir "$A/away"
sleep 1.5
kill_brick 2
sleep 3   # ping-timeout (2 s): the clients see brick 2 down
D=$WORK/mntD
mount_vol "$D"
D_PID=$(pgrep -f "hafs-fuse.*$D( |$)" | head -1)
[ -n "$D_PID" ] || fail "no hafs-fuse for $D"
create_n "$D/away" x 20 || fail "creates with brick 2 down failed"
kill -9 "$D_PID"   # within the idle delay: the eager entry lock (and its pre-op) is still held
fusermount3 -u "$D" 2>/dev/null || umount -l "$D" 2>/dev/null || true
[ "$(listing 0 away | wc -l)" = 20 ] || fail "brick 0 has $(listing 0 away | wc -l) of the 20 names"
restart_brick 2
sleep 3   # the other clients reconnect
healed_d() { lookup_all "$H" away; same_listing away 20 && index_empty; }
within 60 healed_d || fail "after brick 2 returned: $(for n in 0 1 2; do listing $n away | wc -l; done | tr '\n' ' ') names, pending: $(show_pending)"
[ "$(ls "$A/away" | wc -l)" = 20 ] || fail "mount A lists $(ls "$A/away" | wc -l) of the 20 names"
log "the 20 names created while brick 2 was away are on all three bricks"

log "(e) kill -9 of a brick in the middle of a create stream"
mkdir "$A/bk"
sleep 1.5
( create_n "$A/bk" f 1500; echo $? > "$WORK/bk.rc" ) &
BG=$!
within 20 sh -c "[ \$(ls '$WORK/b1/bk' | wc -l) -gt 300 ]" || fail "the create stream did not start"
kill_brick 1
wait $BG
[ "$(cat "$WORK/bk.rc")" = 0 ] || fail "creates failed when one brick died"
[ "$(listing 0 bk | wc -l)" = 1500 ] || fail "brick 0 has $(listing 0 bk | wc -l) of 1500 names"
[ "$(listing 1 bk | wc -l)" -lt 1500 ] || fail "brick 1 has every name although it was killed mid-stream"
sleep 2   # the idle release: brick 0 and 2 accuse brick 1
restart_brick 1
sleep 3
healed_e() { lookup_all "$H" bk; same_listing bk 1500 && index_empty; }
within 90 healed_e || fail "brick 1 was not healed: $(for n in 0 1 2; do listing $n bk | wc -l; done | tr '\n' ' ') names, pending: $(show_pending)"
log "brick 1 healed to the same 1500 names"
