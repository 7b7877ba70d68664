#!/usr/bin/env bash
# Small-file and metadata workloads only (bench/client/meta_workloads.py), in one run on the
# same disk: the local disk · GlusterFS replica 3 · hafs replica 3 "before" (the same binary
# with the client's newer parts switched off in hafs-fuse's environment, by default
# HAFS_MD_CACHE=0 HAFS_CONTENT_CACHE=0 HAFS_WRITE_BEHIND=0 HAFS_EAGER_ENTRY=0; --before-env
# sets others) · hafs replica 3 · the same three for distribute 3.
# For hafs it also prints the calls each operation costs on the bricks (round trips per file).
# Needs root and glusterfs-server (installed from Debian if missing). Not run by CI.
#
#   sudo bench/client/meta_bench.sh [--files N] [--mkdirs N] [--before-env "VAR=VALUE ..."]
#                                   [BUILD_BIN_DIR [BEFORE_BIN_DIR]]
# With BEFORE_BIN_DIR (e.g. the bin folder of a build of an older commit), "before" runs those
# binaries (bricks and client) without the environment switches.
set -euo pipefail
ARGS=(); BEFORE=(HAFS_MD_CACHE=0 HAFS_CONTENT_CACHE=0 HAFS_WRITE_BEHIND=0 HAFS_EAGER_ENTRY=0)
while [ $# -gt 0 ]; do
  case $1 in
    --files|--mkdirs) ARGS+=("$1" "$2"); shift 2 ;;
    --before-env) read -ra BEFORE <<< "$2"; shift 2 ;;
    *) break ;;
  esac
done
BIN=$(cd "${1:-$(dirname "$0")/../../build/bin}" && pwd)
OLDBIN=$BIN
[ -n "${2:-}" ] && OLDBIN=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=/var/tmp/hafs-metabench-$$
. "$HERE/../lib.sh"
bench_packages glusterfs-server glusterfs-client
bench_init

[ "$OLDBIN" != "$BIN" ] && BEFORE=(HAFS_UNUSED=1)
mkdir -p "$W/local"
gluster_vol gr3 replica; hafs_vol hr3old replicate "$OLDBIN" "${BEFORE[@]}"; hafs_vol hr3 replicate "$BIN"
gluster_vol gd3 distribute; hafs_vol hd3old distribute "$OLDBIN" "${BEFORE[@]}"; hafs_vol hd3 distribute "$BIN"

TARGETS=(local gr3 hr3old hr3 gd3 hd3old hd3)
declare -A RES
for t in "${TARGETS[@]}"; do
  dir=$W/local; [ $t != local ] && dir=$W/mnt-$t/bench
  stats=(); [ -n "${HAFS_PORTS[$t]:-}" ] && stats=(--stats-cmd "$(hafs_stats_cmd "$t")")
  echo "running on $t ..." >&2
  RES[$t]=$(python3 "$HERE/meta_workloads.py" "$dir" "${ARGS[@]}" "${stats[@]}")
done
for t in "${TARGETS[@]}"; do echo "$t ${RES[$t]}"; done > "$W/results.txt"
python3 - "$W/results.txt" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1]):
    name, js = line.split(" ", 1)
    res[name] = json.loads(js)
keys = ["creates_4k_per_s", "creates_empty_per_s", "mkdirs_per_s", "cold_stats_per_s", "cold_reads_per_s", "cold_ls_l_s",
        "rand_4k_reads_per_s"]
for kind, g, old, new in (("replica 3", "gr3", "hr3old", "hr3"), ("distribute 3", "gd3", "hd3old", "hd3")):
    print(f"\n{kind}:\n\n| workload | local | GlusterFS | hafs before | hafs after | after/before | after/GlusterFS | after/local |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        l, gv, o, nv = (res[x][k] for x in ("local", g, old, new))
        inv = k.endswith("_s") and not k.endswith("per_s")  # seconds: smaller is better
        ratio = (lambda a, b: b / a) if inv else (lambda a, b: a / b)
        print(f"| {k} | {l:.0f} | {gv:.1f} | {o:.1f} | {nv:.1f} | {ratio(nv, o):.2f} | {ratio(nv, gv):.2f} | {ratio(nv, l):.3f} |")
    for t in (old, new):
        print(f"{t}: calls per file on all bricks:")
        for k, ops in res[t].get("rpc_per_file", {}).items():
            print(f"  {k}: " + ", ".join(f"{op} {v}" for op, v in sorted(ops.items())))
PY
