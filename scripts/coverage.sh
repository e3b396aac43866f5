#!/usr/bin/env bash
# `npm run coverage`: line coverage of the shaders. Builds the coverage library (clang source-based
# coverage on shader translation units: built-in shaders and run-time modules), runs the suite under
# Bun with every object writing build/coverage/profiles/%m-%p.profraw, then scripts/coverage-report.ts
# maps the counts to .metal lines and writes build/coverage/summary.json. Needs clang-16 + llvm-16.
# Extra arguments go to `bun test` (e.g. one test file).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
for t in clang++-16 llvm-profdata-16 llvm-cov-16; do
  command -v "${MM_CXX:-$t}" >/dev/null || command -v "$t" >/dev/null || {
    echo "coverage: $t not found; install it with: apt-get install -y clang-16 llvm-16" >&2; exit 1; }
done

# Fresh profiles and modules: a module cached from an older shader version would add phantom lines.
rm -rf build/coverage/profiles build/coverage/modules build/coverage/summary.json
bun -e 'import { buildLibrary } from "./lib/build/build.ts"; await buildLibrary({ mode: "coverage", log: (l) => console.error(`metal-marlin: ${l}`) });' || exit 1

export MM_BUILD=coverage
export LLVM_PROFILE_FILE="$PWD/build/coverage/profiles/%m-%p.profraw"
status=0
bun test --preload ./scripts/coverage-preload.ts --timeout 1200000 "$@" || status=$?
unset MM_BUILD LLVM_PROFILE_FILE
bun scripts/coverage-report.ts ${MM_COVERAGE_MIN:+--min "$MM_COVERAGE_MIN"} || exit 1
if [ "$status" -ne 0 ]; then echo "coverage: the test suite failed (exit $status); counts above are partial" >&2; fi
exit "$status"
