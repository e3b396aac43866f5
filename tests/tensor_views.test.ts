// Views at an offset (t.view(offset, shape), t.rows(start, end)): no copies (live buffer count
// unchanged), shared memory both ways, accepted by gemm / batchedGemm / dispatch with results equal to
// the float64 reference and bit-equal to the same call on copies, bounds checked against the view,
// overlap checked across views of one buffer, and dead (DisposedError) once their parent is disposed.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { BoundsError, DisposedError, InvalidArgumentError, ShapeError, type Tensor } from "../mod.ts";
import { assertClose, dense, expect, openTestDevice, randF16, randomWeight } from "./gemm_helpers.ts";
import { load } from "./util/kernels.ts";

const bits = (a: Float16Array): number[] => [...new Uint16Array(a.buffer, a.byteOffset, a.length)];

test("views: writes through a view show in the parent and the other way round; no buffer is allocated", () => {
  using dev = openTestDevice();
  using t = dev.tensor(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3]);
  const live = dev.info.live_buffers;
  const r = t.rows(1, 3);
  const v = t.view(5, [2, 2]);
  const vv = v.view(1, [2]); // a view of a view: elements 6..7 of t
  assert.deepEqual(r.shape, [2, 3]);
  assert.deepEqual([...r.toArray()], [3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...vv.toArray()], [6, 7]);
  r.data[0] = -3;
  assert.equal(t.data[3], -3);
  t.data[7] = 70;
  assert.equal(v.data[2], 70);
  assert.equal(vv.data[1], 70);
  assert.equal(dev.info.live_buffers, live);
  assert.match(String(r), /^Tensor\(f32 \[2, 3\] at element 3 of \[4, 3\]\) \[-3, 4, 5, 6, 70, 8\]$/);
  // Disposing a view frees nothing: the parent and its other views stay usable.
  r.dispose();
  assert.throws(() => r.data, DisposedError);
  assert.equal(dev.info.live_buffers, live);
  assert.equal(t.data[3], -3);
  assert.equal(v.data[0], 5);
});

test("views: bounds and argument errors name the numbers", () => {
  using dev = openTestDevice();
  using t = dev.empty([4, 3], "f16");
  assert.throws(() => t.view(10, [3]), (e: unknown) => {
    assert.ok(e instanceof BoundsError);
    assert.equal(
      e.message,
      "view: offset 10 + shape [3] (3 elements) reaches past the tensor's 12 elements (shape [4, 3])",
    );
    return true;
  });
  assert.throws(() => t.view(-1, [1]), InvalidArgumentError);
  assert.throws(() => t.view(1.5, [1]), InvalidArgumentError);
  assert.throws(() => t.view(0, [-2]), ShapeError);
  assert.throws(
    () => t.rows(3, 5),
    /rows: \[3, 5\) is not a row range of shape \[4, 3\] \(need 0 <= start <= end <= 4\)/,
  );
  assert.throws(() => t.rows(2, 1), BoundsError);
  assert.throws(() => t.rows(0, Number.NaN), InvalidArgumentError);
  // A view's bounds are its own, not its parent's: a view of a view cannot reach further.
  const r = t.rows(1, 3);
  assert.throws(() => r.view(4, [3]), /reaches past the tensor's 6 elements/);
  assert.deepEqual(t.rows(4, 4).shape, [0, 3]);
});

test("views: disposing the parent kills its views (DisposedError, data detached), never a stale read", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float16Array([1, 2, 3, 4, 5, 6]), [3, 2]);
  const w = dev.upload(randomWeight(2, 8, "fp4", 32, 1));
  const v = t.rows(1, 3);
  const d = v.data;
  const live = dev.info.live_buffers;
  t.dispose();
  assert.equal(dev.info.live_buffers, live - 1);
  assert.equal(v.disposed, true);
  assert.equal(d.length, 0); // the typed array taken earlier is detached with the parent's memory
  assert.throws(() => v.data, /data: the view's parent tensor was disposed/);
  assert.throws(() => v.toArray(), DisposedError);
  assert.throws(() => v.rows(0, 1), DisposedError);
  assert.throws(() => dev.gemm(v, w), DisposedError);
  assert.equal(String(v), "Tensor(f16 [2, 2] at element 2 of [3, 2], disposed)");
  w.dispose();
});

test("views: a view returned from dev.scope keeps its parent alive", () => {
  using dev = openTestDevice();
  const v = dev.scope(() => dev.tensor(new Float32Array([1, 2, 3, 4])).view(1, [2]));
  assert.deepEqual([...v.toArray()], [2, 3]);
});

// gemm with A rows at an offset of a larger activation buffer and C rows at an offset of a larger
// cache (KV-cache slot style); odd offsets put A off the 8-byte vector path.
for (
  const c of [{ m: 3, k: 40, n: 24, aRow: 2, cRow: 5, extra: 0 }, {
    m: 5,
    k: 65,
    n: 17,
    aRow: 1,
    cRow: 0,
    extra: 3,
  }]
) {
  const name =
    `views: gemm M=${c.m} K=${c.k} N=${c.n} fp4 gs=32, a rows ${c.aRow}.. (+${c.extra}), out rows ${c.cRow}..`;
  test(name, () => {
    using dev = openTestDevice();
    const q = randomWeight(c.k, c.n, "fp4", 32, c.k + c.n);
    using w = dev.upload(q);
    const rowsA = c.aRow + c.m + 2, rowsC = c.cRow + c.m + 3;
    const aData = randF16(rowsA * c.k + c.extra, 7);
    using big = dev.tensor(aData, [aData.length]);
    using cache = dev.tensor(new Float16Array(rowsC * c.n).fill(-9), [rowsC, c.n]);
    const live = dev.info.live_buffers;
    const a = big.view(c.aRow * c.k + c.extra, [c.m, c.k]);
    const out = cache.rows(c.cRow, c.cRow + c.m);
    assert.equal(dev.gemm(a, w, { out }), out);
    assert.equal(dev.info.live_buffers, live, "no buffer allocated for views or the output");
    const got = cache.toArray();
    const e = expect(aData, c.aRow * c.k + c.extra, c.k, c.m, c.k, c.n, dense(q), 0, undefined, {});
    assertClose(name, got, c.cRow * c.n, c.n, c.m, c.n, e);
    for (let i = 0; i < got.length; i++) {
      if (i < c.cRow * c.n || i >= (c.cRow + c.m) * c.n) {
        assert.equal(got[i], -9, `cache element ${i} outside the view`);
      }
    }
    // The same call on copies gives the same bits.
    using aCopy = dev.tensor(a.toArray(), [c.m, c.k]);
    using ref = dev.gemm(aCopy, w);
    assert.deepEqual(bits(out.toArray()), bits(ref.toArray()));
  });
}

test("views: batchedGemm with A and out views inside larger buffers equals the copy-based call", () => {
  using dev = openTestDevice();
  const b = 3, m = 2, k = 48, n = 16;
  const q = randomWeight(k, n, "int4", 32, 3, b);
  using w = dev.upload(q);
  const aData = randF16(b * m * k + 11, 4);
  using big = dev.tensor(aData);
  using cache = dev.tensor(new Float16Array((b * m + 4) * n).fill(5), [b * m + 4, n]);
  const live = dev.info.live_buffers;
  const a = big.view(11, [b, m, k]);
  const out = cache.rows(4, 4 + b * m).view(0, [b, m, n]);
  dev.batchedGemm(a, w, { out });
  assert.equal(dev.info.live_buffers, live);
  const got = cache.toArray();
  const wd = dense(q);
  for (let bi = 0; bi < b; bi++) {
    const e = expect(aData, 11 + bi * m * k, k, m, k, n, wd, bi * k * n, undefined, {});
    assertClose(`batch ${bi}`, got, (4 + bi * m) * n, n, m, n, e);
  }
  assert.ok(got.subarray(0, 4 * n).every((x) => x === 5), "rows before the view untouched");
  using aCopy = dev.tensor(a.toArray(), [b, m, k]);
  using ref = dev.batchedGemm(aCopy, w);
  assert.deepEqual(bits(out.toArray()), bits(ref.toArray()));
});

test("views: gemm past a view's end is a BoundsError even when the parent buffer is large enough", () => {
  using dev = openTestDevice();
  using w = dev.upload(randomWeight(32, 8, "fp4", 32, 5));
  using big = dev.tensor(randF16(10 * 32, 6), [10, 32]);
  using cache = dev.empty([10, 8], "f16");
  const live = dev.info.live_buffers;
  assert.throws(
    () => dev.gemm(big.rows(0, 2), w, { m: 3, out: cache.rows(0, 3) }),
    /gemm: a holds 64 f16 elements but m=3, lda=32, K=32 need 96/,
  );
  assert.throws(() => dev.gemm(big.rows(0, 3), w, { out: cache.rows(5, 7) }), (e: unknown) => {
    assert.ok(e instanceof BoundsError);
    assert.equal(e.message, "gemm: out is a view of 16 elements but m=3, ldc=8, N=8 reach 24");
    return true;
  });
  assert.throws(
    () => dev.batchedGemm(big.view(0, [2, 2, 32]), w, { strideA: 96, out: cache.view(0, [2, 2, 8]) }),
    /batchedGemm: a is a view of 128 elements but batch=2, strideA=96, m=2, lda=32, K=32 reach 160/,
  );
  assert.equal(dev.info.live_buffers, live);
});

test("views: an output view overlapping an input view of the same buffer is refused; disjoint rows are fine", () => {
  using dev = openTestDevice();
  using w = dev.upload(randomWeight(16, 16, "fp4", 16, 8));
  using buf = dev.tensor(randF16(8 * 16, 9), [8, 16]);
  assert.throws(
    () => dev.gemm(buf.rows(0, 2), w, { out: buf.rows(1, 3) }),
    /gemm: c \(bytes 32\.\.96\) overlaps a \(bytes 0\.\.64\)/,
  );
  const before = buf.toArray();
  dev.gemm(buf.rows(0, 2), w, { out: buf.rows(2, 4) });
  const after = buf.toArray();
  using copy = dev.tensor(before.slice(0, 32), [2, 16]);
  using ref = dev.gemm(copy, w);
  assert.deepEqual(bits(after.slice(32, 64)), bits(ref.toArray()));
  assert.deepEqual(bits(after.slice(0, 32)), bits(before.slice(0, 32)));
  assert.deepEqual(bits(after.slice(64)), bits(before.slice(64)));
});

test("views: dispatch binds a view (and { tensor: view, offset }) at its offset, within its length", () => {
  using dev = openTestDevice();
  const n = 5;
  using src = dev.tensor(Float32Array.from({ length: 20 }, (_, i) => i), [4, 5]);
  using dst = dev.tensor(new Float32Array(20).fill(-1), [4, 5]);
  const live = dev.info.live_buffers;
  const kernel = load(dev, "shaders/proof/vector_add.metal").kernel("vector_add");
  kernel.dispatch({
    grid: 1,
    threadgroupSize: 32,
    args: [src.rows(1, 2), { tensor: src.rows(2, 4), offset: 1 }, dst.rows(3, 4), new Uint32Array([n])],
  });
  const got = dst.toArray();
  assert.deepEqual([...got.subarray(15)], [5 + 11, 6 + 12, 7 + 13, 8 + 14, 9 + 15]);
  assert.ok(got.subarray(0, 15).every((x) => x === -1));
  assert.equal(dev.info.live_buffers, live);
  assert.throws(
    () => kernel.dispatch({ grid: 1, threadgroupSize: 32, args: [{ tensor: src.rows(1, 2), offset: 5 }] }),
    (e: unknown) =>
      e instanceof BoundsError && /args\[0\] binds a view at element 5 of its 5 elements/.test(e.message),
  );
});

// Bun.gc(true) under Bun, globalThis.gc under `deno test --v8-flags=--expose-gc`; otherwise skipped.
const g = globalThis as { Bun?: { gc(full: boolean): void }; gc?: () => void };
const fullGc = g.Bun ? () => g.Bun!.gc(true) : g.gc;

async function collect(until: () => boolean): Promise<void> {
  for (let i = 0; i < 40 && !until(); i++) {
    fullGc!();
    await new Promise((r) => setTimeout(r, 5));
  }
}

test(
  "views: a reachable view keeps its dropped parent's memory; dropping the view too frees it",
  async () => {
    using dev = openTestDevice();
    const base = dev.info.live_buffers;
    // The parent is referenced only by the view; both are touched only inside helper functions, so no
    // stack slot of this frame holds them (JSC scans stacks conservatively).
    const held: { v?: Tensor<"f32"> } = {};
    (() => {
      held.v = dev.tensor(Float32Array.from({ length: 64 }, (_, i) => i), [16, 4]).rows(3, 5);
    })();
    await collect(() => false);
    assert.equal(dev.info.live_buffers, base + 1, "the parent's buffer is still allocated");
    (() => assert.deepEqual([...held.v!.toArray()], [12, 13, 14, 15, 16, 17, 18, 19]))();
    held.v = undefined;
    await collect(() => dev.info.live_buffers === base);
    assert.equal(dev.info.live_buffers, base, "the parent's finalizer freed the buffer once nothing held it");
  },
  { skip: fullGc ? undefined : "needs a GC hook: Bun, or Deno with --v8-flags=--expose-gc" },
);

test("views: toArray() and data are typed by dtype (checked by deno check / tsc)", () => {
  using dev = openTestDevice();
  using h = dev.tensor(new Float16Array([1, 2, 3, 4]), [2, 2]);
  using f = dev.empty([3], "f32");
  using b = dev.tensor(new Uint16Array([0x3f80]), undefined, "bf16");
  const hs: Float16Array = h.rows(1, 2).toArray();
  const fs: Float32Array = f.data;
  const bs: Uint16Array = b.toArray();
  assert.ok(hs instanceof Float16Array && fs instanceof Float32Array && bs instanceof Uint16Array);
  assert.deepEqual([...hs], [3, 4]);
  assert.equal(h.view(1, [1]).dtype satisfies "f16", "f16");
});

test("views: a tensor whose data buffer was transferred away makes no views", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float32Array([1, 2, 3]));
  const moved = new Float32Array((t.data.buffer as ArrayBuffer).transfer());
  assert.throws(() => t.view(0, [1]), /view: the tensor's data buffer was transferred away/);
  t.dispose();
  assert.deepEqual([...moved], [1, 2, 3]);
});
