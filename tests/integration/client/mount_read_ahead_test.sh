#!/usr/bin/env bash
# Read-ahead (docs/client.md, "Read-ahead") on a real replica-3 mount:
# (a) 256 MiB of random bytes written, kernel caches dropped, read back sequentially: same
#     md5, and the read is spread over all three bricks (1 MiB chunks, not one brick per file);
# (b) a stream on mount A has data prefetched ahead of it; mount B rewrites a range inside
#     that window; A's continued sequential read (3 s later) returns B's bytes, not the
#     prefetched ones; the same for a rewrite right at the reader's position;
# (c) a brick killed -9 in the middle of a cold sequential read: the read completes with the
#     right data (the failed prefetches are not kept; reads fail over);
# (d) another brick hangs (SIGSTOP) in the middle of one: the read completes, right data, once
#     the ping-timeout (2 s here) declares the brick down.
source "$(dirname "$0")/lib.sh"

md5() { timeout 120 md5sum < "$1" | cut -d' ' -f1; }
bytes_read() {  # N: bytes the brick has read so far
  timeout 10 "$INSPECT" "127.0.0.1:${BRICK_PORT[$1]}" stats | awk '$1 == "bytes" && $2 == "read" {print $3}'
}

start_brick 0; start_brick 1; start_brick 2
write_volfile replicate 3 0 1 2
A=$WORK/mnt-a B=$WORK/mnt-b
mount_vol "$A"
mount_vol "$B"

log "(a) 256 MiB random file: written, read back cold"
timeout 60 dd if=/dev/urandom of="$WORK/src.bin" bs=1M count=256 status=none
SRC_MD5=$(md5 "$WORK/src.bin")
timeout 180 dd if="$WORK/src.bin" of="$A/big.bin" bs=1M conv=fsync status=none || fail "writing 256 MiB failed"
cold
declare -A R0
for n in 0 1 2; do R0[$n]=$(bytes_read $n); done
t0=$(date +%s%N)
got=$(md5 "$A/big.bin")
t1=$(date +%s%N)
[ "$got" = "$SRC_MD5" ] || fail "read back: md5 $got, want $SRC_MD5"
log "cold sequential read of 256 MiB: $(( 256 * 1000000000 / (t1 - t0 + 1) )) MiB/s"
total=0
for n in 0 1 2; do
  d=$(( $(bytes_read $n) - R0[$n] ))
  log "brick $n read $((d >> 20)) MiB"
  total=$((total + d))
  [ "$d" -ge $((40 << 20)) ] || fail "brick $n read only $d bytes of the stream: reads not spread over the bricks"
done
[ "$total" -ge $((256 << 20)) ] || fail "the bricks read $total bytes in all, less than the file"

log "(b) another mount rewrites data inside A's prefetch window"
cold
# A reads 0..8 MiB: a sequential stream; prefetches run up to 8 MiB beyond the reader.
timeout 30 dd if="$A/big.bin" of="$WORK/a1" bs=1M count=8 status=none || fail "read on A"
cmp -s "$WORK/a1" <(head -c $((8 << 20)) "$WORK/src.bin") || fail "A's first 8 MiB are wrong"
head -c $((1 << 20)) /dev/urandom > "$WORK/patch1"
head -c 4096 /dev/urandom > "$WORK/patch2"
# B rewrites 1 MiB at 12 MiB (ahead of A) and 4 KiB at 8 MiB + 4 KiB (right where A goes on).
timeout 30 dd if="$WORK/patch1" of="$B/big.bin" bs=1M seek=12 conv=notrunc,fsync status=none || fail "write on B"
timeout 30 dd if="$WORK/patch2" of="$B/big.bin" bs=4096 seek=$(( (8 << 20) / 4096 + 1 )) conv=notrunc,fsync status=none \
  || fail "write on B"
cp "$WORK/src.bin" "$WORK/want.bin"
dd if="$WORK/patch1" of="$WORK/want.bin" bs=1M seek=12 conv=notrunc status=none
dd if="$WORK/patch2" of="$WORK/want.bin" bs=4096 seek=$(( (8 << 20) / 4096 + 1 )) conv=notrunc status=none
sleep 3
echo 3 > /proc/sys/vm/drop_caches  # A's kernel pages: the read must reach the client
# A goes on where it stopped: 8..20 MiB, the continuation of its stream.
timeout 30 dd if="$A/big.bin" of="$WORK/a2" bs=1M skip=8 count=12 status=none || fail "read on A"
cmp "$WORK/a2" <(tail -c +$(( (8 << 20) + 1 )) "$WORK/want.bin" | head -c $((12 << 20))) \
  || fail "A read stale prefetched bytes 3 s after B's rewrite"
# And B's own read agrees, the whole file.
cold
[ "$(md5 "$B/big.bin")" = "$(md5 "$WORK/want.bin")" ] || fail "B reads other bytes than written"
[ "$(md5 "$A/big.bin")" = "$(md5 "$WORK/want.bin")" ] || fail "A reads other bytes than written"

log "(c) kill -9 one brick in the middle of a cold sequential read"
cold
WANT_MD5=$(md5 "$WORK/want.bin")
( timeout 120 md5sum < "$A/big.bin" | cut -d' ' -f1 > "$WORK/c.md5"; echo "${PIPESTATUS[0]}" > "$WORK/c.rc" ) &
RD=$!
sleep 0.3
kill -0 $RD 2>/dev/null || fail "the read was over before the brick was killed (test too small for this machine)"
kill_brick 1
wait $RD
[ "$(cat "$WORK/c.rc")" = 0 ] || fail "the read failed when one brick died (rc $(cat "$WORK/c.rc"))"
[ "$(cat "$WORK/c.md5")" = "$WANT_MD5" ] || fail "the read returned wrong data when one brick died"
cold
[ "$(md5 "$A/big.bin")" = "$WANT_MD5" ] || fail "read after the brick died"

log "(d) a brick that hangs (SIGSTOP) in the middle of a cold sequential read"
cold
( timeout 120 md5sum < "$A/big.bin" | cut -d' ' -f1 > "$WORK/d.md5"; echo "${PIPESTATUS[0]}" > "$WORK/d.rc" ) &
RD=$!
sleep 0.3
kill -0 $RD 2>/dev/null || fail "the read was over before the brick was stopped"
kill -STOP "${BRICK_PID[2]}"
t0=$(date +%s)
wait $RD
kill -CONT "${BRICK_PID[2]}" 2>/dev/null || true
log "read with a hung brick took $(( $(date +%s) - t0 )) s more"
[ "$(cat "$WORK/d.rc")" = 0 ] || fail "the read failed when a brick hung (rc $(cat "$WORK/d.rc"))"
[ "$(cat "$WORK/d.md5")" = "$WANT_MD5" ] || fail "the read returned wrong data when a brick hung"
log "read-ahead: all checks passed"
