#!/usr/bin/env bash
# Through a real hafs-mgmtd (which supervises the bricks) and real FUSE mounts:
# - auth.allow / auth.reject set on a started volume are enforced by the bricks at once
#   (an open mount gets EACCES, a new mount fails naming the rule), while mgmtd's own heal
#   daemon keeps working; `volume reset` lets the client in again, without a remount;
# - `volume heal NAME full` repairs files removed on one brick behind hafs's back (no heal
#   index entry) and a copy truncated behind its back, reporting progress in `heal info`.
# The test's client connects from 127.0.0.1.
source "$(dirname "$0")/lib.sh"

start_mgmtd
create_replica3 gv0
$H volume set gv0 network.ping-timeout 2 > /dev/null
$H volume start gv0 > /dev/null
within 20 all_online gv0 || fail "bricks did not come online: $($H volume status gv0 2>&1)"

M=$WORK/mnt
fuse_mount() {  # fuse_mount DIR: a mount from the volfile of mgmtd (bounded)
  mkdir -p "$1"; MOUNTS+=("$1")
  timeout 30 "$BIN/hafs-fuse" --volfile-server "127.0.0.1:$PORT" --volume gv0 "$1" \
    -o "log-file=$WORK/fuse-$(basename "$1").log,connect-timeout=3" > "$WORK/fuse-$(basename "$1").out" 2>&1
}
fuse_mount "$M" || fail "mount: $(cat "$WORK/fuse-mnt.out")"
within 5 mountpoint -q "$M" || fail "not mounted"
echo hello > "$M/a.txt"

log "auth.allow without the client's address: the bricks refuse it"
$H volume set gv0 auth.allow 127.0.0.2 > /dev/null || fail "volume set auth.allow"
# A lookup of a new name needs the bricks (reads of a.txt may be served from the kernel's
# cache) and changes nothing: refused is EACCES, allowed is ENOENT.
refused() { ! stat "$M/probe-$(date +%s%N)" > /dev/null 2> "$WORK/err" && grep -q "Permission denied" "$WORK/err"; }
within 15 refused || fail "the open mount is still served after auth.allow 127.0.0.2: $(cat "$M/a.txt" 2>&1)"
if fuse_mount "$WORK/mnt-refused"; then fail "a refused client mounted the volume"; fi
grep -q "auth.allow '127.0.0.2'" "$WORK/fuse-mnt-refused.out" "$WORK/fuse-mnt-refused.log" 2>/dev/null \
  || fail "the mount error does not name the rule: $(cat "$WORK/fuse-mnt-refused.out")"
grep -h "127.0.0.1" "$WORK/fuse-mnt-refused.out" | head -1
# mgmtd's own clients (the heal daemon, heal info) still reach the bricks.
$H volume heal gv0 info > "$WORK/info" || fail "heal info: $(cat "$WORK/info")"
[ "$(grep -c 'Status: Connected' "$WORK/info")" = 3 ] || fail "heal info cannot reach the bricks: $(cat "$WORK/info")"

log "auth.reject wins over auth.allow"
$H volume set gv0 auth.allow '127.0.0.*' > /dev/null
within 15 cat "$M/a.txt" || fail "auth.allow 127.0.0.* did not let the client in again"
$H volume set gv0 auth.reject 127.0.0.1 > /dev/null
within 15 refused || fail "auth.reject 127.0.0.1 did not win over auth.allow 127.0.0.*"

log "reset: allowed again, without a remount, no data lost"
$H volume reset gv0 auth.reject > /dev/null
$H volume reset gv0 auth.allow > /dev/null
within 15 cat "$M/a.txt" || fail "the mount did not come back after reset"
[ "$(cat "$M/a.txt")" = hello ] || fail "content changed"
echo again >> "$M/a.txt"
for n in 0 1 2; do within 10 grep -q again "$WORK/b$n/a.txt" || fail "brick $n missed a write after reset"; done

log "heal full: files removed and truncated behind hafs's back"
mkdir -p "$M/d1/d2"
for i in $(seq 1 50); do head -c $((i * 1000)) /dev/urandom > "$M/d1/f$i"; done
head -c $((3*1024*1024)) /dev/urandom > "$M/d1/d2/big"
echo top > "$M/top.txt"
sync
sleep 1.5   # the client's eager entry locks are released after 1 s idle (docs/client.md)
(cd "$M" && md5sum top.txt d1/d2/big d1/f*) > "$WORK/sums"
# Behind hafs's back on brick 1: no counter, no heal index entry records any of this.
rm -f "$WORK/b1/d1/f"{1..20} "$WORK/b1/top.txt"
truncate -s 1000 "$WORK/b1/d1/d2/big"
# Nothing recorded it: the index heal has nothing to do.
$H volume heal gv0 info > "$WORK/info"
[ "$(grep -c 'Number of entries: 0' "$WORK/info")" = 3 ] || fail "unexpected heal index entries: $(cat "$WORK/info")"
[ ! -e "$WORK/b1/d1/f1" ] || fail "setup"
$H volume heal gv0 full | grep -q "full self heal" || fail "heal full was refused: $($H volume heal gv0 full 2>&1)"
full_done() { $H volume heal gv0 info > "$WORK/info" 2>&1; grep -q "full crawl: done" "$WORK/info"; }
within 120 full_done || fail "the full crawl did not finish: $(cat "$WORK/info")"
cat "$WORK/info" | grep "full crawl"
grep -q "full crawl: done crawled [1-9]" "$WORK/info" || fail "progress not reported: $(cat "$WORK/info")"
grep -Eq "healed (2[2-9]|[3-9][0-9])" "$WORK/info" || fail "expected at least 22 healed entries: $(cat "$WORK/info")"
for f in top.txt d1/d2/big $(cd "$WORK/b0" && ls d1 | grep '^f' | sed 's|^|d1/|'); do
  cmp -s "$WORK/b0/$f" "$WORK/b1/$f" || fail "brick 1's $f was not repaired"
  cmp -s "$WORK/b0/$f" "$WORK/b2/$f" || fail "brick 2's $f differs"
done
(cd "$WORK/b1" && md5sum -c --quiet "$WORK/sums") || fail "brick 1 does not hold the original data"
(cd "$M" && md5sum -c --quiet "$WORK/sums") || fail "the mount does not serve the original data"
log "heal full repaired every replica"
