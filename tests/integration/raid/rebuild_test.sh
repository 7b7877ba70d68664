#!/usr/bin/env bash
# A running array exported through FUSE: fail a member under a concurrent writer,
# remove it, add a blank one and let it rebuild while the writer goes on. The writer
# verifies its own log against the array; then every stripe's parity must check.
source "$(dirname "$0")/lib.sh"
W="${HAFS_BIN_DIR}/raid_test_writer"

mapfile -t M < <(members m 4 40M)
"$B" --create md1 --level=5 --raid-devices=4 --chunk=128K "${M[@]}" 2>/dev/null
# Rebuild throttled to ~12 MB/s so the writer really runs beside it for a few seconds.
RUN_ARGS=(--speed-limit 12000000)
start_array md1 "$T/mnt"
IMG="$T/mnt/md1"
size=$(stat -c %s "$IMG")
[ "$size" -eq $((3 * (40 - 1) * 1024 * 1024)) ] || fail "exported size $size"

"$W" "$IMG" $((96 * 1024 * 1024)) 8 42 >"$T/writer.out" 2>&1 &
WP=$!
PIDS+=("$WP")
sleep 1
"$B" md1 --fail "${M[2]}" | grep -q faulty || fail "fail"
"$B" status | grep -q "\[4/3\] \[UU_U\]" || fail "status after fail: $("$B" status)"
sleep 1
"$B" md1 --remove "${M[2]}" >/dev/null || fail "remove"
NEW=$(members new 1 40M)
"$B" --run md1 --speed-limit 1 >/dev/null 2>&1 && fail "second --run of a running array must be refused"
"$B" md1 --add "$NEW" | grep -q "added" || fail "add"
sleep 0.5
"$B" status | grep -q "recovery = " || fail "no recovery progress shown: $("$B" status)"
"$B" --detail md1 | grep -q "Rebuild Status" || fail "detail shows no rebuild status"
"$B" --wait md1 --timeout=60 || fail "rebuild did not finish"
wait "$WP" || fail "writer found a mismatch: $(cat "$T/writer.out")"
grep -q verified "$T/writer.out" || fail "writer: $(cat "$T/writer.out")"
"$B" status | grep -q "\[4/4\] \[UUUU\]" || fail "status after rebuild: $("$B" status)"
"$B" check md1 | grep -q "mismatch_cnt = 0" || fail "parity mismatch after rebuild: $("$B" check md1)"
"$B" --detail md1 | grep -q "active sync .*new0.img" || fail "new member not in sync"
"$B" --stop md1 2>&1 | grep -q stopped || fail "stop"
grep -q " $T/mnt " /proc/mounts && fail "FUSE mount left behind after --stop"
# The freshly rebuilt member set assembles clean and its parity checks independently.
"$B" --assemble md1 "${M[0]}" "${M[1]}" "$NEW" "${M[3]}" 2>&1 | grep -q "with 4 drives" || fail "reassemble"
"$B" check md1 | grep -q "mismatch_cnt = 0" || fail "offline check"
echo "PASS rebuild"
