#!/usr/bin/env bash
# The one test command (README, .ci/run): on a bare Debian 12 machine with
# Node 20 it installs everything the tests need, makes the real-vmcore
# fixtures (cached outside the clone, in ${KDUMP_NETDUMP_CACHE:-~/.cache/kdump-netdump}),
# builds, and runs every test.
#   SKIP_REAL=1   unit and integration tests only (no apt, no QEMU fixtures)
#   SERIAL_TESTS=1  one vitest run for every file (the QEMU guests of test/vm
#                 otherwise run beside the rest)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

step() { printf '\n== %s\n' "$*"; }

if [ "${SKIP_REAL:-0}" != 1 ]; then
  step "Debian packages (QEMU, kernel, crash, makedumpfile, kexec-tools)"
  bash scripts/install-test-deps.sh
fi

step "npm packages (native addons lz4, lzo, better-sqlite3 are built here)"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

step "build and type-check (sources and tests)"
npm run build
npm run typecheck

if [ "${SKIP_REAL:-0}" != 1 ]; then
  step "the project's packages: .deb (dpkg-deb) and .rpm (rpmbuild), into dist/packages"
  bash deploy/packages/build-debs.sh
  bash deploy/packages/build-rpm.sh
fi

if [ "${SKIP_REAL:-0}" != 1 ]; then
  step "real-vmcore fixtures: kernels 5.10, 6.1, 6.12, sid crashed in QEMU, judge chroots, a Debian 12 kdump-tools host (cached; ~4 min the first time)"
  bash test/fixtures/ensure-fixtures.sh
  step "arm64 fixtures: Debian 12's arm64 kernel crashed in qemu-system-aarch64, Debian's arm64 makedumpfile for qemu-user (cached)"
  bash test/fixtures/ensure-arm64.sh
fi

step "tests"
# Where the engines were installed above, a PostgreSQL or object store that will not start is a failure, not a skip.
if [ "${SKIP_REAL:-0}" != 1 ]; then export KDUMP_TEST_REQUIRE_POSTGRES=1 KDUMP_TEST_REQUIRE_OBJECT_STORE=1; fi
if [ "${SKIP_REAL:-0}" != 1 ] && [ "${SERIAL_TESTS:-0}" != 1 ]; then
  # The QEMU guests of test/vm (about 28 minutes, mostly one TCG thread) run
  # beside everything else: two streams, each one file at a time, on two cores.
  # Their output is printed when both are done; SERIAL_TESTS=1 runs one stream.
  vm_log=$(mktemp)
  npx vitest run test/vm > "$vm_log" 2>&1 & vm_pid=$!
  rest_rc=0; npx vitest run --exclude 'test/vm/**' || rest_rc=$?
  vm_rc=0; wait "$vm_pid" || vm_rc=$?
  step "tests in QEMU guests (test/vm), run beside the others"
  cat "$vm_log"; rm -f "$vm_log"
  echo "test/vm: exit $vm_rc; the others: exit $rest_rc"
  [ "$rest_rc" = 0 ] && [ "$vm_rc" = 0 ]
else
  npx vitest run
fi
