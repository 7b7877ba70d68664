#!/usr/bin/env bash
# Garbage in: a malformed volfile or unreachable bricks fail the mount with a clear error and
# never hang.
source "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/mnt"
echo '{"name": "x", "type": ' > "$WORK/bad.json"
if timeout 20 "$BIN/mount.hafs" "$WORK/bad.json" "$WORK/mnt" 2>"$WORK/err"; then fail "mounted a malformed volfile"; fi
grep -q "not valid JSON" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
BRICK_PORT[0]=1; BRICK_PORT[1]=2
write_volfile replicate 2 0 1
start=$(date +%s)
if timeout 30 "$BIN/mount.hafs" "$WORK/vol.json" "$WORK/mnt" -o connect-timeout=3 2>"$WORK/err"; then
  fail "mounted a volume whose bricks are all unreachable"
fi
[ $(( $(date +%s) - start )) -le 10 ] || fail "mount took too long to give up"
grep -q "no brick reachable" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
if timeout 10 "$BIN/mount.hafs" "$WORK/vol.json" "$WORK/mnt" -o frobnicate 2>"$WORK/err"; then fail "accepted a bogus option"; fi
grep -q "frobnicate" "$WORK/err" || fail "unclear error for a bad option: $(cat "$WORK/err")"
mountpoint -q "$WORK/mnt" && fail "something is mounted" || true
