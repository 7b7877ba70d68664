#!/usr/bin/env bash
# A replica-3 volume through a real FUSE mount: POSIX behaviour, a brick killed in the middle
# of a large write, self-heal to byte-identical copies, quorum loss (EROFS, reads go on),
# and two mounts seeing each other's changes.
source "$(dirname "$0")/lib.sh"

for n in 0 1 2; do start_brick $n; done
write_volfile replicate 3 0 1 2
M=$WORK/mnt
mount_vol "$M"

log "POSIX basics"
echo hello > "$M/a.txt"
[ "$(cat "$M/a.txt")" = hello ] || fail "read back"
echo more >> "$M/a.txt"
[ "$(cat "$M/a.txt")" = "$(printf 'hello\nmore')" ] || fail "append"
truncate -s 3 "$M/a.txt"; [ "$(cat "$M/a.txt")" = hel ] || fail "truncate"
mkdir -p "$M/dir/sub"; echo x > "$M/dir/sub/f"
mv "$M/dir/sub/f" "$M/dir/g"; [ -f "$M/dir/g" ] && [ ! -e "$M/dir/sub/f" ] || fail "rename"
echo y > "$M/dir/h"; mv -f "$M/dir/g" "$M/dir/h"; [ "$(cat "$M/dir/h")" = x ] || fail "rename over existing"
ln "$M/dir/h" "$M/dir/hard"; [ "$(stat -c %h "$M/dir/h")" = 2 ] || fail "hard link count"
ln -s h "$M/dir/sym"; [ "$(readlink "$M/dir/sym")" = h ] && [ "$(cat "$M/dir/sym")" = x ] || fail "symlink"
chmod 640 "$M/dir/h"; [ "$(stat -c %a "$M/dir/h")" = 640 ] || fail "chmod"
chown 33:33 "$M/dir/h"; [ "$(stat -c %u:%g "$M/dir/h")" = 33:33 ] || fail "chown"
touch -d '2001-02-03 04:05:06' "$M/dir/h"; [ "$(stat -c %Y "$M/dir/h")" = "$(date -d '2001-02-03 04:05:06' +%s)" ] || fail "utimens"
setfattr -n user.color -v blue "$M/dir/h" 2>/dev/null || python3 -c "import os;os.setxattr('$M/dir/h','user.color',b'blue')"
[ "$(python3 -c "import os;print(os.getxattr('$M/dir/h','user.color').decode())")" = blue ] || fail "xattr"
python3 - "$M" <<'PY' || fail "O_EXCL / unlink of an open file"
import os, sys, errno
m = sys.argv[1]
fd = os.open(m + "/excl", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
try:
    os.open(m + "/excl", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644); sys.exit(1)
except OSError as e:
    assert e.errno == errno.EEXIST
os.write(fd, b"still here"); os.close(fd)
fd = os.open(m + "/excl", os.O_RDONLY)
os.unlink(m + "/excl")
assert not os.path.exists(m + "/excl")
assert os.pread(fd, 100, 0) == b"still here"
os.close(fd)
PY
truncate -s 5G "$M/sparse"; printf end | dd of="$M/sparse" bs=1 seek=$((5*1024*1024*1024)) conv=notrunc status=none
[ "$(stat -c %s "$M/sparse")" = $((5*1024*1024*1024 + 3)) ] || fail "sparse size"
[ "$(tail -c 3 "$M/sparse")" = end ] || fail "sparse tail"
[ "$(du -k "$WORK/b0/sparse" | cut -f1)" -lt 1024 ] || fail "sparse file is not sparse on the brick"
df "$M" > /dev/null || fail "statfs"
chmod 600 "$M/a.txt"
if su nobody -s /bin/sh -c "cat '$M/a.txt'" >/dev/null 2>&1; then fail "nobody read a 0600 root file"; fi
mkdir "$M/many"; for i in $(seq 1 1000); do : > "$M/many/f$i"; done
[ "$(ls "$M/many" | wc -l)" = 1000 ] || fail "readdir of 1000"
rm -rf "$M/many"; rmdir "$M/dir/sub"; [ ! -e "$M/many" ] || fail "rm -rf"

log "kill -9 one brick in the middle of a 256 MiB write"
head -c $((256*1024*1024)) /dev/urandom > "$WORK/src.bin"
( dd if="$WORK/src.bin" of="$M/big.bin" bs=1M status=none; echo $? > "$WORK/dd.rc" ) &
DD=$!
sleep 0.5; kill_brick 1
wait $DD
[ "$(cat "$WORK/dd.rc")" = 0 ] || fail "the write failed when one brick died"
cmp "$WORK/src.bin" "$M/big.bin" || fail "read back after a brick died"
echo "created while b1 was down" > "$M/dir/while-down"
restart_brick 1
within 10 test -n "$(ls "$M" 2>/dev/null)" || fail "mount unusable after restart"
sleep 2.5   # ping-timeout: the client reconnects by itself
cat "$M/big.bin" > /dev/null; ls -l "$M/dir" > /dev/null   # access heals
within 20 cmp -s "$WORK/src.bin" "$WORK/b1/big.bin" || fail "brick 1's copy was not healed"
cmp "$WORK/b0/big.bin" "$WORK/b2/big.bin" || fail "bricks 0 and 2 differ"
# The surviving bricks wrote the 1 MiB writes around their page cache (O_DIRECT), where the
# file system under them takes it.
if dd if=/dev/zero of="$WORK/dio-probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
  direct=$(brick_sum direct 0 2)
  [ "$direct" -ge $((2 * 200 * 1024 * 1024)) ] || fail "bricks 0 and 2 wrote only $direct bytes direct of 2 x 256 MiB"
else
  log "the file system under $WORK refuses O_DIRECT: direct writes not checked"
fi
rm -f "$WORK/dio-probe"
within 10 test -f "$WORK/b1/dir/while-down" || fail "entry created while down was not healed"

log "two bricks down: reads go on, writes get EROFS"
kill_brick 1; kill_brick 2
sleep 2.5
cmp "$WORK/src.bin" "$M/big.bin" || fail "read with two bricks down"
if (echo nope > "$M/new-file") 2>"$WORK/err"; then fail "write succeeded without quorum"; fi
grep -q "Read-only file system" "$WORK/err" || fail "expected EROFS, got: $(cat "$WORK/err")"
restart_brick 1; restart_brick 2
within 15 sh -c "echo back > '$M/after'" || fail "writes did not come back without a remount"
[ "$(cat "$M/after")" = back ] || fail "read after quorum returned"

log "a second mount sees the first one's changes"
mount_vol "$WORK/mnt2"
echo v1 > "$M/shared"
within 3 grep -q v1 "$WORK/mnt2/shared" || fail "second mount does not see the file"
echo v2 > "$M/shared"
within 3 grep -q v2 "$WORK/mnt2/shared" || fail "second mount serves stale content"

log "all bricks hold identical data (a lookup heals what a returning brick missed)"
same_everywhere() {
  stat "$M/$1" > /dev/null   # a lookup once the kernel's entry cache expires: heals on access
  cmp -s "$WORK/b0/$1" "$WORK/b1/$1" && cmp -s "$WORK/b0/$1" "$WORK/b2/$1"
}
for f in big.bin a.txt dir/h after shared; do
  within 20 same_everywhere "$f" || fail "replicas of $f differ"
done
