#!/usr/bin/env bash
# The project's test command (`npm test`): the one suite under Bun, then under Deno, on the CPU runtime
# (fast build). Ends with one "N passed, N failed" line summing both runtimes.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

bun scripts/build.ts || exit 1

status=0
bun test --timeout 600000 2>&1 | tee "$logs/bun.log" || status=1
deno test -A tests/ 2>&1 | tee "$logs/deno.log" || status=1

strip() { sed -e 's/\x1b\[[0-9;]*m//g' "$1"; }
bun_pass=$(strip "$logs/bun.log" | grep -Eo '^ *[0-9]+ pass' | grep -Eo '[0-9]+' | tail -1)
bun_fail=$(strip "$logs/bun.log" | grep -Eo '^ *[0-9]+ fail' | grep -Eo '[0-9]+' | tail -1)
deno_pass=$(strip "$logs/deno.log" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' | tail -1)
deno_fail=$(strip "$logs/deno.log" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+' | tail -1)
bun_skip=$(strip "$logs/bun.log" | grep -Eo '^ *[0-9]+ skip' | grep -Eo '[0-9]+' | tail -1)
deno_skip=$(strip "$logs/deno.log" | grep -Eo '[0-9]+ ignored' | grep -Eo '[0-9]+' | tail -1)
passed=$(( ${bun_pass:-0} + ${deno_pass:-0} ))
failed=$(( ${bun_fail:-0} + ${deno_fail:-0} ))
skipped=$(( ${bun_skip:-0} + ${deno_skip:-0} ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a runner crashed before counting
echo "bun: ${bun_pass:-0} passed, ${bun_fail:-0} failed; deno: ${deno_pass:-0} passed, ${deno_fail:-0} failed"
if [ "$skipped" -gt 0 ]; then
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
else
  echo "${passed} passed, ${failed} failed"
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
