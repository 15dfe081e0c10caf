#!/usr/bin/env bash
# A longer fuzz run than the tests' (test/fuzz/fuzz.test.ts): the frame and
# message decoders, the ELF/VMCOREINFO parsers and HELLO validation, and lz4
# payloads through a live loopback receiver. Bounded by its iteration count.
#   usage: scripts/fuzz.sh [ITERATIONS_PER_TARGET] [SEED]     (default 100000, random seed)
# A failure prints the seed and the input; add the input to test/fuzz/corpus/
# (prefix frame- or elf-) so every later test run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_ITERATIONS=${1:-100000}
export FUZZ_SEED=${2:-$RANDOM$RANDOM}
echo "fuzz: $FUZZ_ITERATIONS iterations per target, seed $FUZZ_SEED"
exec npx vitest run test/fuzz --testTimeout "$(( FUZZ_ITERATIONS / 10 + 60000 ))"
