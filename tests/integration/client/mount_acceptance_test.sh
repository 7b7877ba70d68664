#!/usr/bin/env bash
# Client acceptance at full size (issue 3, "what must hold") on a replica-3 mount:
# - readdir of 10 000 entries: ls and find see every name; the emptied directory goes away;
# - kill -9 of one brick in the middle of a 512 MiB write: the write completes, reads go on;
#   the restarted brick is healed and all three backend copies are byte-identical.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
M=$WORK/mnt
mount_vol "$M"

log "10 000 entries in one directory"
mkdir "$M/big"
t0=$(date +%s%N)
# One process creates them all (a fork per file would dominate the time on a loaded host).
python3 - "$M/big" <<'PY' || fail "create 10000 files"
import os, sys
d = sys.argv[1]
for i in range(10000):
    os.close(os.open(f"{d}/entry-{i:05d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
PY
t1=$(date +%s%N)
[ "$(ls "$M/big" | wc -l)" = 10000 ] || fail "ls counts $(ls "$M/big" | wc -l) entries, not 10000"
ls "$M/big" > "$WORK/ls.txt"
for i in $(seq 0 9999); do printf 'entry-%05d\n' "$i"; done > "$WORK/want.txt"
diff -q <(sort "$WORK/ls.txt") "$WORK/want.txt" > /dev/null || fail "ls misses or invents names: $(diff <(sort "$WORK/ls.txt") "$WORK/want.txt" | head -5)"
[ "$(find "$M/big" -type f | wc -l)" = 10000 ] || fail "find sees $(find "$M/big" -type f | wc -l) files"
[ "$(find "$M/big" -type f -name 'entry-0999*' | wc -l)" = 10 ] || fail "find -name"
for n in 0 1 2; do [ "$(ls "$WORK/b$n/big" | wc -l)" = 10000 ] || fail "brick $n holds $(ls "$WORK/b$n/big" | wc -l) entries"; done
t2=$(date +%s%N)
find "$M/big" -type f -delete
rmdir "$M/big" || fail "rmdir of the emptied directory"
[ ! -e "$M/big" ] || fail "the directory is still there"
t3=$(date +%s%N)
log "create 10000: $(( (t1 - t0) / 1000000 )) ms; list+check: $(( (t2 - t1) / 1000000 )) ms; delete: $(( (t3 - t2) / 1000000 )) ms"

log "kill -9 one brick in the middle of a 512 MiB write"
head -c $((512*1024*1024)) /dev/urandom > "$WORK/src.bin"
( dd if="$WORK/src.bin" of="$M/big.bin" bs=1M status=none; echo $? > "$WORK/dd.rc" ) &
DD=$!
# Kill it once part of the file is really on the brick (bounded wait).
going() { [ "$(stat -c %s "$WORK/b1/big.bin" 2>/dev/null || echo 0)" -gt $((64*1024*1024)) ]; }
within 60 going || fail "the write did not get going"
kill_brick 1
log "brick 1 killed at $(stat -c %s "$WORK/b0/big.bin") bytes"
timeout 600 tail --pid=$DD -f /dev/null || fail "the write hangs"
wait $DD || true
[ "$(cat "$WORK/dd.rc")" = 0 ] || fail "the write failed when one brick died"
[ "$(stat -c %s "$M/big.bin")" = $((512*1024*1024)) ] || fail "size after the write"
cmp "$WORK/src.bin" "$M/big.bin" || fail "read back with one brick down"
restart_brick 1
sleep 3   # ping-timeout 2 s: the client reconnects by itself
cmp "$WORK/src.bin" "$M/big.bin" || fail "read back after the brick returned"
healed() {
  stat "$M/big.bin" > /dev/null   # a lookup heals on access
  [ "$(stat -c %s "$WORK/b1/big.bin")" = $((512*1024*1024)) ] && cmp -s "$WORK/src.bin" "$WORK/b1/big.bin"
}
within 180 healed || fail "brick 1's copy was not healed"
cmp "$WORK/src.bin" "$WORK/b0/big.bin" || fail "brick 0's copy differs"
cmp "$WORK/src.bin" "$WORK/b2/big.bin" || fail "brick 2's copy differs"
log "all three backend copies of the 512 MiB file are byte-identical"
