#!/usr/bin/env bash
# Lays out everything the capture kernel's initramfs needs to run kdump-send
# under DESTDIR (an initramfs staging tree, or / on a test box):
#   DESTDIR/usr/lib/kdump-send/node                the node binary
#   DESTDIR/usr/lib/kdump-send/kdump-send.mjs      the single-file sender
#   DESTDIR/usr/lib/kdump-send/node_modules/{lz4,lzo}/build/Release/*.node   native addons
#   DESTDIR/usr/sbin/kdump-send                    wrapper: exec node kdump-send.mjs "$@"
#   DESTDIR/etc/kdump-send.conf                    from CONFIG, if given
#   DESTDIR/<lib dirs>/...                         node's shared libraries (as ldd lists them)
# and prints the total size. Run `npm run build:capture` first (or it runs it).
#   usage: deploy/capture/install-sender.sh DESTDIR [CONFIG]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${1:?usage: install-sender.sh DESTDIR [CONFIG]}
config=${2:-}
node_bin=${NODE_BIN:-$(command -v node)}

[ -f "$root/dist/capture/kdump-send.mjs" ] || node "$root/deploy/capture/bundle-sender.mjs"

lib=$dest/usr/lib/kdump-send
mkdir -p "$lib" "$dest/usr/sbin" "$dest/etc"
cp -L "$node_bin" "$lib/node"
cp "$root/dist/capture/kdump-send.mjs" "$lib/"
cp -r "$root/dist/capture/node_modules" "$lib/"
shared_libs() { ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u; }
for so in $(shared_libs "$node_bin" "$lib"/node_modules/*/build/Release/*.node); do
  mkdir -p "$dest$(dirname "$so")"
  cp -L "$so" "$dest$so"
done
cat > "$dest/usr/sbin/kdump-send" <<'WRAP'
#!/bin/sh
# A capture kernel has little RAM: keep V8's heap small (the sender needs ~20 MB of it).
exec /usr/lib/kdump-send/node --max-old-space-size=48 /usr/lib/kdump-send/kdump-send.mjs "$@"
WRAP
chmod +x "$dest/usr/sbin/kdump-send"
[ -z "$config" ] || cp "$config" "$dest/etc/kdump-send.conf"
total=$(du -sb "$lib" | cut -f1)
libs=$(shared_libs "$node_bin" | xargs -r du -bcL | tail -1 | cut -f1)
echo "install-sender: $dest: sender $((total / 1024 / 1024)) MiB (node $(( $(stat -c %s "$lib/node") / 1024 / 1024 )) MiB) + shared libraries $((libs / 1024 / 1024)) MiB"
