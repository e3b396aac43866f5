// Race mode (issue 5, deliverable 2): planted bugs from the reference repository are caught with the
// right .metal lines (threadgroup race, shared staging across simdgroups, non-atomic device +=,
// half-written threadgroup cache); the fixed kernels and the proof kernels produce no finding.
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { Device, type Library, RaceError, UninitializedReadError } from "../mod.ts";
import { syntheticWeight } from "../lib/cli/profile.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";
import { lineOf, load } from "./util/kernels.ts";

// Every test here needs the clang-only instrumented build (see tests/util/clang.ts).
const test = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });

/** Asserts `e` is `cls` and its message names every file:line in `sites` (in that order). */
function names(e: unknown, cls: typeof RaceError, sites: string[]): boolean {
  assert.ok(
    e instanceof cls,
    `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : e}`,
  );
  let at = 0;
  for (const s of sites) {
    const i = e.message.indexOf(s, at);
    assert.ok(i >= 0, `"${s}" missing (or out of order) in: ${e.message}`);
    at = i + s.length;
  }
  return true;
}

const raceDevice = (): Device => Device.open({ backend: "cpu", instrument: "race" });

test("race: missing barrier between a threadgroup write and another lane's read names both lines", () => {
  using dev = raceDevice();
  using a = dev.tensor(new Float32Array(128));
  using b = dev.empty([128], "f32");
  const path = "tests/fixtures/race/missing_barrier.metal";
  const lib = load(dev, path);
  const write = `missing_barrier.metal:${lineOf(path, "RACE: write")}`;
  const read = `missing_barrier.metal:${lineOf(path, "RACE: read")}`;
  assert.throws(
    () => lib.kernel("missing_barrier").dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] }),
    (e: unknown) => names(e, RaceError, [`lane 1 writes at ${write}`, `lane 0 read at ${read}`]),
  );
  lib.kernel("with_barrier").dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] });
});

test("race: one staging buffer shared by four simdgroups", () => {
  using dev = raceDevice();
  using a = dev.tensor(new Float32Array(2 * 4 * 64));
  using b = dev.empty([2 * 4 * 64], "f32");
  const path = "tests/fixtures/race/shared_staging.metal";
  const lib = load(dev, path);
  const stage = `shared_staging.metal:${lineOf(path, "RACE: stage")}`;
  assert.throws(
    () => lib.kernel("shared_staging").dispatch({ grid: 2, threadgroupSize: 128, args: [a, b] }),
    (e: unknown) => names(e, RaceError, [`lane 32 writes at ${stage}`, `lane 31 wrote at ${stage}`]),
  );
  lib.kernel("per_simdgroup_staging").dispatch({ grid: 2, threadgroupSize: 128, args: [a, b] });
});

test("race: non-atomic += on one device address from many threadgroups; the atomic version is clean", () => {
  using dev = raceDevice();
  using a = dev.tensor(new Float32Array(128).fill(1));
  using total = dev.empty([1], "f32");
  const path = "tests/fixtures/race/device_accumulate.metal";
  const lib = load(dev, path);
  const acc = `device_accumulate.metal:${lineOf(path, "RACE: accumulate")}`;
  assert.throws(
    () => lib.kernel("racy_total").dispatch({ grid: 4, threadgroupSize: 32, args: [a, total] }),
    (e: unknown) =>
      names(e, RaceError, ["device memory race", `reads at ${acc}`, `wrote at ${acc}`, "threadgroup"]),
  );
  using u = dev.tensor(new Uint32Array(128).fill(2));
  using utotal = dev.empty([1], "u32");
  lib.kernel("atomic_total").dispatch({ grid: 4, threadgroupSize: 32, args: [u, utotal] });
  assert.equal((utotal.data as Uint32Array)[0], 8);
});

test("race: a read of a threadgroup cache only half written is an UninitializedReadError at the read", () => {
  using dev = raceDevice();
  using a = dev.tensor(new Float32Array(128));
  using b = dev.empty([128], "f32");
  const path = "tests/fixtures/race/half_written.metal";
  const lib = load(dev, path);
  assert.throws(
    () => lib.kernel("half_written").dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] }),
    (e: unknown) =>
      names(e, UninitializedReadError, [`reads at half_written.metal:${lineOf(path, "RACE: uninit")}`]),
  );
  lib.kernel("fully_written").dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] });
});

test("race: every proof kernel is clean in race mode and still computes", () => {
  using dev = raceDevice();
  const n = 300;
  using x = dev.tensor(Float32Array.from({ length: n }, (_, i) => (i % 17) - 8));
  using y = dev.tensor(Float32Array.from({ length: n }, (_, i) => i));
  using out = dev.empty([n], "f32");
  const proof = (file: string): Library => load(dev, `shaders/proof/${file}`);
  proof("vector_add.metal").kernel("vector_add").dispatch({
    grid: 2,
    threadgroupSize: 256,
    args: [x, y, out, new Uint32Array([n])],
  });
  assert.equal((out.data as Float32Array)[299], 299 + (299 % 17) - 8);
  using partial = dev.empty([2], "f32");
  proof("reduce_threadgroup.metal").kernel("reduce_threadgroup").dispatch({
    grid: 2,
    threadgroupSize: 256,
    args: [x, partial, new Uint32Array([n])],
  });
  let want = 0;
  for (let i = 0; i < 256; i++) want += (i % 17) - 8;
  assert.equal((partial.data as Float32Array)[0], want);
  const reduce = proof("simd_reduce.metal");
  using xs = dev.tensor(Float32Array.from({ length: 384 }, (_, i) => i % 5));
  using sums = dev.empty([12], "f32");
  for (const k of ["simd_sum_reduce_f32", "shuffle_tree_reduce_f32"]) {
    reduce.kernel(k).dispatch({ grid: 3, threadgroupSize: 128, args: [xs, sums] });
  }
  const div = proof("divergent_simd.metal");
  using x64 = dev.tensor(Float32Array.from({ length: 64 }, (_, i) => i + 1));
  using o64 = dev.empty([64], "f32");
  div.kernel("divergent_simd_sum").dispatch({ grid: 1, threadgroupSize: 64, args: [x64, o64] });
  using counts = dev.empty([64], "u32");
  div.kernel("loop_simd_count").dispatch({ grid: 1, threadgroupSize: 64, args: [counts] });
  using xu = dev.tensor(Uint32Array.from({ length: 32 }, (_, i) => i));
  using ou = dev.empty([8 * 32], "u32");
  proof("simd_collectives.metal").kernel("simd_collectives").dispatch({
    grid: 1,
    threadgroupSize: 32,
    args: [xu, ou],
  });
  using ha = dev.tensor(new Float16Array(64).fill(1));
  using hb = dev.tensor(new Float16Array(64).fill(2));
  using c = dev.empty([8, 8], "f32");
  using ct = dev.empty([8, 8], "f32");
  proof("simdgroup_matmul.metal").kernel("simdgroup_matmul_8x8").dispatch({
    grid: 1,
    threadgroupSize: 32,
    args: [ha, hb, c, ct],
  });
  assert.equal((c.data as Float32Array)[0], 16);
  using hx = dev.tensor(Uint32Array.from({ length: 1000 }, (_, i) => i));
  using hist = dev.empty([16], "u32");
  using total = dev.empty([1], "u32");
  proof("atomics.metal").kernel("atomic_histogram").dispatch({
    grid: 8,
    threadgroupSize: 128,
    args: [hx, hist, total, new Uint32Array([1000])],
  });
  assert.equal((total.data as Uint32Array)[0], 1000, "atomic vs atomic is not a race");
  const [m, nn, k] = [33, 40, 24];
  using ga = dev.tensor(new Float16Array(m * k).fill(0.5));
  using gb = dev.tensor(new Float16Array(k * nn).fill(0.25));
  using gc = dev.empty([m, nn], "f16");
  proof("gemm_f16.metal").kernel("gemm_f16").dispatch({
    grid: [Math.ceil(nn / 32), Math.ceil(m / 32)],
    threadgroupSize: 128,
    args: [ga, gb, gc, new Uint32Array([m, nn, k])],
  });
  assert.equal((gc.data as Float16Array)[m * nn - 1], 3);
});

test("race: the shipped GEMM kernels (every family, format, two group sizes) are clean", () => {
  // Two devices in turn: the builtin library is shared, and a closed device's lanes must never be
  // reached from instrumented code running outside a dispatch.
  for (const groupSize of [32, 128]) {
    using dev = raceDevice();
    raceShapes(dev, ["fp4", "int4", "int4-sym"], groupSize, "f16");
  }
});

test("race: the new formats (int4-affine gs 24, mxfp4, nvfp4) with bf16 activations are clean on every family", () => {
  using dev = raceDevice();
  raceShapes(dev, ["int4-affine"], 24, "bf16");
  raceShapes(dev, ["mxfp4"], 32, "bf16");
  raceShapes(dev, ["nvfp4"], 16, "f16");
});

test("race: the vector kernels' staged group ring is clean (groups across K blocks, per channel, ring wrap, SwiGLU)", () => {
  // K = 600 is 3 K blocks: gs 200 groups straddle block boundaries, gs 600 spans all three, and gs 8's
  // 75 groups cycle through the 32 ring slots; SwiGLU stages the up weight's planes too. Per channel under
  // split-K the scale moves to the reduction (int4-affine: with the sums of x staged there).
  using dev = raceDevice();
  const k = 600;
  const weights = [["int4", 8], ["int4-affine", 200], ["fp4", 600], ["int4-affine", 600]] as const;
  for (const [format, groupSize] of weights) {
    for (const [m, splitK] of [[1, 1], [5, 1], [3, 2]]) {
      using w = dev.upload(syntheticWeight(k, 40, format, groupSize));
      using up = dev.upload(syntheticWeight(k, 40, format, groupSize));
      using a = dev.tensor(new Float16Array(m * k).fill(0.5), [m, k]);
      const label = `M=${m} N=40 K=${k} ${format} gs${groupSize} splitK=${splitK}`;
      try {
        using out = dev.gemm(a, w, { splitK, up });
        assert.deepEqual(out.shape, [m, 40], label);
      } catch (e) {
        assert.fail(`${label}: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
      }
    }
  }
});

function raceShapes(
  dev: Device,
  formats: readonly QuantFormat[],
  groupSize: number,
  act: "f16" | "bf16",
): void {
  {
    for (
      const shape of [
        { m: 1, n: 72, k: 256 },
        { m: 5, n: 40, k: 256 },
        { m: 2, n: 32, k: 1024, splitK: 4 },
        { m: 40, n: 72, k: 128 },
      ]
    ) {
      for (const format of formats) {
        using w = dev.upload(syntheticWeight(shape.k, shape.n, format, groupSize));
        // 0.5 is 0x3800 in f16 and 0x3f00 in bf16
        using a = act === "bf16"
          ? dev.tensor(new Uint16Array(shape.m * shape.k).fill(0x3f00), [shape.m, shape.k], "bf16")
          : dev.tensor(new Float16Array(shape.m * shape.k).fill(0.5), [shape.m, shape.k]);
        const label = `M=${shape.m} N=${shape.n} K=${shape.k} ${format} gs${groupSize} ${act}`;
        try {
          using out = dev.gemm(a, w, { splitK: shape.splitK ?? 0 });
          assert.equal(out.shape[0], shape.m, label);
        } catch (e) {
          assert.fail(`${label}: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
        }
      }
    }
  }
}

test("race: a barrier orders only the address spaces its mem_flags name", () => {
  using dev = raceDevice();
  using a = dev.tensor(new Float32Array(128));
  using b = dev.empty([128], "f32");
  using scratch = dev.empty([128], "f32");
  const path = "tests/fixtures/race/barrier_flags.metal";
  const lib = load(dev, path);
  const at = (marker: string): string => `barrier_flags.metal:${lineOf(path, marker)}`;
  // Every lane writes before the barrier, so lane 0's read of lane 1's slot is the first finding.
  for (const [kernel, tag] of [["tg_exchange_mem_none", "NONE"], ["tg_exchange_mem_device", "DEVICE_ONLY"]]) {
    assert.throws(
      () => lib.kernel(kernel).dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] }),
      (e: unknown) =>
        names(e, RaceError, [
          "threadgroup memory race: lane 0 reads at",
          at(`${tag}: read`),
          `lane 1 wrote at ${at(`${tag}: write`)}`,
          "mem_flags::mem_threadgroup",
        ]),
      kernel,
    );
  }
  lib.kernel("tg_exchange_ok").dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] });
  assert.throws(
    () =>
      lib.kernel("dev_exchange_mem_threadgroup").dispatch({
        grid: 2,
        threadgroupSize: 64,
        args: [a, b, scratch],
      }),
    (e: unknown) =>
      names(e, RaceError, [
        "device memory race: thread 0",
        `reads at ${at("TG_ONLY: read")}`,
        `thread 1 (threadgroup #0, lane 1) wrote at ${at("TG_ONLY: write")}`,
        "mem_flags::mem_device",
      ]),
  );
  using x = dev.tensor(Float32Array.from({ length: 128 }, (_, i) => i));
  lib.kernel("dev_exchange_ok").dispatch({ grid: 2, threadgroupSize: 64, args: [x, b, scratch] });
  assert.equal((b.data as Float32Array)[0], 2, "lane 0 reads lane 1's 2 * 1");
  assert.equal((b.data as Float32Array)[127], 128, "lane 63 of threadgroup 1 reads lane 0's 2 * 64");
});
