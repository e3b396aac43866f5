// The CPU shader runtime, exercised through the public API with the proof kernels in shaders/proof/
// and the planted-bug kernels in tests/fixtures/kernels/ (compiled at run time with dev.compile).
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { BarrierError, DeadlockError, Device, InvalidArgumentError } from "../mod.ts";
import { gemmF16Tolerance } from "./util/reference_f16.ts";
import { matmulF64 } from "../lib/reference/gemm.ts";
import { lineOf, load } from "./util/kernels.ts";
import { Rng } from "./util/random.ts";

// The CPU runtime's own semantics and diagnostics (worker threads, synchronous DeadlockError and
// BarrierError at dispatch): this file stays on "cpu" under MM_TEST_BACKEND.
const cpu = (threads: number): Device => Device.open({ backend: "cpu", threads });

test("vector_add: every element, tail threadgroup bounds-checked", () => {
  using dev = cpu(2);
  const n = 1000; // not a multiple of the 256-thread threadgroup
  const rng = new Rng(1);
  const rand = (): number => rng.next();
  const a = Float32Array.from({ length: n }, () => rand() * 100);
  const b = Float32Array.from({ length: n }, () => rand() * 100);
  using ta = dev.tensor(a, [n]);
  using tb = dev.tensor(b, [n]);
  using out = dev.empty([n], "f32");
  load(dev, "shaders/proof/vector_add.metal").kernel("vector_add").dispatch({
    grid: Math.ceil(n / 256),
    threadgroupSize: 256,
    args: [ta, tb, out, new Uint32Array([n])],
  });
  const got = out.toArray() as Float32Array;
  for (let i = 0; i < n; i++) assert.equal(got[i], Math.fround(a[i] + b[i]), `element ${i}`);
});

test("threadgroup_barrier: no lane passes before every lane of its threadgroup arrives", () => {
  using dev = cpu(2);
  const threads = 256;
  const groups = 6;
  using seen = dev.empty([threads * groups], "u32");
  load(dev, "tests/fixtures/kernels/barrier_order.metal").kernel("barrier_order").dispatch({
    grid: groups,
    threadgroupSize: threads,
    args: [seen],
  });
  assert.deepEqual([...new Set(seen.toArray())], [threads]);
});

test("threadgroup memory: shared within a threadgroup, fresh (0xFF fill) in every threadgroup", () => {
  using dev = cpu(2);
  const threads = 64;
  const groups = 9;
  using before = dev.empty([groups], "u32");
  using after = dev.empty([threads * groups], "u32");
  load(dev, "tests/fixtures/kernels/threadgroup_fresh.metal").kernel("threadgroup_fresh").dispatch({
    grid: groups,
    threadgroupSize: threads,
    args: [before, after],
  });
  assert.deepEqual([...before.toArray()], new Array(groups).fill(0xffffffff));
  const got = after.toArray();
  for (let i = 0; i < got.length; i++) assert.equal(got[i], Math.floor(i / threads) + 1000, `thread ${i}`);
});

test("reduce_threadgroup: tree reduction in threadgroup memory matches the host sum", () => {
  using dev = cpu(2);
  const n = 3000;
  const threads = 256;
  const groups = Math.ceil(n / threads);
  const x = Float32Array.from({ length: n }, (_, i) => (i % 17) - 8); // small integers: exact sums
  using tx = dev.tensor(x, [n]);
  using partial = dev.empty([groups], "f32");
  load(dev, "shaders/proof/reduce_threadgroup.metal").kernel("reduce_threadgroup").dispatch({
    grid: groups,
    threadgroupSize: threads,
    args: [tx, partial, new Uint32Array([n])],
  });
  const got = partial.toArray();
  for (let g = 0; g < groups; g++) {
    let want = 0;
    for (let i = g * threads; i < Math.min(n, (g + 1) * threads); i++) want += x[i];
    assert.equal(got[g], want, `group ${g}`);
  }
});

test("simd_sum and the shuffle_xor tree agree (exactly for uint, within rounding for float)", () => {
  using dev = cpu(2);
  const lib = load(dev, "shaders/proof/simd_reduce.metal");
  const n = 32 * 12;
  const rng = new Rng(2);
  const rand = (): number => rng.next();
  const xu = Uint32Array.from({ length: n }, () => Math.floor(rand() * 1e6));
  const xf = Float32Array.from({ length: n }, () => rand() * 2 - 1);
  for (const [suffix, data] of [["u32", xu], ["f32", xf]] as const) {
    using x = dev.tensor(data, [n]);
    using viaSum = dev.empty([n / 32], suffix);
    using viaTree = dev.empty([n / 32], suffix);
    lib.kernel(`simd_sum_reduce_${suffix}`).dispatch({ grid: 3, threadgroupSize: 128, args: [x, viaSum] });
    lib.kernel(`shuffle_tree_reduce_${suffix}`).dispatch({
      grid: 3,
      threadgroupSize: 128,
      args: [x, viaTree],
    });
    const s = viaSum.toArray();
    const t = viaTree.toArray();
    for (let g = 0; g < n / 32; g++) {
      let want = 0;
      for (let i = 0; i < 32; i++) want += data[g * 32 + i];
      if (suffix === "u32") {
        assert.equal(s[g], want >>> 0, `simd_sum group ${g}`);
        assert.equal(t[g], s[g], `tree vs simd_sum group ${g}`);
      } else {
        assert.ok(Math.abs(s[g] - want) < 1e-5, `simd_sum group ${g}: ${s[g]} vs ${want}`);
        assert.ok(Math.abs(t[g] - s[g]) < 1e-5, `tree vs simd_sum group ${g}: ${t[g]} vs ${s[g]}`);
      }
    }
  }
});

test("simd collectives in divergent branches reduce over the lanes of their branch only", () => {
  using dev = cpu(2);
  const lib = load(dev, "shaders/proof/divergent_simd.metal");
  const n = 64;
  const x = Float32Array.from({ length: n }, (_, i) => i + 1);
  using tx = dev.tensor(x, [n]);
  using out = dev.empty([n], "f32");
  lib.kernel("divergent_simd_sum").dispatch({ grid: 1, threadgroupSize: 64, args: [tx, out] });
  const got = out.toArray();
  for (let i = 0; i < n; i++) {
    const base = Math.floor(i / 32) * 32;
    let want = 0;
    for (let l = i % 2; l < 32; l += 2) want += (i % 2 === 0 ? 1 : 10) * x[base + l];
    assert.equal(got[i], want, `lane ${i}`);
  }
  using counts = dev.empty([n], "u32");
  lib.kernel("loop_simd_count").dispatch({ grid: 1, threadgroupSize: 64, args: [counts] });
  const active = [32, 24, 16, 8];
  const c = counts.toArray();
  for (let i = 0; i < n; i++) {
    let want = 0;
    for (let it = 0; it <= i % 4; it++) want = want * 64 + active[it];
    assert.equal(c[i], want, `lane ${i}`);
  }
});

test("simd prefix sums, shuffles, broadcast, max and ballot match a host model", () => {
  using dev = cpu(1);
  const x = Uint32Array.from({ length: 32 }, (_, i) => (i * 7 + 3) % 11);
  using tx = dev.tensor(x, [32]);
  using out = dev.empty([8 * 32], "u32");
  load(dev, "shaders/proof/simd_collectives.metal").kernel("simd_collectives").dispatch({
    grid: 1,
    threadgroupSize: 32,
    args: [tx, out],
  });
  const got = out.toArray();
  let ballot = 0;
  for (let l = 0; l < 32; l++) if (x[l] % 3 === 0) ballot |= 1 << l;
  const max = Math.max(...x);
  let run = 0;
  for (let l = 0; l < 32; l++) {
    const row = (op: number) => got[op * 32 + l];
    assert.equal(row(1), run, `exclusive prefix lane ${l}`);
    run += x[l];
    assert.equal(row(0), run, `inclusive prefix lane ${l}`);
    assert.equal(row(2), x[31 - l], `shuffle lane ${l}`);
    assert.equal(row(3), l < 31 ? x[l + 1] : x[l], `shuffle_down lane ${l}`);
    assert.equal(row(4), l > 0 ? x[l - 1] : x[l], `shuffle_up lane ${l}`);
    assert.equal(row(5), x[5], `broadcast lane ${l}`);
    assert.equal(row(6), max, `max lane ${l}`);
    assert.equal(row(7), ballot >>> 0, `ballot lane ${l}`);
  }
});

test("simdgroup_matrix 8x8: multiply_accumulate and transposed load match a float64 reference", () => {
  using dev = cpu(1);
  const rng = new Rng(3);
  const rand = (): number => rng.next();
  const a = Float16Array.from({ length: 64 }, () => rand() * 4 - 2);
  const b = Float16Array.from({ length: 64 }, () => rand() * 4 - 2);
  using ta = dev.tensor(a, [8, 8]);
  using tb = dev.tensor(b, [8, 8]);
  using c = dev.empty([8, 8], "f32");
  using ct = dev.empty([8, 8], "f32");
  load(dev, "shaders/proof/simdgroup_matmul.metal").kernel("simdgroup_matmul_8x8").dispatch({
    grid: 1,
    threadgroupSize: 32,
    args: [ta, tb, c, ct],
  });
  const got = c.toArray();
  const gotT = ct.toArray();
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) {
      let want = 0;
      let wantT = 0;
      for (let k = 0; k < 8; k++) {
        want += a[i * 8 + k] * b[k * 8 + j];
        wantT += a[i * 8 + k] * b[j * 8 + k];
      }
      // 8 products of fp16 values summed in float: error well under 1e-5 at these magnitudes.
      assert.ok(Math.abs(got[i * 8 + j] - want) < 1e-5, `c[${i}][${j}] ${got[i * 8 + j]} vs ${want}`);
      assert.ok(Math.abs(gotT[i * 8 + j] - wantT) < 1e-5, `ct[${i}][${j}] ${gotT[i * 8 + j]} vs ${wantT}`);
    }
  }
});

test("device atomics: a histogram from 40 threadgroups running in parallel counts every element", () => {
  using dev = cpu(2);
  const n = 40 * 128 - 5;
  const rng = new Rng(4);
  const rand = (): number => rng.next();
  const x = Uint32Array.from({ length: n }, () => Math.floor(rand() * 1000));
  using tx = dev.tensor(x, [n]);
  using hist = dev.empty([16], "u32");
  using total = dev.empty([1], "u32");
  load(dev, "shaders/proof/atomics.metal").kernel("atomic_histogram").dispatch({
    grid: 40,
    threadgroupSize: 128,
    args: [tx, hist, total, new Uint32Array([n])],
  });
  const want = new Array(16).fill(0);
  for (const v of x) want[v % 16]++;
  assert.deepEqual([...hist.toArray()], want);
  assert.equal(total.toArray()[0], n);
});

test("a deadlock (halves at different barriers) fails with DeadlockError naming both .metal lines", () => {
  using dev = cpu(1);
  const path = "tests/fixtures/kernels/deadlock.metal";
  using out = dev.empty([32], "u32");
  const kernel = load(dev, path).kernel("deadlock");
  assert.throws(() => kernel.dispatch({ grid: 1, threadgroupSize: 32, args: [out] }), (e: unknown) => {
    assert.ok(e instanceof DeadlockError, String(e));
    assert.match(e.message, new RegExp(`deadlock\\.metal:${lineOf(path, "DEADLOCK_FIRST")}\\b`));
    assert.match(e.message, new RegExp(`deadlock\\.metal:${lineOf(path, "DEADLOCK_SECOND")}\\b`));
    return true;
  });
});

test("a barrier skipped by an early return fails with BarrierError naming the .metal line", () => {
  using dev = cpu(1);
  const path = "tests/fixtures/kernels/partial_barrier.metal";
  using out = dev.empty([32], "u32");
  const kernel = load(dev, path).kernel("partial_barrier");
  assert.throws(() => kernel.dispatch({ grid: 1, threadgroupSize: 32, args: [out] }), (e: unknown) => {
    assert.ok(e instanceof BarrierError, String(e));
    assert.match(e.message, new RegExp(`partial_barrier\\.metal:${lineOf(path, "PARTIAL_BARRIER")}\\b`));
    return true;
  });
});

for (const [m, n, k] of [[1, 37, 19], [8, 64, 64], [33, 130, 71], [128, 512, 512]]) {
  test(`gemm_f16 M=${m} N=${n} K=${k}: matches float64, bit-identical with 1 and 2 worker threads`, () => {
    const rng = new Rng(m * 1000003 + n * 1009 + k);
    const rand = (): number => rng.next();
    const a = Float16Array.from({ length: m * k }, () => rand() * 2 - 1);
    const b = Float16Array.from({ length: k * n }, () => rand() * 2 - 1);
    const results: Float16Array[] = [];
    for (const threads of [1, 2]) {
      using dev = cpu(threads);
      using ta = dev.tensor(a, [m, k]);
      using tb = dev.tensor(b, [k, n]);
      using tc = dev.empty([m, n], "f16");
      load(dev, "shaders/proof/gemm_f16.metal").kernel("gemm_f16").dispatch({
        grid: [Math.ceil(n / 32), Math.ceil(m / 32)],
        threadgroupSize: 128,
        args: [ta, tb, tc, new Uint32Array([m, n, k])],
      });
      results.push(tc.toArray() as Float16Array);
    }
    const want = matmulF64(a, b, m, k, n);
    const tol = gemmF16Tolerance(a, b, m, n, k);
    for (let i = 0; i < m * n; i++) {
      assert.ok(
        Math.abs(results[0][i] - want[i]) <= tol[i],
        `c[${i}] ${results[0][i]} vs ${want[i]} (tol ${tol[i]})`,
      );
    }
    assert.deepEqual(new Uint16Array(results[1].buffer), new Uint16Array(results[0].buffer));
  });
}

test("simdgroup_load with transpose and a nonzero origin fails loudly (semantics unverified without a GPU)", () => {
  using dev = cpu(1);
  const src = `#include <metal_stdlib>
using namespace metal;
kernel void transposed_origin(device const float* a [[buffer(0)]], device float* c [[buffer(1)]]) {
  simdgroup_float8x8 m;
  simdgroup_load(m, a, 16, ulong2(8, 0), true);
  simdgroup_store(m, c, 8);
}`;
  using a = dev.tensor(new Float32Array(16 * 8), [8, 16]);
  using c = dev.empty([64], "f32");
  const kernel = dev.compile(src, { name: "transposed_origin.metal" }).kernel("transposed_origin");
  assert.throws(() => kernel.dispatch({ grid: 1, threadgroupSize: 32, args: [a, c] }), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, /transpose and a nonzero matrix_origin.*transposed_origin\.metal:5\b/s);
    return true;
  });
});
