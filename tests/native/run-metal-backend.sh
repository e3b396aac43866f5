#!/usr/bin/env bash
# run-metal-backend.sh — the Metal backend (csrc/metal/*.mm) with the simulated driver, the core, the CPU
# runtime and the built-in GEMM shaders compiled whole under TSan, then under ASan+UBSan, driving
# tests/native/metal_backend/backend_test.cpp through the C ABI (host thread + the driver's queue thread).
# Needs clang-16, libclang-rt-16-dev, libblocksruntime-dev and bun (the generated shader sources come from
# the metal-sim build). Last line: "N passed, M failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"
out="$root/build/metal-backend-test"
arch=$(uname -m)
mkdir -p "$out"
bun scripts/build.ts --mode metal-sim --quiet || { echo "0 passed, 1 failed"; exit 1; }
gen="$root/build/metal-sim/gen"
flags=(-std=c++20 -fPIC -fvisibility=hidden -Icsrc/include -Icsrc/cpu -Icsrc/cpu/shim -Ishaders -Icsrc/metal/include
       -Wno-unknown-attributes -DMM_METAL_SIM=1 -O1 -g)
objc=(-target "$arch-linux-gnu" -fobjc-runtime=macosx-13.0 -fobjc-arc -fblocks -x objective-c++ -Wall -Wextra -Werror
      -Wundeclared-selector -Wunguarded-availability-new -Wstrict-selector-match)
srcs=(csrc/core/*.cpp csrc/cpu/*.cpp "$gen"/*/*.cpp "$gen"/builtin_modules.cpp "$gen"/builtin_sources.cpp
      csrc/metal/sim/runtime/*.cpp csrc/metal/sim/driver/*.cpp)
total_pass=0 total_fail=0
variant() {  # variant <name> <sanitizer flags...>
  local v=$1; shift
  local dir="$out/$v" objs=() pids=() f o
  mkdir -p "$dir"
  for f in "${srcs[@]}" csrc/metal/*.mm; do
    o="$dir/$(echo "${f#"$root"/}" | tr / _).o"; objs+=("$o")
    if [[ $f == *.mm ]]; then clang++-16 "${flags[@]}" "$@" "${objc[@]}" -c "$f" -o "$o" &
    else clang++-16 "${flags[@]}" "$@" -c "$f" -o "$o" & fi
    pids+=($!); [ ${#pids[@]} -ge 2 ] && { wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); }
  done
  for p in "${pids[@]}"; do wait "$p" || return 1; done
  clang++-16 "${flags[@]}" "$@" -o "$dir/backend_test" tests/native/metal_backend/backend_test.cpp "${objs[@]}" \
    "csrc/metal/sim/runtime/msgsend_$arch.S" -lBlocksRuntime -lpthread -ldl || return 1
}
for v in tsan asan; do
  echo "== Metal backend on metal-sim: $v"
  if [ $v = tsan ]; then san=(-fsanitize=thread); envs=(TSAN_OPTIONS=halt_on_error=1 MM_SIM_THREADS=2)
  else san=(-fsanitize=address,undefined -fno-omit-frame-pointer); envs=(ASAN_OPTIONS=detect_leaks=1 MM_SIM_ZOMBIES=0); fi
  if ! variant $v "${san[@]}"; then echo "build $v failed"; total_fail=$((total_fail + 1)); continue; fi
  log=$(env "${envs[@]}" "$out/$v/backend_test" 2>&1); rc=$?
  echo "$log" | tail -20
  line=$(echo "$log" | grep -Eo '^[0-9]+ passed, [0-9]+ failed' | tail -1)
  p=${line%% passed*}; f=$(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
  [ -z "$line" ] && { p=0; f=1; }
  [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
