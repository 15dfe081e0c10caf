#!/usr/bin/env bash
# make-rootfs.sh: a stock Debian 12 host with kdump-tools, as a root file
# system tree cached outside the clone, for test/vm/debian-host/boot-host.sh
# (which adds the project's package, the README's configuration, and boots it).
#
#   test/vm/debian-host/make-rootfs.sh KVER     make it if missing; print its directory
#   test/vm/debian-host/make-rootfs.sh --version
#
# What is in it is what an operator's bookworm host has after
# `apt install linux-image-KVER kdump-tools` (debconf: use kdump = yes), on a
# systemd minbase with ifupdown DHCP: bookworm, bookworm-updates and
# bookworm-security from MIRROR. The kernel is KVER (the fixtures' 6.1
# release, whose debug vmlinux the fixtures already have, so `crash` can
# judge the dump). kdump-tools makes its small kdump initrd (MODULES=dep, so
# for the guest's own hardware) in the guest, at the first boot, as on any host
# (~100 s under TCG).
#
# Built in CACHE/images/.bookworm-kdump-tools-vN.tmp.PID (~2-3 min, ~700 MB),
# renamed to CACHE/images/bookworm-kdump-tools-vN-KVER when it checks out.
# CACHE is ${KDUMP_NETDUMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-netdump}.
# Needs root (debootstrap, chroot).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
VERSION=1
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE=${KDUMP_NETDUMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-netdump}
log() { echo "make-rootfs: $*" >&2; }
die() { log "$*"; exit 1; }
[ "${1:-}" = --version ] && { echo "$VERSION"; exit 0; }
kver=${1:?usage: make-rootfs.sh KVER}
dir=$CACHE/images/bookworm-kdump-tools-v$VERSION-$kver
mkdir -p "$CACHE/images"
exec 8>"$CACHE/images/.bookworm.lock"
flock 8
if [ -f "$dir/kdump-netdump-image.json" ]; then echo "$dir"; exit 0; fi
[ "$(id -u)" = 0 ] || die "debootstrap and chroot need root"
command -v debootstrap >/dev/null || die "missing debootstrap (scripts/install-test-deps.sh installs it)"
rm -rf "$CACHE/images/.bookworm-kdump-tools-v$VERSION.tmp."*
tmp=$CACHE/images/.bookworm-kdump-tools-v$VERSION.tmp.$$
t0=$(date +%s)
cleanup() { umount "$tmp/proc" 2>/dev/null || true; }
trap cleanup EXIT
log "debootstrap --variant=minbase bookworm ($MIRROR)"
debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" > "$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; rm -rf "$tmp"; die "debootstrap failed"; }
cat > "$tmp/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
SOURCES
# No daemon starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"; chmod +x "$tmp/usr/sbin/policy-rc.d"
mount -t proc proc "$tmp/proc"
echo 'kdump-tools kdump-tools/use_kdump boolean true' | chroot "$tmp" debconf-set-selections
packages="systemd systemd-sysv udev linux-image-$kver kdump-tools kexec-tools makedumpfile busybox initramfs-tools e2fsprogs iproute2 ifupdown isc-dhcp-client procps"
log "apt-get install $packages"
{ chroot "$tmp" apt-get update -q && DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get install -y -q --no-install-recommends $packages; } >> "$tmp.log" 2>&1 ||
  { tail -n 40 "$tmp.log" >&2; die "apt-get install failed (log $tmp.log)"; }
# apt ran kdump-tools' kernel hook before /sys was there: what it left is not a kdump initrd.
rm -f "$tmp/var/lib/kdump/initrd.img-$kver"*
umount "$tmp/proc"
rm -f "$tmp/usr/sbin/policy-rc.d"
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
# The host: one disk, DHCP on the one NIC (net.ifnames=0 on the command line), serial console.
echo 'bookworm-kdump' > "$tmp/etc/hostname"
printf '/dev/vda / ext4 errors=remount-ro 0 1\n' > "$tmp/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$tmp/etc/network/interfaces"
: > "$tmp/etc/machine-id"
versions=$(chroot "$tmp" dpkg-query -W -f '"${Package}":"${Version}",' kdump-tools kexec-tools makedumpfile systemd "linux-image-$kver")
printf '{"recipe":%s,"kver":"%s","packages":{%s},"made":"%s","seconds":%s}\n' "$VERSION" "$kver" "${versions%,}" "$(date -u +%FT%TZ)" "$(( $(date +%s) - t0 ))" > "$tmp/kdump-netdump-image.json"
rm -f "$tmp.log"
mv "$tmp" "$dir"
log "made $dir in $(( $(date +%s) - t0 )) s"
echo "$dir"
