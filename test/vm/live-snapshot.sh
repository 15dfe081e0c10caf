#!/usr/bin/env bash
# live-snapshot.sh: kdump-send --live where it lives. Boots Debian's kernel in
# QEMU (TCG) with a hand-made initramfs holding busybox, the virtio-net
# modules and kdump-send (deploy/capture/install-sender.sh). No kexec and no
# panic: the guest's own, first kernel keeps running a known workload
# (/bin/live-workload, a busybox shell script, so its comm is live-workload)
# while kdump-send --live reads it from /proc/kcore and streams the snapshot
# to a receiver on the host's loopback; then the guest checks it still runs
# (the workload finishes and leaves its marker) and powers off.
#
# The guest's only way out is one forwarded address (QEMU user networking with
# restrict=on): each connection to 10.0.2.100:7341 in the guest becomes a
# netcat to 127.0.0.1:$RECEIVER_PORT here.
#
# Before the snapshot the guest writes "live-snapshot-test: before TOKEN" to
# its kernel log (/dev/kmsg), then prints its whole kernel log (busybox dmesg,
# each line marked "DMESG: ") between the console lines DMESG_BEGIN and
# DMESG_END, so the host can look for both in crash's `log` of the snapshot.
#
# Environment:
#   RECEIVER_PORT     host loopback port of kdump-receiver's TCP listener (required)
#   KVER              kernel release to boot (default: newest with /boot/vmlinuz-*)
#   VMLINUZ           its image (default /boot/vmlinuz-KVER)
#   MODULES_ROOT      directory holding lib/modules/KVER with modules.dep (default /, the
#                     host's): a fixtures kernel, test/fixtures/ensure-fixtures.sh
#   TOKEN_FILE        host's upload token, copied into the initramfs (optional)
#   HOST_ID           --host-id (default vm-live)
#   REASON            --reason (default "vm test")
#   MEM               guest MiB (default 1024)
#   SEND_ARGS         more kdump-send arguments, e.g. "--max-rate 50M"
#   WORKLOAD_SECONDS  the workload's longest run, in 1 s sleeps (default 200); it
#                     stops sooner, one tick after kdump-send has returned, so it
#                     outlasts the snapshot however slow TCG is
#   KMSG_TOKEN        the token in the kernel log line (default: random)
#   DMESG_OUT         file to write the guest's dmesg block to (optional)
#   LAYOUT            how install-sender.sh lays out the sender: squashfs (default) or plain
#   TIMEOUT           seconds before QEMU is killed (default 280)
#   CONSOLE_LOG       where to keep the guest console (default: temp, printed on failure)
# Prints KEY=VALUE lines: SECONDS, QEMU_STATUS, KDUMP_SEND_EXIT, KMSG_TOKEN, WORKLOAD_PID,
# WORKLOAD_ALIVE_AFTER_SEND (the workload still ran when kdump-send returned), WORKLOAD_DONE,
# WORKLOAD_TICKS, GUEST_POWERED_OFF, SENDER_PEAK_RSS_MB, DMESG_LINES, OOM_KILL.
set -euo pipefail
die() { echo "live-snapshot: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${RECEIVER_PORT:?RECEIVER_PORT is required}"
HOST_ID=${HOST_ID:-vm-live}
REASON=${REASON:-vm test}
MEM=${MEM:-1024}
TIMEOUT=${TIMEOUT:-280}
LAYOUT=${LAYOUT:-squashfs}
WORKLOAD_SECONDS=${WORKLOAD_SECONDS:-200}
KMSG_TOKEN=${KMSG_TOKEN:-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
case $WORKLOAD_SECONDS in ''|*[!0-9]*) die "WORKLOAD_SECONDS must be a whole number, not '$WORKLOAD_SECONDS'";; esac
case $KMSG_TOKEN in ''|*[!A-Za-z0-9_-]*) die "KMSG_TOKEN must be letters, digits, - or _, not '$KMSG_TOKEN'";; esac
# The reason goes into the init script inside single quotes.
case $REASON in *"'"*) die "REASON must not hold a single quote";; esac

KVER=${KVER:-$(for d in /lib/modules/*/; do k=$(basename "$d"); [ -f "/boot/vmlinuz-$k" ] && echo "$k"; done | sort -V | tail -1)}
[ -n "$KVER" ] || die "no kernel: install linux-image-amd64 (scripts/install-test-deps.sh)"
VMLINUZ=${VMLINUZ:-/boot/vmlinuz-$KVER}
MODULES_ROOT=${MODULES_ROOT:-/}
[ -f "$VMLINUZ" ] || die "no $VMLINUZ"
BUSYBOX=$(command -v busybox) || die "missing busybox-static"

W=$(mktemp -d "${TMPDIR:-/tmp}/live-snapshot.XXXXXX")
trap 'rm -rf "$W"' EXIT
CONSOLE_LOG=${CONSOLE_LOG:-$W/console.log}
img=$W/initramfs
mkdir -p "$img"/{bin,proc,sys,dev,mods,etc/kdump-send,tmp,run}
cp "$BUSYBOX" "$img/bin/busybox"

# --- the initramfs: virtio-net (and loop, squashfs for the sender's runtime image), the sender.
modules=(virtio_pci virtio_net)
[ "$LAYOUT" = squashfs ] && modules+=(loop squashfs)
mods=()
while read -r verb path _; do
  [ "$verb" = insmod ] || continue
  name=$(basename "$path"); name=${name%%.ko*}
  case " ${mods[*]-} " in *" $name "*) continue;; esac
  case "$path" in
    *.ko.xz) xz -dc "$path" > "$img/mods/$name.ko";; *.ko.zst) zstd -dqc "$path" > "$img/mods/$name.ko";;
    *) cp "$path" "$img/mods/$name.ko";;
  esac
  mods+=("$name")
done < <(modprobe -d "$MODULES_ROOT" -a --show-depends -S "$KVER" "${modules[@]}")
LAYOUT=$LAYOUT bash "$root/deploy/capture/install-sender.sh" "$img" >&2
token_arg=
if [ -n "${TOKEN_FILE:-}" ]; then cp "$TOKEN_FILE" "$img/etc/kdump-send/token"; token_arg="--token-file /etc/kdump-send/token"; fi

# The workload: a script, so the task's comm (what ps shows) is its name. It ticks once a
# second until kdump-send has returned (/tmp/snapshot-done) or WORKLOAD_SECONDS have
# passed, then leaves its marker: proof the kernel ran on after the snapshot.
cat > "$img/bin/live-workload" <<WORKLOAD
#!/bin/busybox sh
i=0
while [ \$i -lt $WORKLOAD_SECONDS ] && [ ! -e /tmp/snapshot-done ]; do sleep 1; i=\$((i + 1)); done
sleep 1
echo "\$i" > /tmp/live-workload.done
WORKLOAD
chmod +x "$img/bin/live-workload"

cat > "$img/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${mods[*]-}; do insmod /mods/\$m.ko || echo "insmod \$m failed"; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 50 ]; do sleep 0.2; i=\$((i+1)); done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
/bin/live-workload &
pid=\$!
echo "WORKLOAD_PID=\$pid"
echo "live-snapshot-test: before $KMSG_TOKEN" > /dev/kmsg
echo DMESG_BEGIN
dmesg | sed 's/^/DMESG: /'
echo DMESG_END
echo KDUMP_SEND_START
/usr/sbin/kdump-send --live --reason '$REASON' --server tcp://10.0.2.100:7341 --host-id $HOST_ID $token_arg --progress-interval 10 ${SEND_ARGS:-}
echo "KDUMP_SEND_EXIT=\$?"
if kill -0 \$pid 2>/dev/null; then echo WORKLOAD_ALIVE_AFTER_SEND=1; else echo WORKLOAD_ALIVE_AFTER_SEND=0; fi
: > /tmp/snapshot-done
wait \$pid
echo "WORKLOAD_EXIT=\$?"
if [ -e /tmp/live-workload.done ]; then echo WORKLOAD_DONE=1; echo "WORKLOAD_TICKS=\$(cat /tmp/live-workload.done)"; else echo WORKLOAD_DONE=0; fi
poweroff -f
INIT
chmod +x "$img/init"
(cd "$img" && find . | cpio -o -H newc --quiet | gzip -1 > "$W/initramfs.img")

echo "live-snapshot: booting $KVER, ${MEM} MiB, snapshotting it live to 127.0.0.1:$RECEIVER_PORT" >&2
start=$(date +%s)
rc=0
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -m "$MEM" -smp 1 -display none -monitor none -no-reboot \
  -serial "file:$CONSOLE_LOG" \
  -nic "user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:7341-cmd:nc -N 127.0.0.1 $RECEIVER_PORT" \
  -kernel "$VMLINUZ" -initrd "$W/initramfs.img" \
  -append "console=ttyS0 quiet panic=5" </dev/null > "$W/qemu.log" 2>&1 || rc=$?
secs=$(( $(date +%s) - start ))
console=$(tr -d '\r' < "$CONSOLE_LOG")
fact() { grep -ao "$1=[0-9]*" <<<"$console" | tail -1 || true; }
exit_line=$(fact KDUMP_SEND_EXIT)
echo "SECONDS=$secs"
echo "QEMU_STATUS=$rc"
echo "${exit_line:-KDUMP_SEND_EXIT=none}"
echo "KMSG_TOKEN=$KMSG_TOKEN"
for key in WORKLOAD_PID WORKLOAD_ALIVE_AFTER_SEND WORKLOAD_DONE WORKLOAD_TICKS; do
  line=$(fact "$key"); echo "${line:-$key=none}"
done
# -no-reboot: QEMU exits 0 when the guest powers off (or reboots); a timeout is 124.
if [ "$rc" = 0 ] && grep -aq 'reboot: Power down' <<<"$console"; then echo GUEST_POWERED_OFF=1; else echo GUEST_POWERED_OFF=0; fi
rss=$(grep -ao 'peak RSS [0-9.]* MB' <<<"$console" | tail -1 | grep -o '[0-9.]*' || true)
echo "SENDER_PEAK_RSS_MB=${rss:-unknown}"
# The guest's kernel log as busybox dmesg printed it, just before the snapshot.
# Each of its lines is marked, so whatever the kernel itself prints on the console meanwhile stays out.
dmesg_block=$(awk '/^DMESG_END$/ { inside = 0 } inside && /^DMESG: / { print substr($0, 8) } /^DMESG_BEGIN$/ { inside = 1 }' <<<"$console")
if [ -n "$dmesg_block" ]; then echo "DMESG_LINES=$(wc -l <<<"$dmesg_block")"; else echo DMESG_LINES=0; fi
[ -z "${DMESG_OUT:-}" ] || printf '%s\n' "$dmesg_block" > "$DMESG_OUT"
if grep -aqE 'Out of memory: Killed process|oom-kill' <<<"$console"; then echo OOM_KILL=1; else echo OOM_KILL=0; fi
if [ "${exit_line#KDUMP_SEND_EXIT=}" != 0 ]; then
  { echo "---- guest console (last 60 lines) ----"; tail -60 <<<"$console"; echo "---- qemu ----"; tail -5 "$W/qemu.log"; } >&2
  exit 1
fi
