// C++ toolchain discovery and flags for the dylib and run-time shader modules. The CPU shader runtime
// needs _Float16 (g++ >= 12, clang >= 15) and, for asan mode, clang with its ASan runtime.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { LibraryLoadError } from "../runtime/errors.ts";

/**
 * "fast": optimized; "asan": AddressSanitizer + UBSan, loaded under LD_PRELOAD of the ASan runtime;
 * "coverage": clang source-based coverage (scripts/coverage.sh), each object writes LLVM_PROFILE_FILE;
 * "instrument": shader code reports every load/store to the runtime (trace and race mode,
 * lib/runtime/trace.ts); "metal-sim": the fast library plus the Metal backend (csrc/metal/*.mm, compiled
 * as Apple-ABI Objective-C++ by clang) on the simulated Metal driver (csrc/metal/sim), for
 * Device.open({ backend: "metal-sim" }); "metal-sim-asan": the same under ASan + UBSan;
 * "metal-sim-tsan": the same under ThreadSanitizer (MM_BUILD=tsan, for CPU and metal-sim devices alike;
 * needs the TSan runtime preloaded, scripts/test-metal-sim.sh).
 */
export type BuildMode =
  | "fast"
  | "asan"
  | "coverage"
  | "instrument"
  | "metal-sim"
  | "metal-sim-asan"
  | "metal-sim-tsan"
  | "metal-sim-coverage";

/** Every build mode (for CLIs that validate --mode). */
export const BUILD_MODES: readonly BuildMode[] = [
  "fast",
  "asan",
  "coverage",
  "instrument",
  "metal-sim",
  "metal-sim-asan",
  "metal-sim-tsan",
  "metal-sim-coverage",
];

/** True for the builds that contain the Metal backend on the simulated driver. */
export function isMetalSim(mode: BuildMode): boolean {
  return mode === "metal-sim" || mode === "metal-sim-asan" || mode === "metal-sim-tsan" ||
    mode === "metal-sim-coverage";
}

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
  /** metal-sim modes: extra flags for csrc/metal/*.mm (Apple-ABI Objective-C++ with ARC, strict warnings). */
  objcFlags?: string[];
}

// Objective-C++ with ARC and the warnings (as errors) that catch selector and availability mistakes: the
// same on macOS and in the metal-sim builds, so the Linux build rejects what Apple's compiler would.
const OBJC_STRICT: readonly string[] = [
  "-x",
  "objective-c++",
  "-fobjc-arc",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-Wundeclared-selector",
  "-Wunguarded-availability-new",
  "-Wstrict-selector-match",
];

// The flags ../shared/metal/README.md found to turn Apple-API mistakes into errors, and the Apple ABI
// (objc_msgSend, ARC entry points, blocks) the simulated runtime implements.
function objcFlags(): string[] {
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  return [
    "-target",
    `${arch}-linux-gnu`,
    "-fobjc-runtime=macosx-13.0",
    "-fblocks",
    ...OBJC_STRICT,
  ];
}

const ASAN_PACKAGES = "apt-get install clang-16 libclang-rt-16-dev llvm-16";

/** How long `cxx --version` may take (MM_PROBE_TIMEOUT_MS, default 10 s): a hung wrapper must not hang us. */
function probeTimeoutMs(): number {
  const v = Number(process.env.MM_PROBE_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

function probe(
  cxx: string,
  prefix: string[],
): { kind: "gcc" | "clang"; major: number; version: string } | string {
  let out: string;
  const timeout = probeTimeoutMs();
  try {
    out = execFileSync(cxx, [...prefix, "--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout,
      killSignal: "SIGKILL",
    });
  } catch (e) {
    // Not installed, or hung: the caller tries the next candidate and reports all of them.
    const err = e as { code?: string; signal?: string };
    if (err.code === "ETIMEDOUT" || err.signal === "SIGKILL") return `timed out after ${timeout} ms`;
    return "not found";
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
): { compileFlags: string[]; linkFlags: string[]; shaderFlags?: string[]; objcFlags?: string[] } {
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
  if (isMetalSim(mode)) {
    const sim = ["-DMM_METAL_SIM=1", "-Icsrc/metal/include"];
    // TSan has no shared-runtime flag: a shared object leaves __tsan_* to the preloaded runtime.
    const san = mode === "metal-sim-asan"
      ? ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-shared-libasan"]
      : mode === "metal-sim-tsan"
      ? ["-fsanitize=thread"]
      : [];
    const opt = mode === "metal-sim-asan" || mode === "metal-sim-tsan" ? ["-O1", "-g"] : ["-O2", "-g"];
    // metal-sim-coverage: line counters in csrc/metal/*.mm only (scripts/coverage-metal.sh).
    const cov = mode === "metal-sim-coverage"
      ? ["-fprofile-instr-generate", "-fcoverage-mapping", "-DMM_METAL_COVERAGE=1"]
      : [];
    return {
      compileFlags: [...common, ...sim, ...opt, ...san],
      linkFlags: [...san, ...cov.slice(0, 1), "-lBlocksRuntime"],
      objcFlags: [...objcFlags(), ...cov],
    };
  }
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
  // F16C/AVX2 matter ~3x for half math on x86; arm64 compilers spell "this CPU" -mcpu. MM_PORTABLE=1
  // (prebuilt platform packages) targets any CPU of the architecture (MM_TARGET_ARCH when cross-building).
  // MM_MARCH overrides the target: valgrind (bench/native/build.sh) cannot decode AVX-512, so callgrind
  // runs use MM_MARCH=x86-64-v3 (AVX2 + F16C).
  const arch = process.env.MM_TARGET_ARCH || process.arch;
  const march = process.env.MM_MARCH;
  const native = march
    ? `-march=${march}`
    : process.env.MM_PORTABLE === "1"
    ? (arch === "arm64" ? "-mcpu=generic" : "-march=x86-64-v2")
    : (arch === "arm64" ? "-mcpu=native" : "-march=native");
  if (mode === "coverage") {
    // Only shader TUs carry counters (the runtime is not what we measure); counters are placed
    // before optimization, so -O2 keeps line counts exact. Linking pulls in the profile runtime.
    const cov = ["-fprofile-instr-generate", "-fcoverage-mapping"];
    const flush = ["-include", "csrc/cpu/shim/mm_coverage.h"]; // exports mm_coverage_flush()
    return { compileFlags: [...common, "-O2", native], linkFlags: [cov[0]], shaderFlags: [...cov, ...flush] };
  }
  if (process.platform === "darwin") {
    // macOS: the same library also holds the Metal backend (never built yet: no Mac has run this).
    return {
      compileFlags: [...common, "-O2", native, "-DMM_HAVE_METAL=1"],
      linkFlags: ["-framework", "Metal", "-framework", "Foundation"],
      objcFlags: [...OBJC_STRICT, "-mmacosx-version-min=13.0"],
    };
  }
  return { compileFlags: [...common, "-O2", native], linkFlags: [] };
}

const cache = new Map<BuildMode, Toolchain>();

/**
 * Finds a compiler for `mode`. fast: $MM_CXX, else clang++ >= 15, else g++ >= 12.
 * asan: $MM_CXX if it is clang >= 15, else clang++-16 or clang++ >= 15. An MM_CXX that does not run (or
 * hangs past MM_PROBE_TIMEOUT_MS) is an error, not skipped. Throws naming what to install.
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
  if (isMetalSim(mode) && !isMac && !existsSync("/usr/include/Block.h")) {
    // clang's -fblocks code needs the blocks runtime (_NSConcreteStackBlock, _Block_copy).
    throw new LibraryLoadError(
      `toolchain: the ${mode} build needs the blocks runtime: apt-get install libblocksruntime-dev`,
      "toolchain",
    );
  }
  for (const cxx of candidates) {
    const prefix = isMac && cxx === "xcrun" ? ["clang++"] : [];
    const p = probe(cxx, prefix);
    if (typeof p === "string") {
      rejected.push(`${cxx} (${p})`);
      if (cxx === envCxx) break; // an explicit MM_CXX is authoritative: never silently use another
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
