#!/usr/bin/env bash
# Quick read (docs/client.md, "Quick read"): a cold read of a small file is answered from the
# content its lookup brought (no read call on any brick); another mount's change of a file is
# seen at once all the same; a file above the limit (64 KiB) is read from the bricks.
# The parent's attributes that bricks return with a create/mkdir answer the kernel's next
# getattr of the directory (no brick asked), and another mount's change still shows at once.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/mntA
B=$WORK/mntB
mount_vol "$A"
mount_vol "$B"
reads() {  # read calls on all three bricks
  local t=0 c
  for n in 0 1 2; do
    c=$("$INSPECT" "127.0.0.1:${BRICK_PORT[$n]}" stats | awk '$1 == "read" {print $3}')
    t=$((t + ${c:-0}))
  done
  echo $t
}

log "mount A writes 100 small files and one of 200 KiB"
timeout 60 python3 - "$A" <<'PY' || fail "writing failed"
import os, sys
for i in range(100):
    with open(f"{sys.argv[1]}/f{i}", "wb") as f:
        f.write((b"%05d" % i) * 800)
with open(f"{sys.argv[1]}/big", "wb") as f:
    f.write(bytes(range(256)) * 800)
PY
sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1.2
before=$(reads)
timeout 60 python3 - "$B" <<'PY' || fail "mount B read wrong data"
import os, sys
for i in range(100):
    with open(f"{sys.argv[1]}/f{i}", "rb") as f:
        got = f.read()
    assert got == (b"%05d" % i) * 800, f"f{i}: {len(got)} bytes, wrong content"
with open(f"{sys.argv[1]}/big", "rb") as f:
    assert f.read() == bytes(range(256)) * 800, "big: wrong content"
PY
after=$(reads)
log "read calls on the bricks for 100 cold small files and one of 200 KiB: $((after - before))"
[ $((after - before)) -ge 1 ] || fail "the 200 KiB file was not read from a brick"
[ $((after - before)) -le 10 ] || fail "$((after - before)) read calls: small files were not read with their lookup"

log "a change made by mount A is seen by mount B at once"
timeout 60 python3 - "$A" "$B" <<'PY' || fail "mount B read stale data"
import sys
from mountcheck import seen_within
a, b = sys.argv[1], sys.argv[2]
worst = 0.0
for i in range(20):
    with open(f"{b}/f{i}", "rb") as f:
        f.read()                       # B has looked it up (and may hold its content)
    new = (b"%05d" % (90000 + i)) * 800
    with open(f"{a}/f{i}", "r+b") as f:
        f.write(new)
    worst = max(worst, seen_within(lambda: open(f"{b}/f{i}", "rb").read(), new, f"f{i} on mount B"))
print(f"mount B saw each change after at most {worst * 1000:.0f} ms")
PY
log "a write through the same mount is read back at once"
timeout 30 python3 - "$B" <<'PY' || fail "read-your-writes failed"
import os, sys
p = f"{sys.argv[1]}/f50"
with open(p, "rb") as f:
    f.read()
with open(p, "r+b") as f:
    f.write(b"Z" * 4000)
    f.seek(0)
    assert f.read() == b"Z" * 4000, "own write not read back"
PY

log "creates and mkdirs: the parent's attributes come with the change"
getattrs() {
  local t=0 c
  for n in 0 1 2; do
    c=$("$INSPECT" "127.0.0.1:${BRICK_PORT[$n]}" stats | awk '$1 == "getattr" {print $3}')
    t=$((t + ${c:-0}))
  done
  echo $t
}
mkdir "$A/p"
before=$(getattrs)
for i in $(seq 30); do mkdir "$A/p/d$i"; echo x > "$A/p/f$i"; done
after=$(getattrs)
log "getattr calls on the bricks for 30 mkdirs + 30 creates: $((after - before))"
[ $((after - before)) -le 10 ] || fail "$((after - before)) getattr calls: the parent's attributes were asked for again"
[ "$(stat -c %h "$A/p")" = 32 ] || fail "mount A: nlink of p is $(stat -c %h "$A/p"), not 32"
within 3 sh -c "[ \$(stat -c %h '$B/p') = 32 ]" || fail "mount B: nlink of p is $(stat -c %h "$B/p")"
stat "$A/p" > /dev/null
mkdir "$B/p/fromB"
within 3 sh -c "[ \$(stat -c %h '$A/p') = 33 ]" || fail "mount A does not see mount B's mkdir: nlink $(stat -c %h "$A/p")"
