#!/usr/bin/env bash
# add-brick + rebalance on a distributed-replicate volume (2 x 2 -> 3 x 2) under a concurrent
# writer on a live FUSE mount: every file reads back with the writer's checksum, the new
# replica set holds files on both of its bricks, and no heal entries are left behind (a
# replicated write refused while its file migrates must not leave pending counters).
source "$(dirname "$0")/lib.sh"
start_mgmtd
B=127.0.0.1:$WORK
within 15 $H volume create dr replica 2 $B/b0 $B/b1 $B/b2 $B/b3 force || fail "volume create"
$H volume start dr >/dev/null
mkdir -p "$M"
within 20 "$BIN/mount.hafs" "127.0.0.1:$PORT:/dr" "$M" -o "log-file=$WORK/fuse.log" || fail "mount"

python3 "$HERE/writer.py" "$M" 300 "$WORK/ready" "$WORK/stop" "$WORK/writer.log" > "$WORK/writer.out" 2>&1 &
WRITER_PID=$!
within 60 test -e "$WORK/ready" || fail "writer did not get ready: $(cat "$WORK/writer.out")"
$H volume add-brick dr $B/b4 force >"$WORK/err" 2>&1 && fail "add-brick of half a replica set was accepted"
grep -q "number of bricks" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
$H volume add-brick dr $B/b4 $B/b5 force || fail "add-brick"
$H volume rebalance dr start >/dev/null || fail "rebalance start"
done_() { $H --json volume rebalance dr status | grep -q '"status": "completed"'; }
within 150 done_ || fail "rebalance did not complete: $($H volume rebalance dr status)"
$H volume rebalance dr status
touch "$WORK/stop"
wait "$WRITER_PID" || fail "the writer failed: $(cat "$WORK/writer.out")"
WRITER_PID=""
cat "$WORK/writer.out"
$H --json volume rebalance dr status | grep -q '"failures": 0' || fail "rebalance had failures"
( cd "$M" && sha256sum -c --quiet "$WORK/writer.log" ) || fail "checksums differ from the writer's log"
n4=$(find "$WORK/b4" -path "$WORK/b4/.hafs" -prune -o -type f -print | wc -l)
n5=$(find "$WORK/b5" -path "$WORK/b5/.hafs" -prune -o -type f -print | wc -l)
log "the new replica set holds $n4 / $n5 files"
[ "$n4" -gt 0 ] && [ "$n4" = "$n5" ] || fail "the new replica set is not filled alike ($n4 / $n5)"
pending() { [ "$($H --json volume heal dr info | python3 -c 'import json,sys; print(sum(b["entries"] for b in json.load(sys.stdin)["bricks"]))')" = 0 ]; }
within 20 pending || fail "heal entries left: $($H volume heal dr info)"
