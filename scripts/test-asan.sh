#!/usr/bin/env bash
# The suite under Bun against the AddressSanitizer + UBSan build of the dylib and of every shader
# module. ASan's runtime is preloaded into bun (DESIGN.md): fake stacks off (fibers), leaks off (the
# JS runtime itself is not instrumented). Needs clang >= 15 with its ASan runtime (Debian: clang-16
# libclang-rt-16-dev llvm-16).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
clang=${MM_ASAN_CC:-clang-16}
if ! command -v "$clang" >/dev/null; then
  echo "test-asan: $clang not found; install it with: apt-get install -y clang-16 libclang-rt-16-dev llvm-16" >&2
  exit 1
fi
runtime=$("$clang" -print-file-name="libclang_rt.asan-$(uname -m).so")
[ -f "$runtime" ] || { echo "test-asan: ASan runtime $runtime missing (apt-get install -y libclang-rt-16-dev)" >&2; exit 1; }

bun scripts/build.ts --mode asan || exit 1
export MM_BUILD=asan
export ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LD_PRELOAD="$runtime" bun test --timeout 1200000 "$@"
