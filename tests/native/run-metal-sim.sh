#!/usr/bin/env bash
# run-metal-sim.sh — builds the simulated Metal driver (csrc/metal/sim: Objective-C runtime + fake
# Metal/Foundation) with the CPU shader runtime and the native tests in tests/native/metal_sim (ARC
# Objective-C++ against the stand-in headers in csrc/metal/include), then runs them three times:
# plain, ASan+UBSan and TSan. Also checks the exit-time leak report and MM_SIM_ABORT in child runs.
# Needs clang-16, libblocksruntime-dev and bun (to rewrite the test shaders). Last line: "N passed, M failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/metal-sim-test"
here="$root/tests/native/metal_sim"
arch=$(uname -m)
mkdir -p "$out"
export PATH="$root/node_modules/.bin:$PATH"
for tool in clang++-16 bun; do
  command -v "$tool" >/dev/null || { echo "run-metal-sim: $tool not found"; echo "0 passed, 1 failed"; exit 1; }
done
[ -f /usr/include/Block.h ] || { echo "run-metal-sim: libblocksruntime-dev missing"; echo "0 passed, 1 failed"; exit 1; }

# Test shaders through the library's rewriter: kernels.metal, and gemm.metal as the built-in module.
(cd "$root" && bun "$here/gen_module.ts" tests/native/metal_sim/kernels.metal tests/native/metal_sim/kernels.metal \
  mm_sim_test_kernels "$out/gen/kernels" && bun "$here/gen_module.ts" shaders/gemm.metal shaders/gemm.metal \
  mm_rt_builtin_gemm "$out/gen/gemm" && bun "$here/gen_module.ts" tests/native/metal_sim/kernels.metal \
  tests/native/metal_sim/kernels.metal mm_rt_module_get "$out/gen/kernels_so") || { echo "0 passed, 1 failed"; exit 1; }

sim="$(ls "$root"/csrc/metal/sim/runtime/*.cpp "$root"/csrc/metal/sim/driver/*.cpp | tr "\n" " ")$root/csrc/metal/sim/runtime/msgsend_$arch.S"
cpu="$root/csrc/cpu/scheduler.cpp $root/csrc/cpu/progress.cpp $root/csrc/cpu/threadgroup.cpp $root/csrc/cpu/threadgroup_memory.cpp $root/csrc/cpu/matrix_memo.cpp $root/csrc/cpu/fiber.cpp"
for f in instrument instrument_trace instrument_race instrument_bounds guarded; do [ -f "$root/csrc/cpu/$f.cpp" ] && cpu="$cpu $root/csrc/cpu/$f.cpp"; done
tests="$here/harness.mm $here/host_test.mm $here/async_test.mm $here/rules_test.mm"
ctests="$here/runtime_test.cpp"  # plain C++ (with blocks) against the runtime's C API
warn="-Wall -Wextra -Werror"
objc=(-target "$arch-linux-gnu" -fobjc-runtime=macosx-13.0 -fobjc-arc -fblocks -x objective-c++ -std=c++20
      -I"$root/csrc/metal/include" -DMM_SIM_TEST_ROOT="\"$root\"" $warn -Wundeclared-selector
      -Wunguarded-availability-new -Wstrict-selector-match)
shader=(-std=c++20 -I"$root/csrc/include" -I"$root/csrc/cpu" -I"$root/csrc/cpu/shim" -I"$root/shaders" -Wno-unknown-attributes)

# Objects are reused while no header the build reads changed (the newest one is the stamp).
newest_header=$(ls -t "$root"/csrc/metal/include/*/*.h "$root"/csrc/metal/sim/*.h "$root"/csrc/metal/sim/*/*.h \
  "$root"/csrc/cpu/*.h "$root"/csrc/cpu/shim/* "$root"/csrc/include/*.h "$here"/*.h "$out"/gen/*/* | head -1)
total_pass=0
total_fail=0
sim_only=()  # flags for csrc/metal/sim sources (and the link) only: the coverage variant's counters
build() {  # build <variant> <flags...>: objects in $out/<variant>, binary $out/<variant>/metal_sim_test
  local v=$1; shift
  local dir="$out/$v" objs=() pids=() f o
  mkdir -p "$dir"
  compile() {  # compile <object> <args...> <source>: skipped when the object is newer than source and headers
    local o=$1; shift
    local src="${*: -1}"
    [ -f "$o" ] && [ "$o" -nt "$src" ] && [ "$o" -nt "$newest_header" ] && return 0
    clang++-16 "$@" -o "$o" || { echo "compile failed: $o" >&2; return 1; }
  }
  for f in $sim $cpu; do
    o="$dir/$(basename "$f").o"; objs+=("$o")
    local extra=()
    case " $sim " in *" $f "*) extra=("${sim_only[@]}") ;; esac
    compile "$o" -std=c++20 -fPIC -I"$root/csrc/metal/include" $warn "$@" "${extra[@]}" -c "$f" &
    pids+=($!); [ ${#pids[@]} -ge 2 ] && { wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); }
  done
  for m in kernels gemm; do
    o="$dir/shader_$m.o"; objs+=("$o")
    compile "$o" "${shader[@]}" -I"$out/gen/$m" "$@" -c "$out/gen/$m/module.cpp" &
    pids+=($!); [ ${#pids[@]} -ge 2 ] && { wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); }
  done
  for f in $tests; do
    o="$dir/$(basename "$f").o"; objs+=("$o")
    compile "$o" "${objc[@]}" "$@" -c "$f" &
    pids+=($!); [ ${#pids[@]} -ge 2 ] && { wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); }
  done
  for f in $ctests; do
    o="$dir/$(basename "$f").o"; objs+=("$o")
    compile "$o" -std=c++20 -fblocks -I"$root/csrc/metal/include" $warn "$@" -c "$f" &
    pids+=($!); [ ${#pids[@]} -ge 2 ] && { wait "${pids[0]}" || return 1; pids=("${pids[@]:1}"); }
  done
  # kernels.metal once more as a run-time module (mm_rt_module_get in a .so), for mm_sim_register_module_file.
  compile "$dir/kernels_module.o" "${shader[@]}" -fPIC "$@" -c "$out/gen/kernels_so/module.cpp" &&
    clang++-16 "$@" -shared -o "$dir/kernels_module.so" "$dir/kernels_module.o" || return 1
  for p in "${pids[@]}"; do wait "$p" || return 1; done
  clang++-16 "$@" "${sim_only[@]}" -o "$dir/metal_sim_test" "${objs[@]}" -lBlocksRuntime -lpthread -ldl
}
run() {  # run <variant> [env...]: runs the binary, adds its totals
  local v=$1; shift
  echo "== metal-sim tests: $v"
  local log="$out/$v.log"
  env "$@" MM_SIM_TEST_SO="$out/$v/kernels_module.so" "$out/$v/metal_sim_test" >"$log" 2>&1
  local rc=$?
  grep -v '^metal-sim: ' "$log"  # the recorded violations the rule tests provoke are expected
  local line p f
  line=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=${line%% passed*}; f=$(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')
  [ -z "$line" ] && { p=0; f=1; echo "no summary line (exit $rc)"; }
  [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && f=1
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}
child() {  # child <variant> <label> <expected exit> <stderr pattern> <args/env...>: one process-level check
  local v=$1 label=$2 want=$3 pattern=$4; shift 4
  local err rc
  err=$(env "$@" "$out/$v/metal_sim_test" --child "$label" 2>&1 >/dev/null); rc=$?
  if { [ "$want" = signal ] && [ $rc -ge 128 ]; } || [ "$rc" = "$want" ]; then
    if echo "$err" | grep -q -- "$pattern"; then echo "ok   child $label ($v)"; total_pass=$((total_pass + 1)); return; fi
  fi
  echo "FAIL child $label ($v): exit $rc, stderr: $err"; total_fail=$((total_fail + 1))
}

variant() {  # variant <name> <env for run> -- <flags...>
  local v=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  if build "$v" "$@"; then
    run "$v" "${envs[@]}"
    child "$v" leak 1 "leak check at exit: 1 live object: MTLSimBuffer(rc=1)" MM_SIM_LEAK_CHECK=1 "${envs[@]}"
    child "$v" abort signal "Set Bytes Validation length(8192) must be <= 4096" MM_SIM_ABORT=1 "${envs[@]}"
  else
    echo "build $v failed"; total_fail=$((total_fail + 1))
  fi
}

# MM_SIM_VARIANTS picks a subset (e.g. "plain" while iterating); all three by default.
want() { case " ${MM_SIM_VARIANTS:-plain asan tsan} " in *" $1 "*) return 0 ;; esac; return 1; }
want plain && variant plain MM_SIM_THREADS=2 -- -O1 -g
want asan && variant asan MM_SIM_THREADS=2 ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 -- -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
want tsan && variant tsan MM_SIM_THREADS=2 TSAN_OPTIONS=halt_on_error=1 -- -O1 -g -fsanitize=thread
# The other architecture's trampoline at least assembles (no emulator here to run it).
other=$([ "$arch" = x86_64 ] && echo aarch64 || echo x86_64)
if clang-16 -target "$other-linux-gnu" -c "$root/csrc/metal/sim/runtime/msgsend_$other.S" -o "$out/msgsend_$other.o"; then
  echo "ok   msgsend_$other.S assembles"; total_pass=$((total_pass + 1))
else
  echo "FAIL msgsend_$other.S does not assemble"; total_fail=$((total_fail + 1))
fi

# Line coverage of csrc/metal/sim (MM_SIM_VARIANTS=coverage; not part of the default run).
if want coverage && command -v llvm-cov-16 >/dev/null; then
  rm -f "$out"/coverage/*.profraw
  sim_only=(-fprofile-instr-generate -fcoverage-mapping)
  variant coverage MM_SIM_THREADS=2 "LLVM_PROFILE_FILE=$out/coverage/%p.profraw" -- -O0 -g
  llvm-profdata-16 merge -sparse "$out"/coverage/*.profraw -o "$out/coverage/merged.profdata" &&
    llvm-cov-16 report "$out/coverage/metal_sim_test" -instr-profile="$out/coverage/merged.profdata" $sim |
    sed -e "s|$root/||" | tee "$out/coverage/report.txt"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
