# Sourced by build-debs.sh and build-rpm.sh: the trees both package formats
# ship, laid out under a staging root. Needs root= (the source tree) and here=
# (this folder) from the caller.
# shellcheck shell=bash
die() { echo "${0##*/}: $*" >&2; exit 1; }
# addons DIR: native addons stripped and not executable (dlopen needs neither).
addons() {
  find "$1" -name '*.node' -type f -print0 | while IFS= read -r -d '' f; do
    strip --strip-unneeded "$f" || die "strip $f failed"; chmod 0644 "$f"
  done
}
# glibc_min FILE...: the newest GLIBC_x.y symbol version the binaries need.
glibc_min() { objdump -T "$@" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1; }

# stage_sender DEST LAYOUT: kdump-send (install-sender.sh's LAYOUT, its own node,
# the libraries left to the package's dependencies), the dracut module, the man page.
stage_sender() {
  local s=$1
  LAYOUT=$2 SHARED_LIBS=list bash "$root/deploy/capture/install-sender.sh" "$s" >&2
  install -D -m 0644 "$here/kdump-send.conf" "$s/etc/kdump-send.conf"
  install -d "$s/usr/lib/dracut/modules.d"
  cp -r "$root/deploy/dracut/99kdump-send" "$s/usr/lib/dracut/modules.d/"
  install -d "$s/usr/share/man/man8"; gzip -9n < "$here/man/kdump-send.8" > "$s/usr/share/man/man8/kdump-send.8.gz"
  chmod -R u=rwX,go=rX "$s/usr"
  if [ "$2" = plain ]; then
    addons "$s/usr/lib/kdump-send"
    # The bundle is run by the wrapper with node's flags, never as a script of its own.
    sed -i '1{/^#!/d}' "$s/usr/lib/kdump-send/kdump-send.mjs"
    chmod 0644 "$s/usr/lib/kdump-send/kdump-send.mjs"
  fi
}

# stage_receiver DEST: the receiver (dist, web UI, production node_modules with
# the addons built here) in DEST/usr/lib/kdump-receiver, run by the system's
# node through DEST/usr/bin/kdump-receiver; its man page.
stage_receiver() {
  local r=$1 lib nm m p
  lib=$r/usr/lib/kdump-receiver
  install -d "$lib/receiver"
  cp "$root/package.json" "$root/package-lock.json" "$lib/"
  cp -r "$root/dist" "$lib/dist"
  rm -rf "$lib/dist/capture" "$lib/dist/packages"
  find "$lib/dist" -name '*.map' -delete
  cp -r "$root/receiver/web" "$lib/receiver/web"
  cp -r "$root/node_modules" "$lib/node_modules"
  (cd "$lib" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) || die "npm prune --omit=dev failed in $lib"
  rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"
  # The file: dependencies are links into the source tree. The sender's chunk encoder goes (the receiver
  # never loads it); the page run encoder, which the receiver stores pages with, becomes a copy of its addon.
  rm -rf "$lib/node_modules/kdump-chunk-encoder" "$lib/node_modules/kdump-stored-pages"
  install -D -m 0644 "$root/shared/kdump/native/package.json" "$lib/node_modules/kdump-stored-pages/package.json"
  install -D -m 0644 "$root/shared/kdump/native/build/Release/stored_pages.node" "$lib/node_modules/kdump-stored-pages/build/Release/stored_pages.node"
  # What npm keeps that the receiver never loads: the native addons' C sources and
  # build trees, musl builds, docs, tests, editor and VCS files.
  nm=$lib/node_modules
  for m in "$nm"/*/ "$nm"/@*/*/; do
    [ -f "$m/binding.gyp" ] || continue
    rm -rf "$m/deps" "$m/src" "$m/bin" "$m/benchmark" "$m/examples" "$m/doc"
    [ ! -d "$m/build" ] || find "$m/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    [ ! -d "$m/build/Release" ] || find "$m/build/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
  done
  rm -f "$nm/better-sqlite3/build/Release/test_extension.node"
  # Prebuilt addons for other systems (bufferutil ships them): only this one's stay.
  for p in "$nm"/*/prebuilds/*/ "$nm"/@*/*/prebuilds/*/; do
    [ -d "$p" ] && [ "$(basename "$p")" != "linux-$(node -p process.arch)" ] && rm -rf "$p"
  done
  find "$nm" -depth \( -name test -o -name tests -o -name .github \) -type d -exec rm -rf {} +
  find "$nm" \( -name '*.musl.node' -o -name '*.md' -o -name '*.html' -o -name '*.sln' -o -name '.eslintrc*' -o -name '.npmignore' \
    -o -name '.git*' -o -name '.travis.yml' -o -name 'Makefile' -o -name '*.gyp' -o -name '*.cc' -o -name '*.c' -o -name '*.h' \) -type f -delete
  find "$nm" -type f -exec chmod 0644 {} +
  addons "$nm"
  rm -rf "$lib/dist/sender"
  install -d "$r/usr/bin"
  printf '#!/bin/sh\n# kdump-receiver, on the system'"'"'s node (>= 20).\nexec /usr/bin/node /usr/lib/kdump-receiver/dist/receiver/cli.js "$@"\n' > "$r/usr/bin/kdump-receiver"
  chmod 0755 "$r/usr/bin/kdump-receiver"
  install -d "$r/usr/share/man/man8"; gzip -9n < "$here/man/kdump-receiver.8" > "$r/usr/share/man/man8/kdump-receiver.8.gz"
}

# receiver_unit FILE: deploy/kdump-receiver.service for the packaged paths.
receiver_unit() {
  install -d "$(dirname "$1")"
  { echo '# kdump-receiver (package kdump-netdump-receiver). Change flags with `systemctl edit kdump-receiver`.'
    sed -e '1,/^\[Unit\]/{/^\[Unit\]/!d}' \
        -e 's|^Documentation=.*|Documentation=man:kdump-receiver(8)|' \
        -e 's|/usr/bin/node /opt/kdump-netdump/dist/receiver/cli.js|/usr/bin/kdump-receiver|' "$root/deploy/kdump-receiver.service"; } > "$1"
  chmod 0644 "$1"
  grep -q '^ExecStart=/usr/bin/kdump-receiver serve' "$1" || die "deploy/kdump-receiver.service: ExecStart is not the one receiver_unit rewrites"
}
