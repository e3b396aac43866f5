// `metal-marlin asan <script> [args...]`: runs a user script on the AddressSanitizer + UBSan build of
// the library and of every shader module it compiles. ASan's runtime must be loaded before the JS
// runtime starts, so this builds the ASan library, then re-executes the same runtime (Bun or Deno) on
// the script with LD_PRELOAD and the options fibers need (DESIGN.md); an out-of-bounds access in a
// kernel is then reported with its .metal line and the process aborts.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { arch } from "node:os";
import process from "node:process";
import { buildLibrary } from "../build/build.ts";
import { findToolchain } from "../build/toolchain.ts";

const HELP = `usage: metal-marlin asan <script.ts> [args...]
  runs the script on the ASan + UBSan build (MM_BUILD=asan, the ASan runtime preloaded);
  needs clang >= 15 with its ASan runtime: apt-get install -y clang-16 libclang-rt-16-dev llvm-16`;

/** Path of clang's shared ASan runtime for this machine, or undefined. */
export function asanRuntime(): string | undefined {
  const machine = arch() === "arm64" ? "aarch64" : "x86_64";
  const cxx = findToolchain("asan").cxx; // throws naming the packages when no clang is installed
  const r = spawnSync(cxx, [`-print-file-name=libclang_rt.asan-${machine}.so`], { encoding: "utf8" });
  const path = r.status === 0 ? r.stdout.trim() : "";
  return path !== "" && existsSync(path) ? path : undefined;
}

/** Runs the asan subcommand; returns the script's exit code (134 when ASan aborted it). */
export async function asanCommand(args: string[]): Promise<number> {
  if (args.length === 0 || args[0] === "--help" || args[0] === "-h") {
    console.log(HELP);
    return args.length === 0 ? 2 : 0;
  }
  if (process.platform !== "linux") {
    console.error("asan: the preload is set up for Linux only; on macOS use DYLD_INSERT_LIBRARIES by hand");
    return 2;
  }
  const runtime = asanRuntime();
  if (runtime === undefined) {
    console.error(`asan: clang's ASan runtime is missing (apt-get install -y libclang-rt-16-dev)\n${HELP}`);
    return 1;
  }
  await buildLibrary({ mode: "asan", log: (l) => console.error(`metal-marlin: ${l}`) });
  const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const argv = isDeno ? ["run", "-A", ...args] : args;
  const r = spawnSync(process.execPath, argv, {
    stdio: "inherit",
    env: {
      ...process.env,
      MM_BUILD: "asan",
      LD_PRELOAD: [runtime, process.env.LD_PRELOAD].filter((x) => x).join(" "),
      // Fibers: no fake stacks (they made it 15-43x slower); the JS runtime itself is not instrumented.
      ASAN_OPTIONS: process.env.ASAN_OPTIONS ??
        "detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1",
      UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? "print_stacktrace=1:halt_on_error=1",
    },
  });
  if (r.error) throw r.error;
  return r.status ?? 128 + 6;
}
