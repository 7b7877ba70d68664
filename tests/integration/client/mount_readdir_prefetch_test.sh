#!/usr/bin/env bash
# readdir-prefetch (docs/client.md, "Readdir prefetch"): a cold walk of a mount with the
# option lists exactly what a mount without it lists, its listings come from the prefetcher
# (counted), changes another mount makes before, during and after the walk are seen within
# the documented bound, a brick down changes nothing, and unmounting in the middle of a walk
# does not hang.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
A=$WORK/prefetch B=$WORK/plain
mount_vol "$A" "log-file=$WORK/fuse-a.log,readdir-prefetch=4"
mount_vol "$B"
stat_of() { getfattr -n trusted.hafs.fuse-stats --only-values "$1" 2>/dev/null | awk -v k="$2" '$1 == k {print $2}'; }

# A tree made through B: 30 directories of 40 files, each with a subdirectory of 5.
python3 - "$B/tree" <<'PY'
import os, sys
t = sys.argv[1]
for j in range(30):
    os.makedirs(f"{t}/d{j}/sub")
    for i in range(40): open(f"{t}/d{j}/f{i}", "w").write(str(i))
    for i in range(5): open(f"{t}/d{j}/sub/s{i}", "w").close()
PY
want=$( (cd "$B" && find tree) | sort)
[ "$(echo "$want" | wc -l)" = $((1 + 30 * (2 + 40 + 5))) ] || fail "the plain mount does not list the tree"
sync; echo 3 > /proc/sys/vm/drop_caches
got=$( (cd "$A" && find tree) | sort)
[ "$got" = "$want" ] || fail "a cold walk with readdir-prefetch lists something else"
listed=$(stat_of "$A" prefetch-listed); claimed=$(stat_of "$A" prefetch-claimed)
log "prefetch: listed ${listed:-?}, claimed by the walk first ${claimed:-?}"
[ "$((listed + claimed))" -ge 60 ] || fail "the 60 directories under tree were not prefetched (listed $listed, claimed $claimed)"

# Changes by the other mount after the walk are seen within the bound (3 s), in listings the
# prefetcher filled.
echo new > "$B/tree/d5/added"; rm "$B/tree/d6/f0"; mkdir "$B/tree/d7/sub/deeper"
within 3 [ "$(ls "$A/tree/d5" | wc -l)" = 42 ] || fail "a file made by the other mount is not listed within 3 s"
within 3 [ "$(ls "$A/tree/d6" | wc -l)" = 40 ] || fail "a file removed by the other mount is still listed after 3 s"
within 3 [ -d "$A/tree/d7/sub/deeper" ] || fail "a directory made by the other mount is not seen within 3 s"

# Changes during a walk: the walk may or may not see them; a walk after the bound sees them.
sync; echo 3 > /proc/sys/vm/drop_caches
( for i in $(seq 1 150); do : > "$B/tree/d9/during$i"; done ) & writer=$!
find "$A/tree" > /dev/null
wait $writer
within 3 [ "$(ls "$A/tree/d9" | wc -l)" = $((41 + 150)) ] || fail "files made during a walk are missing after 3 s"
sync; echo 3 > /proc/sys/vm/drop_caches
want=$( (cd "$B" && find tree) | sort)
within 3 [ "$( (cd "$A" && find tree) | sort)" = "$want" ] || fail "a walk after the changes lists something else"

# A brick down: the walk still lists everything.
kill_brick 1
sync; echo 3 > /proc/sys/vm/drop_caches
[ "$( (cd "$A" && find tree) | sort)" = "$want" ] || fail "a walk with a brick down lists something else"

# Unmounting in the middle of a walk: no hang.
sync; echo 3 > /proc/sys/vm/drop_caches
( find "$A/tree" > /dev/null 2>&1 || true ) & walker=$!
sleep 0.05
timeout 20 fusermount3 -u -z "$A" || fail "unmounting during a walk failed"
wait $walker
fuse_gone() { ! pgrep -f "hafs-fuse.*$A" > /dev/null; }
within 20 fuse_gone || fail "hafs-fuse did not exit after the unmount"
log "readdir-prefetch: same listings, prefetched, coherent, no hang"
