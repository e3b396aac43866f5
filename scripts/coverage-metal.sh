#!/usr/bin/env bash
# Line coverage of the Metal backend (csrc/metal/*.mm) on metal-sim: builds metal-sim-coverage (counters
# in the .mm files only), runs tests/metal_sim.test.ts and the GEMM tests (not the CPU-only determinism
# file) on it under Bun, and prints
# llvm-cov's per-file line coverage. MM_METAL_COVERAGE_MIN=90 fails below that total percentage.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
out=build/metal-sim-coverage
rm -rf "$out/profiles" "$out/metal-cache"
bun scripts/build.ts --mode metal-sim-coverage --quiet || exit 1
MM_METAL_CACHE_DIR="$out/metal-cache" MM_COVERAGE_BUILD=metal-sim-coverage MM_COVERAGE_MODULES=0 MM_BUILD=coverage \
  MM_TEST_BACKEND=metal-sim MM_REQUIRE_METAL_SIM=1 LLVM_PROFILE_FILE="$PWD/$out/profiles/%p.profraw" \
  bun test --preload ./scripts/coverage-preload.ts --timeout 1200000 tests/metal_sim.test.ts tests/metal_cache.test.ts $(ls tests/gemm_*.test.ts | grep -v determinism) \
  >"$out/test.log" 2>&1 || { tail -30 "$out/test.log"; echo "coverage-metal: tests failed"; exit 1; }
llvm-profdata-16 merge -o "$out/metal.profdata" "$out"/profiles/*.profraw || exit 1
report=$(llvm-cov-16 report "$out/libmetal_marlin.so" -instr-profile="$out/metal.profdata" csrc/metal/*.mm)
echo "$report"
total=$(echo "$report" | awk '/^TOTAL/ { print $(NF-3) }' | tr -d '%')
echo "coverage-metal: csrc/metal line coverage ${total}%"
if [ -n "${MM_METAL_COVERAGE_MIN:-}" ] && awk -v t="$total" -v m="$MM_METAL_COVERAGE_MIN" 'BEGIN { exit !(t < m) }'; then
  echo "coverage-metal: below ${MM_METAL_COVERAGE_MIN}%"; exit 1
fi
