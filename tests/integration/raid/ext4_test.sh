#!/usr/bin/env bash
# ext4 on the FUSE export (through a loop device): write a tree, fail a member, read the
# tree back identical from disk, add a member, rebuild while mounted, fsck clean.
source "$(dirname "$0")/lib.sh"

mapfile -t M < <(members m 3 64M)
"$B" --create md2 --level=5 --raid-devices=3 "${M[@]}" 2>/dev/null
start_array md2 "$T/mnt"
LOOP=$(losetup -f --show "$T/mnt/md2")
LOOPS+=("$LOOP")
mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4"
mkdir -p "$T/fs"
mount "$LOOP" "$T/fs"
MOUNTS=("$T/fs")
# A tree: source files plus some random binaries.
cp -r "${HAFS_SOURCE_DIR:?}/raid" "$T/fs/src"
mkdir -p "$T/fs/bin"
for i in $(seq 1 8); do head -c $((i * 700 * 1024)) /dev/urandom >"$T/fs/bin/f$i"; done
(cd "$T/fs" && find . -type f -exec md5sum {} + | sort -k2) >"$T/sums"
sync
"$B" md2 --fail "${M[0]}" | grep -q faulty || fail "fail"
# Read back from the degraded array, not from the page cache.
umount "$T/fs"
echo 3 >/proc/sys/vm/drop_caches
mount "$LOOP" "$T/fs"
(cd "$T/fs" && find . -type f -exec md5sum {} + | sort -k2) >"$T/sums2"
diff -q "$T/sums" "$T/sums2" >/dev/null || fail "tree differs on the degraded array"
"$B" md2 --remove "${M[0]}" >/dev/null
NEW=$(members new 1 64M)
"$B" md2 --add "$NEW" >/dev/null || fail "add"
# Keep using the filesystem during the rebuild.
cp -r "$T/fs/src" "$T/fs/src2"
"$B" --wait md2 --timeout=90 || fail "rebuild"
(cd "$T/fs" && find src2 -type f -exec md5sum {} + | sed 's| src2/| src/|' | sort -k2) >"$T/sums3"
grep " \./src/" "$T/sums" | sed 's| \./src/| src/|' >"$T/sums_src"
diff -q "$T/sums_src" "$T/sums3" >/dev/null || fail "copy made during rebuild differs"
umount "$T/fs"
MOUNTS=()
e2fsck -fn "$LOOP" >"$T/fsck" 2>&1 || fail "fsck not clean: $(cat "$T/fsck")"
"$B" check md2 | grep -q "mismatch_cnt = 0" || fail "parity mismatch"
"$B" status | grep -q "\[3/3\] \[UUU\]" || fail "not healthy after rebuild"
# In use (loop device attached): --stop refuses, like mdadm, and the array keeps serving.
"$B" --stop md2 >"$T/stop.err" 2>&1 && fail "stop of a busy export succeeded"
grep -q "cannot unmount" "$T/stop.err" || fail "busy stop message: $(cat "$T/stop.err")"
"$B" status | grep -q "md2 : active" || fail "array stopped although busy"
losetup -d "$LOOP"
LOOPS=()
"$B" --stop md2 2>&1 | grep -q stopped || fail "stop"
echo "PASS ext4"
