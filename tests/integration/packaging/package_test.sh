#!/usr/bin/env bash
# integ_packaging_deb: cpack builds hafs_<version>_amd64.deb from the already-built tree;
# dpkg-deb --info/--contents show the binaries, units, mount.hafs, examples and correct
# Depends; the package unpacked with `dpkg -x` into a temporary root runs (--help exit codes,
# mount.hafs finds hafs-fuse beside itself, the example configs pass the daemons' checks);
# systemd-analyze verifies the units (skipped with a message when it is absent); and
# `cmake --install BUILD --prefix TMP` installs binaries, units and examples below TMP.
# Usage: package_test.sh BUILD_DIR   (env HAFS_BIN_DIR = BUILD_DIR/bin)
set -uo pipefail
BUILD=${1:?usage: package_test.sh BUILD_DIR}
BIN=${HAFS_BIN_DIR:-$BUILD/bin}
T=$(mktemp -d /tmp/hafs-pkgtest.XXXXXX)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

SBIN_BINS=(hafs-mgmtd hafs-brickd hafs-brick-inspect hafs-fuse mount.hafs hafs-vipd)
BIN_BINS=(hafs hafs-lb hafs-raid)
for b in hafs-mgmtd hafs-brickd hafs-fuse mount.hafs hafs-vipd hafs hafs-lb; do
  # ctest reports exit 77 as skipped (a tree built with HAFS_SKIP or only some targets)
  [ -x "$BIN/$b" ] || { echo "SKIP: $BIN/$b is not built (build every installable target first)"; exit 77; }
done
# A component left out with HAFS_SKIP has no binary and is not expected in the package.
present() { [ -x "$BIN/$1" ]; }

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[ -n "$version" ] || { echo "FAIL: no CMAKE_PROJECT_VERSION in $BUILD/CMakeCache.txt"; exit 1; }
deb="$T/cpack/hafs_${version}_amd64.deb"

# --- 1. the package --------------------------------------------------------------------
start=$(date +%s)
if ! timeout 150 cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T/cpack" >"$T/cpack.log" 2>&1; then
  cat "$T/cpack.log"; echo "FAIL: cpack"; exit 1
fi
[ -f "$deb" ] || { cat "$T/cpack.log"; ls "$T/cpack"; echo "FAIL: $deb not produced"; exit 1; }
ok "cpack built $(basename "$deb") in $(( $(date +%s) - start )) s ($(du -h "$deb" | cut -f1))"

dpkg-deb --info "$deb" >"$T/info" || fail "dpkg-deb --info"
field() { sed -n "s/^ $1: //p" "$T/info"; }
[ "$(field Package)" = hafs ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), want $version"
[ "$(field Architecture)" = amd64 ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "Depends: $depends"
grep -qw fuse3 <<<"$depends" || fail "Depends lacks fuse3"
if command -v dpkg-shlibdeps >/dev/null; then
  # dpkg-shlibdeps ran: the libraries the daemons link dynamically must be there.
  for lib in libc6 libfuse3-3 'libgrpc\+\+[0-9.]*' 'libprotobuf[0-9]*' liburing2 'libstdc\+\+6'; do
    grep -Eq "(^|, )$lib( |,|$)" <<<"$depends" || fail "Depends lacks $lib (shlibdeps)"
  done
else
  echo "note: dpkg-shlibdeps absent, shared-library Depends not checked"
fi
for f in conffiles postinst prerm postrm; do grep -q " $f" "$T/info" || fail "control member $f missing"; done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$T/conffiles" 2>/dev/null || fail "no conffiles"
for c in /etc/default/hafs-mgmtd /etc/hafs/hafs-lb.cfg.example /etc/hafs/hafs-vipd.conf.example; do
  grep -qx "$c" "$T/conffiles" || fail "conffiles lacks $c"
done

dpkg-deb --contents "$deb" | awk '{print $1, $NF}' >"$T/contents" || fail "dpkg-deb --contents"
has() {  # has MODE_PREFIX PATH
  grep -q "^$1[^ ]* \\./${2#/}\$" "$T/contents" || fail "package lacks $2 (mode $1...)"
}
for b in "${SBIN_BINS[@]}"; do present "$b" && has -rwxr-xr-x "/usr/sbin/$b"; done
for b in "${BIN_BINS[@]}"; do present "$b" && has -rwxr-xr-x "/usr/bin/$b"; done
for u in hafs-mgmtd hafs-lb hafs-vipd; do has -rw-r--r-- "/usr/lib/systemd/system/$u.service"; done
has -rwxr-xr-x /usr/lib/hafs/hafs-mgmtd-wait
has -rw-r--r-- /etc/hafs/hafs-lb.cfg.example
has -rw-r--r-- /etc/hafs/hafs-vipd.conf.example
has -rw-r--r-- /etc/default/hafs-mgmtd
has -rw-r--r-- /usr/share/doc/hafs/admin-guide.md
# mount(8) runs /sbin/mount.<type>; on merged-/usr Debian 12 /sbin is /usr/sbin.
if [ "$(readlink -f /sbin)" = /usr/sbin ]; then
  ok "/sbin -> /usr/sbin (merged /usr): /usr/sbin/mount.hafs is where mount(8) looks"
else
  echo "note: /sbin is not merged with /usr/sbin here; /usr/sbin/mount.hafs needs a /sbin link"
fi
if grep -Eq '\./usr/local/|\./usr/etc/' "$T/contents"; then fail "package has /usr/local or /usr/etc paths"; fi
if grep -q "_unit\|integ_\|bench" "$T/contents"; then fail "test or bench binaries in the package"; fi

# --- 2. unpacked into a throwaway root ----------------------------------------------------
R="$T/root"
dpkg -x "$deb" "$R" || fail "dpkg -x"
for b in "${SBIN_BINS[@]/#/usr/sbin/}" "${BIN_BINS[@]/#/usr/bin/}"; do
  present "$(basename "$b")" || continue
  [ "$(head -c 4 "$R/$b" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "$b is not an ELF file"
done
expect_rc() {  # expect_rc RC PATTERN CMD...: exit status and a pattern in its output
  local want=$1 pat=$2; shift 2
  local out rc
  out=$(timeout 10 "$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$* exited $rc, want $want: $(head -3 <<<"$out")"; return; fi
  grep -q -- "$pat" <<<"$out" || { fail "$*: no '$pat' in: $(head -3 <<<"$out")"; return; }
  ok "$(basename "$1") ${*:2} -> $rc"
}
for b in usr/sbin/hafs-mgmtd usr/sbin/hafs-brickd usr/sbin/hafs-fuse usr/sbin/hafs-vipd usr/bin/hafs-lb; do
  present "$(basename "$b")" && expect_rc 0 "Usage" "$R/$b" --help
done
present hafs && expect_rc 0 "volume" "$R/usr/bin/hafs" --help
present hafs-raid && expect_rc 0 "create" "$R/usr/bin/hafs-raid" --help
present hafs-brick-inspect && expect_rc 2 "usage" "$R/usr/sbin/hafs-brick-inspect"
expect_rc 1 "usage: mount.hafs" "$R/usr/sbin/mount.hafs"
# mount.hafs runs the hafs-fuse installed beside it: a missing volfile is hafs-fuse's error.
mkdir -p "$T/mnt"
out=$(timeout 20 "$R/usr/sbin/mount.hafs" "$T/none.vol.json" "$T/mnt" 2>&1); rc=$?
if [ $rc -eq 0 ] || grep -q "cannot run hafs-fuse" <<<"$out" || ! grep -q "none.vol.json" <<<"$out"; then
  fail "mount.hafs with a missing volfile: rc=$rc: $out"
else
  ok "mount.hafs runs the packaged hafs-fuse (rc=$rc: $(head -1 <<<"$out"))"
fi
mountpoint -q "$T/mnt" && { umount -l "$T/mnt"; fail "a mount was left behind"; }
expect_rc 0 "valid" "$R/usr/bin/hafs-lb" -c -f "$R/etc/hafs/hafs-lb.cfg.example"
expect_rc 0 "configuration OK" "$R/usr/sbin/hafs-vipd" -t -f "$R/etc/hafs/hafs-vipd.conf.example"
sh -n "$R/usr/lib/hafs/hafs-mgmtd-wait" || fail "hafs-mgmtd-wait: shell syntax"

# The units point at the packaged binaries (/usr/...) and at /etc, never at the build prefix.
U="$R/usr/lib/systemd/system"
grep -q '^ExecStart=/usr/sbin/hafs-mgmtd --state-dir /var/lib/hafs/mgmtd --brickd /usr/sbin/hafs-brickd' "$U/hafs-mgmtd.service" \
  || fail "hafs-mgmtd.service ExecStart: $(grep ^ExecStart= "$U/hafs-mgmtd.service")"
grep -q '^StateDirectory=hafs/mgmtd' "$U/hafs-mgmtd.service" || fail "hafs-mgmtd.service: no StateDirectory"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$U/hafs-lb.service" || fail "hafs-lb.service: no SIGHUP reload"
grep -q '^ConditionPathExists=/etc/hafs/hafs-vipd.conf' "$U/hafs-vipd.service" || fail "hafs-vipd.service: config path"
for u in "$U"/hafs-*.service; do
  for cmd in $(sed -n 's/^Exec[A-Za-z]*=[-@+!]*\([^ ]*\).*/\1/p' "$u" | sort -u); do
    [ -x "$R$cmd" ] || [ -x "$cmd" ] || fail "$(basename "$u"): $cmd is neither in the package nor on this system"
  done
done

# --- 3. cmake --install with a prefix --------------------------------------------------------
P="$T/prefix"
timeout 120 cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || { tail "$T/install.log"; fail "cmake --install"; }
for u in hafs-mgmtd hafs-lb hafs-vipd; do
  [ -f "$P/lib/systemd/system/$u.service" ] || fail "cmake --install: no $P/lib/systemd/system/$u.service"
done
for f in etc/hafs/hafs-lb.cfg.example etc/hafs/hafs-vipd.conf.example etc/default/hafs-mgmtd sbin/mount.hafs sbin/hafs-mgmtd bin/hafs-lb; do
  [ -e "$P/$f" ] || fail "cmake --install: no $P/$f"
done
grep -q "^ExecStart=$P/sbin/hafs-mgmtd " "$P/lib/systemd/system/hafs-mgmtd.service" || fail "prefix install: ExecStart not below the prefix"
grep -q "EnvironmentFile=-$P/etc/default/hafs-mgmtd" "$P/lib/systemd/system/hafs-mgmtd.service" || fail "prefix install: EnvironmentFile not below the prefix"
[ "$FAILS" -eq 0 ] && ok "cmake --install --prefix installs units, examples and binaries"

# --- 4. systemd-analyze verify ------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # The prefix install's units name binaries that exist, so verify can check every Exec line.
  if out=$(cd "$P/lib/systemd/system" && SYSTEMD_LOG_COLOR=0 timeout 60 systemd-analyze verify \
      ./hafs-mgmtd.service ./hafs-lb.service ./hafs-vipd.service 2>&1); then
    [ -z "$out" ] && ok "systemd-analyze verify: units clean" || { echo "$out"; fail "systemd-analyze verify printed warnings"; }
  else
    echo "$out"; fail "systemd-analyze verify"
  fi
else
  echo "SKIP: systemd-analyze not installed: units not verified (apt-get install systemd)"
fi

if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "PASS"
