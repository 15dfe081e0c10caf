#!/usr/bin/env bash
# judge-chroots.sh: cached Debian chroots holding newer "judge" tools (crash,
# makedumpfile, drgn, vmcore-dmesg) than Debian 12 has, for reading vmcores of
# newer kernels. test/helpers/judges.ts runs the tools inside them; which
# suite is right for which kernel is the JUDGES table of
# test/helpers/real-fixtures.ts (and test/fixtures/README.md).
#
#   scripts/judge-chroots.sh [SUITE...]   make the missing ones (default: trixie sid)
#   scripts/judge-chroots.sh --dir SUITE  print where SUITE's chroot is (made or not)
#   scripts/judge-chroots.sh --version    print the recipe version
#
# Each chroot is `debootstrap --variant=minbase --include=crash,makedumpfile,
# python3-drgn,kexec-tools SUITE` from http://deb.debian.org/debian (~1-2 min,
# ~400 MB), built in CACHE/chroots/.SUITE-vN.tmp.PID, checked (every tool
# answers --version inside it), then renamed to CACHE/chroots/SUITE-vN. The
# versions found are in CACHE/chroots/SUITE-vN/kdump-netdump-judge.json.
# A finished chroot is never rebuilt: a new recipe bumps VERSION; delete the
# directory to get newer packages of a moving suite (sid).
#
# CACHE is ${KDUMP_NETDUMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-netdump}.
# Environment: MIRROR (default http://deb.debian.org/debian).
# Needs root (debootstrap, chroot) and the debootstrap package.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

VERSION=1
INCLUDE=crash,makedumpfile,python3-drgn,kexec-tools
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=${KDUMP_NETDUMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-netdump}
CHROOTS=$CACHE/chroots

die() { echo "judge-chroots: $*" >&2; exit 1; }
log() { echo "judge-chroots: $*" >&2; }

case "${1:-}" in
  --version) echo "$VERSION"; exit 0 ;;
  --dir) [ -n "${2:-}" ] || die "usage: $0 --dir SUITE"; echo "$CHROOTS/$2-v$VERSION"; exit 0 ;;
esac

# probe DIR: the judge tools' versions inside chroot DIR as JSON (fails if one does not run).
probe() {
  local r=$1 crash mdf drgn kexec
  crash=$(chroot "$r" crash --version 2>/dev/null | awk '/^crash /{print $2; exit}')
  mdf=$(chroot "$r" makedumpfile -v 2>/dev/null | awk '/^makedumpfile: version/{print $3; exit}')
  drgn=$(chroot "$r" python3 -c 'import drgn; print(drgn.__version__)' 2>/dev/null)
  chroot "$r" drgn --help >/dev/null 2>&1 || { log "drgn --help fails in $r"; return 1; }
  kexec=$(chroot "$r" kexec --version 2>/dev/null | awk '{print $2; exit}')
  chroot "$r" sh -c 'test -x /usr/sbin/vmcore-dmesg' || { log "no vmcore-dmesg in $r"; return 1; }
  [ -n "$crash" ] || { log "crash --version fails in $r"; return 1; }
  [ -n "$mdf" ] || { log "makedumpfile -v fails in $r"; return 1; }
  [ -n "$drgn" ] || { log "import drgn fails in $r"; return 1; }
  printf '{"suite":"%s","recipe":%s,"crash":"%s","makedumpfile":"%s","drgn":"%s","kexec-tools":"%s","vmcore-dmesg":"%s","made":"%s"}\n' \
    "$2" "$VERSION" "$crash" "$mdf" "$drgn" "$kexec" "$kexec" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

make_chroot() {
  local suite=$1 dir=$CHROOTS/$1-v$VERSION tmp t
  mkdir -p "$CHROOTS"
  # One maker per suite (ensure-fixtures.sh runs the suites in parallel).
  exec 8>"$CHROOTS/.$suite.lock"
  flock 8
  if [ -f "$dir/kdump-netdump-judge.json" ]; then
    log "$suite: cached ($dir)"; return 0
  fi
  rm -rf "$CHROOTS/.$suite-v$VERSION.tmp."*
  command -v debootstrap >/dev/null || die "missing debootstrap (scripts/install-test-deps.sh installs it)"
  [ "$(id -u)" = 0 ] || die "$suite: debootstrap and chroot need root"
  tmp=$CHROOTS/.$suite-v$VERSION.tmp.$$
  t=$(date +%s)
  log "$suite: debootstrap --variant=minbase --include=$INCLUDE $suite ($MIRROR)"
  if ! debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$tmp" "$MIRROR" > "$tmp.log" 2>&1; then
    tail -n 30 "$tmp.log" >&2
    { tail -n 30 "$tmp/debootstrap/debootstrap.log" 2>/dev/null || true; } >&2
    rm -rf "$tmp" "$tmp.log"
    die "$suite: debootstrap failed"
  fi
  # apt's package cache is not needed inside (~100 MB of .debs)
  rm -rf "$tmp"/var/cache/apt/archives/*.deb
  if ! probe "$tmp" "$suite" > "$tmp/kdump-netdump-judge.json"; then
    rm -rf "$tmp" "$tmp.log"; die "$suite: a judge tool does not run in the new chroot"
  fi
  rm -f "$tmp.log"
  rm -rf "$dir"   # an unfinished one (no kdump-netdump-judge.json) from an older run
  mv "$tmp" "$dir"
  log "$suite: made in $(( $(date +%s) - t ))s: $(cat "$dir/kdump-netdump-judge.json")"
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(trixie sid)
for s in "${suites[@]}"; do
  case $s in *[!a-z0-9-]*|'') die "bad suite name '$s'";; esac
  (make_chroot "$s")
done
