#!/usr/bin/env bash
# Content cache write-through (docs/client.md, "Quick read and the content cache"): a small
# file a mount created and wrote is kept by that mount as if it had been read — its first cold
# read (kernel caches dropped) costs the bricks no read call and no byte — and stays coherent:
# another mount's same-size rewrite is read by the writer within 3 s. So is a file written
# under a temporary name and renamed into place, or given its times and mode afterwards.
# Files written with a hole, and a mount with HAFS_CC_WRITE_THROUGH=0, are read from the
# bricks (and right).
source "$(dirname "$0")/lib.sh"

# write_files DIR PREFIX N: N files written as an application would: one write, several
# sequential writes, a 64 KiB file in 4 KiB writes, an empty file, and one with a hole.
write_files() {
  timeout 60 python3 - "$@" <<'PY' || fail "writing $1 failed"
import os, sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with open(f"{d}/{p}{i}", "wb") as f:
        f.write((b"%05d" % i) * 800)                 # 4000 bytes, one write
with open(f"{d}/{p}seq", "wb", buffering=0) as f:
    for k in range(10):
        f.write(bytes([65 + k]) * 1000)              # ten sequential writes
with open(f"{d}/{p}64k", "wb", buffering=0) as f:
    for k in range(16):
        f.write(bytes([97 + k]) * 4096)              # quick-read-max exactly
open(f"{d}/{p}empty", "wb").close()
PY
}
check_files() {  # DIR PREFIX N
  timeout 60 python3 - "$@" <<'PY' || fail "wrong content read from $1"
import sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    got = open(f"{d}/{p}{i}", "rb").read()
    assert got == (b"%05d" % i) * 800, f"{p}{i}: {len(got)} bytes, wrong content"
assert open(f"{d}/{p}seq", "rb").read() == b"".join(bytes([65 + k]) * 1000 for k in range(10)), "seq"
assert open(f"{d}/{p}64k", "rb").read() == b"".join(bytes([97 + k]) * 4096 for k in range(16)), "64k"
assert open(f"{d}/{p}empty", "rb").read() == b"", "empty"
PY
}

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA
B=$WORK/mntB
mount_vol "$A"
mount_vol "$B"

log "mount A creates and writes 40 small files, then reads them cold"
write_files "$A" w 40
cold 1.2
r0=$(brick_sum read 0 1 2); b0=$(brick_sum bytes 0 1 2)
check_files "$A" w 40
r1=$(brick_sum read 0 1 2); b1=$(brick_sum bytes 0 1 2)
log "first cold read of its own 43 files: $((r1 - r0)) read calls, $((b1 - b0)) bytes read on the bricks"
[ $((r1 - r0)) -eq 0 ] || fail "$((r1 - r0)) read calls: the files this mount wrote were not kept"
[ $((b1 - b0)) -eq 0 ] || fail "$((b1 - b0)) bytes read: the files this mount wrote were not kept"

log "mount B reads them right (from the bricks)"
cold 1.2
r0=$(brick_sum bytes 0 1 2)
check_files "$B" w 40
r1=$(brick_sum bytes 0 1 2)
[ $((r1 - r0)) -ge $((40 * 4000)) ] || fail "mount B read only $((r1 - r0)) bytes: test broken?"

log "a file written with a hole is read from the bricks, zeros included"
timeout 30 python3 - "$A" <<'PY' || fail "hole"
import os, sys
p = f"{sys.argv[1]}/hole"
fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
os.pwrite(fd, b"a" * 1000, 0)
os.pwrite(fd, b"c" * 1000, 3000)
os.close(fd)
PY
cold 1.2
r0=$(brick_sum read 0 1 2)
[ "$(python3 -c "import sys; print(open(sys.argv[1], 'rb').read() == b'a' * 1000 + bytes(2000) + b'c' * 1000)" "$A/hole")" = True ] \
  || fail "the file with a hole reads wrong"
r1=$(brick_sum read 0 1 2)
[ $((r1 - r0)) -ge 1 ] || fail "the file with a hole was answered from the cache (0 read calls)"

log "mount B rewrites A's files (same size); A reads B's content within 3 s"
timeout 120 python3 - "$A" "$B" <<'PY' || fail "mount A read stale content of its own file"
import sys
from mountcheck import drop_caches, seen_within
a, b = sys.argv[1], sys.argv[2]
worst = 0
for i in range(10):
    name = f"w{i}"
    new = (b"B%04d" % i) * 800                       # same size
    with open(f"{b}/{name}", "r+b") as f:
        f.write(new)
    # Odd files: the kernel's caches dropped before each read, the content cache alone answers.
    took = seen_within(lambda: open(f"{a}/{name}", "rb").read(), new, f"{name} on mount A",
                       before_each=drop_caches if i % 2 else None)
    worst = max(worst, took)
print(f"  B's rewrites seen by A after at most {worst * 1000:.0f} ms")
PY

log "mount A truncates (O_TRUNC) and rewrites a file B changed: A reads its new content, B too"
timeout 30 python3 - "$A" "$B" <<'PY' || fail "rewrite after O_TRUNC"
import os, sys, time
a, b = sys.argv[1], sys.argv[2]
with open(f"{a}/w3", "wb") as f:
    f.write(b"again" * 100)
os.sync()
with open("/proc/sys/vm/drop_caches", "w") as f:
    f.write("3\n")
assert open(f"{a}/w3", "rb").read() == b"again" * 100, "A"
t0 = time.monotonic()
while open(f"{b}/w3", "rb").read() != b"again" * 100:
    assert time.monotonic() - t0 < 3, "B does not see A's rewrite"
    time.sleep(0.05)
PY

log "written under a temporary name and renamed into place (rsync), or given times and mode (cp -p): still kept"
timeout 60 python3 - "$A" <<'PY' || fail "rename/setattr writing"
import os, sys
d = sys.argv[1]
for i in range(10):
    with open(f"{d}/r{i}", "wb") as f:          # the old version, kept too
        f.write(b"old" * 100)
    tmp = f"{d}/.r{i}.tmp"                      # rsync's steps, as strace shows them
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)                          # before the write
    os.write(fd, (b"R%04d" % i) * 700)
    os.close(fd)
    os.utime(tmp, (1000000000, 1000000000))
    fd = os.open(tmp, os.O_RDONLY)
    os.fchmod(fd, 0o644)
    os.close(fd)
    os.rename(tmp, f"{d}/r{i}")                   # over the old version
    with open(f"{d}/t{i}", "wb") as f:
        f.write((b"T%04d" % i) * 700)
    os.utime(f"{d}/t{i}", (1000000000 + i, 1000000000 + i))
    os.chmod(f"{d}/t{i}", 0o600)
PY
cold 1.2
r0=$(brick_sum read 0 1 2); b0=$(brick_sum bytes 0 1 2)
timeout 60 python3 - "$A" <<'PY' || fail "renamed or touched files read wrong on mount A"
import os, stat, sys
d = sys.argv[1]
for i in range(10):
    assert open(f"{d}/r{i}", "rb").read() == (b"R%04d" % i) * 700, f"r{i}: not the renamed content"
    assert open(f"{d}/t{i}", "rb").read() == (b"T%04d" % i) * 700, f"t{i}"
    st = os.stat(f"{d}/t{i}")
    assert st.st_mtime == 1000000000 + i and stat.S_IMODE(st.st_mode) == 0o600, f"t{i}: times or mode lost"
PY
r1=$(brick_sum read 0 1 2); b1=$(brick_sum bytes 0 1 2)
log "first cold read of 20 renamed or touched files: $((r1 - r0)) read calls, $((b1 - b0)) bytes read"
[ $((r1 - r0)) -eq 0 ] || fail "$((r1 - r0)) read calls: renamed or touched files were not kept"
[ $((b1 - b0)) -eq 0 ] || fail "$((b1 - b0)) bytes read: renamed or touched files were not kept"
log "mount B rewrites a renamed and a touched file (same size): A reads B's content within 3 s"
timeout 60 python3 - "$A" "$B" <<'PY' || fail "mount A kept stale content of a renamed or touched file"
import sys
from mountcheck import drop_caches, seen_within
a, b = sys.argv[1], sys.argv[2]
for name in ("r4", "t4"):
    new = b"B" * 3500
    with open(f"{b}/{name}", "r+b") as f:
        f.write(new)
    seen_within(lambda: open(f"{a}/{name}", "rb").read(), new, f"{name} on mount A", before_each=drop_caches)
PY

log "switch: HAFS_CC_WRITE_THROUGH=0: the first cold read of own files reads the bricks"
D=$WORK/mntD
mkdir -p "$D"
MOUNTS+=("$D")
HAFS_CC_WRITE_THROUGH=0 timeout 30 "$BIN/mount.hafs" "$WORK/vol.json" "$D" -o "log-file=$WORK/fuse-mntD.log"
within 5 mountpoint -q "$D" || fail "$D is not mounted"
mkdir "$D/off"
write_files "$D/off" x 20
cold 1.2
r0=$(brick_sum read 0 1 2)
check_files "$D/off" x 20
r1=$(brick_sum read 0 1 2)
log "with write-through off: $((r1 - r0)) read calls"
[ $((r1 - r0)) -ge 20 ] || fail "write-through off still spared the reads ($((r1 - r0)) read calls)"
