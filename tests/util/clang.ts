// Trace and race mode use a clang-only build (SanitizerCoverage load/store callbacks). On a machine with
// only g++ — all the README's commands need — their tests are skipped with this reason; CI sets
// MM_REQUIRE_ASAN=1 so a missing clang fails there instead of skipping.
import process from "node:process";
import { findToolchain } from "../../lib/build/toolchain.ts";

function reason(): string | undefined {
  if (process.env.MM_REQUIRE_ASAN === "1") return undefined;
  try {
    findToolchain("instrument");
    return undefined;
  } catch {
    return "needs clang >= 15 for the instrumented build (apt-get install -y clang-16)";
  }
}

/** Why clang-only tests are skipped on this machine, or undefined when they run. */
export const clangSkip: string | undefined = reason();
