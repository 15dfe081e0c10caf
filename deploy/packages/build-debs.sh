#!/usr/bin/env bash
# build-debs.sh: the two Debian packages, from this tree's build (npm run
# build), with Debian's own tools only (dpkg-deb; no network, no debhelper):
#
#   kdump-netdump-sender_V_ARCH.deb    kdump-send with its own node runtime (the
#       capture kernel runs it; Debian 12's nodejs is 18 and the lz4/lzo addons
#       are built for this node's ABI), kdump-send.service for kdump-tools' capture
#       boot, /etc/kdump-send.conf, the dracut module and the initramfs-tools
#       hook and boot script for initramfs-only capture kernels.
#   kdump-netdump-receiver_V_ARCH.deb  the receiver (dist, web UI, production
#       node_modules with better-sqlite3 built here), on Debian's nodejs >= 20
#       (trixie; NodeSource on bookworm), its systemd unit, its system user.
#
#   usage: deploy/packages/build-debs.sh [OUTDIR]     (default dist/packages)
#   PKG_VERSION: the Debian version (default: package.json's version, revision 1)
#   XZ_LEVEL:    dpkg-deb's xz level (default 6)
# Prints the paths of the two packages.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$root/dist/packages}" && cd "${1:-$root/dist/packages}" && pwd)
upstream=$(node -p "require('$root/package.json').version")
version=${PKG_VERSION:-$upstream-1}
arch=$(dpkg --print-architecture)
maintainer='kdump-netdump developers <kdump-netdump@lists.example.org>'
. "$here/lib.sh"
[ -f "$root/dist/receiver/cli.js" ] || die "no dist/receiver/cli.js: run npm run build first"
command -v dpkg-deb >/dev/null || die "needs dpkg-deb"
work=$(mktemp -d "${TMPDIR:-/tmp}/kdump-netdump-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT

# docs PKG ROOT: copyright and a one-entry changelog, as policy wants them.
docs() {
  local d=$2/usr/share/doc/$1
  install -d "$d"
  install -m 0644 "$here/copyright" "$d/copyright"
  printf '%s (%s) unstable; urgency=medium\n\n  * Built from the kdump-netdump tree (deploy/packages/build-debs.sh).\n\n -- %s  %s\n' \
    "$1" "$version" "$maintainer" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")" |
    gzip -9n > "$d/changelog.Debian.gz"
  chmod 0644 "$d/changelog.Debian.gz"
}
# finish PKG ROOT DESCRIPTION-FILE FIELDS...: control, md5sums, conffiles, maintainer scripts, dpkg-deb.
finish() {
  local pkg=$1 tree=$2 summary=$3 long=$4; shift 4
  install -d -m 0755 "$tree/DEBIAN"
  local size; size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %s\n' "$pkg" "$version" "$arch" "$maintainer" "$size"
    printf '%s\n' "$@"
    printf 'Section: admin\nPriority: optional\nHomepage: https://github.com/kdump-netdump/kdump-netdump\nDescription: %s\n%s\n' "$summary" "$long"
  } > "$tree/DEBIAN/control"
  (cd "$tree" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |') > "$tree/DEBIAN/md5sums"
  [ ! -d "$tree/etc" ] || (cd "$tree" && find etc -type f | sort | sed 's|^|/|') > "$tree/DEBIAN/conffiles"
  [ -s "$tree/DEBIAN/conffiles" ] || rm -f "$tree/DEBIAN/conffiles"
  for s in postinst prerm postrm; do
    [ ! -f "$here/debian/${pkg#kdump-netdump-}/$s" ] || install -m 0755 "$here/debian/${pkg#kdump-netdump-}/$s" "$tree/DEBIAN/$s"
  done
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"
  find "$tree" -path "$tree/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Zxz -z"${XZ_LEVEL:-6}" --build "$tree" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
  echo "$out/${pkg}_${version}_${arch}.deb"
}

# --- kdump-netdump-sender
s=$work/sender
# plain: kdump-tools' capture boot runs it from the root file system, whose page
# cache the kernel can drop; nothing is unpacked into the reservation.
stage_sender "$s" plain
install -D -m 0644 "$root/deploy/debian/kdump-send.service" "$s/lib/systemd/system/kdump-send.service"
install -D -m 0755 "$root/deploy/debian/initramfs-hook" "$s/usr/share/kdump-send/initramfs-hook"
install -D -m 0644 "$here/debian/sender/lintian-overrides" "$s/usr/share/lintian/overrides/kdump-netdump-sender"
docs kdump-netdump-sender "$s"
sender_glibc=$(glibc_min "$s/usr/lib/kdump-send/node" "$s"/usr/lib/kdump-send/node_modules/*/build/Release/*.node)
finish kdump-netdump-sender "$s" \
  'stream kernel crash dumps from the kdump capture kernel to a receiver' \
' kdump-send runs in the capture kernel that kdump boots after a panic and
 streams /proc/vmcore, lz4-compressed, checksummed and with unneeded pages
 left out as makedumpfile'"'"'s dump levels do, over TCP, TLS or WebSocket to
 kdump-receiver, resuming where a broken connection stopped.
 .
 With kdump-tools it runs before kdump-tools'"'"' own save (kdump-send.service)
 and reboots once the receiver stored the dump; until SERVERS is set in
 /etc/kdump-send.conf, or when no receiver takes the dump, kdump-tools saves
 it locally as before. Ships its own Node.js runtime.' \
  "Depends: libc6 (>= $sender_glibc), libstdc++6 (>= 12), libgcc-s1" \
  'Recommends: kdump-tools | dracut'

# --- kdump-netdump-receiver
r=$work/receiver
stage_receiver "$r"
lib=$r/usr/lib/kdump-receiver
receiver_unit "$r/lib/systemd/system/kdump-receiver.service"
chmod -R u=rwX,go=rX "$r/usr" "$r/lib"
chmod 0755 "$lib/dist/receiver/cli.js"
install -D -m 0644 "$here/debian/receiver/lintian-overrides" "$r/usr/share/lintian/overrides/kdump-netdump-receiver"
docs kdump-netdump-receiver "$r"
install -m 0644 "$root/README.md" "$r/usr/share/doc/kdump-netdump-receiver/README.md"
receiver_glibc=$(glibc_min "$lib"/node_modules/*/build/Release/*.node)
finish kdump-netdump-receiver "$r" \
  'receive, verify and store kernel crash dumps from kdump-send' \
' kdump-receiver takes the crash dumps that kdump-send streams from capture
 kernels, verifies every chunk, stores each dump as a kdump-compressed file
 that crash and drgn read, triages it (panic message, backtrace, signature),
 and serves operators: HTTP API, web UI, Prometheus metrics and retention.
 .
 Runs as the kdump-receiver system user, with the dumps and the catalog
 in /var/lib/kdump-receiver.' \
  "Depends: nodejs (>= 20), adduser, libc6 (>= ${receiver_glibc:-2.28}), libstdc++6 (>= 12)"
