#!/usr/bin/env bash
# Heal throughput, hafs beside GlusterFS on the same disk in the same run (not run by CI).
#
# A replica-3 volume on this machine; one brick is down while a client writes one large
# file of SIZE_MB MiB and FILES small files of SMALL_KB KiB; then the brick returns and we
# time how long until `heal info` is empty, with no client touching the files.
#   hafs:      3 hafs-mgmtd on 127.0.0.2-4 (one per "node"); the node's mgmtd is killed (its
#              brick dies with it) and restarted; the heal daemons do the work.
#   GlusterFS: one glusterd (reused if running), the brick process is killed and brought
#              back with `volume start force`; glustershd does the work (`volume heal` kicks it).
# Usage: bench/mgmtd/heal_bench.sh   (env: SIZE_MB=1024 FILES=5000 SMALL_KB=4 HAFS_BIN_DIR=build/bin)
set -u
BIN=${HAFS_BIN_DIR:-$(cd "$(dirname "$0")/../../build/bin" && pwd)}
SIZE_MB=${SIZE_MB:-1024}
FILES=${FILES:-5000}
SMALL_KB=${SMALL_KB:-4}
W=/var/tmp/hafs-heal-bench-$$
MGMTD_PIDS=()
GVOL="hafshealbench$$"
# Cleanup on any exit (mounts, the GlusterFS volume, processes by PID, a glusterd it started,
# $W): bench/lib.sh.
. "$(dirname "$0")/../lib.sh"
bench_init

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
now() { date +%s.%N; }

# The same load for both: one big file (fsynced) and FILES small ones.
write_load() {
  local dir=$1
  dd if=/dev/zero of="$dir/big" bs=1M count="$SIZE_MB" conv=fsync status=none || return 1
  python3 - "$dir" "$FILES" "$SMALL_KB" <<'PY' || return 1
import os, sys
d, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(os.path.join(d, "small"), exist_ok=True)
blob = os.urandom(kb * 1024)
for i in range(n):
    with open(os.path.join(d, "small", "f%05d" % i), "wb") as f:
        f.write(blob)
PY
}

wait_until() {  # wait_until SECONDS CMD...
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -gt "$end" ] && return 1; sleep 0.5; done
}

# ---------------- hafs ----------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2", 0)); print(s.getsockname()[1])')
for i in 0 1 2; do
  "$BIN/hafs-mgmtd" --state-dir "$W/hafs/s$i" --listen "127.0.0.$((i + 2)):$PORT" --metrics-listen none \
    --log-level ${LOG_LEVEL:-warn} --log-file "$W/hafs/m$i.log" > /dev/null 2>&1 &
  MGMTD_PIDS[$i]=$!; PIDS+=($!)
done
H="$BIN/hafs --remote-host 127.0.0.2:$PORT"
wait_until 15 $H pool list >/dev/null 2>&1 || { log "hafs-mgmtd did not start"; exit 1; }
$H peer probe "127.0.0.3:$PORT" >/dev/null && $H peer probe "127.0.0.4:$PORT" >/dev/null || exit 1
$H volume create hb replica 3 127.0.0.2:$W/hafs/b0 127.0.0.3:$W/hafs/b1 127.0.0.4:$W/hafs/b2 force >/dev/null || exit 1
$H volume start hb >/dev/null || exit 1
$H volume volfile hb > "$W/hafs/vol.json"
mkdir -p "$W/hafs/mnt"
"$BIN/hafs-fuse" --volfile "$W/hafs/vol.json" "$W/hafs/mnt" -o "log-file=$W/hafs/fuse.log" || { log "hafs mount failed"; exit 1; }
MOUNTS+=("$W/hafs/mnt")
log "hafs: node 3 down, writing ${SIZE_MB} MiB + ${FILES} x ${SMALL_KB} KiB"
kill -9 "${MGMTD_PIDS[2]}"; wait "${MGMTD_PIDS[2]}" 2>/dev/null; MGMTD_PIDS[2]=""
t=$(now); write_load "$W/hafs/mnt" || { log "hafs write failed"; exit 1; }
HAFS_WRITE=$(python3 -c "print(f'{$(now) - $t:.1f}')")
hafs_pending() { $H --json volume heal hb info | python3 -c 'import json,sys; print(sum(b["entries"] for b in json.load(sys.stdin)["bricks"]))'; }
log "hafs: wrote in ${HAFS_WRITE} s; pending entries: $(hafs_pending)"
"$BIN/hafs-mgmtd" --state-dir "$W/hafs/s2" --listen "127.0.0.4:$PORT" --metrics-listen none \
  --log-level ${LOG_LEVEL:-warn} --log-file "$W/hafs/m2.log" > /dev/null 2>&1 &
MGMTD_PIDS[2]=$!; PIDS+=($!)
t0=$(now)
hafs_done() { [ "$(hafs_pending 2>/dev/null)" = 0 ] && $H --json volume heal hb info | grep -q '"online": true'; }
wait_until 3600 hafs_done || { log "hafs heal did not finish"; exit 1; }
HAFS_HEAL=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
cmp -s "$W/hafs/b0/big" "$W/hafs/b2/big" || log "hafs: big file differs after heal!"
log "hafs: healed in ${HAFS_HEAL} s"
umount "$W/hafs/mnt"; MOUNTS=()

# ---------------- GlusterFS ----------------
glusterd_up
mkdir -p "$W/g"
# glusterd refuses loopback brick hosts; the host's own name stays on this machine.
GHOST=$(hostname)
gluster --mode=script volume create "$GVOL" replica 3 $GHOST:$W/g/b0 $GHOST:$W/g/b1 $GHOST:$W/g/b2 force >/dev/null || exit 1
GVOLS+=("$GVOL")
gluster --mode=script volume start "$GVOL" >/dev/null || exit 1
mkdir -p "$W/g/mnt"
mount -t glusterfs "$GHOST:/$GVOL" "$W/g/mnt" || { log "gluster mount failed"; exit 1; }
MOUNTS+=("$W/g/mnt")
BPID=$(gluster --mode=script volume status "$GVOL" "$GHOST:$W/g/b2" --xml | sed -n 's:.*<pid>\([0-9]*\)</pid>.*:\1:p' | head -1)
log "GlusterFS: brick 3 (pid $BPID) down, writing the same load"
kill -9 "$BPID"
t=$(now); write_load "$W/g/mnt" || { log "gluster write failed"; exit 1; }
G_WRITE=$(python3 -c "print(f'{$(now) - $t:.1f}')")
gluster_pending() { gluster --mode=script volume heal "$GVOL" info | awk '/Number of entries:/ {s += $NF} END {print s + 0}'; }
log "GlusterFS: wrote in ${G_WRITE} s; pending entries: $(gluster_pending)"
gluster --mode=script volume start "$GVOL" force >/dev/null
t0=$(now)
gluster --mode=script volume heal "$GVOL" >/dev/null 2>&1
gluster_done() { [ "$(gluster_pending 2>/dev/null)" = 0 ]; }
wait_until 3600 gluster_done || { log "GlusterFS heal did not finish within an hour"; exit 1; }
G_HEAL=$(python3 -c "print(f'{$(now) - $t0:.2f}')")
cmp -s "$W/g/b0/big" "$W/g/b2/big" || log "GlusterFS: big file differs after heal!"

python3 - "$SIZE_MB" "$FILES" "$SMALL_KB" "$HAFS_HEAL" "$G_HEAL" <<'PY'
import sys
mb, files, kb, h, g = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
total_mb = mb + files * kb / 1024
print(f"heal after a brick missed {mb} MiB in one file + {files} x {kb} KiB files ({total_mb:.0f} MiB, {files + 1} files)")
print(f"{'':12}{'seconds':>10}{'MB/s':>10}{'files/s':>10}")
for name, t in (("hafs", h), ("GlusterFS", g)):
    print(f"{name:12}{t:>10.2f}{total_mb / t:>10.1f}{(files + 1) / t:>10.1f}")
print(f"hafs / GlusterFS speed: {g / h:.2f}x")
PY
