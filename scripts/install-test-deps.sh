#!/usr/bin/env bash
# install-test-deps.sh: install the Debian 12 packages the real-dump tests and
# the fixture scripts need. Idempotent: packages already installed are skipped,
# and `apt-get update` runs only when something has to be installed.
#
#   qemu-system-x86    boots the guest kernel under TCG (test/fixtures/make-vmcore.sh)
#   qemu-system-arm    qemu-system-aarch64: crashes Debian's arm64 kernel under TCG
#                      (test/fixtures/make-vmcore-arm64.sh, ensure-arm64.sh)
#   qemu-user-static   qemu-aarch64-static: runs Debian's arm64 makedumpfile on the
#                      arm64 vmcores (the arm64 judge of test/fixtures/ensure-arm64.sh)
#   linux-image-amd64  the guest kernel (/boot/vmlinuz-*, /lib/modules/*)
#   busybox-static     the guest's userland (must be static: copied as is)
#   kexec-tools        kexec -p in the guest; also ships /usr/sbin/vmcore-dmesg
#   kmod               modprobe --show-depends resolves the virtio modules; depmod -b
#                      indexes the modules of the kernels unpacked from .debs
#   dracut-core dracut-network dracut-squash  dracut (beside initramfs-tools, which stays) for test/vm/crash-and-send.sh BUILDER=dracut
#   lintian rpm        judge the project's .debs (deploy/packages/build-debs.sh) and build its
#                      RPMs (rpmbuild, rpm2cpio: deploy/packages/build-rpm.sh)
#   e2fsprogs          mke2fs -d and debugfs: the Debian host image of test/vm/debian-host
#   time               GNU time: CPU-seconds of each side in bench/stream-vs-makedumpfile.mjs
#   squashfs-tools     mksquashfs: the sender's runtime image (deploy/capture/install-sender.sh LAYOUT=squashfs)
#   debootstrap        makes the judge chroots (trixie, sid: newer crash, makedumpfile,
#                      drgn, vmcore-dmesg) of scripts/judge-chroots.sh
#   cpio gzip          build the guest initramfs images
#   crash              reads vmcores / kdump files (reference checks)
#   makedumpfile       reference kdump-compressed writer and --dump-dmesg
#   netcat-openbsd     plain TCP plumbing in tests
#   lz4                inspect lz4 pages
#   binutils           readelf / strings for inspecting ELF vmcores (crash needs it too)
#   xz-utils zstd      uncompress .ko.xz / .ko.zst modules of newer kernels
#   chromium           headless browser for the web UI tests (test/browser)
#   gdb                reads the ELF export of stored dumps (test/real)
#   postgresql         PostgreSQL 15 for the catalog tests (scripts/postgres.sh runs throwaway clusters)
#   haproxy            the load balancer in front of two receivers (test/engines/multi-receiver.test.ts)
#   python3-yaml       parses the deployment files in test/integration/deploy-fleet.test.ts
#   swift-proxy swift-account swift-container swift-object memcached  OpenStack Swift with its S3 API for the object-storage tests (scripts/object-store.sh runs throwaway stores)
#
# The debug vmlinux (linux-image-KVER-dbg, ~860 MB .deb) is NOT installed here,
# nor are the other generations' kernels (5.10, 6.12, sid):
# test/fixtures/ensure-fixtures.sh downloads them with apt-get download through
# a private apt configuration and unpacks them into its cache (outside the
# clone). drgn is not installed on the host either: bookworm's python3-drgn is
# 0.0.22; the judge chroots carry trixie's 0.0.31 and sid's 0.3.x.
#
# Environment: EXTRA_PACKAGES="pkg ..." to add more.
set -euo pipefail

PACKAGES=(
  qemu-system-x86 linux-image-amd64 busybox-static kexec-tools kmod cpio gzip
  crash makedumpfile netcat-openbsd lz4 binutils xz-utils zstd chromium gdb
  debootstrap squashfs-tools dracut-core dracut-network dracut-squash
  lintian rpm e2fsprogs time
  postgresql
  swift-proxy swift-account swift-container swift-object memcached
  haproxy python3-yaml
  qemu-system-arm qemu-user-static
)
# shellcheck disable=SC2206
PACKAGES+=(${EXTRA_PACKAGES:-})

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-test-deps: must run as root (or have sudo)" >&2; exit 1; fi
fi

installed() {
  dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

missing=()
for p in "${PACKAGES[@]}"; do
  if installed "$p"; then echo "install-test-deps: $p: already installed"
  else missing+=("$p"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: nothing to install"
else
  export DEBIAN_FRONTEND=noninteractive
  echo "install-test-deps: apt-get update"
  $SUDO apt-get update -q
  echo "install-test-deps: apt-get install ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Sanity check of the tools the fixtures and tests call.
fail=0
for t in qemu-system-x86_64 qemu-system-aarch64 qemu-aarch64-static busybox kexec vmcore-dmesg crash makedumpfile nc cpio lz4 readelf modprobe depmod debootstrap unshare mksquashfs; do
  if p=$(PATH="$PATH:/usr/sbin:/sbin" command -v "$t"); then echo "install-test-deps: $t -> $p"
  else echo "install-test-deps: MISSING $t" >&2; fail=1; fi
done
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
  echo "install-test-deps: MISSING /boot/vmlinuz-* (linux-image-amd64)" >&2; fail=1
fi
exit $fail
