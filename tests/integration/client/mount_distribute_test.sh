#!/usr/bin/env bash
# A distribute-3 volume: files spread evenly, every file reachable by name and by readdir,
# renames across subvolumes, directories on every brick, statfs summed.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile distribute 1 0 1 2
M=$WORK/mnt
mount_vol "$M"
mkdir "$M/www"
for i in $(seq 1 3000); do echo "$i" > "$M/www/file-$i.html"; done
for n in 0 1 2; do
  c=$(ls "$WORK/b$n/www" | wc -l)
  log "brick $n holds $c files"
  [ "$c" -le 1350 ] || fail "brick $n holds $c of 3000 files (more than 45%)"
  [ -d "$WORK/b$n/www" ] || fail "directory missing on brick $n"
done
[ "$(ls "$M/www" | wc -l)" = 3000 ] || fail "readdir does not show 3000 files"
for i in 1 17 999 2500 3000; do [ "$(cat "$M/www/file-$i.html")" = "$i" ] || fail "file-$i by name"; done
# Rename every file: most new names hash to another brick; all must stay reachable.
for i in $(seq 1 300); do mv "$M/www/file-$i.html" "$M/www/renamed-$i.html"; done
for i in $(seq 1 300); do [ "$(cat "$M/www/renamed-$i.html")" = "$i" ] || fail "renamed-$i unreachable"; done
[ "$(ls "$M/www" | wc -l)" = 3000 ] || fail "count after renames"
echo new > "$M/www/renamed-5.html"; [ "$(cat "$M/www/renamed-5.html")" = new ] || fail "overwrite renamed"
mv "$M/www/renamed-6.html" "$M/www/renamed-7.html"
[ "$(cat "$M/www/renamed-7.html")" = 6 ] && [ ! -e "$M/www/renamed-6.html" ] || fail "rename over a file on another brick"
[ "$(ls "$M/www" | wc -l)" = 2999 ] || fail "count after rename over"
expect_statfs_sum "$M" 3
# Cold directory walks (kernel caches dropped) in a loop: readdir, lookups and forgets race
# with the release of directory handles (a use-after-free once hid there).
cold_walks "$M/tree" 30 30 6
# A mkdir carries its layout: every brick's copy holds the same equal split over the three
# bricks, and no setxattr round trip followed.
layout() {  # BRICK DIR : the subvolumes in DIR's layout on that brick, sorted
  python3 -c 'import os, sys
try: text = os.getxattr(sys.argv[1], "trusted.hafs.layout").decode()
except OSError: text = ""
print(" ".join(sorted(l.split()[2] for l in text.splitlines()[1:])))' "$WORK/b$1/$2"
}
sx=$(brick_sum setxattr 0 1 2)
for j in 1 2 3 4 5; do mkdir "$M/laid-$j"; done
[ "$(brick_sum setxattr 0 1 2)" = "$sx" ] || fail "mkdir needed setxattr calls for its layout"
want=$(layout 0 laid-1)
[ "$(echo $want | wc -w)" = 3 ] || fail "layout of laid-1 does not cover three bricks: '$want'"
for j in 1 5; do for n in 0 1 2; do
  [ "$(layout $n laid-$j)" = "$want" ] || fail "layout of laid-$j on brick $n: '$(layout $n laid-$j)', want '$want'"
done; done
rm -rf "$M/www" "$M/tree"
for n in 0 1 2; do [ ! -e "$WORK/b$n/www" ] || fail "www left on brick $n"; done
# With brick 2 down the new directory's layout leaves it out, on the bricks that have it (a
# name whose deciding subvolume is brick 2 cannot be made: the next name is tried).
kill_brick 2
d=""
for k in $(seq 40); do mkdir "$M/without-2-$k" 2>/dev/null && { d=without-2-$k; break; }; sleep 0.1; done
[ -n "$d" ] && [ -d "$WORK/b0/$d" ] && [ -d "$WORK/b1/$d" ] || fail "no mkdir succeeded with a brick down"
for n in 0 1; do
  [ "$(layout $n $d | wc -w)" = 2 ] || fail "layout of $d on brick $n: '$(layout $n $d)'"
done
echo x > "$M/$d/f" && [ "$(cat "$M/$d/f")" = x ] || fail "file in a directory made with a brick down"
