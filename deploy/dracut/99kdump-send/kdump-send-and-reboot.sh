#!/bin/sh
# Run from the kdump initrd (RHEL/Fedora kdump_pre). Streams /proc/vmcore to
# the receivers in /etc/kdump-send.conf. When the dump is stored (exit 0) or
# saved to FALLBACK_DIR (exit 6) the machine reboots here ("dump and dash"),
# skipping kdump's own save; on any other outcome it returns, and kdump goes
# on with its configured target and failure_action as the last resort.
/usr/sbin/kdump-send --config /etc/kdump-send.conf /proc/vmcore
status=$?
# stderr: the console, where kdump-send's own lines go (stdout may be only the journal).
echo "kdump-send: exit $status" >&2
case $status in
  0|6) sync; reboot -f ;;
esac
exit 0
