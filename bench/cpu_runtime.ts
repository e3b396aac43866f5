// CPU shader runtime vs a native CPU kernel on the same machine (issue 13): wall time of the shipped
// FP4 GEMM kernels on one worker thread through the C ABI (bench/native/gemm_driver.cpp) against the
// plain C++ baseline (bench/native/gemm_native.cpp, -O2 -march=native, one thread), plus callgrind
// instruction counts of the runtime (repeatable on a loaded machine; prefill at a scaled shape).
// Run: bun bench/cpu_runtime.ts [--no-build] [--no-callgrind] [--json]
// Needs valgrind for the instruction counts. Writes bench/results/cpu_runtime.json.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { stamp } from "./report.ts";

const args = new Set(process.argv.slice(2));
const root = new URL("..", import.meta.url).pathname;
const tty = process.stderr.isTTY === true;
const progress = (s: string): void => {
  if (tty) process.stderr.write(`\r\x1b[2K${s}`);
};

if (!args.has("--no-build")) {
  progress("building bench/native (dylib for valgrind and native, driver, baseline)...");
  execFileSync("bash", ["bench/native/build.sh"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}

interface Run {
  m: number;
  n: number;
  k: number;
  kernel: string;
  seconds: number;
  checksum?: string;
}

function runJson(bin: string, argv: (string | number)[]): Run {
  const out = execFileSync(bin, argv.map(String), { cwd: root, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!) as Run;
}

// Shapes: the decode and prefill goals, and the adjacent-M pairs at every routing boundary.
const shapes: [number, number, number][] = [
  [1, 4096, 4096],
  [2, 4096, 4096],
  [128, 1024, 4096],
  [16, 2048, 2048],
  [17, 2048, 2048],
  [64, 2048, 2048],
  [65, 2048, 2048],
];
const reps = (m: number): number => (m <= 17 ? 5 : 2);
const wall = shapes.map(([m, n, k], i) => {
  progress(`wall time ${i + 1}/${shapes.length}: ${m}x${n}x${k}`);
  const rt = runJson("build/bench/gemm_driver", [m, n, k, 1, reps(m)]);
  const nat = runJson("build/bench/gemm_native", [m, n, k, reps(m) * 4]);
  return {
    shape: [m, n, k],
    kernel: rt.kernel,
    runtimeSeconds: rt.seconds,
    nativeSeconds: nat.seconds,
    ratio: rt.seconds / nat.seconds,
    checksum: rt.checksum,
  };
});

// Callgrind: decode at its real shape, the rest scaled (instructions scale with M x N x K per family).
const cgShapes: [number, number, number][] = [
  [1, 4096, 4096],
  [2, 4096, 4096],
  [64, 128, 1024],
  [16, 512, 1024],
  [17, 512, 1024],
  [64, 512, 1024],
  [65, 512, 1024],
];
const resultPath = `${root}bench/results/cpu_runtime.json`;
// --no-callgrind keeps the counts of the previous run (they do not change with load; wall time does).
const previous = existsSync(resultPath) ? JSON.parse(readFileSync(resultPath, "utf8")) : undefined;
const callgrind = args.has("--no-callgrind") ? previous?.callgrind ?? [] : cgShapes.map(([m, n, k], i) => {
  progress(`callgrind ${i + 1}/${cgShapes.length}: ${m}x${n}x${k}`);
  const file = `${root}build/bench/callgrind.out`;
  const r = execFileSync("valgrind", [
    "--tool=callgrind",
    `--callgrind-out-file=${file}`,
    "build/bench/valgrind/gemm_driver",
    String(m),
    String(n),
    String(k),
    "1",
    "1",
  ], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const run = JSON.parse(r.trim().split("\n").pop()!) as Run;
  const summary = execFileSync("callgrind_annotate", [file], { encoding: "utf8" });
  const total = Number(/([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(summary)?.[1].replaceAll(",", "") ?? NaN);
  // The driver's own setup (buffer fill) is in main/memset: report the kernel+runtime part too.
  const main = Number(
    /([\d,]+) \(\s*[\d.]+%\)\s+\S*gemm_driver\.cpp:main/.exec(summary)?.[1].replaceAll(",", "") ?? 0,
  );
  return { shape: [m, n, k], kernel: run.kernel, instructions: total, driverMainInstructions: main };
});
progress("");

const report = {
  bench: "cpu_runtime",
  ...stamp("cpu"),
  command: "bun bench/cpu_runtime.ts",
  notes: "runtime: shipped FP4 gs128 kernels through mm_gemm on 1 worker thread (fast build); native: " +
    "bench/native/gemm_native.cpp, plain C++ on the same layout, -O2 -march=native, 1 thread. Wall time is the " +
    "best of several runs on a shared 2-core VM (noisy); callgrind counts use a build with -march=x86-64-v3 " +
    "(valgrind cannot decode AVX-512) and include the driver's buffer setup.",
  wall,
  callgrind,
  // The runtime before issue 13's changes (commit dd2d40f, g++ 12 build), same driver and shapes:
  // callgrind counts include the driver's setup (~22 M Ir for 1x4096x4096, ~1.5 M for the others).
  before: {
    commit: "dd2d40f",
    callgrind: [
      { shape: [1, 4096, 4096], kernel: "gemv_fp4_gs128", instructions: 357392803 },
      { shape: [64, 128, 1024], kernel: "gemm_tiled_fp4_gs128", instructions: 389795978 },
    ],
    wall: [
      { shape: [1, 4096, 4096], runtimeSeconds: 0.037119, nativeSeconds: 0.002573 },
      { shape: [128, 1024, 4096], runtimeSeconds: 1.75827, nativeSeconds: 0.037953 },
    ],
  },
  // The decode GEMV before the last speed-up (commit 888ebfa: shader loop, O(1) barrier resolve, stack
  // prefetch), same driver and build flags. Wall: both builds alternated in one run, 20 rounds of best-of-3
  // each, min and median; the current build then took 18.51 / 18.97 ms (7.03x / 7.09x native).
  previous: {
    commit: "888ebfa",
    callgrind: [
      { shape: [1, 4096, 4096], kernel: "gemv", instructions: 283295559 },
      { shape: [2, 4096, 4096], kernel: "gemm_small", instructions: 383409252 },
      { shape: [64, 128, 1024], kernel: "gemm_tiled_f16", instructions: 21829617 },
      { shape: [16, 512, 1024], kernel: "gemm_small", instructions: 42935618 },
      { shape: [17, 512, 1024], kernel: "gemm_tiled_f16", instructions: 74387799 },
      { shape: [65, 512, 1024], kernel: "gemm_tiled_f16", instructions: 147299767 },
    ],
    wall: [{
      shape: [1, 4096, 4096],
      runtimeSecondsMin: 0.02140,
      runtimeSecondsMedian: 0.02230,
      nativeSecondsMin: 0.002632,
      nativeSecondsMedian: 0.002678,
    }],
  },
};
const text = JSON.stringify(report, null, 2);
if (args.has("--json")) console.log(text);
else {
  mkdirSync(`${root}bench/results`, { recursive: true });
  writeFileSync(resultPath, text + "\n");
  for (const w of wall) {
    console.log(
      `${w.shape.join("x").padEnd(14)} ${w.kernel.padEnd(24)} runtime ${
        (w.runtimeSeconds * 1e3).toFixed(1)
      } ms  ` +
        `native ${(w.nativeSeconds * 1e3).toFixed(2)} ms  ${w.ratio.toFixed(1)}x`,
    );
  }
  for (const c of callgrind) {
    console.log(`${c.shape.join("x").padEnd(14)} ${c.kernel.padEnd(24)} ${c.instructions} Ir`);
  }
}
