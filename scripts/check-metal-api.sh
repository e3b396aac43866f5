#!/usr/bin/env bash
# check-metal-api.sh — compares the stand-in Foundation/Metal headers (csrc/metal/include) and the
# simulated driver's method registrations (csrc/metal/sim) with Apple's API as declared in the macOS 14.2
# SDK, using ../shared/metal/api/check-api (selectors, parameter/return ABI classes, ownership attributes).
# Skips with a message when ../shared/metal is not present (it is not part of this repository).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
# ../shared next to the checkout (a worktree under wt/ looks one level further up).
checker="${MM_METAL_API_CHECKER:-}"
for d in "$root/.." "$root/../.."; do
  [ -z "$checker" ] && [ -x "$d/shared/metal/api/check-api" ] && checker="$d/shared/metal/api/check-api"
done
if [ -z "$checker" ]; then
  echo "check-metal-api: skipped (../shared/metal/api/check-api not present)"
  exit 0
fi
cd "$root"
flags="-target arm64-apple-macos13 -ffreestanding -Icsrc/metal/include"
status=0
for h in csrc/metal/include/Foundation/Foundation.h csrc/metal/include/Metal/Metal.h; do
  echo "== $h"
  "$checker" --objc-header "$h" --cflags "$flags" 2>&1 || status=1
  echo
done
echo "== registrations in csrc/metal/sim"
"$checker" csrc/metal/sim/runtime/*.cpp csrc/metal/sim/driver/*.cpp 2>&1 || status=1
echo
exit $status
