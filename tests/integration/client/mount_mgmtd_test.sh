#!/usr/bin/env bash
# Mounting the way operators do: `mount -t hafs HOST:/VOL`, an fstab line, and the volfile
# fetched from a real hafs-mgmtd that also supervises the bricks.
source "$(dirname "$0")/lib.sh"

# mount(8) looks for helpers in /sbin; install ours there for the test if none is installed.
ADDED_HELPER=""
if [ ! -e /sbin/mount.hafs ]; then
  ln -s "$BIN/mount.hafs" /sbin/mount.hafs
  ADDED_HELPER=/sbin/mount.hafs
fi
extra_cleanup() {
  [ -n "$ADDED_HELPER" ] && rm -f "$ADDED_HELPER"
  true
}
# Keep the test's exit status through the extra cleanup.
trap 'rc=$?; extra_cleanup; cleanup $rc' EXIT INT TERM

start_mgmtd
create_replica3 gv0
$H volume start gv0
M=$WORK/mnt; mkdir -p "$M"; MOUNTS+=("$M")
within 20 mount -t hafs "127.0.0.1:$PORT:/gv0" "$M" -o "log-file=$WORK/fuse.log" || fail "mount -t hafs failed"
mountpoint -q "$M" || fail "not mounted"
echo hello > "$M/index.html"
for n in 0 1 2; do [ "$(cat "$WORK/b$n/index.html")" = hello ] || fail "brick $n lacks the file"; done

log "fstab line"
echo "127.0.0.1:$PORT:/gv0 $WORK/mnt2 hafs defaults,_netdev,log-file=$WORK/fuse2.log 0 0" > "$WORK/fstab"
mkdir -p "$WORK/mnt2"; MOUNTS+=("$WORK/mnt2")
mount -T "$WORK/fstab" "$WORK/mnt2" || fail "fstab mount failed"
[ "$(cat "$WORK/mnt2/index.html")" = hello ] || fail "fstab mount does not see the data"
umount "$WORK/mnt2" || fail "umount failed"
mountpoint -q "$WORK/mnt2" && fail "still mounted after umount"

log "a brick killed with -9 is restarted by mgmtd; the mount carries on"
pid=$($H --json volume status gv0 | python3 -c "import json,sys; d=json.load(sys.stdin); print([b for b in d['bricks'] if b['path'].endswith('/b1')][0]['pid'])")
kill -9 "$pid"
echo during > "$M/during.txt" || fail "write with one brick restarting"
restarted_online() {
  [ "$($H --json volume status gv0 | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(1 for b in d['bricks'] if b['online'] and b['pid'] != $pid))")" = 3 ]
}
within 20 restarted_online || fail "mgmtd did not bring the brick back"
same() { stat "$M/during.txt" >/dev/null; cmp -s "$WORK/b0/during.txt" "$WORK/b1/during.txt"; }
within 20 same || fail "the restarted brick was not healed"

log "unknown volume: a clear error"
if mount -t hafs "127.0.0.1:$PORT:/nope" "$WORK/mnt2" 2>"$WORK/err"; then fail "mounted an unknown volume"; fi
grep -qi "nope" "$WORK/err" || fail "unclear error: $(cat "$WORK/err")"
umount "$M"
$H volume stop gv0 || true
