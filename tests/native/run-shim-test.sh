#!/usr/bin/env bash
# Builds tests/native/shim_test.cpp twice — g++ -O2 -march=native with warnings, and clang++-16
# with AddressSanitizer + UBSan — and runs both. Exits non-zero if a build or a check fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${TMPDIR:-/tmp}/mm-shim-test.$$"
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
inc=(-I "$root/csrc/cpu/shim" -I "$root/csrc/cpu" -I "$root/csrc/include")
src="$here/shim_test.cpp"
CXX_GCC="${CXX_GCC:-g++}"
CXX_CLANG="${CXX_CLANG:-clang++-16}"

status=0
echo "== $CXX_GCC -std=c++20 -O2 -march=native"
"$CXX_GCC" -std=c++20 -O2 -march=native -Wall -Wextra -Werror -Wno-attributes "${inc[@]}" "$src" -o "$out/shim_gcc"
"$out/shim_gcc" || status=1

echo "== $CXX_CLANG -std=c++20 -O1 -fsanitize=address,undefined"
"$CXX_CLANG" -std=c++20 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror \
  -Wno-unknown-attributes "${inc[@]}" "$src" -o "$out/shim_clang"
ASAN_OPTIONS=detect_stack_use_after_return=0 "$out/shim_clang" || status=1

exit $status
