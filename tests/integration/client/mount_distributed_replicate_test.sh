#!/usr/bin/env bash
# A distributed-replicate volume, two replica sets of three bricks: files spread over both
# sets and identical within a set; the changes and listings that go to every set (directory
# mode, statfs, readdir) reach both; one brick of each set killed: everything still reads
# and writes; back: a lookup heals them.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2 3 4 5; do start_brick $n; done
write_volfile distributed-replicate 3 0 1 2 3 4 5
M=$WORK/mnt
mount_vol "$M"
mkdir "$M/www"
for i in $(seq 1 600); do echo "page $i" > "$M/www/p$i.html"; done
names() { ls "$WORK/b$1/www" | sort; }
a=$(names 0 | wc -l); b=$(names 3 | wc -l)
log "set 0 holds $a files, set 1 holds $b"
[ $((a + b)) = 600 ] && [ "$a" -ge 150 ] && [ "$b" -ge 150 ] || fail "600 files spread as $a + $b"
for s in 0 3; do for k in 1 2; do
  [ "$(names $s)" = "$(names $((s + k)))" ] || fail "bricks $s and $((s + k)) of one set hold different names"
done; done
[ "$(ls "$M/www" | wc -l)" = 600 ] || fail "readdir does not show 600 files once each"
chmod 750 "$M/www"
for n in 0 1 2 3 4 5; do
  [ "$(stat -c %a "$WORK/b$n/www")" = 750 ] || fail "chmod of the directory missed brick $n"
done
expect_statfs_sum "$M" 2
# Cold walks: listings merged from both sets, with the kernel's caches dropped each time.
cold_walks "$M/tree" 20 40 3

# One brick of each set down: reads, listings, new files and directories go on.
kill_brick 0; kill_brick 3
for i in 1 77 300 600; do [ "$(cat "$M/www/p$i.html")" = "page $i" ] || fail "p$i with a brick of each set down"; done
[ "$(ls "$M/www" | wc -l)" = 600 ] || fail "listing with a brick of each set down"
for i in $(seq 1 60); do echo "new $i" > "$M/www/n$i.html"; done
mkdir "$M/while-down"
[ "$(ls "$M/www" | wc -l)" = 660 ] || fail "listing after creates with bricks down"
restart_brick 0; restart_brick 3
# A second mount looks every name up afresh: the lookups heal the returning bricks.
M2=$WORK/mnt2
mount_vol "$M2"
sleep 2.5  # the bricks are reconnected (ping timeout 2 s) before the lookups
heal_done() {
  for i in $(seq 1 60); do [ "$(cat "$M2/www/n$i.html")" = "new $i" ] || return 1; done
  ls "$M2/www" > /dev/null; stat "$M2/while-down" > /dev/null
  [ "$(names 0)" = "$(names 1)" ] && [ "$(names 3)" = "$(names 4)" ] &&
    [ -d "$WORK/b0/while-down" ] && [ -d "$WORK/b3/while-down" ]
}
within 30 heal_done || fail "the returning bricks were not healed: $(names 0 | wc -l) vs $(names 1 | wc -l), $(names 3 | wc -l) vs $(names 4 | wc -l)"
for i in 1 30 60; do
  for n in 0 1 2 3 4 5; do
    f=$WORK/b$n/www/n$i.html
    [ ! -e "$f" ] || [ "$(cat "$f")" = "new $i" ] || fail "n$i differs on brick $n"
  done
done
log "both sets whole again"
