#!/usr/bin/env bash
# No-open (docs/client.md, "Serving files: no-open"): on a read-only mount the kernel opens
# and closes regular files without asking hafs-fuse (no OPEN, RELEASE or FLUSH after the first
# open), counted by the bridge's debug counters (getxattr trusted.hafs.fuse-stats on the root).
#  (a) ro mount: serves the right bytes; 3 passes over 20 files cost at most 1 OPEN, 0 RELEASE,
#      at most 1 FLUSH (a rw mount, the control, costs one OPEN per open); write opens EROFS.
#  (b) ro mount sees another mount's change (content and size, grown and shrunk) within 3 s.
#  (c) a file unlinked by another mount while the ro mount has it open: as without no-open —
#      reads give the old bytes or an error, never other bytes, never hang; the name is gone.
#  (d) rw mount with -o no-open: rewrite of an existing file, O_APPEND through one descriptor
#      while another mount appends (the appends must not overwrite each other), a file this
#      mount unlinks or renames over while it has it open stays readable, close reports a
#      write-behind error (EROFS without quorum).
#  (e) rw mount with -o no-open,flush-behind: no FLUSH either (60 opens: at most 1 OPEN, 0
#      RELEASE, at most 1 FLUSH); what it writes reaches the other mount within 3 s without a
#      close to push it; its eager lock goes when another mount writes (< 0.8 s) and the
#      changelog settles on every brick (copies identical); without quorum the error comes at
#      write or fsync (EROFS).
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA   # rw, default (OPEN/RELEASE sent)
R=$WORK/mntR   # ro (no-open by default)
N=$WORK/mntN   # rw, -o no-open
F=$WORK/mntF   # rw, -o no-open,flush-behind
mount_vol "$A" "log-file=$WORK/fuse-A.log"
mount_vol "$R" "ro,log-file=$WORK/fuse-R.log"
# (no read-ahead: reads of an unlinked open file must go to the bricks, not to prefetched data)
mount_vol "$N" "no-open,read-ahead-window=0,log-file=$WORK/fuse-N.log"
mount_vol "$F" "no-open,flush-behind,log-file=$WORK/fuse-F.log"
# The counters' text grows while it is read (its own request counts): every read of it, from a
# fresh mount on, must succeed (getfattr sizes its buffer with a first call; a text grown by a
# digit since then once failed with ERANGE).
for i in $(seq 40); do
  getfattr -n trusted.hafs.fuse-stats --only-values "$A" > /dev/null 2>&1 || fail "reading fuse-stats failed (read $i)"
done
grep -q "no-open on, no-flush on" "$WORK/fuse-R.log" || fail "ro mount: no-open is not on: $(grep -m1 'fuse bridge' "$WORK/fuse-R.log")"
grep -q "no-open on, no-flush off" "$WORK/fuse-N.log" || fail "-o no-open: not on"
grep -q "no-open off" "$WORK/fuse-A.log" || fail "rw mount: no-open is on by default"
grep -q "no-open on, no-flush on" "$WORK/fuse-F.log" || fail "-o no-open,flush-behind: no-flush is not on"

stat_of() {  # MOUNT OP: the bridge's count of OP requests
  python3 -c 'import os,sys
t = os.getxattr(sys.argv[1], "trusted.hafs.fuse-stats").decode()
print(dict(l.split() for l in t.splitlines())[sys.argv[2]])' "$1" "$2"
}

log "(a) mount A writes 20 files; the ro mount serves them with no OPEN/RELEASE/FLUSH per open"
timeout 60 python3 - "$A" <<'PY' || fail "writing failed"
import sys
for i in range(20):
    with open(f"{sys.argv[1]}/f{i}", "wb") as f:
        f.write((b"%05d" % i) * (60 * (i + 1)))
PY
readall() {  # MOUNT: 3 passes of open + read + close over the 20 files, checked
  timeout 60 python3 - "$1" <<'PY'
import sys
for _ in range(3):
    for i in range(20):
        with open(f"{sys.argv[1]}/f{i}", "rb") as f:
            got = f.read()
        assert got == (b"%05d" % i) * (60 * (i + 1)), f"f{i}: {len(got)} bytes, wrong content"
PY
}
o0=$(stat_of "$R" open); r0=$(stat_of "$R" release); f0=$(stat_of "$R" flush)
readall "$R" || fail "the ro mount served wrong data"
o1=$(stat_of "$R" open); r1=$(stat_of "$R" release); f1=$(stat_of "$R" flush)
log "ro mount, 60 opens: OPEN $((o1 - o0)), RELEASE $((r1 - r0)), FLUSH $((f1 - f0))"
[ $((o1 - o0)) -le 1 ] || fail "ro mount: $((o1 - o0)) OPEN requests for 60 opens (no-open is off)"
[ $((r1 - r0)) = 0 ] || fail "ro mount: $((r1 - r0)) RELEASE requests"
[ $((f1 - f0)) -le 1 ] || fail "ro mount: $((f1 - f0)) FLUSH requests"
a0=$(stat_of "$A" open); u0=$(stat_of "$A" open-us)
readall "$A" || fail "mount A read wrong data"
a1=$(stat_of "$A" open); u1=$(stat_of "$A" open-us)
log "control: rw mount A, 60 opens: OPEN $((a1 - a0)), $((u1 - u0)) us in hafs-fuse"
[ $((a1 - a0)) -ge 60 ] || fail "the counters do not count (rw mount: $((a1 - a0)) OPENs for 60 opens)"
# 60 OPENs take some microseconds (about 6 each, answered from memory): the clock counts them.
[ $((u1 - u0)) -gt 0 ] || fail "the OPENs' time is not counted: $((u1 - u0)) us for $((a1 - a0))"
timeout 20 python3 - "$R" <<'PY' || fail "the ro mount accepted a write"
import errno, os, sys
for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_CREAT):
    try:
        os.close(os.open(sys.argv[1] + "/f0", flags))
        raise SystemExit(f"open with flags {flags:#o} succeeded on a ro mount")
    except OSError as e:
        assert e.errno == errno.EROFS, e
try:
    os.mkdir(sys.argv[1] + "/d")
    raise SystemExit("mkdir succeeded")
except OSError as e:
    assert e.errno == errno.EROFS, e
PY
cmp "$A/f3" "$R/f3" || fail "f3 differs after the refused writes"

log "(b) the ro mount sees mount A's changes (content, size up and down) within 3 s"
timeout 120 python3 - "$A" "$R" <<'PY' || fail "the ro mount served stale data"
import os, sys
from mountcheck import seen_within
a, r = sys.argv[1], sys.argv[2]
worst = 0.0
for i, size in enumerate([50, 5000, 20, 70000, 300]):
    name = f"f{i}"
    with open(f"{r}/{name}", "rb") as f:
        f.read()                      # cached by the ro mount's kernel
    os.stat(f"{r}/{name}")
    new = bytes([65 + i]) * size
    with open(f"{a}/{name}", "wb") as f:
        f.write(new)
    def read():
        with open(f"{r}/{name}", "rb") as f:
            return f.read(), os.stat(f"{r}/{name}").st_size
    worst = max(worst, seen_within(read, (new, size), f"{name} on the ro mount"))
print(f"    slowest change seen after {worst * 1000:.0f} ms")
PY

log "(c) a file unlinked by mount A while the ro mount has it open"
timeout 60 python3 - "$A" "$R" <<'PY' || fail "unlink by another mount"
import errno, os, sys, time
a, r = sys.argv[1], sys.argv[2]
old = b"u" * 10000
with open(f"{a}/gone", "wb") as f:
    f.write(old)
fd = os.open(f"{r}/gone", os.O_RDONLY)
assert os.pread(fd, 20000, 0) == old
os.unlink(f"{a}/gone")
t0 = time.monotonic()
while True:
    try:
        os.stat(f"{r}/gone")
    except FileNotFoundError:
        break
    assert time.monotonic() - t0 < 3, "the name is still there after 3 s"
    time.sleep(0.02)
for _ in range(3):
    try:
        got = os.pread(fd, 20000, 0)
        assert got == old, f"read {len(got)} other bytes"
        print("    read through the open descriptor: the old bytes")
    except OSError as e:
        assert e.errno in (errno.ENOENT, errno.ESTALE, errno.EIO), e
        print(f"    read through the open descriptor: {errno.errorcode[e.errno]}")
    time.sleep(0.3)
os.close(fd)
PY

log "(d) rw mount with no-open: writes, O_APPEND, unlink of an open file, close errors"
timeout 120 python3 - "$A" "$N" <<'PY' || fail "no-open rw mount"
import os, sys, time
a, n = sys.argv[1], sys.argv[2]
# Rewrite an existing file (opened without OPEN: fh 0), read back on the other mount.
with open(f"{n}/f10", "r+b") as f:
    f.seek(5)
    f.write(b"XYZ")
want = bytearray((b"%05d" % 10) * 660)
want[5:8] = b"XYZ"
with open(f"{a}/f10", "rb") as f:
    assert f.read() == want, "rewrite through the no-open mount lost"
# O_APPEND through one descriptor of N while A appends in between: the brick appends at its
# end (the kernel's idea of the size on N is stale after A's append).
with open(f"{a}/log", "wb") as f:
    f.write(b"start;")
os.stat(f"{n}/log")
fd = os.open(f"{n}/log", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"n1;")
os.fsync(fd)
with open(f"{a}/log", "ab") as f:
    f.write(b"a1;")
os.write(fd, b"n2;")
os.close(fd)
with open(f"{a}/log", "rb") as f:
    got = f.read()
assert got == b"start;n1;a1;n2;", f"appends: {got!r}"
# Truncate on open (O_TRUNC without OPEN: the kernel truncates with a setattr).
with open(f"{n}/f11", "wb") as f:
    f.write(b"short")
with open(f"{a}/f11", "rb") as f:
    assert f.read() == b"short", "O_TRUNC rewrite"
# A file this mount unlinks (and one it renames over) while it has it open stays readable.
for how in ("unlink", "rename"):
    body = how.encode() * 60000   # above quick-read-max: not kept by the content cache
    with open(f"{a}/open-{how}", "wb") as f:
        f.write(body)
    fd = os.open(f"{n}/open-{how}", os.O_RDONLY)
    assert os.pread(fd, 4096, 0) == body[:4096]
    if how == "unlink":
        os.unlink(f"{n}/open-{how}")
    else:
        with open(f"{n}/other", "wb") as f:
            f.write(b"new")
        os.rename(f"{n}/other", f"{n}/open-{how}")
    # Drop the kernel's pages so the reads go to the bricks.
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    time.sleep(0.5)
    got = os.pread(fd, len(body) + 10, 0)
    assert got == body, f"{how} of an open file: read {len(got)} bytes"
    os.close(fd)
print("    rewrite, O_APPEND between two mounts, O_TRUNC, unlink/rename of an open file: ok")
PY
log "(e) rw mount with no-open,flush-behind: no request per open + read + close; writes still land"
o0=$(stat_of "$F" open); r0=$(stat_of "$F" release); f0=$(stat_of "$F" flush)
timeout 60 python3 - "$F" <<'PY' || fail "the no-open,flush-behind mount served wrong data"
import sys
for _ in range(12):                  # 60 opens of files (a) wrote and nothing changed since
    for i in range(15, 20):
        with open(f"{sys.argv[1]}/f{i}", "rb") as f:
            assert f.read() == (b"%05d" % i) * (60 * (i + 1)), f"f{i}: wrong content"
PY
o1=$(stat_of "$F" open); r1=$(stat_of "$F" release); f1=$(stat_of "$F" flush)
log "no-open,flush-behind mount, 60 opens: OPEN $((o1 - o0)), RELEASE $((r1 - r0)), FLUSH $((f1 - f0))"
[ $((o1 - o0)) -le 1 ] || fail "no-open,flush-behind: $((o1 - o0)) OPEN requests for 60 opens"
[ $((r1 - r0)) = 0 ] || fail "no-open,flush-behind: $((r1 - r0)) RELEASE requests"
[ $((f1 - f0)) -le 1 ] || fail "no-open,flush-behind: $((f1 - f0)) FLUSH requests for 60 closes"
timeout 60 python3 - "$A" "$F" <<'PY' || fail "no-open,flush-behind: a write did not reach the other mount"
import os, sys
from mountcheck import seen_within
a, f = sys.argv[1], sys.argv[2]
worst = 0.0
for i in range(3):
    body = b"F%d;" % i * (1000 * (i + 1))
    with open(f"{f}/fb{i}", "wb") as out:      # a create: a handle, RELEASE waits for its writes
        out.write(body)
    with open(f"{f}/f{12 + i}", "r+b") as out:  # an existing file: no OPEN, no FLUSH, no RELEASE
        out.write(b"rewritten%d" % i)
    def read(name):
        def get():
            with open(f"{a}/{name}", "rb") as inp:
                return inp.read()
        return get
    worst = max(worst, seen_within(read(f"fb{i}"), body, f"fb{i} on mount A"))
    old = (b"%05d" % (12 + i)) * (60 * (13 + i))
    want = b"rewritten%d" % i + old[10:]
    worst = max(worst, seen_within(read(f"f{12 + i}"), want, f"f{12 + i} on mount A"))
print(f"    slowest write seen after {worst * 1000:.0f} ms")
PY
# With no close to let it go, the eager lock of a file F rewrote goes when another mount
# wants it (at once) or after eager_idle (1 s): the changelog settles on every brick.
timeout 30 python3 - "$A" "$F" <<'PY' || fail "no-open,flush-behind: another mount's write waited for the lock"
import os, sys, time
a, f = sys.argv[1], sys.argv[2]
with open(f"{f}/f15", "r+b") as out:
    out.write(b"from-F")
t0 = time.monotonic()
with open(f"{a}/f15", "r+b") as out:           # needs the lock F may still hold
    out.write(b"from-A")
    os.fsync(out.fileno())
took = time.monotonic() - t0
with open(f"{a}/f15", "rb") as inp:
    assert inp.read(6) == b"from-A", "the later write did not win"
print(f"    mount A's write + fsync with F's lock held: {took * 1000:.0f} ms")
assert took < 0.8, f"mount A waited {took:.2f} s for the lock"
PY
within 5 index_empty || fail "no-open,flush-behind: changelog still pending 5 s after the writes: $(heal_index 0 | tr '\n' ' ')"
for i in 12 13 14 15; do
  for n in 1 2; do cmp -s "$WORK/b0/f$i" "$WORK/b$n/f$i" || fail "f$i differs between bricks 0 and $n"; done
done

echo start > "$A/quorum.txt"
cat "$N/quorum.txt" > /dev/null
cat "$F/quorum.txt" > /dev/null
kill_brick 1; kill_brick 2
sleep 2.5   # ping-timeout
timeout 60 python3 - "$N" <<'PY' || fail "no-open mount: a write error was not reported"
import errno, os, sys
n = sys.argv[1]
fd = os.open(n + "/quorum.txt", os.O_WRONLY)   # no OPEN request: fh 0
errs = []
try:
    os.write(fd, b"z" * 100)                     # acknowledged by write-behind
except OSError as e:
    errs.append(("write", e.errno))
try:
    os.close(fd)                                 # FLUSH: write-behind's latched error
except OSError as e:
    errs.append(("close", e.errno))
print(f"    write+close without quorum: {errs}")
assert errs, "every call succeeded without quorum (data lost silently)"
assert any(e == errno.EROFS for _, e in errs), f"expected EROFS, got {errs}"
PY
timeout 60 python3 - "$F" <<'PY' || fail "no-open,flush-behind mount: a write error was not reported"
import errno, os, sys
fd = os.open(sys.argv[1] + "/quorum.txt", os.O_WRONLY)
errs = []
for call, fn in (("write", lambda: os.write(fd, b"y" * 100)), ("fsync", lambda: os.fsync(fd))):
    try:
        fn()
    except OSError as e:
        errs.append((call, e.errno))
os.close(fd)                                     # no FLUSH: nothing to report here
print(f"    write+fsync without quorum: {errs}")
assert any(e == errno.EROFS for _, e in errs), f"expected EROFS at write or fsync, got {errs}"
PY
restart_brick 1; restart_brick 2
log "no-open: all checks passed"
