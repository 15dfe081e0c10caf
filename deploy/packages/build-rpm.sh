#!/usr/bin/env bash
# build-rpm.sh: kdump-netdump-sender and kdump-netdump-receiver RPMs for RHEL,
# Fedora and SUSE from this tree's build, with rpmbuild and
# deploy/packages/rpm/kdump-netdump.spec (Debian's `rpm` package has rpmbuild).
# The sender uses the squashfs layout: RHEL's capture kernel runs from the
# dracut initrd, where the compressed image saves ~60 MiB of reservation.
#   usage: deploy/packages/build-rpm.sh [OUTDIR]     (default dist/packages)
#   PKG_VERSION (default package.json's), PKG_RELEASE (default 1)
# Prints the paths of the two packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$root/dist/packages}" && cd "${1:-$root/dist/packages}" && pwd)
. "$here/lib.sh"
command -v rpmbuild >/dev/null || die "needs rpmbuild (Debian: apt-get install rpm)"
[ -f "$root/dist/receiver/cli.js" ] || die "no dist/receiver/cli.js: run npm run build first"
version=${PKG_VERSION:-$(node -p "require('$root/package.json').version")}
release=${PKG_RELEASE:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/kdump-netdump-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage_sender "$work/stage/sender" squashfs
stage_receiver "$work/stage/receiver"
receiver_unit "$work/stage/receiver/usr/lib/systemd/system/kdump-receiver.service"
rpmbuild -bb --quiet \
  --define "_topdir $work/rpmbuild" --define "_rpmdir $out" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "stagedir $work/stage" --define "pkg_version $version" --define "pkg_release $release" \
  --define "_binary_payload w6.xzdio" \
  "$here/rpm/kdump-netdump.spec" >&2
ls "$out"/kdump-netdump-{sender,receiver}-"$version-$release".*.rpm
