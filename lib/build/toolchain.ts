// C++ toolchain discovery and flags for the dylib and run-time shader modules. The CPU shader runtime
// needs _Float16 (g++ >= 12, clang >= 15) and, for asan mode, clang with its ASan runtime.
import { execFileSync } from "node:child_process";
import process from "node:process";
import { LibraryLoadError } from "../runtime/errors.ts";

/**
 * "fast": optimized; "asan": AddressSanitizer + UBSan, loaded under LD_PRELOAD of the ASan runtime;
 * "coverage": clang source-based coverage (scripts/coverage.sh), each object writes LLVM_PROFILE_FILE;
 * "instrument": shader code reports every load/store to the runtime (trace and race mode,
 * lib/runtime/trace.ts).
 */
export type BuildMode = "fast" | "asan" | "coverage" | "instrument";

/** Every build mode (for CLIs that validate --mode). */
export const BUILD_MODES: readonly BuildMode[] = ["fast", "asan", "coverage", "instrument"];

/** A usable compiler. */
export interface Toolchain {
  /** Command to run, e.g. "g++" or "clang++-16" ("xcrun" on macOS, with prefix ["clang++"]). */
  cxx: string;
  /** Arguments placed before all others (["clang++"] for xcrun). */
  prefix: string[];
  kind: "gcc" | "clang";
  major: number;
  /** First line of `cxx --version` (part of every build hash). */
  version: string;
  /** Flags for compiling one translation unit (before -c). */
  compileFlags: string[];
  /** Flags for linking a shared object. */
  linkFlags: string[];
  /** Extra flags for shader translation units only (instrument mode: SanitizerCoverage callbacks). */
  shaderFlags?: string[];
}

const ASAN_PACKAGES = "apt-get install clang-16 libclang-rt-16-dev llvm-16";

function probe(
  cxx: string,
  prefix: string[],
): { kind: "gcc" | "clang"; major: number; version: string } | undefined {
  let out: string;
  try {
    out = execFileSync(cxx, [...prefix, "--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return undefined; // not installed: the caller tries the next candidate and reports all of them
  }
  const version = out.split("\n")[0].trim();
  const kind = /clang/i.test(out) ? "clang" : "gcc";
  const m = kind === "clang" ? /clang version (\d+)/.exec(out) : /\) (\d+)\.\d+/.exec(version) ??
    / (\d+)\.\d+\.\d+/.exec(version);
  return { kind, major: m ? Number(m[1]) : 0, version };
}

function flagsFor(
  kind: "gcc" | "clang",
  mode: BuildMode,
): { compileFlags: string[]; linkFlags: string[]; shaderFlags?: string[] } {
  const common = [
    "-std=c++20",
    "-fPIC",
    "-fvisibility=hidden",
    "-Icsrc/include",
    "-Icsrc/cpu",
    "-Icsrc/cpu/shim",
    "-Ishaders",
    kind === "gcc" ? "-Wno-attributes" : "-Wno-unknown-attributes",
  ];
  if (mode === "asan") {
    const san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-shared-libasan"];
    return { compileFlags: [...common, "-O1", "-g", ...san], linkFlags: [...san] };
  }
  if (mode === "instrument") {
    // -g maps sites to .metal lines; no vectorizer, so a lane's loads stay the loads the kernel wrote.
    // The runtime is built plain; only shader TUs get the load/store callbacks (mm_instrument.h).
    const opt = ["-O1", "-g", "-fno-vectorize", "-fno-slp-vectorize", "-DMM_INSTRUMENT=1"];
    const cov = ["-fsanitize-coverage=inline-8bit-counters,trace-loads,trace-stores"];
    return { compileFlags: [...common, ...opt], linkFlags: [], shaderFlags: cov };
  }
  // F16C/AVX2 matter ~3x for half math on x86; arm64 compilers spell "this CPU" -mcpu.
  // MM_MARCH overrides the target: valgrind (bench/native/build.sh) cannot decode AVX-512, so callgrind
  // runs use MM_MARCH=x86-64-v3 (AVX2 + F16C).
  const march = process.env.MM_MARCH;
  const native = march ? `-march=${march}` : process.arch === "arm64" ? "-mcpu=native" : "-march=native";
  if (mode === "coverage") {
    // Only shader TUs carry counters (the runtime is not what we measure); counters are placed
    // before optimization, so -O2 keeps line counts exact. Linking pulls in the profile runtime.
    const cov = ["-fprofile-instr-generate", "-fcoverage-mapping"];
    const flush = ["-include", "csrc/cpu/shim/mm_coverage.h"]; // exports mm_coverage_flush()
    return { compileFlags: [...common, "-O2", native], linkFlags: [cov[0]], shaderFlags: [...cov, ...flush] };
  }
  return { compileFlags: [...common, "-O2", native], linkFlags: [] };
}

const cache = new Map<BuildMode, Toolchain>();

/**
 * Finds a compiler for `mode`. fast: $MM_CXX, else clang++ >= 15, else g++ >= 12.
 * asan: $MM_CXX if it is clang >= 15, else clang++-16 or clang++ >= 15. Throws naming what to install.
 */
export function findToolchain(mode: BuildMode): Toolchain {
  const hit = cache.get(mode);
  if (hit) return hit;
  const isMac = process.platform === "darwin";
  const envCxx = process.env.MM_CXX;
  const candidates: string[] = [];
  if (envCxx) candidates.push(envCxx);
  if (isMac) candidates.push("xcrun"); // Apple's clang++ through xcrun (Metal flags come later)
  // fast: clang first. Its code for the shader kernels runs 20-40 % fewer instructions than g++ 12's
  // (callgrind, bench/results/cpu_runtime.json) with the same bits (excess precision off, below).
  else if (mode === "fast") candidates.push("clang++-16", "clang++-17", "clang++", "g++", "g++-12", "g++-13");
  else candidates.push("clang++-16", "clang++", "clang++-17", "clang++-15"); // asan, coverage: clang only
  const rejected: string[] = [];
  for (const cxx of candidates) {
    const prefix = isMac && cxx === "xcrun" ? ["clang++"] : [];
    const p = probe(cxx, prefix);
    if (!p) {
      rejected.push(`${cxx} (not found)`);
      continue;
    }
    const minimum = p.kind === "gcc" ? 12 : 15;
    if (p.major < minimum || (mode !== "fast" && p.kind !== "clang")) {
      rejected.push(
        `${cxx} (${p.version}: need ${mode !== "fast" ? "clang >= 15" : "g++ >= 12 or clang >= 15"})`,
      );
      continue;
    }
    const flags = flagsFor(p.kind, mode);
    // clang otherwise keeps half expressions in float between operations; g++ and Metal round each one.
    if (p.kind === "clang" && p.major >= 16) {
      flags.compileFlags.push("-Xclang", "-ffloat16-excess-precision=none");
    }
    const tc: Toolchain = { cxx, prefix, kind: p.kind, major: p.major, version: p.version, ...flags };
    cache.set(mode, tc);
    return tc;
  }
  const hint = mode !== "fast"
    ? `${mode} builds need clang >= 15 with its runtime libraries: ${ASAN_PACKAGES}`
    : "install g++ (>= 12) or clang >= 15: apt-get install g++ (or clang-16)";
  throw new LibraryLoadError(
    `toolchain: no usable C++ compiler for ${mode} mode; tried ${rejected.join(", ")}. ${hint}`,
    "toolchain",
  );
}

/** File name of the shared library on this platform. */
export function libraryFileName(): string {
  return process.platform === "darwin" ? "libmetal_marlin.dylib" : "libmetal_marlin.so";
}

/** Extension of loadable shader modules. */
export function moduleExt(): string {
  return process.platform === "darwin" ? ".dylib" : ".so";
}
