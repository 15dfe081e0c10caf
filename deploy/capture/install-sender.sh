#!/usr/bin/env bash
# Lays out everything the capture kernel's initramfs needs to run kdump-send
# under DESTDIR (an initramfs staging tree, or / on a test box), in one of two
# layouts (LAYOUT=squashfs, the default, or LAYOUT=plain):
#
# squashfs: the runtime stays compressed in the initramfs and its pages are
#   read on demand, so the capture kernel holds ~25 MiB for it (xz) instead of
#   ~85 MiB unpacked (bench/crashkernel-min.mjs measures what that buys):
#     DESTDIR/usr/lib/kdump-send/runtime.squashfs   node (stripped), kdump-send*.mjs, native addons
#     DESTDIR/usr/sbin/kdump-send                   wrapper: loads squashfs and loop, mounts the
#                                                   image read-only on /run/kdump-send, runs node
#   The initramfs must also hold the squashfs and loop modules (when they are
#   not built in) and mount(8) with loop support (busybox has it).
# plain: node and the bundle unpacked in DESTDIR/usr/lib/kdump-send/.
#
# Both: DESTDIR/usr/share/kdump-send/initramfs-boot-script  initramfs-tools' boot=kdump-send
#       DESTDIR/<lib dirs>/... node's shared libraries (as ldd lists them; their
#       paths in DESTDIR/usr/lib/kdump-send/runtime.libs for the initramfs hooks),
#       DESTDIR/etc/kdump-send.conf from CONFIG, if given.
# SHARED_LIBS=list leaves the libraries out of DESTDIR and only names them in
# runtime.libs: for a package, whose dependencies bring them (deploy/packages/).
# Prints the sizes. Runs deploy/capture/bundle-sender.mjs first if needed.
#   usage: [LAYOUT=squashfs|plain] [SQUASHFS_COMP=xz|zstd|gzip] [SHARED_LIBS=copy|list] deploy/capture/install-sender.sh DESTDIR [CONFIG]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${1:?usage: install-sender.sh DESTDIR [CONFIG]}
config=${2:-}
node_bin=${NODE_BIN:-$(command -v node)}
layout=${LAYOUT:-squashfs}
comp=${SQUASHFS_COMP:-xz}
shared=${SHARED_LIBS:-copy}
case $layout in squashfs|plain) ;; *) echo "install-sender: LAYOUT must be squashfs or plain, not '$layout'" >&2; exit 2;; esac
case $shared in copy|list) ;; *) echo "install-sender: SHARED_LIBS must be copy or list, not '$shared'" >&2; exit 2;; esac

[ -f "$root/dist/capture/kdump-send.mjs" ] || node "$root/deploy/capture/bundle-sender.mjs"

# V8 sized for a capture kernel: the sender needs ~20 MB of heap; small young
# generation, no background compiler threads.
node_flags="--max-old-space-size=48 --max-semi-space-size=2 --v8-pool-size=0"
lib=$dest/usr/lib/kdump-send
mkdir -p "$lib" "$dest/usr/sbin" "$dest/etc"
shared_libs() { ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u; }
# The initramfs builders (dracut, initramfs-tools) cannot see into the squashfs: runtime.libs names what node loads.
shared_libs "$node_bin" "$root"/dist/capture/node_modules/*/build/Release/*.node > "$lib/runtime.libs"
[ "$shared" = list ] || while read -r so; do
  mkdir -p "$dest$(dirname "$so")"
  [ "$so" -ef "$dest$so" ] || cp -L "$so" "$dest$so"   # DESTDIR=/: already there
done < "$lib/runtime.libs"

# The runtime tree: node without its symbols (the capture kernel never debugs it), the bundle, the addons.
stage=$lib
if [ "$layout" = squashfs ]; then stage=$(mktemp -d "${TMPDIR:-/tmp}/kdump-send-runtime.XXXXXX"); trap 'rm -rf "$stage"' EXIT; fi
strip --strip-all -o "$stage/node" "$node_bin" 2>/dev/null || cp -L "$node_bin" "$stage/node"
# The bundle and the chunks it imports on demand (--check, ws://, the local fallback).
cp "$root"/dist/capture/kdump-send*.mjs "$stage/"
cp -r "$root/dist/capture/node_modules" "$stage/"

if [ "$layout" = squashfs ]; then
  command -v mksquashfs >/dev/null || { echo "install-sender: LAYOUT=squashfs needs mksquashfs (Debian package squashfs-tools)" >&2; exit 1; }
  rm -f "$lib/runtime.squashfs"
  # 128 KiB blocks: a page fault reads and unpacks one block.
  mksquashfs "$stage" "$lib/runtime.squashfs" -comp "$comp" -b 131072 -all-root -noappend -no-progress -quiet >/dev/null
  cat > "$dest/usr/sbin/kdump-send" <<WRAP
#!/bin/sh
# kdump-send's runtime is a squashfs image: mounted read-only, its pages are
# read (and unpacked) only when node touches them, and dropped again under
# memory pressure, which an unpacked initramfs copy could never be.
image=/usr/lib/kdump-send/runtime.squashfs
run=/run/kdump-send
if [ ! -x "\$run/node" ]; then
  for m in loop squashfs; do modprobe -q "\$m" 2>/dev/null || true; done
  mkdir -p "\$run"
  if ! mount -t squashfs -o loop,ro "\$image" "\$run"; then
    echo "kdump-send: cannot mount \$image on \$run (are the squashfs and loop modules in this initramfs?)" >&2
    exit 1
  fi
fi
exec "\$run/node" $node_flags "\$run/kdump-send.mjs" "\$@"
WRAP
  echo "install-sender: $dest: runtime.squashfs ($comp) $(( $(stat -c %s "$lib/runtime.squashfs") / 1024 / 1024 )) MiB, unpacked $(( $(du -sb "$stage" | cut -f1) / 1024 / 1024 )) MiB"
else
  cat > "$dest/usr/sbin/kdump-send" <<WRAP
#!/bin/sh
exec /usr/lib/kdump-send/node $node_flags /usr/lib/kdump-send/kdump-send.mjs "\$@"
WRAP
  echo "install-sender: $dest: sender unpacked $(( $(du -sb "$lib" | cut -f1) / 1024 / 1024 )) MiB (node $(( $(stat -c %s "$lib/node") / 1024 / 1024 )) MiB)"
fi
chmod +x "$dest/usr/sbin/kdump-send"
# initramfs-tools' boot=kdump-send script (deploy/debian/initramfs-hook installs it as /scripts/kdump-send).
mkdir -p "$dest/usr/share/kdump-send"
cp "$root/deploy/debian/initramfs-boot-script" "$dest/usr/share/kdump-send/initramfs-boot-script"
[ -z "$config" ] || cp "$config" "$dest/etc/kdump-send.conf"
libs=$(shared_libs "$node_bin" | xargs -r du -bcL | tail -1 | cut -f1)
echo "install-sender: shared libraries $((libs / 1024 / 1024)) MiB ($([ "$shared" = copy ] && echo copied || echo listed in runtime.libs only))"
