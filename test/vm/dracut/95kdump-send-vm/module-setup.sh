#!/bin/bash
# Test-only dracut module (test/vm/crash-and-send.sh BUILDER=dracut): stands in
# for RHEL's kdumpbase, which calls kdump_pre (kdump-send-and-reboot) once the
# network is up. Here that is dracut's initqueue/online hook.
check() { return 255; }
depends() { echo kdump-send; return 0; }
install() {
    inst_hook initqueue/online 99 "$moddir/send-when-online.sh"
}
