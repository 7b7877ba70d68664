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
#     a silent success.
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
