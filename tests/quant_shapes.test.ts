// Any K and N (1..300, non-multiples of 8 and of the group size) quantize, pad, and come back in the
// original shape; every padded position dequantizes to exactly 0; batched weights; bad input -> typed errors.
import assert from "node:assert";
import { test } from "./harness.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantize, groupTable } from "../lib/quant/dequantize.ts";
import { padQuantized } from "../lib/quant/pad.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";
import { InvalidArgumentError, ShapeError } from "../lib/runtime/errors.ts";
import { Rng } from "./util/random.ts";

/** Decodes every stored position, padded ones included; asserts padded ones are exactly 0. */
function assertPaddingZero(q: QuantizedMatrix, label: string): void {
  const lut = new Float64Array(16);
  const groups = q.kp / q.groupSize;
  for (let b = 0; b < (q.batch ?? 1); b++) {
    for (let kk = 0; kk < q.kp; kk++) {
      for (let c = 0; c < q.np; c++) {
        if (kk < q.k && c < q.n) continue;
        groupTable(q, (b * groups + Math.floor(kk / q.groupSize)) * q.np + c, lut);
        const word = q.packed[(b * (q.kp / 8) + (kk >> 3)) * q.np + c];
        const v = lut[(word >>> ((kk & 7) << 2)) & 15];
        assert.ok(v === 0, `${label}: padded (b ${b}, k ${kk}, n ${c}) = ${v}`);
      }
    }
  }
}

const SIZES = [1, 2, 7, 8, 9, 31, 33, 63, 100, 127, 129, 257, 300];

test("K and N from 1 to 300 round-trip to the original shape with exact-zero padding (all formats)", () => {
  const rng = new Rng(31);
  for (const format of ["fp4", "int4", "int4-sym"] as const) {
    for (let t = 0; t < 12; t++) {
      const k = SIZES[rng.int(SIZES.length)], n = SIZES[rng.int(SIZES.length)];
      const gs = [8, 32, 64, 128][rng.int(4)];
      const layout = rng.int(2) === 0 ? "nk" as const : "kn" as const;
      const label = `${format} k ${k} n ${n} gs ${gs} ${layout}`;
      const w = rng.fill(k * n, "normal");
      const q = quantize(w, { k, n, format, groupSize: gs, layout });
      assert.strictEqual(q.kp, Math.ceil(k / gs) * gs, label);
      assert.strictEqual(q.np, Math.ceil(n / 8) * 8, label);
      assert.strictEqual(q.packed.length, (q.kp / 8) * q.np, label);
      assert.strictEqual(q.scales.length, (q.kp / gs) * q.np, label);
      const d = dequantize(q);
      assert.strictEqual(d.length, k * n, label);
      const bound = format === "fp4" ? 0.2 : 0.1; // loose sanity: the tight bounds live in quant_fp4/int4
      let rms = 0;
      for (let i = 0; i < d.length; i++) rms += (d[i] - w[i]) ** 2;
      assert.ok(Math.sqrt(rms / d.length) < bound * 3, `${label}: rms error ${Math.sqrt(rms / d.length)}`);
      assertPaddingZero(q, label);
      const bigger = padQuantized(q, { kMultiple: 32, nMultiple: 64 });
      assert.strictEqual(bigger.np % 64, 0);
      assert.strictEqual(bigger.kp % 32, 0);
      assert.strictEqual(bigger.kp % gs, 0);
      assertPaddingZero(bigger, `${label} padded`);
      assert.deepStrictEqual(dequantize(bigger), d, `${label}: padding does not change values`);
    }
  }
});

test("exhaustive small shapes: every K and N in 1..20 (fp4 and int4, gs 8 and 16)", () => {
  const rng = new Rng(32);
  for (let k = 1; k <= 20; k++) {
    for (let n = 1; n <= 20; n++) {
      const format = (k + n) % 2 === 0 ? "fp4" as const : "int4" as const;
      const gs = k % 2 === 0 ? 8 : 16;
      const w = rng.fill(k * n, "normal");
      const q = quantize(w, { k, n, format, groupSize: gs });
      assert.strictEqual(dequantize(q).length, k * n);
      assertPaddingZero(q, `k ${k} n ${n}`);
    }
  }
});

test("batched weights: [batch, Kp/8, Np] words and [batch, Kp/gs, Np] scales; each batch = its own quantize", () => {
  const rng = new Rng(33);
  const batch = 3, k = 40, n = 10, gs = 32;
  const w = rng.fill(batch * k * n, "normal");
  for (const format of ["fp4", "int4"] as const) {
    const q = quantize(w, { k, n, format, groupSize: gs, batch });
    assert.strictEqual(q.batch, 3);
    assert.strictEqual(q.packed.length, batch * (64 / 8) * 16);
    assert.strictEqual(q.scales.length, batch * 2 * 16);
    const d = dequantize(q);
    for (let b = 0; b < batch; b++) {
      const one = quantize(w.subarray(b * k * n, (b + 1) * k * n), { k, n, format, groupSize: gs });
      assert.deepStrictEqual(q.packed.subarray(b * 128, (b + 1) * 128), one.packed);
      assert.deepStrictEqual(d.subarray(b * k * n, (b + 1) * k * n), dequantize(one));
    }
    assertPaddingZero(q, `batched ${format}`);
  }
});

test("layout kn and nk of the same matrix give identical packed words", () => {
  const rng = new Rng(34);
  const k = 50, n = 13;
  const nk = rng.fill(k * n, "normal");
  const kn = new Float32Array(k * n);
  for (let c = 0; c < n; c++) for (let r = 0; r < k; r++) kn[r * n + c] = nk[c * k + r];
  const a = quantize(nk, { k, n, format: "int4", groupSize: 16, layout: "nk" });
  const b = quantize(kn, { k, n, format: "int4", groupSize: 16, layout: "kn" });
  assert.deepStrictEqual(a.packed, b.packed);
  assert.deepStrictEqual(dequantize(b).length, k * n);
  const da = dequantize(a), db = dequantize(b);
  for (let c = 0; c < n; c++) for (let r = 0; r < k; r++) assert.strictEqual(db[r * n + c], da[c * k + r]);
});

function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, text: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof cls && text.test((e as Error).message));
}

test("bad input -> typed errors whose messages carry the numbers", () => {
  const w = new Float32Array(4095);
  throwsWith(
    () => quantize(w, { k: 64, n: 64, format: "fp4" }),
    ShapeError,
    /^quantize: w has 4095 elements but k\*n = 64\*64 = 4096/,
  );
  throwsWith(
    () => quantize(new Float32Array(12), { k: 2, n: 2, batch: 2, format: "fp4" }),
    ShapeError,
    /batch\*k\*n = 2\*2\*2 = 8/,
  );
  throwsWith(
    () => quantize(w, { k: 0, n: 1, format: "fp4" }),
    InvalidArgumentError,
    /quantize: k must be a positive integer, got 0/,
  );
  throwsWith(
    () => quantize(w, { k: 2.5, n: 1, format: "fp4" }),
    InvalidArgumentError,
    /k must be a positive integer, got 2.5/,
  );
  throwsWith(
    () => quantize(w, { k: 1, n: -3, format: "fp4" }),
    InvalidArgumentError,
    /n must be a positive integer, got -3/,
  );
  throwsWith(
    () => quantize(w, { k: 64, n: 64, format: "fp4", groupSize: 100 }),
    InvalidArgumentError,
    /groupSize must be a positive multiple of 8, got 100 \(nearest: 104\)/,
  );
  throwsWith(
    () => quantize(w, { k: 64, n: 64, format: "fp8" as never }),
    InvalidArgumentError,
    /unknown format "fp8"; expected one of fp4, int4, int4-sym/,
  );
  throwsWith(
    () => quantize(w, { k: 64, n: 64, format: "fp4", layout: "mk" as never }),
    InvalidArgumentError,
    /layout must be "nk" or "kn"/,
  );
  throwsWith(
    () => quantize([1, 2] as never, { k: 1, n: 2, format: "fp4" }),
    InvalidArgumentError,
    /Float32Array or Float16Array, got Array/,
  );
  throwsWith(
    () => quantize(new Float32Array(4), { k: 2, n: 2, format: "fp4", clip: [1.5] }),
    InvalidArgumentError,
    /clip ratios must be in \(0, 1\], got 1.5/,
  );
  const bad = new Float32Array(4 * 3);
  bad[7] = NaN;
  throwsWith(
    () => quantize(bad, { k: 4, n: 3, format: "int4" }),
    InvalidArgumentError,
    /quantize: w\[7\] \(k 3, n 1\) is NaN/,
  );
  bad[7] = 0;
  bad[5] = -Infinity;
  throwsWith(
    () => quantize(bad, { k: 4, n: 3, format: "fp4", layout: "kn" }),
    InvalidArgumentError,
    /w\[5\] \(k 1, n 2\) is -Infinity/,
  );
  const big = new Float32Array(8).fill(1e6);
  throwsWith(
    () => quantize(big, { k: 8, n: 1, format: "fp4", groupSize: 8 }),
    InvalidArgumentError,
    /needs scale 166666.6+\d*, above the float16 maximum 65504/,
  );
  const q = quantize(new Float32Array(64), { k: 8, n: 8, format: "int4", groupSize: 8 });
  throwsWith(
    () => dequantize({ ...q, scales: new Float16Array(3) }),
    ShapeError,
    /dequantize: scales must be a Float16Array of batch\*\(kp\/gs\)\*np = 1\*1\*8 = 8, got 3/,
  );
  throwsWith(
    () => dequantize({ ...q, zeros: undefined }),
    ShapeError,
    /int4 zeros must be a Uint8Array of 8 entries/,
  );
});
