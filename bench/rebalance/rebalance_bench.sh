#!/usr/bin/env bash
# Rebalance throughput, hafs beside GlusterFS on the same disk in the same run (not run by CI).
#
# A distribute volume of 2 bricks on this machine gets FILES files of SMALL_KB KiB (in DIRS
# directories) and BIG files of BIG_MB MiB; then one brick is added and we time
# `rebalance start` until its status says completed, with no client touching the files.
# Afterwards every file's checksum is compared with what was written.
#   hafs:      one hafs-mgmtd (a pool of one), FUSE mount from it.
#   GlusterFS: one glusterd (reused if running), `mount -t glusterfs`.
# Usage: bench/rebalance/rebalance_bench.sh  (env: FILES=5000 SMALL_KB=16 BIG=4 BIG_MB=64 DIRS=10 HAFS_BIN_DIR=build/bin)
set -u
BIN=${HAFS_BIN_DIR:-$(cd "$(dirname "$0")/../../build/bin" && pwd)}
FILES=${FILES:-5000}
SMALL_KB=${SMALL_KB:-16}
BIG=${BIG:-4}
BIG_MB=${BIG_MB:-64}
DIRS=${DIRS:-10}
W=/var/tmp/hafs-rebalance-bench-$$
GVOL="hafsrebalbench$$"
# Cleanup on any exit (mounts, the GlusterFS volume, processes by PID, a glusterd it started,
# $W): bench/lib.sh.
. "$(dirname "$0")/../lib.sh"
bench_init

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }

write_load() {  # DIR: the same files for both, checksums in DIR/../sums
  python3 - "$1" "$FILES" "$SMALL_KB" "$BIG" "$BIG_MB" "$DIRS" <<'PY' || return 1
import hashlib, os, sys
d, n, kb, big, big_mb, dirs = sys.argv[1], *map(int, sys.argv[2:])
sums = []
for k in range(dirs):
    os.makedirs(os.path.join(d, f"d{k}"), exist_ok=True)
for i in range(n):
    rel = f"d{i % dirs}/f{i:06d}"
    data = os.urandom(kb * 1024)
    with open(os.path.join(d, rel), "wb") as f:
        f.write(data)
    sums.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
for i in range(big):
    rel = f"big{i}"
    h = hashlib.sha256()
    with open(os.path.join(d, rel), "wb") as f:
        for _ in range(big_mb):
            blk = os.urandom(1 << 20)
            h.update(blk)
            f.write(blk)
    sums.append(f"{h.hexdigest()}  {rel}")
open(os.path.join(d, "..", "sums"), "w").write("\n".join(sums) + "\n")
PY
}
wait_until() {  # wait_until SECONDS CMD...
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -gt "$end" ] && return 1; sleep 0.5; done
}

# ---------------- hafs ----------------
mkdir -p "$W/hafs"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/hafs-mgmtd" --state-dir "$W/hafs/state" --listen "127.0.0.1:$PORT" --metrics-listen none \
  --log-level ${LOG_LEVEL:-warn} --log-file "$W/hafs/mgmtd.log" > /dev/null 2>&1 &
PIDS+=($!)
H="$BIN/hafs --remote-host 127.0.0.1:$PORT"
wait_until 15 $H volume create rb 127.0.0.1:$W/hafs/b0 127.0.0.1:$W/hafs/b1 force >/dev/null 2>&1 || { log "hafs volume create failed"; exit 1; }
$H volume start rb >/dev/null || exit 1
mkdir -p "$W/hafs/mnt"
"$BIN/mount.hafs" "127.0.0.1:$PORT:/rb" "$W/hafs/mnt" -o "log-file=$W/hafs/fuse.log" || { log "hafs mount failed"; exit 1; }
MOUNTS+=("$W/hafs/mnt")
log "hafs: writing $FILES x $SMALL_KB KiB + $BIG x $BIG_MB MiB"
write_load "$W/hafs/mnt" || { log "hafs write failed"; exit 1; }
$H volume add-brick rb 127.0.0.1:$W/hafs/b2 force >/dev/null || exit 1
t0=$(now)
$H volume rebalance rb start >/dev/null || exit 1
hafs_done() { $H --json volume rebalance rb status | grep -q '"status": "completed"'; }
wait_until 3600 hafs_done || { log "hafs rebalance did not finish"; exit 1; }
HAFS_T=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
HAFS_MOVED=$($H --json volume rebalance rb status | python3 -c 'import json,sys; n=json.load(sys.stdin)["nodes"][0]; print(n["moved"], n["bytes"])')
(cd "$W/hafs/mnt" && sha256sum -c --quiet "$W/hafs/sums") || log "hafs: checksums differ after rebalance!"
log "hafs: rebalanced in ${HAFS_T} s (files, bytes moved: $HAFS_MOVED)"
umount "$W/hafs/mnt"; MOUNTS=()

# ---------------- GlusterFS ----------------
glusterd_up
mkdir -p "$W/g"
GHOST=$(hostname)
gluster --mode=script volume create "$GVOL" $GHOST:$W/g/b0 $GHOST:$W/g/b1 force > "$W/g/out" 2>&1 || { log "gluster volume create: $(cat "$W/g/out")"; exit 1; }
GVOLS+=("$GVOL")
gluster --mode=script volume start "$GVOL" >/dev/null || exit 1
mkdir -p "$W/g/mnt"
mount -t glusterfs "$GHOST:/$GVOL" "$W/g/mnt" || { log "gluster mount failed"; exit 1; }
MOUNTS+=("$W/g/mnt")
log "GlusterFS: writing the same load"
write_load "$W/g/mnt" 2> "$W/g/out" || { log "gluster write failed: $(tail -3 "$W/g/out")"; exit 1; }
gluster --mode=script volume add-brick "$GVOL" $GHOST:$W/g/b2 force > "$W/g/out" 2>&1 || { log "gluster add-brick: $(cat "$W/g/out")"; exit 1; }
t0=$(now)
gluster --mode=script volume rebalance "$GVOL" start > "$W/g/out" 2>&1 || { log "gluster rebalance start: $(cat "$W/g/out")"; exit 1; }
gluster_done() { gluster --mode=script volume rebalance "$GVOL" status 2>/dev/null | grep -q "completed" && ! gluster --mode=script volume rebalance "$GVOL" status 2>/dev/null | grep -q "in progress"; }
wait_until 3600 gluster_done || { log "GlusterFS rebalance did not finish within an hour"; exit 1; }
G_T=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
G_MOVED=$(gluster --mode=script volume rebalance "$GVOL" status | awk '/completed/ {print $2, $3}' | head -1)
(cd "$W/g/mnt" && sha256sum -c --quiet "$W/g/sums") || log "GlusterFS: checksums differ after rebalance!"

python3 - "$FILES" "$SMALL_KB" "$BIG" "$BIG_MB" "$HAFS_T" "$G_T" "$HAFS_MOVED" "$G_MOVED" <<'PY'
import sys
files, kb, big, big_mb = map(int, sys.argv[1:5])
h, g = float(sys.argv[5]), float(sys.argv[6])
print(f"rebalance after add-brick (2 -> 3 bricks): {files} x {kb} KiB + {big} x {big_mb} MiB")
print(f"{'':12}{'seconds':>10}  moved (files, size)")
print(f"{'hafs':12}{h:>10.2f}  {sys.argv[7]}")
print(f"{'GlusterFS':12}{g:>10.2f}  {sys.argv[8]}")
print(f"hafs / GlusterFS speed: {g / h:.2f}x (each moves what its own layout says)")
PY
