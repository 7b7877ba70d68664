#!/usr/bin/env bash
# Every hafs program answers a bad command line with its documented exit status and a message
# naming the problem (never CLI11's own 105-109), and --help with 0. No daemon starts: each
# run ends in the parser, under a time limit.
set -u
BIN=${HAFS_BIN_DIR:?}
fails=0
check() {  # check WANT PROGRAM ARGS...
  local want=$1 prog=$2; shift 2
  local out rc
  out=$(timeout 10 "$BIN/$prog" "$@" 2>&1 </dev/null); rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $prog $*: exit $rc, want $want: $out"; fails=$((fails + 1)); return
  fi
  if [ "$want" != 0 ] && ! grep -qiE "no-such-flag|required|expected|extra" <<<"$out"; then
    echo "FAIL: $prog $*: the message does not name the problem: $out"; fails=$((fails + 1)); return
  fi
  echo "ok: $prog $* -> $rc"
}
# Daemons of the storage side: 2 (docs/brickd.md, docs/mgmtd.md); hafs-fuse: 2, as a bad -o.
for prog in hafs-brickd hafs-mgmtd hafs-fuse; do
  check 2 "$prog" --no-such-flag
  check 0 "$prog" --help
done
check 2 hafs-brickd --volume-id 0b7e2c4d-1111-4222-8333-444455556666   # --brick-path missing
check 2 hafs-fuse                                                     # no mountpoint
# hafs-lb as HAProxy, hafs-vipd as keepalived: 1 (docs/lb.md, docs/vip.md).
check 1 hafs-lb --no-such-flag
check 1 hafs-lb                                                       # -f missing
check 0 hafs-lb --help
check 1 hafs-vipd --no-such-flag
check 0 hafs-vipd --help
[ "$fails" = 0 ] && echo PASS || { echo "$fails failure(s)"; exit 1; }
