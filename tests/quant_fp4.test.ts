// FP4 E2M1: the one codebook, packing order, exact round trips, ties, and the error bound.
import assert from "node:assert";
import { test } from "./harness.ts";
import { FP4_E2M1_VALUES, FP4_THRESHOLDS } from "../lib/quant/formats.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import { Rng } from "./util/random.ts";

test("fp4: all 16 codes decode to the E2M1 table (reference bug 1: three codebooks)", () => {
  const expected = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];
  for (let c = 0; c < 16; c++) assert.ok(Object.is(FP4_E2M1_VALUES[c], expected[c]), `code ${c}`);
  // Through the real decode path: one column, K = 16, word 0 holds codes 0..7, word 1 codes 8..15.
  const q = quantize(new Float32Array(16), { k: 16, n: 1, format: "fp4", groupSize: 16 });
  q.packed[0] = 0x76543210;
  q.packed[q.np] = 0xfedcba98;
  q.scales[0] = 1;
  const d = dequantize(q);
  for (let c = 0; c < 16; c++) assert.ok(Object.is(d[c], expected[c]), `code ${c}: ${d[c]}`);
});

test("fp4: packing puts the lowest k in the lowest nibble, words [Kp/8, Np] row-major", () => {
  // w[k] = value(code k % 8) * 0.5 in column 0 ([N, K] layout), column 1 all zero; absmax 3 -> scale 0.5.
  const k = 16, n = 2;
  const w = new Float32Array(k * n);
  for (let i = 0; i < k; i++) w[i] = FP4_E2M1_VALUES[i % 8] * 0.5;
  const q = quantize(w, { k, n, format: "fp4", groupSize: 16 });
  assert.strictEqual(q.np, 8);
  assert.strictEqual(q.packed.length, (16 / 8) * 8);
  assert.strictEqual(q.scales[0], 0.5);
  assert.strictEqual(q.packed[0], 0x76543210);
  assert.strictEqual(q.packed[8], 0x76543210); // kp = 1, n = 0
  assert.strictEqual(q.packed[1], 0); // column 1
  assert.strictEqual(q.scales[1], 0);
});

test("fp4: scale is absmax/6, not absmax (reference bug 2)", () => {
  const w = new Float32Array(32).fill(0.25);
  w[5] = -12;
  const q = quantize(w, { k: 32, n: 1, format: "fp4", groupSize: 32 });
  assert.strictEqual(q.scales[0], 2);
  assert.strictEqual(dequantize(q)[5], -12);
});

test("fp4: quantize -> dequantize is exact for representable inputs (gs 32, 64, 128; both layouts)", () => {
  const rng = new Rng(1);
  for (const gs of [32, 64, 128]) {
    for (const layout of ["nk", "kn"] as const) {
      const k = gs * 2, n = 24;
      const w = new Float32Array(k * n);
      for (let c = 0; c < n; c++) {
        for (let g = 0; g < 2; g++) {
          const s = Math.f16round(2 ** (rng.int(10) - 5) * (1 + rng.int(1024) / 1024));
          for (let i = 0; i < gs; i++) {
            const kk = g * gs + i;
            const code = i === 0 ? 7 + 8 * rng.int(2) : rng.int(16); // every group reaches |6s|
            const idx = layout === "nk" ? c * k + kk : kk * n + c;
            w[idx] = FP4_E2M1_VALUES[code] * s;
          }
        }
      }
      const d = dequantize(quantize(w, { k, n, format: "fp4", groupSize: gs, layout }));
      for (let i = 0; i < w.length; i++) {
        assert.strictEqual(d[i], w[i] === 0 ? 0 : w[i], `gs ${gs} ${layout} i ${i}`);
      }
    }
  }
});

test("fp4: ties round to the even code; just past a tie rounds away", () => {
  // Scale 1 (absmax 6). Tie at t: 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4.
  const tieTo = [0, 1, 1, 2, 2, 4, 4];
  const w = new Float32Array(32);
  w[0] = 6;
  FP4_THRESHOLDS.forEach((t, i) => {
    w[1 + i] = t;
    w[8 + i] = -t;
    w[16 + i] = Math.fround(t * (1 + 2 ** -20)); // just above: upper neighbour
  });
  const d = dequantize(quantize(w, { k: 32, n: 1, format: "fp4", groupSize: 32 }));
  const upper = [0.5, 1, 1.5, 2, 3, 4, 6];
  FP4_THRESHOLDS.forEach((t, i) => {
    assert.strictEqual(d[1 + i], tieTo[i], `tie ${t}`);
    assert.strictEqual(Math.abs(d[8 + i]), tieTo[i], `tie -${t}`);
    assert.strictEqual(d[16 + i], upper[i], `above ${t}`);
  });
  assert.ok(!Object.is(d[8], -0), "a negative value rounding to 0 is stored as +0 (code 0)");
});

// Error bound (derived): s = scales[g][n] is the smallest fp16 >= absmax/6, so |w| <= 6s and nothing clips.
// Round to nearest then errs by at most half the gap of the E2M1 interval |w|/s falls in: gaps are 0.5 on
// [0, 2], 1 on [2, 4], 2 on [4, 6], so |err| <= 0.25s, 0.5s, 1s respectively. Dequantize rounds
// value*s to float32 once: + |w| * 2^-23 covers that. And s <= (absmax/6)(1 + 2^-10) (fp16 has 10
// fraction bits, normal range), so the worst case is about absmax/6.
function checkFp4Bound(w: Float32Array, k: number, n: number, gs: number, label: string): void {
  const q = quantize(w, { k, n, format: "fp4", groupSize: gs });
  const d = dequantize(q);
  for (let c = 0; c < n; c++) {
    for (let g = 0; g < q.kp / gs; g++) {
      const s = q.scales[g * q.np + c];
      let amax = 0;
      for (let kk = g * gs; kk < Math.min(k, (g + 1) * gs); kk++) {
        amax = Math.max(amax, Math.abs(w[c * k + kk]));
      }
      assert.ok(s >= amax / 6 && s <= (amax / 6) * (1 + 2 ** -10), `${label}: scale ${s} vs absmax ${amax}`);
      for (let kk = g * gs; kk < Math.min(k, (g + 1) * gs); kk++) {
        const x = w[c * k + kk], a = Math.abs(x);
        const half = a <= 2 * s ? 0.25 : a <= 4 * s ? 0.5 : 1;
        const err = Math.abs(d[c * k + kk] - x);
        assert.ok(
          err <= half * s + a * 2 ** -23,
          `${label}: k ${kk} n ${c}: |${d[c * k + kk]} - ${x}| > ${half}*${s}`,
        );
      }
    }
  }
}

test("fp4: error within the format bound on normal and heavy-tailed data (gs 32, 64, 128)", () => {
  const rng = new Rng(7);
  for (const gs of [32, 64, 128]) {
    for (const dist of ["normal", "heavy"] as const) {
      const k = 256, n = 40;
      checkFp4Bound(rng.fill(k * n, dist), k, n, gs, `gs ${gs} ${dist}`);
    }
  }
});

test("fp4: Float16Array input gives the same codes as the same values in a Float32Array", () => {
  const rng = new Rng(3);
  const h = new Float16Array(rng.fill(64 * 16, "normal"));
  const a = quantize(h, { k: 64, n: 16, format: "fp4", groupSize: 32 });
  const b = quantize(new Float32Array(h), { k: 64, n: 16, format: "fp4", groupSize: 32 });
  assert.deepStrictEqual(a.packed, b.packed);
  assert.deepStrictEqual(a.scales, b.scales);
});

test("fp4: clipping search is never worse than absmax per group and helps heavy tails", () => {
  const rng = new Rng(11);
  const k = 128, n = 32, gs = 32;
  const w = rng.fill(k * n, "heavy");
  const plain = dequantize(quantize(w, { k, n, format: "fp4", groupSize: gs }));
  const clipped = dequantize(quantize(w, { k, n, format: "fp4", groupSize: gs, clip: true }));
  let totalPlain = 0, totalClip = 0, better = 0;
  for (let c = 0; c < n; c++) {
    for (let g = 0; g < k / gs; g++) {
      let ep = 0, ec = 0;
      for (let kk = g * gs; kk < (g + 1) * gs; kk++) {
        const i = c * k + kk;
        ep += (plain[i] - w[i]) ** 2;
        ec += (clipped[i] - w[i]) ** 2;
      }
      // float32 output rounding can move the sum by a hair; the search compares exact float64 errors
      assert.ok(ec <= ep * (1 + 1e-5), `group ${g} column ${c}: clipped ${ec} > plain ${ep}`);
      if (ec < ep * 0.999) better++;
      totalPlain += ep;
      totalClip += ec;
    }
  }
  assert.ok(better > 0 && totalClip < totalPlain, `clip search improved ${better} groups`);
});
