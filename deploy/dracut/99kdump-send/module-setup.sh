#!/bin/bash
# dracut module: puts kdump-send into kdump initrds (RHEL, Fedora and SUSE
# build theirs with dracut). Install: copy this folder to
# /usr/lib/dracut/modules.d/99kdump-send/ on the crashing host, after
# deploy/capture/install-sender.sh / has laid out /usr/lib/kdump-send.
# It is added only when asked for (RHEL: dracut_args --add kdump-send in
# /etc/kdump.conf; SUSE: add_dracutmodules+=" kdump-send " in
# /etc/dracut.conf.d/90-kdump-send.conf).
# KDUMP_SEND_ROOT: where install-sender.sh laid the sender out (default /); a
# staging tree for packaging and tests. Its files land at their usual paths.
# Memory: the sender adds ~30 MiB to the initrd (squashfs layout, xz) and needs
# ~60 MiB while it runs. Measured (bench/crashkernel-min.mjs, Debian 6.1): a minimal
# initramfs with it completes at crashkernel=160M, Debian's initramfs-tools one at 192M,
# a host-only systemd dracut initrd with the squash module at 192M (208M with
# LAYOUT=plain: squash compresses node anyway). RHEL's kdumpbase adds its own: run
# `kdump-send --check` after `kdumpctl rebuild` to see what this host's initrd needs.

check() {
    # Never by default: only kdump initrds that ask for it.
    return 255
}

depends() {
    # dracut's network module brings the interfaces up from ip= / kdump's own
    # network setup, the same way kdump's ssh and NFS targets get theirs.
    echo network
    return 0
}

installkernel() {
    # The squashfs layout mounts its runtime image through a loop device.
    [ -f "${KDUMP_SEND_ROOT:-}/usr/lib/kdump-send/runtime.squashfs" ] && instmods squashfs loop
    return 0
}

install() {
    local R=${KDUMP_SEND_ROOT:-} conf=/etc/kdump-send.conf f
    if [ -f "$R/usr/lib/kdump-send/runtime.squashfs" ]; then
        # Squashfs layout (install-sender.sh's default): the image stays compressed in the
        # initrd; node's libraries are outside it, listed in runtime.libs.
        inst_simple "$R/usr/lib/kdump-send/runtime.squashfs" /usr/lib/kdump-send/runtime.squashfs
        while read -r f; do inst_library "$f"; done < "$R/usr/lib/kdump-send/runtime.libs"
        inst_multiple mount modprobe mkdir
    else
        inst_binary "$R/usr/lib/kdump-send/node" /usr/lib/kdump-send/node
        for f in "$R"/usr/lib/kdump-send/kdump-send*.mjs; do
            inst_simple "$f" "${f#"$R"}"
        done
        for f in "$R"/usr/lib/kdump-send/node_modules/*/build/Release/*.node; do
            inst_library "$f" "${f#"$R"}"
        done
    fi
    inst_script "$R/usr/sbin/kdump-send" /usr/sbin/kdump-send
    inst_script "$moddir/kdump-send-and-reboot.sh" /usr/sbin/kdump-send-and-reboot
    # What kdump-send-and-reboot calls (a systemd kdump initrd need not have them).
    inst_multiple sync reboot
    if [ -f "$R$conf" ]; then
        inst_simple "$R$conf" "$conf"
        # The files the config names: token, CA, client certificate.
        for f in $(sed -n -E 's/^(export +)?(TOKEN_FILE|CA_FILE|CLIENT_CERT|CLIENT_KEY)=["'\'']?([^"'\'' ]+).*/\3/p' "$R$conf"); do
            inst_simple "$R$f" "$f"
        done
    fi
    # Refuse a kdump initrd whose capture side cannot fit the crashkernel
    # reservation: kdump-send --check=payload measures the tree being built
    # (its files as unpacked, the image estimated) against
    # /sys/kernel/kexec_crash_size and says what crashkernel= to set.
    # CHECK_AT_BUILD=warn (or off) in the config, or KDUMP_SEND_CHECK_AT_BUILD,
    # builds it anyway. After the build, kdump-send --check also measures the
    # finished image and asks the receivers.
    local mode
    mode=${KDUMP_SEND_CHECK_AT_BUILD:-$(sed -n -E 's/^(export +)?CHECK_AT_BUILD=["'\'']?([a-z]+).*/\2/p' "$R$conf" 2>/dev/null)}
    if [ "${mode:-refuse}" != off ] && ! /usr/sbin/kdump-send --check=payload --initrd "$initdir"; then
        if [ "${mode:-refuse}" = warn ]; then
            dwarn "kdump-send: the capture side may not fit the crashkernel reservation (see above)"
        else
            derror "kdump-send: refusing a kdump initrd whose capture side does not fit the crashkernel reservation (see above; CHECK_AT_BUILD=warn in $conf builds it anyway)"
            exit 1
        fi
    fi
}
