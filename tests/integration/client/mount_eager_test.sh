#!/usr/bin/env bash
# Eager locking and the delayed post-op on a replica-3 volume (docs/client.md, "Eager locking"):
# (a) two mounts writing one file: while mount A keeps writing (so its eager lock is never
#     idle), each write of mount B goes through within 0.8 s (the brick tells A, which
#     releases); strictly alternating writes end with correct, identical replicas; 1 s idle
#     with the files still open sends the delayed post-op (nothing pending);
# (b) kill -9 of the client (hafs-fuse) in the middle of a write stream leaves the changelog
#     pending on every brick; a lookup from another mount heals the copies to identical;
# (c) a brick killed during an eagerly locked stream is accused by the others in the post-op
#     (and only it) and is healed when it returns;
# (d) a create carries the new file's eager lock: 50 creates with a 4 KiB write each cost one
#     inodelk per file on a brick (the release), not two; another mount reads each new file
#     at once while its creator still holds the lock; kill -9 of the client in a create
#     stream leaves pending changelog on the new files, which lookups from another mount heal.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA
B=$WORK/mntB
mount_vol "$A"
mount_vol "$B"

same3() { cmp -s "$WORK/b0/$1" "$WORK/b1/$1" && cmp -s "$WORK/b0/$1" "$WORK/b2/$1"; }

log "(a) mount B writes while mount A streams into the same file, then strictly alternating"
timeout 120 python3 - "$A/shared.bin" "$B/shared.bin" "$INSPECT" "${BRICK_PORT[0]}" "${BRICK_PORT[1]}" "${BRICK_PORT[2]}" \
  <<'PY' || fail "contended writes were slow or wrong"
import os, subprocess, sys, time, threading
a_path, b_path, inspect, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
fa = os.open(a_path, os.O_CREAT | os.O_WRONLY, 0o644)
for off in range(0, 32 << 20, 1 << 20):
    os.pwrite(fa, b"A" * (1 << 20), off)
stop = threading.Event()
a_writes = [0]
def stream():
    off = 0
    while not stop.is_set():
        os.pwrite(fa, b"A" * 65536, off)
        off = (off + 65536) % (32 << 20)
        a_writes[0] += 1
t = threading.Thread(target=stream)
t.start()
time.sleep(0.5)
fb = os.open(b_path, os.O_WRONLY)
worst = 0.0
for i in range(5):
    t0 = time.monotonic()
    os.pwrite(fb, b"B" * 4096, (64 << 20) + i * 4096)
    worst = max(worst, time.monotonic() - t0)
    time.sleep(0.2)
n_before = a_writes[0]
time.sleep(0.3)
stop.set(); t.join()
print(f"B's writes during A's stream: worst {worst*1000:.0f} ms; A wrote {a_writes[0]} blocks "
      f"({a_writes[0]-n_before} in the last 0.3 s)")
assert a_writes[0] > n_before, "A's stream stalled"
assert worst < 0.8, f"a write of mount B waited {worst:.2f} s for mount A's eager lock"
# Strictly alternating, both files open all along (no close releases anything).
worst = 0.0
for i in range(20):
    for fd, ch, off in ((fa, b"a", i * 8192), (fb, b"b", i * 8192 + 4096)):
        t0 = time.monotonic()
        os.pwrite(fd, ch * 4096, off)
        worst = max(worst, time.monotonic() - t0)
print(f"alternating writes: worst {worst*1000:.0f} ms")
assert worst < 0.8, f"an alternating write waited {worst:.2f} s"
# Idle for longer than the eager-lock delay (1 s) with both files still open: the delayed
# post-op has been sent, so no brick lists anything pending.
time.sleep(2.5)
for port in ports:
    out = subprocess.run([inspect, f"127.0.0.1:{port}", "heal-index"], capture_output=True, text=True).stdout
    assert out.strip().startswith("total 0"), f"pending on a brick after 2.5 s idle with the file open: {out}"
os.close(fa); os.close(fb)
PY
python3 - "$WORK/expect.bin" <<'PY'
import sys
data = bytearray(b"A" * (32 << 20))
for i in range(20):
    data[i * 8192:i * 8192 + 4096] = b"a" * 4096
    data[i * 8192 + 4096:i * 8192 + 8192] = b"b" * 4096
data += b"\0" * ((64 << 20) - len(data))
for i in range(5):
    data[(64 << 20) + i * 4096:(64 << 20) + (i + 1) * 4096] = b"B" * 4096
open(sys.argv[1], "wb").write(data)
PY
for n in 0 1 2; do cmp "$WORK/expect.bin" "$WORK/b$n/shared.bin" || fail "brick $n holds wrong data"; done
cmp "$WORK/expect.bin" "$B/shared.bin" || fail "mount B reads wrong data"
within 5 index_empty || fail "changelog still pending after both files were closed: $(heal_index 0)"

log "(b) kill -9 of the client in the middle of a write stream"
A_PID=$(pgrep -f "hafs-fuse.*$A( |$)" | head -1)
[ -n "$A_PID" ] || fail "no hafs-fuse for $A"
# The file exists before the stream and its directory's eager entry lock (the create's) is
# released, so only the data lock is held when the client dies (docs/client.md).
: > "$A/crash.bin"
sleep 1.5
( dd if=/dev/urandom of="$A/crash.bin" bs=1M count=4096 status=none 2>/dev/null || true ) &
DD=$!
within 10 sh -c "[ \$(stat -c %s '$WORK/b0/crash.bin' 2>/dev/null || echo 0) -gt $((16 << 20)) ]" \
  || fail "the stream did not start"
kill -9 "$A_PID"
wait $DD || true
fusermount3 -u "$A" 2>/dev/null || umount -l "$A" 2>/dev/null || true
G=$(heal_index 0 | head -1)
[ -n "$G" ] || fail "no pending changelog on brick 0 after the client died mid-stream"
for n in 0 1 2; do
  pending $n "$G" | grep -q "^pending.data.$n = [1-9]" || fail "brick $n does not keep its pre-op: $(pending $n "$G")"
done
log "pending after the crash: $(pending 0 "$G" | tr '\n' ' ')"
healed() { stat "$B/crash.bin" > /dev/null && same3 crash.bin && index_empty; }
within 30 healed || fail "a lookup did not heal crash.bin (sizes $(stat -c %s "$WORK"/b*/crash.bin | tr '\n' ' '))"
log "healed to identical copies of $(stat -c %s "$WORK/b0/crash.bin") bytes"

log "(c) a brick killed during an eagerly locked stream"
head -c $((128 << 20)) /dev/urandom > "$WORK/src.bin"
( dd if="$WORK/src.bin" of="$B/killed.bin" bs=1M status=none; echo $? > "$WORK/dd.rc" ) &
DD=$!
within 10 sh -c "[ \$(stat -c %s '$WORK/b1/killed.bin' 2>/dev/null || echo 0) -gt $((8 << 20)) ]" \
  || fail "the stream did not start"
kill_brick 1
wait $DD
[ "$(cat "$WORK/dd.rc")" = 0 ] || fail "the write failed when one brick died"
G=""
for g in $(heal_index 0); do
  if pending 0 "$g" | grep -q "^pending.data.1 = [1-9]"; then G=$g; fi
done
[ -n "$G" ] || fail "brick 0 does not accuse brick 1 after the stream"
for n in 0 2; do
  p=$(pending $n "$G")
  echo "$p" | grep -q "^pending.data.1 = [1-9]" || fail "brick $n does not accuse brick 1: $p"
  if echo "$p" | grep -q "^pending.data.[02] "; then fail "brick $n still accuses a brick that took every write: $p"; fi
done
log "after the post-op, brick 0 holds: $(pending 0 "$G" | tr '\n' ' ')"
restart_brick 1
sleep 2.5   # ping-timeout: the client reconnects by itself
healed_c() { stat "$B/killed.bin" > /dev/null && cmp -s "$WORK/src.bin" "$WORK/b1/killed.bin" && same3 killed.bin; }
within 30 healed_c || fail "brick 1's copy was not healed"
within 10 index_empty || fail "changelog still pending after the heal: $(heal_index 0)"
cmp "$WORK/src.bin" "$B/killed.bin" || fail "read back"

log "(d) creates carry the first write's lock"
C=$WORK/mntC
mount_vol "$C"
mkdir "$C/many"
inodelks() { "$INSPECT" "127.0.0.1:${BRICK_PORT[0]}" stats | awk '$1 == "inodelk" {print $3}'; }
before=$(inodelks)
timeout 60 python3 - "$C/many" <<'PY' || fail "creates failed"
import os, sys
for i in range(50):
    fd = os.open(f"{sys.argv[1]}/w{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, (b"%04d" % i) * 1024)
    os.close(fd)
PY
within 5 index_empty || fail "changelog still pending after 50 closed creates: $(heal_index 0)"
after=$(inodelks)
log "inodelk calls on brick 0 for 50 creates with a write each: $((after - before))"
[ $((after - before)) -le 60 ] || fail "$((after - before)) inodelk calls for 50 created files: the create did not carry the lock"
for i in 0 17 49; do
  for n in 0 1 2; do cmp -s "$C/many/w$i" "$WORK/b$n/many/w$i" || fail "brick $n holds wrong data for w$i"; done
done

timeout 120 python3 - "$C/many" "$B/many" <<'PY' || fail "mount B did not see new files at once"
import os, sys, time
c, b = sys.argv[1], sys.argv[2]
fds, worst = [], 0.0
for i in range(30):
    data = (b"%04d" % i) * 1024
    fd = os.open(f"{c}/o{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, data)
    fds.append(fd)  # kept open: the creator keeps the lock its create took
    t0 = time.monotonic()
    while True:
        try:
            with open(f"{b}/o{i}", "rb") as f:
                got = f.read()
        except FileNotFoundError:
            got = None
        if got == data:
            break
        if time.monotonic() - t0 > 3:
            raise SystemExit(f"mount B reads {len(got or b'')} bytes of o{i} after 3 s")
        time.sleep(0.02)
    worst = max(worst, time.monotonic() - t0)
for fd in fds:
    os.close(fd)
print(f"mount B read each new file after at most {worst * 1000:.0f} ms")
PY
within 5 index_empty || fail "changelog still pending after the open creates were closed: $(heal_index 0)"

C_PID=$(pgrep -f "hafs-fuse.*$C( |$)" | head -1)
[ -n "$C_PID" ] || fail "no hafs-fuse for $C"
( timeout 60 python3 - "$C/many" 2>/dev/null <<'PY' || true
import os, sys
fds = []
for i in range(100000):
    fd = os.open(f"{sys.argv[1]}/k{i}", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"k" * 4096)
    fds.append(fd)  # open files keep their locks until the idle release
    if len(fds) > 400:
        for x in fds[:200]:
            os.close(x)
        del fds[:200]
PY
) &
PY_BG=$!
within 10 sh -c "[ \$(ls '$WORK/b0/many' | grep -c '^k') -gt 20 ]" || fail "the create stream did not start"
kill -9 "$C_PID"
wait $PY_BG || true
fusermount3 -u "$C" 2>/dev/null || umount -l "$C" 2>/dev/null || true
[ -n "$(heal_index 0)" ] || fail "no pending changelog after the client died in a create stream"
log "pending after the crash: $(heal_index 0 | wc -l) gfids on brick 0"
# A lookup of each name (not ls -l: readdirplus answers without one) heals what it finds.
# Known gap (not this feature's): a client killed inside an entry transaction leaves the
# directory's pending.entry counters on every brick (each accuses itself, so heal finds no
# source and leaves them); only such directory counters may stay.
only_entry_left() {
  local n g
  for n in 0 1 2; do
    for g in $(heal_index $n); do
      pending $n "$g" | grep -v '^pending.entry.' | grep -q . && return 1
    done
  done
  return 0
}
healed_d() {
  stat "$B/many" > /dev/null || return 1
  for f in "$WORK"/b0/many/k*; do stat "$B/many/${f##*/}" > /dev/null 2>&1 || true; done
  for f in "$WORK"/b0/many/k*; do cmp -s "$f" "$WORK/b1/many/${f##*/}" && cmp -s "$f" "$WORK/b2/many/${f##*/}" || return 1; done
  only_entry_left
}
within 30 healed_d || fail "lookups did not heal the creates of the killed client: $(heal_index 0 | wc -l) pending"
[ -z "$(heal_index 0)" ] || log "left pending (directory entry counters only): $(heal_index 0 | tr '\n' ' ')"
log "healed: $(ls "$WORK/b0/many" | grep -c '^k') files identical on the three bricks"

log "(e) kill -9 of the client in a write stream that began while a brick was down"
# The file's old 32 MiB (zeros) are on all three bricks and settled. Brick 2 dies; mount E
# overwrites the file (the eager lock is taken on bricks 0 and 1 only) and dies itself once
# the first 16 MiB of new data are on both. Brick 2 returns with the old copy and no pre-op:
# it must be healed from bricks 0 and 1, not be their source (that lost the acknowledged
# writes before the pre-op counted 2 for a brick that is down: docs/replication.md).
E=$WORK/mntE
mount_vol "$E"
head -c $((32 << 20)) /dev/zero > "$E/away.bin"
sleep 1.5   # the create's and the writes' eager locks are released: nothing pending
within 5 index_empty || fail "changelog pending before (e): $(heal_index 0)"
head -c $((16 << 20)) /dev/urandom > "$WORK/new16.bin"
kill_brick 2
E_PID=$(pgrep -f "hafs-fuse.*$E( |$)" | head -1)
[ -n "$E_PID" ] || fail "no hafs-fuse for $E"
( timeout 120 python3 - "$E/away.bin" "$WORK/new16.bin" 2>/dev/null <<'PY' || true
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, open(sys.argv[2], "rb").read())
block = os.urandom(1 << 20)
for _ in range(4096):  # on, until the client is killed
    os.write(fd, block)
PY
) &
PY_BG=$!
new_on() { cmp -s -n $((16 << 20)) "$WORK/new16.bin" "$WORK/b$1/away.bin"; }
new_on_0_and_1() { new_on 0 && new_on 1; }
within 20 new_on_0_and_1 || fail "the new data did not reach bricks 0 and 1"
kill -9 "$E_PID"
wait $PY_BG || true
fusermount3 -u "$E" 2>/dev/null || umount -l "$E" 2>/dev/null || true
G=$(heal_index 0 | head -1)
[ -n "$G" ] || fail "no pending changelog after the client died"
log "pending on brick 0 after the crash: $(pending 0 "$G" | tr '\n' ' ')"
restart_brick 2
sleep 2.5   # ping-timeout: mount B reconnects by itself
healed_e() { stat "$B/away.bin" > /dev/null && same3 away.bin && index_empty; }
within 30 healed_e || fail "away.bin was not healed (sizes $(stat -c %s "$WORK"/b*/away.bin | tr '\n' ' '))"
for n in 0 1 2; do new_on $n || fail "brick $n lost the acknowledged writes: healed from the brick that was down"; done
log "healed from bricks 0 and 1: $(stat -c %s "$WORK/b2/away.bin") bytes, new data on all three"
