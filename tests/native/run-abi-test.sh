#!/usr/bin/env bash
# run-abi-test.sh — builds csrc/core + the CPU backend + the scheduler with the hand-written test
# module and runs abi_test with g++ -O2 and with clang++-16 ASan/UBSan; also checks that the shared
# library built with the real flags exports only mm_* symbols. Last line: "N passed, M failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TMPDIR:-/tmp}/mm-abi-test
mkdir -p "$out"
here="$root/tests/native"
core=$(ls "$root"/csrc/core/*.cpp)
# The real scheduler when it is in the tree (csrc/cpu/*.cpp like the real build), else the stub.
# MM_ABI_STUB=1 forces the stub.
if [ -f "$root/csrc/cpu/scheduler.cpp" ] && [ "${MM_ABI_STUB:-0}" != 1 ]; then
  cpu=$(ls "$root"/csrc/cpu/*.cpp "$root"/csrc/cpu/*.S 2>/dev/null)
  echo "scheduler: csrc/cpu/scheduler.cpp"
else
  cpu="$root/csrc/cpu/backend_cpu.cpp $here/stub_scheduler.cpp"
  echo "scheduler: tests/native/stub_scheduler.cpp (stub)"
fi
tests="$here/abi_test.cpp $here/abi_test_dispatch.cpp $here/test_module.cpp"
warn="-Wall -Wextra -Werror -Wno-unknown-attributes"
total_pass=0
total_fail=0

run() {  # run <label> <binary> ; adds its "N passed, M failed" to the totals
  local log="$out/$1.log"
  MM_TEST_DIR="$out" ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:${ASAN_OPTIONS:-} \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$2" >"$log" 2>&1
  local rc=$?
  cat "$log"
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  p=$(echo "${line:-0 passed, 0 failed}" | awk '{print $1}')
  f=$(echo "${line:-0 passed, 0 failed}" | awk '{print $3}')
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; echo "$1: exit code $rc"; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

check() {  # check <label> <command...> ; one pass or fail for a build step
  if "${@:2}" >"$out/$1.log" 2>&1; then total_pass=$((total_pass + 1)); else
    cat "$out/$1.log"; echo "FAIL $1"; total_fail=$((total_fail + 1)); return 1; fi
}

modules() {  # modules <cxx> <flags...> : the .so files mm_library_load is tested with
  "$1" "${@:2}" -shared -fPIC -DMM_TEST_MODULE_SO -o "$out/test_module.so" "$here/test_module.cpp" &&
  "$1" "${@:2}" -shared -fPIC -DMM_TEST_MODULE_SO -DMM_TEST_BAD_VERSION -o "$out/bad_version.so" "$here/test_module.cpp" &&
  "$1" "${@:2}" -shared -fPIC -o "$out/no_symbol.so" "$here/test_module.cpp"
}

echo "== g++ -O2"
if check gcc-modules modules g++ -std=c++20 -O2 $warn &&
   check gcc-build g++ -std=c++20 -O2 -march=native -fPIC -fvisibility=hidden $warn -pthread \
     -o "$out/abi_gcc" $core $cpu $tests -ldl; then
  run gcc "$out/abi_gcc"
fi

echo "== clang++-16 -fsanitize=address,undefined"
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if check asan-modules modules clang++-16 -std=c++20 -O1 -g $warn &&
   check asan-build clang++-16 -std=c++20 -O1 -g $san -march=native -fPIC -fvisibility=hidden $warn -pthread \
     -o "$out/abi_asan" $core $cpu $tests -ldl; then
  run asan "$out/abi_asan"
fi

echo "== shared library with the release flags exports only mm_* symbols"
if check dylib g++ -std=c++20 -O2 -march=native -fPIC -fvisibility=hidden -shared $warn \
     -o "$out/libmetal_marlin_test.so" $core $cpu -ldl -lpthread; then
  # std:: template instances (weak, vague linkage) stay visible whatever -fvisibility says, so the
  # leaks we look for are strong non-mm_ symbols and anything of our own namespace mm::.
  bad=$(nm -D --defined-only "$out/libmetal_marlin_test.so" |
    awk '($2 ~ /^[TDBR]$/ && $3 !~ /^mm_/) || $3 ~ /^_Z(T[ISV])?NK?2mm/ {print $3}' || true)
  if [ -z "$bad" ]; then total_pass=$((total_pass + 1)); else echo "FAIL exported non-mm symbols: $bad"; total_fail=$((total_fail + 1)); fi
  need="mm_abi_version mm_last_error mm_noop mm_cpu_fiber_pingpong mm_cpu_progress mm_device_open mm_device_close mm_device_info_get
    mm_device_synchronize mm_buffer_alloc mm_buffer_free mm_buffer_contents mm_buffer_length mm_library_builtin
    mm_library_load mm_library_compile mm_library_free mm_library_kernel_count mm_library_kernel_name mm_kernel_get
    mm_kernel_info_get mm_kernel_arg_info mm_dispatch"
  missing=""
  for s in $need; do nm -D --defined-only "$out/libmetal_marlin_test.so" | grep -qw "$s" || missing="$missing $s"; done
  if [ -z "$missing" ]; then total_pass=$((total_pass + 1)); else echo "FAIL missing exports:$missing"; total_fail=$((total_fail + 1)); fi
fi

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
