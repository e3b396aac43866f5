#!/usr/bin/env bash
# Builds the native bench programs into build/bench/: the plain C++ baseline and the ABI driver, linked
# against build/fast's dylib (-march=native, for wall time) and, in build/bench/valgrind/, against a copy
# built with MM_MARCH=x86-64-v3 (valgrind cannot decode AVX-512; callgrind instruction counts use it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
mkdir -p build/bench/valgrind
CXX=${CXX:-g++}
MM_MARCH=x86-64-v3 bun scripts/build.ts --quiet
cp build/fast/libmetal_marlin.so build/bench/valgrind/
bun scripts/build.ts --quiet  # back to -march=native (objects are cached per flags: a relink)
$CXX -std=c++20 -O2 -march=native -g -o build/bench/gemm_native bench/native/gemm_native.cpp
$CXX -std=c++20 -O2 -march=x86-64-v3 -g -o build/bench/valgrind/gemm_native bench/native/gemm_native.cpp
$CXX -std=c++20 -O2 -march=native -g -o build/bench/gemm_driver bench/native/gemm_driver.cpp \
  -Lbuild/fast -lmetal_marlin -Wl,-rpath,"$PWD/build/fast"
$CXX -std=c++20 -O2 -march=x86-64-v3 -g -o build/bench/valgrind/gemm_driver bench/native/gemm_driver.cpp \
  -Lbuild/bench/valgrind -lmetal_marlin -Wl,-rpath,"$PWD/build/bench/valgrind"
