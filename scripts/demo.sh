#!/usr/bin/env bash
# The main job on embedded defaults, from a fresh clone on Debian 12:
# start kdump-receiver, make a real vmcore (crash Debian's kernel in QEMU)
# or take the one given, stream it with kdump-send, show the catalog entry.
#   usage: scripts/demo.sh [VMCORE]
#   env:   KDUMP_RECEIVER_DATA  data directory (default /var/lib/kdump-receiver)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
VMCORE=${1:-}

if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npm run --silent build

if [ -z "$VMCORE" ]; then
  VMCORE=$(bash test/fixtures/ensure-fixtures.sh --dir 6.1 2>/dev/null || true)/idle.vmcore
  if [ ! -f "$VMCORE" ]; then
    bash scripts/install-test-deps.sh
    FIXTURES=6.1:idle bash test/fixtures/ensure-fixtures.sh
    VMCORE=$(bash test/fixtures/ensure-fixtures.sh --dir 6.1)/idle.vmcore
  fi
fi

host=$(hostname)
echo "== kdump-receiver token add $host (the capture kernel keeps it in its --token-file)"
token_file=$(mktemp)
node dist/receiver/cli.js token add "$host" > "$token_file"

echo "== starting kdump-receiver on its defaults (TCP 127.0.0.1:7341, HTTP/WebSocket 127.0.0.1:7342)"
log=$(mktemp)
node dist/receiver/cli.js serve > "$log" 2>&1 &
receiver=$!
trap 'kill $receiver 2>/dev/null; wait $receiver 2>/dev/null; rm -f "$log" "$token_file"' EXIT
for _ in $(seq 50); do grep -q 'kdump-receiver ready' "$log" && break; sleep 0.1; done
grep -q 'kdump-receiver ready' "$log" || { cat "$log"; echo "demo: receiver did not start" >&2; exit 1; }

echo "== kdump-send $VMCORE"
result=$(node dist/sender/cli.js --server tcp://127.0.0.1:7341 --host-id "$host" --token-file "$token_file" "$VMCORE")
dump_id=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).dumpId)' "$result")

echo "== kdump-receiver list"
node dist/receiver/cli.js list
echo "== kdump-receiver show $dump_id"
node dist/receiver/cli.js show "$dump_id"
