#!/usr/bin/env bash
# prepare-host.sh: one disk image of a Debian 12 host with kdump-tools and the
# project's sender package, configured the way the README's "Debian 12 with
# kdump-tools" section tells an operator, ready for QEMU.
#
#   usage: ROOTFS=DIR SENDER_DEB=FILE TOKEN_FILE=FILE SERVERS=URL... prepare-host.sh WORKDIR
#   ROOTFS      test/vm/debian-host/make-rootfs.sh's tree (never written to)
#   SENDER_DEB  kdump-netdump-sender_*.deb (deploy/packages/build-debs.sh)
#   TOKEN_FILE  the host's token, as `kdump-receiver token add HOST` printed it
#   SERVERS     the receivers, as the guest sees them
#   DEADLINE    the sender's DEADLINE setting (README: how long to try the receivers)
#   GATE        host:port the test's gate listens on, as the guest sees it
#
# The operator's steps, run in the image by chroot: `apt install ./SENDER_DEB`
# (offline: its dependencies are there), the token into /etc/kdump-send/token,
# SERVERS and DEADLINE into /etc/kdump-send.conf.
# The one thing added that no host has: netdump-test-gate.service, which, once
# kdump-tools has loaded the capture kernel, asks the test (GET http://GATE/gate)
# what to do and does it: "crash" (sysrq c), "poweroff", "wait".
#
# Prints KEY=VALUE lines: IMAGE, KERNEL, INITRD, CMDLINE (the kernel command line
# with the crashkernel= kdump-tools' /etc/default/grub.d asks for), SENDER_VERSION.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
work=${1:?usage: prepare-host.sh WORKDIR}
: "${ROOTFS:?}" "${SENDER_DEB:?}" "${TOKEN_FILE:?}" "${SERVERS:?}"
die() { echo "prepare-host: $*" >&2; exit 1; }
[ -f "$ROOTFS/kdump-netdump-image.json" ] || die "$ROOTFS is not a finished make-rootfs.sh tree"
kver=$(sed -n 's/.*"kver":"\([^"]*\)".*/\1/p' "$ROOTFS/kdump-netdump-image.json")
root=$work/root
rm -rf "$root"; mkdir -p "$work"
cp -a "$ROOTFS" "$root"
cleanup() { umount "$root/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$root/proc"

# --- the README's steps
cp "$SENDER_DEB" "$root/tmp/"
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q "/tmp/$(basename "$SENDER_DEB")" > "$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; die "apt install ./$(basename "$SENDER_DEB") failed"; }
rm -f "$root/tmp/$(basename "$SENDER_DEB")"
install -m 0600 "$TOKEN_FILE" "$root/etc/kdump-send/token"
sed -i -e "s|^SERVERS=.*|SERVERS=\"$SERVERS\"|" "$root/etc/kdump-send.conf"
[ -z "${DEADLINE:-}" ] || sed -i -e "s|^DEADLINE=.*|DEADLINE=$DEADLINE|" "$root/etc/kdump-send.conf"
grep -q "^SERVERS=\"$SERVERS\"" "$root/etc/kdump-send.conf" || die "SERVERS did not land in /etc/kdump-send.conf"
umount "$root/proc"

# --- the test's gate (not part of any host)
if [ -n "${GATE:-}" ]; then
  cat > "$root/usr/local/sbin/netdump-test-gate" <<GATE
#!/bin/sh
# Test only: once kdump-tools has loaded the capture kernel, ask the test what to do.
i=0
until [ "\$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || [ \$i -ge 900 ]; do i=\$((i + 1)); sleep 1; done
loaded=\$(cat /sys/kernel/kexec_crash_loaded)
size=\$(cat /sys/kernel/kexec_crash_size)
ready=\$(kdump-config show 2>/dev/null | grep -c 'current state: *ready to kdump')
crash=\$(ls /var/crash 2>/dev/null | tr '\n' ',')
boot=\$(cat /proc/sys/kernel/random/boot_id)
while :; do
  answer=\$(busybox wget -q -O - "http://$GATE/gate?boot=\$boot&loaded=\$loaded&crash_size=\$size&ready=\$ready&crash_dirs=\$crash&uptime=\$(cut -d' ' -f1 /proc/uptime)") || answer=retry
  case \$answer in
    crash) echo "netdump-test-gate: crashing" > /dev/console; sync; echo c > /proc/sysrq-trigger ;;
    poweroff) systemctl poweroff; exit 0 ;;
    *) sleep 2 ;;
  esac
done
GATE
  chmod 0755 "$root/usr/local/sbin/netdump-test-gate"
  cat > "$root/etc/systemd/system/netdump-test-gate.service" <<'UNIT'
[Unit]
Description=Test only: crash when the test says so
ConditionPathExists=!/proc/vmcore
After=kdump-tools.service network-online.target
Wants=network-online.target
[Service]
Type=simple
ExecStart=/usr/local/sbin/netdump-test-gate
[Install]
WantedBy=multi-user.target
UNIT
  ln -sf /etc/systemd/system/netdump-test-gate.service "$root/etc/systemd/system/multi-user.target.wants/netdump-test-gate.service"
fi

# crashkernel= as kdump-tools asks for it (its grub.d snippet; grub would read the same).
default=$(GRUB_CMDLINE_LINUX_DEFAULT=; for f in "$root"/etc/default/grub.d/*.cfg; do . "$f"; done; echo "$GRUB_CMDLINE_LINUX_DEFAULT")
crashkernel=$(grep -o 'crashkernel=[^ ]*' <<<"$default" | tail -1)
[ -n "$crashkernel" ] || die "no crashkernel= in the image's /etc/default/grub.d"
cp "$root/boot/vmlinuz-$kver" "$root/boot/initrd.img-$kver" "$work/"
rm -f "$work/disk.img"
mke2fs -q -t ext4 -d "$root" -L root "$work/disk.img" 3G >&2
rm -rf "$root"
echo "IMAGE=$work/disk.img"
echo "KERNEL=$work/vmlinuz-$kver"
echo "INITRD=$work/initrd.img-$kver"
echo "CMDLINE=root=/dev/vda ro console=ttyS0 net.ifnames=0 quiet $crashkernel"
echo "SENDER_VERSION=$(dpkg-deb -f "$SENDER_DEB" Version)"
