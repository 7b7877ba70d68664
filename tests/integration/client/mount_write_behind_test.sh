#!/usr/bin/env bash
# Write-behind on a replica-3 mount (docs/client.md, "Write-behind"):
# (a) a 256 MiB sequential write (dd bs=1M conv=fsync): every brick's backend copy has the
#     source's md5; the same mount reads it back at once;
# (b) read-after-write on the same mount without a close (data and size), and overlapping
#     rewrites / O_APPEND streams end in the application's order on every brick; a second
#     mount sees the data after close;
# (c) kill -9 of one brick in the middle of a 256 MiB write: dd (conv=fsync) succeeds, heal
#     makes the three copies identical;
# (d) two bricks killed: write(2), fsync(2) or close(2) reports EROFS — an acknowledged write
#     that could not be done is never a silent success;
# (e) the window option is taken (write-behind-window-size=1MB on the second mount) and a bad
#     value is refused;
# (f) bricks that run out of room (16 MiB tmpfs): write(2) or close(2) report ENOSPC, never
#     a silent success;
# (g) flush-behind (mount option): 200 files written and closed reach every brick and the
#     other mount within 5 s, read-your-writes after close; without quorum a write's failure
#     is reported by the next fsync at the latest.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA
B=$WORK/mntB
mount_vol "$A"
mount_vol "$B" "log-file=$WORK/fuse-B.log,write-behind-window-size=1MB"
md5() { md5sum "$1" | cut -d' ' -f1; }

log "(a) 256 MiB sequential write, then md5 of the three backend copies"
head -c $((256*1024*1024)) /dev/urandom > "$WORK/src.bin"
SRC_MD5=$(md5 "$WORK/src.bin")
t0=$(date +%s%N)
timeout 120 dd if="$WORK/src.bin" of="$A/seq.bin" bs=1M conv=fsync status=none || fail "dd failed"
t1=$(date +%s%N)
log "    $(( 256 * 1000 / ( (t1 - t0) / 1000000 + 1 ) )) MB/s (dd conv=fsync)"
for n in 0 1 2; do
  [ "$(md5 "$WORK/b$n/seq.bin")" = "$SRC_MD5" ] || fail "brick $n's copy differs from the source"
done
[ "$(md5 "$A/seq.bin")" = "$SRC_MD5" ] || fail "read back through the mount differs"

log "(b) read-after-write on one mount, order of overlapping writes and appends, second mount after close"
timeout 120 python3 - "$A" "$B" <<'PY' || fail "read-after-write / ordering"
import os, sys, time, hashlib
a, b = sys.argv[1], sys.argv[2]
# Read-after-write, no close in between: data and size seen at once.
fd = os.open(a + "/raw.bin", os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
for i in range(64):
    chunk = bytes([i]) * (1 << 20)
    os.pwrite(fd, chunk, i << 20)
    assert os.fstat(fd).st_size == (i + 1) << 20, "size after a write"
    assert os.stat(a + "/raw.bin").st_size == (i + 1) << 20, "size by name after a write"
    assert os.pread(fd, 1 << 20, i << 20) == chunk, f"read-after-write at {i} MiB"
    if i % 8 == 0:
        assert os.pread(fd, 4096, 0) == bytes([0]) * 4096
os.close(fd)
# Overlapping rewrites of one region: the last one wins (on every brick, checked below).
fd = os.open(a + "/overlap.bin", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
expect = bytearray(6 * 10000 + 65536)
for i in range(300):
    data = bytes([i % 251]) * 65536
    off = (i % 7) * 10000
    os.pwrite(fd, data, off)
    expect[off:off + 65536] = data
os.close(fd)
open(a + "/../overlap.expect", "wb").write(expect)
# O_APPEND from one process: records in order.
fd = os.open(a + "/append.log", os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_TRUNC, 0o644)
lines = b"".join(b"record %06d\n" % i for i in range(2000))
for i in range(2000):
    os.write(fd, b"record %06d\n" % i)
os.close(fd)
assert open(a + "/append.log", "rb").read() == lines, "appends out of order (same mount)"
open(a + "/../append.expect", "wb").write(lines)
# Another mount sees the data after close.
deadline = time.time() + 5
while True:
    try:
        if open(b + "/overlap.bin", "rb").read() == bytes(expect) and open(b + "/append.log", "rb").read() == lines:
            break
    except OSError:
        pass
    if time.time() > deadline:
        got = [open(b + f, "rb").read() for f in ("/overlap.bin", "/append.log")]
        raise SystemExit(f"the second mount does not see the data after close: overlap {len(got[0])} bytes "
                         f"(equal {got[0] == bytes(expect)}), append.log {len(got[1])} bytes (equal {got[1] == lines})")
    time.sleep(0.05)
PY
for f in overlap.bin append.log; do
  exp=$WORK/${f%.*}.expect
  for n in 0 1 2; do cmp -s "$exp" "$WORK/b$n/$f" || fail "brick $n: $f is not in the application's order"; done
done

log "(c) kill -9 one brick in the middle of a 256 MiB write"
( timeout 180 dd if="$WORK/src.bin" of="$A/big.bin" bs=1M conv=fsync status=none; echo $? > "$WORK/dd.rc" ) &
DD=$!
sleep 0.5; kill_brick 1
wait $DD
[ "$(cat "$WORK/dd.rc")" = 0 ] || fail "the write failed when one brick died (rc $(cat "$WORK/dd.rc"))"
[ "$(md5 "$A/big.bin")" = "$SRC_MD5" ] || fail "read back after a brick died"
restart_brick 1
sleep 2.5   # ping-timeout: the client reconnects by itself
healed() { stat "$A/big.bin" > /dev/null; cat "$A/big.bin" > /dev/null; cmp -s "$WORK/src.bin" "$WORK/b1/big.bin"; }
within 60 healed || fail "brick 1's copy was not healed"
cmp "$WORK/b0/big.bin" "$WORK/b2/big.bin" || fail "bricks 0 and 2 differ"

log "(d) two bricks killed: write, fsync or close report EROFS"
echo start > "$A/quorum.txt"
kill_brick 1; kill_brick 2
sleep 2.5   # ping-timeout
timeout 60 python3 - "$A" <<'PY' || fail "an error was not reported without quorum"
import errno, os, sys
a = sys.argv[1]
def case(name, sync):
    """Writes after quorum is gone: some call of the sequence must fail with EROFS."""
    errs = []
    try:
        fd = os.open(a + "/quorum.txt", os.O_WRONLY)
    except OSError as e:
        errs.append(("open", e.errno))
        fd = None
    if fd is not None:
        for i in range(4):
            try:
                os.pwrite(fd, b"y" * 65536, i * 65536)
            except OSError as e:
                errs.append(("write", e.errno))
        if sync:
            try:
                os.fsync(fd)
            except OSError as e:
                errs.append(("fsync", e.errno))
        try:
            os.close(fd)
        except OSError as e:
            errs.append(("close", e.errno))
    print(f"    {name}: {errs}")
    assert errs, f"{name}: every call succeeded without quorum (data lost silently)"
    # EROFS from write-behind (latched) and replicate; fsync itself may see the bricks gone (EIO).
    assert any(e == errno.EROFS for _, e in errs), f"{name}: expected EROFS, got {errs}"
    assert all(e in (errno.EROFS, errno.EIO) for _, e in errs), f"{name}: unexpected errors {errs}"
case("write+close", False)
case("write+fsync+close", True)
# One small write then close: the write is acknowledged, close must report the failure.
fd = os.open(a + "/quorum.txt", os.O_WRONLY)
try:
    os.write(fd, b"z" * 100)
    wrote = True
except OSError as e:
    assert e.errno == errno.EROFS
    wrote = False
# A reader's close in between does not take the writer's error.
rfd = os.open(a + "/quorum.txt", os.O_RDONLY)
os.close(rfd)
try:
    os.close(fd)
    assert not wrote, "an acknowledged write was lost and close said nothing"
except OSError as e:
    assert e.errno == errno.EROFS, e
print("    single write + close: error reported", "at close" if wrote else "at write")
PY
restart_brick 1; restart_brick 2
within 15 sh -c "echo back > '$A/after'" || fail "writes did not come back"

log "(g) flush-behind: close returns at once; the writes still reach every brick and the other mount"
F=$WORK/mntF
mount_vol "$F" "log-file=$WORK/fuse-F.log,flush-behind"
timeout 60 python3 - "$F" "$B" "$WORK" <<'PY' || fail "flush-behind"
import os, sys, time
f, b, work = sys.argv[1:4]
os.makedirs(f + "/fb")
want = {}
for i in range(200):
    want[i] = os.urandom(4096 + i)
    with open(f"{f}/fb/p{i}", "wb") as h:
        h.write(want[i])
def on_every_brick():
    for i, d in want.items():
        for n in range(3):
            try:
                if open(f"{work}/b{n}/fb/p{i}", "rb").read() != d:
                    return False
            except OSError:
                return False
    return True
t0 = time.monotonic()
while not on_every_brick():
    assert time.monotonic() - t0 < 5, "flush-behind: the writes did not reach every brick within 5 s"
    time.sleep(0.05)
for i in (0, 99, 199):
    assert open(f"{b}/fb/p{i}", "rb").read() == want[i], f"the second mount reads another p{i}"
data = os.urandom(100000)   # read-your-writes straight after close
with open(f + "/fb/ryw", "wb") as h:
    h.write(data)
assert open(f + "/fb/ryw", "rb").read() == data, "read after close on the same mount"
print(f"    200 files on every brick {time.monotonic() - t0:.2f} s after the last close")
PY
# Both mounts must be back on all three bricks after (d) (reconnects back off up to 2 s).
on_all_three() {
  echo "$2" > "$1/probe" || return 1
  for n in 0 1 2; do [ "$(cat "$WORK/b$n/probe" 2>/dev/null)" = "$2" ] || return 1; done
}
within 20 on_all_three "$A" a || fail "mount A does not reach all three bricks"
within 20 on_all_three "$F" f || fail "mount F does not reach all three bricks"
# With a brick hung (SIGSTOP), a write waits for it until the ping timeout declares it down:
# a normal close waits with it, a flush-behind close does not (files opened and written
# before the stop, so that the write itself need not ask a brick anything).
timeout 30 python3 - "$F" "$A" "${BRICK_PID[0]}" <<'PY' || { kill -CONT "${BRICK_PID[0]}"; fail "flush-behind close waited for a hung brick"; }
import os, signal, sys, time
fb = os.open(sys.argv[1] + "/fb/p1", os.O_WRONLY)
df = os.open(sys.argv[2] + "/raw.bin", os.O_WRONLY)
for fd in (fb, df):  # the kernel's security.capability probe before a write is answered now
    os.pwrite(fd, b"w" * 4096, 8192)
    os.fsync(fd)
os.kill(int(sys.argv[3]), signal.SIGSTOP)
try:
    os.pwrite(fb, b"h" * 4096, 0)
    os.pwrite(df, b"h" * 4096, 0)
    t = time.monotonic(); os.close(fb); behind = time.monotonic() - t
    t = time.monotonic(); os.close(df); normal = time.monotonic() - t
finally:
    os.kill(int(sys.argv[3]), signal.SIGCONT)
print(f"    close with a brick hung: flush-behind {behind:.3f} s, default {normal:.3f} s")
assert behind < 0.5, behind
assert normal > 1.0, normal   # the control: the default close does wait
PY
sleep 3   # brick 0 reconnected
kill_brick 1; kill_brick 2
sleep 2.5   # ping-timeout
timeout 60 python3 - "$F" <<'PY' || fail "flush-behind hid a failed write"
import errno, os, sys
path = sys.argv[1] + "/fb/p7"
errs = []
def call(name, fn):
    try:
        return fn()
    except OSError as e:
        errs.append((name, e.errno))
fd = call("open", lambda: os.open(path, os.O_WRONLY))
if fd is not None:
    call("write", lambda: os.pwrite(fd, b"q" * 4096, 0))
    call("close", lambda: os.close(fd))   # may answer before the write failed
fd = call("open", lambda: os.open(path, os.O_WRONLY))
if fd is not None:
    call("write", lambda: os.pwrite(fd, b"r" * 4096, 0))
    call("fsync", lambda: os.fsync(fd))   # waits: a failure is reported here at the latest
    call("close", lambda: os.close(fd))
print(f"    without quorum: {errs}")
assert any(e == errno.EROFS for _, e in errs), f"no EROFS: {errs}"
assert all(e in (errno.EROFS, errno.EIO) for _, e in errs), errs
PY
restart_brick 1; restart_brick 2
within 15 sh -c "echo back > '$F/after-fb'" || fail "writes did not come back on the flush-behind mount"

log "(e) a bad window size is refused"
mkdir -p "$WORK/mntC"
if timeout 30 "$BIN/mount.hafs" "$WORK/vol.json" "$WORK/mntC" -o write-behind-window-size=lots 2> "$WORK/c.err"; then
  MOUNTS+=("$WORK/mntC"); fail "write-behind-window-size=lots was accepted"
fi
grep -q "write-behind-window-size" "$WORK/c.err" || fail "the error does not name the option: $(cat "$WORK/c.err")"

log "(f) bricks out of room: write or close report ENOSPC"
cp "$WORK/vol.json" "$WORK/vol-main.json"
for n in 3 4 5; do
  mkdir -p "$WORK/b$n"
  mount -t tmpfs -o size=16m tmpfs "$WORK/b$n" || fail "tmpfs for brick $n"
  MOUNTS+=("$WORK/b$n")   # unmounted by cleanup
  start_brick $n
done
write_volfile replicate 3 3 4 5
mount_vol "$WORK/mntS"
timeout 60 python3 - "$WORK/mntS" <<'PY' || fail "running out of room was not reported"
import errno, os, sys
fd = os.open(sys.argv[1] + "/fill.bin", os.O_CREAT | os.O_WRONLY, 0o644)
errs = []
for i in range(32):   # 32 MiB into 16 MiB
    try:
        os.write(fd, b"f" * (1 << 20))
    except OSError as e:
        errs.append(("write", e.errno))
try:
    os.close(fd)
except OSError as e:
    errs.append(("close", e.errno))
print("    ", sorted(set(errs)))
assert errs, "32 MiB written into 16 MiB without an error"
assert all(e == errno.ENOSPC for _, e in errs), errs
PY
