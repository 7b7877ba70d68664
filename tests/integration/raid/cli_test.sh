#!/usr/bin/env bash
# hafs-raid CLI on member files: create, examine (checked by the real mdadm --examine),
# detail, offline fail/remove/add+rebuild, check, stop, and bad input refused with
# nothing written.
source "$(dirname "$0")/lib.sh"

mapfile -t M < <(members m 3 48M)
"$B" --create md0 --level=5 --raid-devices=3 --chunk=64K "${M[@]}" 2>"$T/create.err"
grep -q "layout defaults to left-symmetric" "$T/create.err" || fail "create did not announce the default layout"

# The real mdadm reads our superblocks (MD-FORMAT §4).
for i in 0 1 2; do
  mdadm --examine "${M[$i]}" >"$T/ex$i" || fail "mdadm --examine failed on member $i"
  grep -q "Raid Level : raid5" "$T/ex$i" || fail "mdadm: level"
  grep -q "Raid Devices : 3" "$T/ex$i" || fail "mdadm: raid devices"
  grep -q "Layout : left-symmetric" "$T/ex$i" || fail "mdadm: layout"
  grep -q "Chunk Size : 64K" "$T/ex$i" || fail "mdadm: chunk"
  grep -Eq "Checksum : [0-9a-f]+ - correct" "$T/ex$i" || fail "mdadm: checksum not correct"
  grep -q "Device Role : Active device $i" "$T/ex$i" || fail "mdadm: role $i"
  grep -q "Array State : AAA" "$T/ex$i" || fail "mdadm: array state"
  grep -q "State : clean" "$T/ex$i" || fail "mdadm: clean"
  grep -q "Internal Bitmap : 8 sectors from superblock" "$T/ex$i" || fail "mdadm: bitmap"
done
# 48 MiB members, 64K chunk: data offset 2048 sectors (MD §2.1), used size 47 MiB each.
grep -q "Data Offset : 2048 sectors" "$T/ex0" || fail "data offset"
grep -q "Array Size : 96256 KiB" "$T/ex0" || fail "array size (n-1) x member: $(grep 'Array Size' "$T/ex0")"
mdadm --examine --export "${M[0]}" | grep -q "MD_LEVEL=raid5" || fail "mdadm --export"
"$B" --examine "${M[0]}" | grep -q "Array UUID : $(mdadm --examine --export "${M[0]}" | sed -n 's/MD_UUID=//p')" ||
  fail "our --examine and mdadm disagree on the UUID"

"$B" --detail md0 | grep -q "State : clean" || fail "detail state"
"$B" status | grep -q "\[3/3\] \[UUU\]" || fail "status letters"

# Offline fail and remove: the superblocks record it the way md does (MD §3.4).
"$B" md0 --fail "${M[1]}" | grep -q "set .* faulty" || fail "fail wording"
mdadm --examine "${M[0]}" | grep -q "Array State : A.A" || fail "mdadm does not see the failed member"
"$B" md0 --remove "${M[1]}" | grep -q "hot removed" || fail "remove wording"
mdadm --examine "${M[1]}" | grep -q "Device Role : Active device 1" || fail "removed member should still claim its role"
"$B" status | grep -q "\[3/2\] \[U_U\]" || fail "degraded status"
# Adding a blank member rebuilds it (in the foreground when the array is not running).
NEW=$(members new 1 48M)
"$B" md0 --add "$NEW" >"$T/add.out" || fail "add: $(cat "$T/add.out")"
grep -q "rebuild complete" "$T/add.out" || fail "add did not rebuild"
"$B" status | grep -q "\[3/3\] \[UUU\]" || fail "status after rebuild"
mdadm --examine "$NEW" | grep -q "Device Role : Active device 1" || fail "new member role"
"$B" check md0 | grep -q "mismatch_cnt = 0" || fail "check after rebuild"

# Scrub finds and repairs a flipped parity byte (stripe 0 parity is role 2, MD §1).
printf '\xff' | dd of="${M[2]}" bs=1 seek=$((2048 * 512 + 5)) conv=notrunc status=none
"$B" check md0 | grep -q "mismatch_cnt = 8" || fail "check did not count the bad 4K unit"
"$B" check md0 --repair | grep -q "parity repaired" || fail "repair"
"$B" check md0 | grep -q "mismatch_cnt = 0" || fail "mismatch after repair"
"$B" --stop md0 2>&1 | grep -q "stopped" || fail "stop"
"$B" --detail md0 >/dev/null 2>&1 && fail "detail after stop should fail"
"$B" --assemble md0 "${M[0]}" "$NEW" "${M[2]}" 2>&1 | grep -q "assembled with 3 drives (out of 3)" || fail "assemble"

# Bad input: clear errors, nothing written.
mapfile -t X < <(members x 3 48M)
sum() { md5sum "$@" | awk '{print $1}' | tr '\n' ' '; }
before=$(sum "${X[@]}")
"$B" --create mdx --level=5 --raid-devices=4 "${X[@]}" 2>"$T/e1" && fail "wrong member count accepted"
grep -q "enough devices" "$T/e1" || fail "wrong count message: $(cat "$T/e1")"
"$B" --create mdx --level=6 --raid-devices=3 "${X[@]}" 2>"$T/e2" && fail "level 6 accepted"
truncate -s 1M "$T/tiny.img"
"$B" --create mdx --level=5 --raid-devices=3 "${X[0]}" "${X[1]}" "$T/tiny.img" 2>"$T/e3" && fail "tiny device accepted"
grep -q "too small" "$T/e3" || fail "too small message: $(cat "$T/e3")"
[ "$(sum "${X[@]}")" = "$before" ] || fail "a refused create wrote to the members"
"$B" --create mdx --level=5 --raid-devices=3 "${X[@]}" 2>/dev/null
"$B" --stop mdx 2>/dev/null
"$B" --stop md0 2>/dev/null
before=$(sum "${M[0]}" "${X[1]}")
"$B" --assemble mdmix "${M[0]}" "$NEW" "${X[1]}" 2>"$T/e4" && fail "members of different arrays assembled"
grep -q "different array" "$T/e4" || fail "mixed message: $(cat "$T/e4")"
printf 'X' | dd of="${M[2]}" bs=1 seek=$((4096 + 40)) conv=notrunc status=none   # inside set_name
"$B" --assemble md0 "${M[0]}" "$NEW" "${M[2]}" 2>"$T/e5" && fail "corrupt superblock accepted"
grep -q "checksum" "$T/e5" || fail "corrupt message: $(cat "$T/e5")"
mdadm --examine "${M[2]}" 2>&1 | grep -q "expected" || fail "mdadm should also see the bad checksum"
[ "$(sum "${M[0]}" "${X[1]}")" = "$before" ] || fail "a refused assemble wrote to the members"
echo "PASS cli"
