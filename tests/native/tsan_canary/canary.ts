// Calls the planted race of canary.cpp (path in argv) through the runtime's own FFI; see canary.cpp.
import { createRequire } from "node:module";
import process from "node:process";

const path = process.argv[process.argv.length - 1]!;
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
let result: unknown;
if (isBun) {
  const { dlopen } = createRequire(import.meta.url)("bun:ffi") as {
    dlopen: (p: string, d: unknown) => { symbols: { mm_tsan_canary(): unknown } };
  };
  result = dlopen(path, { mm_tsan_canary: { args: [], returns: "i64" } }).symbols.mm_tsan_canary();
} else {
  const deno = (globalThis as unknown as {
    Deno: { dlopen: (p: string, d: unknown) => { symbols: { mm_tsan_canary(): unknown } } };
  }).Deno;
  result = deno.dlopen(path, { mm_tsan_canary: { parameters: [], result: "i64" } }).symbols.mm_tsan_canary();
}
console.log(`canary: ${String(result)}`);
