#!/usr/bin/env bash
# add-brick + rebalance on a live FUSE mount under a concurrent writer (issue: "afterwards
# every file is readable, checksums match the writer's log, the layout covers the new
# bricks"); bad add-brick input changes nothing; rebalance resumes after mgmtd is killed;
# remove-brick start/commit moves every file off a brick. One hafs-mgmtd (a pool of one).
source "$(dirname "$0")/lib.sh"
start_mgmtd
mkdir -p "$WORK"/b{0,1,2,3,4,5}
within 15 $H volume create gv0 127.0.0.1:$WORK/b0 127.0.0.1:$WORK/b1 force || fail "volume create"
$H volume start gv0 >/dev/null
mkdir -p "$M"
within 20 "$BIN/mount.hafs" "127.0.0.1:$PORT:/gv0" "$M" -o "log-file=$WORK/fuse.log" || fail "mount"
mountpoint -q "$M" || fail "not mounted"

bricks_of() { $H --json volume info "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["volumes"][0]["bricks"]))'; }
rebal_field() { $H --json volume rebalance gv0 status | python3 -c "import json,sys; print(json.load(sys.stdin)['nodes'][0]['$1'])"; }
rebal_done() { [ "$(rebal_field status)" = completed ]; }

log "bad add-brick input: a clear error each time and no change"
$H volume create gv1 replica 2 127.0.0.1:$WORK/b4 127.0.0.1:$WORK/b5 force >/dev/null
expect_refusal() {  # PATTERN CMD...
  local pat=$1; shift
  if "$@" > "$WORK/err" 2>&1; then fail "accepted: $*"; fi
  grep -qi -- "$pat" "$WORK/err" || fail "unclear error for '$*': $(cat "$WORK/err")"
}
expect_refusal "number of bricks" $H volume add-brick gv1 127.0.0.1:$WORK/b3 force
expect_refusal "does not exist" $H volume add-brick nosuchvol 127.0.0.1:$WORK/b3 force
expect_refusal "already part of volume" $H volume add-brick gv0 127.0.0.1:$WORK/b4 force
expect_refusal "already part of volume" $H volume add-brick gv0 127.0.0.1:$WORK/b1 force
expect_refusal "brick" $H volume add-brick gv0 not-a-brick force
[ "$(bricks_of gv0)" = 2 ] && [ "$(bricks_of gv1)" = 2 ] || fail "a refused add-brick changed a volume"
$H volume delete gv1 >/dev/null

log "writer starts; add-brick + rebalance while it writes"
python3 "$HERE/writer.py" "$M" 400 "$WORK/ready" "$WORK/stop" "$WORK/writer.log" > "$WORK/writer.out" 2>&1 &
WRITER_PID=$!
within 60 test -e "$WORK/ready" || fail "writer did not get ready: $(cat "$WORK/writer.out")"
$H volume add-brick gv0 127.0.0.1:$WORK/b2 force || fail "add-brick"
[ "$(bricks_of gv0)" = 3 ] || fail "add-brick did not add the brick"
sleep 1
$H volume rebalance gv0 start || fail "rebalance start"
within 120 rebal_done || fail "rebalance did not complete: $($H volume rebalance gv0 status)"
$H volume rebalance gv0 status
sleep 1
touch "$WORK/stop"
wait "$WRITER_PID" || fail "the writer failed: $(cat "$WORK/writer.out")"
WRITER_PID=""
cat "$WORK/writer.out"
[ "$(rebal_field failures)" = 0 ] || fail "rebalance had failures"
[ "$(rebal_field moved)" -gt 0 ] || fail "rebalance moved nothing"

verify() {  # every file readable, checksums as the writer logged, no file on two bricks, no temp copies left
  ( cd "$M" && sha256sum -c --quiet "$WORK/writer.log" ) || fail "checksums differ from the writer's log"
  find "$M" -type f -print0 | xargs -0 cat > /dev/null || fail "a file is not readable"
  [ "$(find "$M" -type f | wc -l)" = "$(wc -l < "$WORK/writer.log")" ] || fail "the mount lists other files than the writer wrote"
  python3 - "$WORK" "$@" <<'PY' || fail "brick contents are wrong"
import os, sys
work, bricks = sys.argv[1], sys.argv[2:]
seen = {}
for b in bricks:
    root = os.path.join(work, b)
    for d, dirs, files in os.walk(root):
        if ".hafs" in dirs: dirs.remove(".hafs")
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root)
            assert not f.startswith(".hafs-migrate."), f"temporary copy left: {b}/{rel}"
            assert rel not in seen, f"{rel} on {seen[rel]} and {b}"
            seen[rel] = b
PY
}
verify b0 b1 b2
n2=$(find "$WORK/b2" -path "$WORK/b2/.hafs" -prune -o -type f -print | wc -l)
total=$(wc -l < "$WORK/writer.log")
log "the new brick holds $n2 of $total files"
[ "$n2" -gt $(( total / 10 )) ] || fail "the new brick holds too few files ($n2 of $total)"
# Every directory's layout (trusted.hafs.layout on every brick) covers the new brick, whole.
python3 - "$WORK" <<'PY' || fail "layouts do not cover the new brick"
import os, sys
work = sys.argv[1]
for b in ("b0", "b1", "b2"):
    root = os.path.join(work, b)
    for d, dirs, files in os.walk(root):
        if ".hafs" in dirs: dirs.remove(".hafs")
        text = os.getxattr(d, "trusted.hafs.layout").decode()
        lines = text.split("\n")
        assert lines[0] == "hafs-layout 1", text
        ranges = sorted((int(s), int(e), i) for s, e, i in (l.split(" ", 2) for l in lines[1:] if l))
        assert [r[2] for r in ranges if r[2].endswith("/b2")], f"{d}: {text}"
        nxt = 0
        for s, e, _ in ranges:
            assert s == nxt, f"{d}: gap or overlap: {text}"
            nxt = e + 1
        assert nxt == 1 << 32, f"{d}: not complete: {text}"
PY

log "rebalance resumes after its mgmtd is killed"
$H volume add-brick gv0 127.0.0.1:$WORK/b3 force >/dev/null || fail "add-brick b3"
$H volume rebalance gv0 start >/dev/null || fail "rebalance start (2)"
some_dirs() { [ "$(rebal_field dirs)" -ge 1 ]; }
within 60 some_dirs || fail "rebalance (2) does not progress: $($H volume rebalance gv0 status)"
$H volume rebalance gv0 pause >/dev/null || fail "rebalance pause (it may have completed already)"
paused() { [ "$(rebal_field status)" = paused ]; }
within 20 paused || fail "rebalance did not pause: $($H volume rebalance gv0 status)"
dirs_before=$(rebal_field dirs)
[ "$dirs_before" -ge 1 ] && [ "$dirs_before" -lt 6 ] || fail "paused after $dirs_before directories"
kill -9 "$MGMTD_PID"; wait "$MGMTD_PID" 2>/dev/null || true
start_mgmtd
within 20 $H volume rebalance gv0 resume || fail "rebalance resume after restart"
within 120 rebal_done || fail "rebalance did not complete after a restart: $($H volume rebalance gv0 status)"
[ "$(rebal_field failures)" = 0 ] || fail "the resumed rebalance had failures"
[ "$(rebal_field dirs)" = 6 ] || fail "directories done: $(rebal_field dirs), want 6 (counted once across the restart)"
grep -q "resumes on this node" "$WORK/mgmtd.log" || fail "the restarted mgmtd did not resume the run"
log "paused after $dirs_before directories; resumed and completed"
verify_quiet() { ( verify "$@" ) > /dev/null 2>&1; }
within 30 verify_quiet b0 b1 b2 b3 || verify b0 b1 b2 b3

log "remove-brick: start moves everything off, commit drops the brick"
expect_refusal "start" $H volume remove-brick gv0 127.0.0.1:$WORK/b1 commit
$H volume remove-brick gv0 127.0.0.1:$WORK/b1 start || fail "remove-brick start"
rm_done() { [ "$($H --json volume remove-brick gv0 127.0.0.1:$WORK/b1 status | python3 -c "import json,sys; print(json.load(sys.stdin)['nodes'][0]['status'])")" = completed ]; }
within 120 rm_done || fail "remove-brick did not complete: $($H volume remove-brick gv0 127.0.0.1:$WORK/b1 status)"
$H volume remove-brick gv0 127.0.0.1:$WORK/b1 commit || fail "remove-brick commit"
[ "$(bricks_of gv0)" = 3 ] || fail "the brick is still in the volume"
left=$(find "$WORK/b1" -path "$WORK/b1/.hafs" -prune -o -type f -print | wc -l)
[ "$left" = 0 ] || fail "$left files left on the removed brick"
sleep 1
verify b0 b2 b3
log "all files readable with the writer's checksums after add-brick, rebalance, restart and remove-brick"
