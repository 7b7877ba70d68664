#!/usr/bin/env bash
# Metadata cache (docs/client.md, "Metadata cache" and "Consistency between mounts"), two real
# mounts of a replica-3 volume:
#  - a second cold stat pass over a tree costs no lookup or getattr on any brick;
#  - every kind of change made on mount B (create, unlink, rename over, chmod, truncate, write,
#    mkdir in a directory A knows completely, rmdir) is seen on mount A within 3 s although A
#    cached the old state first and its md-cache-timeout is 60 s;
#  - a brick killed with -9 and restarted: A's cache is dropped (no stale entry survives a
#    session loss; the next pass asks the bricks again).
# The same again on a distribute volume of three bricks (a change pushes from one brick only).
source "$(dirname "$0")/lib.sh"

ops() {  # calls of op $1 on all three bricks of the volume under test
  local t=0 c
  for n in $BRICKS; do
    c=$("$INSPECT" "127.0.0.1:${BRICK_PORT[$n]}" stats | awk -v op="$1" '$1 == op {print $3}')
    t=$((t + ${c:-0}))
  done
  echo $t
}
stat_pass() { timeout 60 find "$1/t" -exec stat -c '%n %s %a' {} + > /dev/null || fail "stat pass over $1/t failed"; }

# suite TYPE REPLICA N0 N1 N2: the whole check on a fresh volume of bricks N0..N2.
suite() {
  local type=$1 replica=$2; shift 2
  BRICKS="$*"
  local first=$1 n
  for n in "$@"; do start_brick $n; done
  write_volfile "$type" "$replica" "$@"
  A=$WORK/mntA-$type
  B=$WORK/mntB-$type
  mount_vol "$A" "log-file=$WORK/fuse-A-$type.log,md-cache-timeout=60"
  mount_vol "$B" "log-file=$WORK/fuse-B-$type.log"
  log "== $type volume"
  log "mount B makes a tree of 10 directories x 20 files"
  timeout 60 bash -c "for d in \$(seq 10); do mkdir -p '$B/t/d'\$d; for f in \$(seq 20); do echo \$f > '$B/t/d'\$d/f\$f; done; done" \
    || fail "making the tree failed"

  log "mount A: a first cold pass fills the cache, a second costs no lookup"
  cold
  stat_pass "$A"
  cold
  l0=$(ops lookup); g0=$(ops getattr); r0=$(ops readdir)
  stat_pass "$A"
  l1=$(ops lookup); g1=$(ops getattr); r1=$(ops readdir)
  log "second cold pass: $((l1 - l0)) lookups, $((g1 - g0)) getattrs, $((r1 - r0)) readdirs on the bricks"
  [ $((l1 - l0)) -eq 0 ] || fail "the second cold stat pass cost $((l1 - l0)) lookups"
  [ $((g1 - g0)) -eq 0 ] || fail "the second cold stat pass cost $((g1 - g0)) getattrs"

  log "negative entries: lookups of absent names in a directory A made cost nothing"
  mkdir "$A/e"
  l0=$(ops lookup)
  for i in $(seq 50); do [ ! -e "$A/e/n$i" ] || fail "$A/e/n$i exists"; done
  l1=$(ops lookup)
  timeout 30 bash -c "for i in \$(seq 50); do set -o noclobber; echo x > '$A/e/n'\$i; done" || fail "exclusive creates failed"
  l2=$(ops lookup)
  log "in a directory A made: 50 absent-name lookups cost $((l1 - l0)) lookups on the bricks, 50 O_EXCL creates $((l2 - l1))"
  [ $((l1 - l0)) -le 2 ] || fail "$((l1 - l0)) lookups: negative entries were not answered locally"
  # Distribute's create looks for the name on every subvolume itself (below the cache).
  allowed=5; [ "$type" = distribute ] && allowed=$((50 * 3 + 5))
  [ $((l2 - l1)) -le $allowed ] || fail "$((l2 - l1)) lookups for 50 creates: the kernel's lookups were not answered locally"
  [ "$(ls "$A/e" | wc -l)" = 50 ] || fail "A lists $(ls "$A/e" | wc -l) names in e, not 50"
  [ "$(ls "$B/e" | wc -l)" = 50 ] || fail "B lists $(ls "$B/e" | wc -l) names in e, not 50"

  log "changes on mount B are seen on mount A within 3 s"
  D=t/d1
  printf 'xx' > "$B/$D/two"; printf 'xxx' > "$B/$D/three"; mkdir "$B/$D/sd"
  # A caches everything first (listing, entries, attributes) and looks up absent names.
  ls -l "$A/$D" > /dev/null
  stat "$A/$D/f1" "$A/$D/f2" "$A/$D/f3" "$A/$D/f4" "$A/$D/two" "$A/$D/three" "$A/$D/sd" > /dev/null
  [ ! -e "$A/$D/new" ] || fail "$D/new exists before it was made"
  [ ! -e "$A/e/sub" ] || fail "e/sub exists before it was made"
  sleep 1.2  # past the kernel's own 1 s caches: what A answers now comes from its md-cache

  echo hello > "$B/$D/new"
  within 3 test -e "$A/$D/new" || fail "create on B: A does not see $D/new"
  rm "$B/$D/f1"
  within 3 test ! -e "$A/$D/f1" || fail "unlink on B: A still sees $D/f1"
  mv "$B/$D/two" "$B/$D/three"
  within 3 sh -c "[ \$(stat -c %s '$A/$D/three') = 2 ] && [ ! -e '$A/$D/two' ]" || fail "rename over on B: A sees $(stat -c %s "$A/$D/three" 2>&1) bytes in three"
  chmod 600 "$B/$D/f2"
  within 3 sh -c "[ \$(stat -c %a '$A/$D/f2') = 600 ]" || fail "chmod on B: A sees mode $(stat -c %a "$A/$D/f2")"
  truncate -s 12345 "$B/$D/f3"
  within 3 sh -c "[ \$(stat -c %s '$A/$D/f3') = 12345 ]" || fail "truncate on B: A sees size $(stat -c %s "$A/$D/f3")"
  printf '0123456789' >> "$B/$D/f4"
  size=$(stat -c %s "$B/$D/f4")
  within 3 sh -c "[ \$(stat -c %s '$A/$D/f4') = $size ]" || fail "append on B: A sees size $(stat -c %s "$A/$D/f4"), not $size"
  mkdir "$B/e/sub"
  within 3 test -d "$A/e/sub" || fail "mkdir on B in a directory A made (complete on A): A does not see e/sub"
  rmdir "$B/$D/sd"
  within 3 test ! -e "$A/$D/sd" || fail "rmdir on B: A still sees $D/sd"
  within 3 sh -c "ls '$A/$D' | grep -qx new && ! ls '$A/$D' | grep -qx f1" || fail "A's listing of $D is stale: $(ls "$A/$D" | tr '\n' ' ')"

  log "kill -9 and restart of a brick: A's cache is dropped"
  cold
  stat_pass "$A"
  kill_brick $first
  within 10 grep -q "is down" "$WORK/fuse-A-$type.log" || fail "mount A did not notice brick $first going down"
  restart_brick $first
  within 15 sh -c "'$INSPECT' 127.0.0.1:${BRICK_PORT[$first]} stats | grep -q 'sessions 2'" || fail "the mounts did not reconnect to brick $first"
  sleep 0.5
  cold
  l0=$(ops lookup)
  stat_pass "$A"
  l1=$(ops lookup)
  log "cold pass after the brick came back: $((l1 - l0)) lookups on the bricks"
  [ $((l1 - l0)) -gt 0 ] || fail "A's cache survived the session loss (no lookup after the brick came back)"
  [ "$(cat "$A/$D/new")" = hello ] || fail "A reads $D/new wrong after the restart"
  for m in "$A" "$B"; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; done
  for n in "$@"; do kill_brick $n; done
}

suite replicate 3 0 1 2
suite distribute 1 3 4 5
