#!/bin/sh
# Builds tests/native/scheduler_test.cpp with the runtime twice — g++ -O2 (the release flags) and
# clang++-16 with ASan+UBSan — and runs both. Exit status non-zero if either build or run fails.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/mm-scheduler-test
mkdir -p "$out"
srcs="$root/tests/native/scheduler_test.cpp $root/csrc/cpu/scheduler.cpp $root/csrc/cpu/threadgroup.cpp $root/csrc/cpu/threadgroup_memory.cpp"
srcs="$srcs $root/csrc/cpu/matrix_memo.cpp $root/csrc/cpu/fiber.cpp $root/csrc/cpu/progress.cpp"
# The scheduler calls the trace / race-mode hooks of instrument*.cpp when those files are in the tree.
[ -f "$root/csrc/cpu/instrument.cpp" ] && srcs="$srcs $root/csrc/cpu/instrument.cpp $root/csrc/cpu/instrument_trace.cpp $root/csrc/cpu/instrument_race.cpp"
[ -f "$root/csrc/cpu/guarded.cpp" ] && srcs="$srcs $root/csrc/cpu/instrument_bounds.cpp $root/csrc/cpu/guarded.cpp"
warn="-Wall -Wextra -Werror"

echo "== g++ -O2"
g++ -std=c++20 -O2 -march=native -fPIC -fvisibility=hidden $warn -pthread -o "$out/sched_gcc" $srcs -ldl
"$out/sched_gcc"

echo "== clang++-16 -fsanitize=address,undefined"
clang++-16 -std=c++20 -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
  $warn -pthread -o "$out/sched_asan" $srcs -ldl
ASAN_OPTIONS=detect_stack_use_after_return=0:${ASAN_OPTIONS:-} "$out/sched_asan"

echo "== g++ -O2 -DMM_FIBER_UCONTEXT (portable fallback)"
g++ -std=c++20 -O2 -fPIC -DMM_FIBER_UCONTEXT $warn -pthread -o "$out/sched_ucontext" $srcs -ldl
"$out/sched_ucontext"
