#!/usr/bin/env bash
# Sequential throughput through the FUSE export (dd, 1 MiB blocks, direct I/O on the
# image) beside dd on one raw member file, same run. Root; not run by CI.
#   bench/raid/fuse_dd.sh [BUILD_DIR] [MEMBER_MIB]
set -euo pipefail
bin=${1:-build}/bin
mib=${2:-512}
T=$(mktemp -d /var/tmp/hafs-raid-fusebench.XXXXXX)
export HAFS_RAID_RUN_DIR="$T/run"
pid=""
cleanup() {
  set +e
  [ -n "$pid" ] && kill "$pid" && wait "$pid"
  grep -q " $T/mnt " /proc/mounts && umount -l "$T/mnt"
  rm -rf "$T"
}
trap cleanup EXIT
for i in 0 1 2 3; do fallocate -l "${mib}M" "$T/m$i.img"; done
"$bin/hafs-raid" --create bench --level=5 --raid-devices=4 --assume-clean "$T"/m{0,1,2,3}.img 2>/dev/null
mkdir "$T/mnt"
"$bin/hafs-raid" --run bench --fuse "$T/mnt" >"$T/log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$T/run/bench.pid" ] && break; sleep 0.1; done
count=$(( (mib - 8) * 3 ))
rate() { grep -o '[0-9.]* [MG]B/s' | tail -1; }
echo "raw member write:  $(dd if=/dev/zero of="$T/m0.img" bs=1M count=$((mib - 8)) seek=4 conv=notrunc,fdatasync 2>&1 | rate)"
sync; echo 3 >/proc/sys/vm/drop_caches
echo "raw member read:   $(dd if="$T/m0.img" of=/dev/null bs=1M skip=4 count=$((mib - 8)) 2>&1 | rate)"
echo "array write (FUSE): $(dd if=/dev/zero of="$T/mnt/bench" bs=1M count=$count conv=notrunc,fdatasync 2>&1 | rate)"
sync; echo 3 >/proc/sys/vm/drop_caches
echo "array read (FUSE):  $(dd if="$T/mnt/bench" of=/dev/null bs=1M count=$count 2>&1 | rate)"
