#!/usr/bin/env bash
# crash-and-send.sh: the sender where it lives. Boots Debian's kernel in QEMU
# (TCG) with crashkernel=, loads a capture kernel whose initramfs holds
# busybox, the virtio-net modules and kdump-send (deploy/capture/install-sender.sh),
# panics it through sysrq, and lets the capture kernel bring the network up
# and stream /proc/vmcore to a receiver on the host's loopback.
#
# The guest's only way out is one forwarded address (QEMU user networking with
# restrict=on): each connection to 10.0.2.100:7341 in the guest becomes a
# netcat to 127.0.0.1:$RECEIVER_PORT here, so the receiver may be down at
# first and the sender may reconnect as often as it needs.
#
# Environment:
#   RECEIVER_PORT   host loopback port of kdump-receiver's TCP listener (required)
#   TOKEN_FILE      host's upload token, copied into the initramfs (optional)
#   HOST_ID         --host-id (default vm-test)
#   MEM             guest MiB (default 1024)      CRASHKERNEL  (default 384M)
#   SEND_ARGS       more kdump-send arguments, e.g. "--deadline 120"
#   SEND_VARIANTS   BUILDER=busybox only: argument sets separated by ';', each sent in turn (host id
#                   HOST_ID-N, --quiet) under busybox time, for benches (bench/vmcore-reads-in-guest.mjs);
#                   prints SEND_VARIANT_N=exit RC real S user S sys S args ARGS
#   CAPTURE_APPEND  more capture kernel command-line words, e.g. "rootfstype=ramfs"
#   LAYOUT          how install-sender.sh lays out the sender: squashfs (default) or plain
#   BUILDER         who builds the capture initramfs: busybox (default: a hand-made cpio with
#                   busybox, the virtio-net modules and an init that sends) or initramfs-tools
#                   (Debian's mkinitramfs with deploy/debian/initramfs-hook, booted with
#                   boot=kdump-send: the form a Debian host would carry) or dracut (a
#                   systemd initrd with dracut's squash module, as RHEL's kdump builds it, with
#                   deploy/dracut/99kdump-send and a stand-in for kdumpbase, test/vm/dracut)
#   TIMEOUT         seconds before QEMU is killed (default 280)
#   CONSOLE_LOG     where to keep the guest console (default: temp, printed on failure)
# Prints KEY=VALUE lines: KDUMP_SEND_EXIT, GUEST_POWERED_OFF, SECONDS, SENDER_PEAK_RSS_MB, SENDER_ATTEMPTS,
# CAPTURE_MEMORY_KB (MemTotal), CAPTURE_AVAILABLE_KB (MemAvailable before the sender starts),
# INITRAMFS_BYTES (compressed), INITRAMFS_UNPACKED_BYTES, INITRAMFS_FAILED, OOM_KILL.
set -euo pipefail
die() { echo "crash-and-send: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${RECEIVER_PORT:?RECEIVER_PORT is required}"
HOST_ID=${HOST_ID:-vm-test}
MEM=${MEM:-1024}
CRASHKERNEL=${CRASHKERNEL:-384M}
TIMEOUT=${TIMEOUT:-280}
LAYOUT=${LAYOUT:-squashfs}
BUILDER=${BUILDER:-busybox}
case $BUILDER in busybox|initramfs-tools|dracut) ;; *) die "BUILDER must be busybox, initramfs-tools or dracut, not '$BUILDER'";; esac

KVER=${KVER:-$(for d in /lib/modules/*/; do k=$(basename "$d"); [ -f "/boot/vmlinuz-$k" ] && echo "$k"; done | sort -V | tail -1)}
[ -n "$KVER" ] || die "no kernel: install linux-image-amd64 (scripts/install-test-deps.sh)"
VMLINUZ=/boot/vmlinuz-$KVER
BUSYBOX=$(command -v busybox) || die "missing busybox-static"
KEXEC=$(command -v kexec || echo /usr/sbin/kexec)

W=$(mktemp -d "${TMPDIR:-/tmp}/crash-and-send.XXXXXX")
trap 'rm -rf "$W"' EXIT
CONSOLE_LOG=${CONSOLE_LOG:-$W/console.log}
cap=$W/capture first=$W/first
mkdir -p "$cap"/{bin,proc,sys,dev,mods,etc/kdump-send,tmp} "$first"/{bin,sbin,proc,sys,dev,tmp}
cp "$BUSYBOX" "$cap/bin/busybox"; cp "$BUSYBOX" "$first/bin/busybox"

# --- capture initramfs, busybox: virtio-net, the sender, an init that sends and powers off.
build_busybox() {
capture_modules=(virtio_pci virtio_net)
[ "$LAYOUT" = squashfs ] && capture_modules+=(loop squashfs)
mods=()
while read -r verb path _; do
  [ "$verb" = insmod ] || continue
  name=$(basename "$path"); name=${name%%.ko*}
  case " ${mods[*]-} " in *" $name "*) continue;; esac
  case "$path" in
    *.ko.xz) xz -dc "$path" > "$cap/mods/$name.ko";; *.ko.zst) zstd -dqc "$path" > "$cap/mods/$name.ko";;
    *) cp "$path" "$cap/mods/$name.ko";;
  esac
  mods+=("$name")
done < <(modprobe -a --show-depends -S "$KVER" "${capture_modules[@]}")
LAYOUT=$LAYOUT bash "$root/deploy/capture/install-sender.sh" "$cap" >&2
token_arg=
if [ -n "${TOKEN_FILE:-}" ]; then cp "$TOKEN_FILE" "$cap/etc/kdump-send/token"; token_arg="--token-file /etc/kdump-send/token"; fi

cat > "$cap/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${mods[*]-}; do insmod /mods/\$m.ko || echo "insmod \$m failed"; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 50 ]; do sleep 0.2; i=\$((i+1)); done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "CAPTURE_MEMORY_KB=\$(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
echo "CAPTURE_AVAILABLE_KB=\$(grep MemAvailable /proc/meminfo | tr -s ' ' | cut -d' ' -f2)"
echo KDUMP_SEND_START
if [ -z "${SEND_VARIANTS:-}" ]; then
/usr/sbin/kdump-send --server tcp://10.0.2.100:7341 --host-id $HOST_ID $token_arg --progress-interval 10 ${SEND_ARGS:-} /proc/vmcore
echo "KDUMP_SEND_EXIT=\$?"
else
n=0; worst=0
IFS=';'; set -- \$(printf '%s' '${SEND_VARIANTS:-}'); unset IFS
for variant in "\$@"; do
  n=\$((n + 1))
  time -p -o /tmp/time /usr/sbin/kdump-send --quiet --server tcp://10.0.2.100:7341 --host-id $HOST_ID-\$n $token_arg ${SEND_ARGS:-} \$variant /proc/vmcore > /dev/null
  rc=\$?; [ \$rc = 0 ] || worst=\$rc
  echo "SEND_VARIANT_\$n=exit \$rc \$(tr '\\n' ' ' < /tmp/time)args \$variant"
done
echo "KDUMP_SEND_EXIT=\$worst"
fi
poweroff -f
INIT
chmod +x "$cap/init"
(cd "$cap" && find . | cpio -o -H newc --quiet | gzip -1 > "$first/capture.img")
initramfs_unpacked=$(du -sb "$cap" | cut -f1)
capture_append="console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=5 quiet"
}

# --- capture initramfs, initramfs-tools: mkinitramfs with the project's hook and boot script.
build_initramfs_tools() {
  command -v mkinitramfs >/dev/null || die "BUILDER=initramfs-tools needs mkinitramfs (Debian package initramfs-tools)"
  local stage=$W/sender-root conf=$W/initramfs-tools
  mkdir -p "$conf"/{hooks,scripts,conf.d}
  stage_sender "$stage"
  # Debian's defaults, less what a capture kernel never needs (no resume, no keymap).
  printf 'MODULES=list\nBUSYBOX=y\nCOMPRESS=zstd\nKEYMAP=n\nRESUME=none\nFSTYPE=\n' > "$conf/initramfs.conf"
  printf 'virtio_pci\nvirtio_net\n' > "$conf/modules"
  cp "$root/deploy/debian/initramfs-hook" "$conf/hooks/kdump-send"; chmod +x "$conf/hooks/kdump-send"
  KDUMP_SEND_ROOT=$stage mkinitramfs -d "$conf" -o "$first/capture.img" "$KVER" 2> "$W/mkinitramfs.log" \
    || { cat "$W/mkinitramfs.log" >&2; die "mkinitramfs failed"; }
  local unpacked=$W/unpacked; mkdir -p "$unpacked"
  unmkinitramfs "$first/capture.img" "$unpacked" 2>/dev/null
  initramfs_unpacked=$(du -sb "$unpacked" | cut -f1)
  capture_append="console=ttyS0 boot=kdump-send ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off net.ifnames=0 kdump_send.poweroff irqpoll nr_cpus=1 reset_devices panic=5 quiet"
}
# The sender laid out in a staging root with its config, for the initramfs builders' hooks (KDUMP_SEND_ROOT).
stage_sender() {
  local stage=$1
  mkdir -p "$stage/etc/kdump-send"
  LAYOUT=$LAYOUT bash "$root/deploy/capture/install-sender.sh" "$stage" >&2
  {
    echo "SERVERS=tcp://10.0.2.100:7341"; echo "HOST_ID=$HOST_ID"
    if [ -n "${TOKEN_FILE:-}" ]; then cp "$TOKEN_FILE" "$stage/etc/kdump-send/token"; echo "TOKEN_FILE=/etc/kdump-send/token"; fi
    printf '%b\n' "${SEND_CONFIG:-DUMP_LEVEL=31\nDEADLINE=240}"
  } > "$stage/etc/kdump-send.conf"
}

# --- capture initramfs, dracut: a systemd initrd squashed as RHEL's kdump builds it.
build_dracut() {
  command -v dracut >/dev/null || die "BUILDER=dracut needs dracut (Debian packages dracut-core dracut-network dracut-squash)"
  local stage=$W/sender-root base=$W/dracut
  stage_sender "$stage"
  # dracut reads its modules from dracutbasedir: the system's, plus the project's two.
  cp -a /usr/lib/dracut "$base"
  cp -r "$root/deploy/dracut/99kdump-send" "$root/test/vm/dracut/95kdump-send-vm" "$base/modules.d/"
  mkdir -p "$W/dracut.conf.d"
  # Host-only, as kdumpctl builds it: only the drivers this (virtio) machine has, plus the guest's NIC.
  # With squash, dracut writes a plain cpio holding the squashfs of everything and a loader.
  dracutbasedir=$base KDUMP_SEND_ROOT=$stage KDUMP_SEND_CHECK_AT_BUILD=off dracut --force --hostonly --hostonly-mode strict \
    --no-early-microcode --conf /dev/null --confdir "$W/dracut.conf.d" --kver "$KVER" \
    --modules "systemd systemd-initrd dracut-systemd base network-legacy kdump-send kdump-send-vm squash" \
    --add-drivers "virtio_pci virtio_net" "$first/capture.img" > "$W/dracut.log" 2>&1 \
    || { tail -30 "$W/dracut.log" >&2; die "dracut failed"; }
  local unpacked=$W/unpacked; mkdir -p "$unpacked"
  if [ "$(head -c2 "$first/capture.img" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    (cd "$unpacked" && zcat "$first/capture.img" | cpio -id --quiet 2>/dev/null)
  else
    (cd "$unpacked" && cpio -id --quiet < "$first/capture.img" 2>/dev/null)
  fi
  initramfs_unpacked=$(du -sb "$unpacked" | cut -f1)
  capture_append="console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off rd.neednet=1 net.ifnames=0 irqpoll nr_cpus=1 reset_devices panic=5 quiet"
}
case $BUILDER in busybox) build_busybox ;; initramfs-tools) build_initramfs_tools ;; dracut) build_dracut ;; esac
initramfs_bytes=$(stat -c %s "$first/capture.img")

# --- first initramfs: load the capture kernel, crash.
cp "$KEXEC" "$first/sbin/kexec"; cp "$VMLINUZ" "$first/vmlinuz"
for l in $(ldd "$KEXEC" | grep -o '/[^ ]*'); do mkdir -p "$first$(dirname "$l")"; cp -L "$l" "$first$l"; done
cat > "$first/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
if kexec -p /vmlinuz --initrd=/capture.img --append "$(cat /capture.append)"; then
  echo KEXEC_LOADED
else
  echo KEXEC_FAILED; poweroff -f
fi
echo c > /proc/sysrq-trigger
INIT
chmod +x "$first/init"
echo "$capture_append ${CAPTURE_APPEND:-}" > "$first/capture.append"
(cd "$first" && find . | cpio -o -H newc --quiet > "$W/first.cpio")

echo "crash-and-send: booting $KVER, ${MEM} MiB, crashkernel=$CRASHKERNEL, sending to 127.0.0.1:$RECEIVER_PORT" >&2
start=$(date +%s)
rc=0
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -m "$MEM" -smp 1 -display none -monitor none -no-reboot \
  -serial "file:$CONSOLE_LOG" \
  -nic "user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:7341-cmd:nc -N 127.0.0.1 $RECEIVER_PORT" \
  -kernel "$VMLINUZ" -initrd "$W/first.cpio" \
  -append "console=ttyS0 crashkernel=$CRASHKERNEL panic=5 quiet" </dev/null > "$W/qemu.log" 2>&1 || rc=$?
secs=$(( $(date +%s) - start ))
console=$(tr -d '\r' < "$CONSOLE_LOG")
exit_line=$(grep -ao 'KDUMP_SEND_EXIT=[0-9]*' <<<"$console" | tail -1 || true)
# initramfs-tools' boot script says it in words.
[ -n "$exit_line" ] || exit_line=$(grep -ao 'kdump-send: exit [0-9]*' <<<"$console" | tail -1 | sed 's/.* /KDUMP_SEND_EXIT=/' || true)
echo "SECONDS=$secs"
echo "QEMU_STATUS=$rc"
echo "${exit_line:-KDUMP_SEND_EXIT=none}"
# -no-reboot: QEMU exits 0 when the guest powers off (or reboots); a timeout is 124.
if [ "$rc" = 0 ] && grep -aq 'reboot: Power down' <<<"$console"; then echo GUEST_POWERED_OFF=1; else echo GUEST_POWERED_OFF=0; fi
rss=$(grep -ao 'peak RSS [0-9.]* MB' <<<"$console" | tail -1 | grep -o '[0-9.]*' || true)
echo "SENDER_PEAK_RSS_MB=${rss:-unknown}"
mem=$(grep -ao 'CAPTURE_MEMORY_KB=[0-9]*' <<<"$console" | tail -1 || true)
[ -n "$mem" ] || mem=$(grep -ao 'capture kernel MemTotal: [0-9]*' <<<"$console" | tail -1 | sed 's/.* /CAPTURE_MEMORY_KB=/' || true)
echo "${mem:-CAPTURE_MEMORY_KB=unknown}"
avail=$(grep -ao 'CAPTURE_AVAILABLE_KB=[0-9]*' <<<"$console" | tail -1 || true)
# Else the sender's own line: "memory: N MiB available".
[ -n "$avail" ] || avail=$(grep -ao 'memory: [0-9]* MiB available' <<<"$console" | tail -1 | awk '{print "CAPTURE_AVAILABLE_KB=" $2 * 1024}' || true)
echo "${avail:-CAPTURE_AVAILABLE_KB=unknown}"
echo "INITRAMFS_BYTES=$initramfs_bytes"
echo "INITRAMFS_UNPACKED_BYTES=$initramfs_unpacked"
if grep -aq 'Initramfs unpacking failed' <<<"$console"; then echo INITRAMFS_FAILED=1; else echo INITRAMFS_FAILED=0; fi
if grep -aqE 'Out of memory: Killed process|oom-kill' <<<"$console"; then echo OOM_KILL=1; else echo OOM_KILL=0; fi
grep -ao 'SEND_VARIANT_[0-9]*=.*' <<<"$console" || true
attempts=$(grep -aoE '[0-9]+ attempts?,' <<<"$console" | tail -1 | grep -oE '[0-9]+' || true)
echo "SENDER_ATTEMPTS=${attempts:-unknown}"
if [ "${exit_line#KDUMP_SEND_EXIT=}" != 0 ]; then
  { echo "---- guest console (last 60 lines) ----"; tail -60 <<<"$console"; echo "---- qemu ----"; tail -5 "$W/qemu.log"; } >&2
  exit 1
fi
