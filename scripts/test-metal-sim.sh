#!/usr/bin/env bash
# The suite on backend "metal-sim" (the Metal backend csrc/metal/*.mm driving the simulated Metal driver
# csrc/metal/sim): tests/metal_sim.test.ts, tests/metal_cache.test.ts and every test file whose device follows MM_TEST_BACKEND
# (openTestDevice, tests/util/backend.ts; io_assert opens it too), under Bun and Deno on the metal-sim
# build, then under Bun on the metal-sim-asan build (ASan + UBSan; MM_METAL_SIM_ASAN=0 skips it). The
# other files run the same way whatever the backend (CPU-runtime features open "cpu" by name; the rest
# open no device), so `npm test` already covers them. MM_METAL_SIM_ALL=1 runs every file instead.
# Last, under Bun and Deno on the metal-sim-tsan build (ThreadSanitizer; MM_METAL_SIM_TSAN=0 skips it):
# the same files, after a canary (tests/native/tsan_canary) proves TSan reports a planted race from inside
# each JS runtime.
# Needs clang-16, libclang-rt-16-dev and libblocksruntime-dev. Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# The Metal pipeline cache goes to a scratch directory, not the user's ~/.cache.
export MM_METAL_CACHE_DIR="$logs/metal-cache"
if [ "${MM_METAL_SIM_ALL:-0}" = 1 ]; then
  files=(tests/)
else
  mapfile -t files < <(echo tests/metal_sim.test.ts; echo tests/metal_cache.test.ts; grep -lE 'openTestDevice|io_assert' tests/*.test.ts)
fi
export MM_TEST_BACKEND=metal-sim MM_REQUIRE_METAL_SIM=1

bun scripts/build.ts --mode metal-sim || exit 1
status=0
bun test --timeout 600000 "${files[@]}" 2>&1 | tee "$logs/bun.log" || status=1
deno test -A "${files[@]}" 2>&1 | tee "$logs/deno.log" || status=1
if [ "${MM_METAL_SIM_ASAN:-1}" = 1 ]; then
  runtime=$(clang-16 -print-file-name="libclang_rt.asan-$(uname -m).so")
  bun scripts/build.ts --mode metal-sim-asan || exit 1
  MM_BUILD=asan MM_SIM_ZOMBIES=0 ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LD_PRELOAD="$runtime" \
    bun test --timeout 1200000 "${files[@]}" 2>&1 | tee "$logs/asan.log" || status=1
fi
if [ "${MM_METAL_SIM_TSAN:-1}" = 1 ]; then
  # The TSan runtime must be in the process before any thread starts: LD_PRELOAD it into the runtime.
  # ignore_noninstrumented_modules: Bun's and Deno's own (uninstrumented) threads are not reported.
  tsan_rt=$(clang-16 -print-file-name="libclang_rt.tsan-$(uname -m).so")
  tsan_env=(TSAN_OPTIONS=ignore_noninstrumented_modules=1:halt_on_error=1 LD_PRELOAD="$tsan_rt")
  mkdir -p build/tsan-canary
  clang++-16 -std=c++17 -O1 -g -fPIC -shared -fsanitize=thread tests/native/tsan_canary/canary.cpp \
    -o build/tsan-canary/libcanary.so || exit 1
  for js in Bun Deno; do
    run=(bun); [ "$js" = Deno ] && run=(deno run -A)
    canary=$(env "${tsan_env[@]}" "${run[@]}" tests/native/tsan_canary/canary.ts "$PWD/build/tsan-canary/libcanary.so" 2>&1)
    if grep -q "WARNING: ThreadSanitizer: data race" <<<"$canary"; then
      echo "tsan canary: the planted race was reported from inside $js"
    else
      echo "tsan canary: TSan did not report the planted race inside $js; the TSan run would prove nothing"
      status=1
    fi
  done
  bun scripts/build.ts --mode metal-sim-tsan || exit 1
  MM_BUILD=tsan MM_SIM_THREADS=2 env "${tsan_env[@]}" \
    bun test --timeout 1200000 "${files[@]}" 2>&1 | tee "$logs/tsan.log" || status=1
  MM_BUILD=tsan MM_SIM_THREADS=2 env "${tsan_env[@]}" \
    deno test -A "${files[@]}" 2>&1 | tee "$logs/tsan-deno.log" || status=1
fi

strip() { sed -e 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null; }
count() { local v; v=$(strip "$1" | grep -Eo "$2" | grep -Eo '[0-9]+' | tail -1); echo "${v:-0}"; }
passed=$(( $(count "$logs/bun.log" '^ *[0-9]+ pass') + $(count "$logs/deno.log" '[0-9]+ passed') + $(count "$logs/asan.log" '^ *[0-9]+ pass') + $(count "$logs/tsan.log" '^ *[0-9]+ pass') + $(count "$logs/tsan-deno.log" '[0-9]+ passed') ))
failed=$(( $(count "$logs/bun.log" '^ *[0-9]+ fail') + $(count "$logs/deno.log" '[0-9]+ failed') + $(count "$logs/asan.log" '^ *[0-9]+ fail') + $(count "$logs/tsan.log" '^ *[0-9]+ fail') + $(count "$logs/tsan-deno.log" '[0-9]+ failed') ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "metal-sim: ${passed} passed, ${failed} failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
