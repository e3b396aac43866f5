// INT4 asymmetric (per-group zero point) and symmetric (zero 8): round trips, ranges, degenerate groups.
import assert from "node:assert";
import { test } from "./harness.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import { Rng } from "./util/random.ts";

test("int4: representable inputs round-trip exactly; zero points are stored per (group, column)", () => {
  const rng = new Rng(21);
  const k = 64, n = 16, gs = 32;
  const w = new Float32Array(k * n);
  const zs: number[] = [];
  for (let c = 0; c < n; c++) {
    for (let g = 0; g < 2; g++) {
      const s = Math.f16round(0.01 * (1 + rng.int(100)));
      const z = rng.int(16);
      zs.push(z);
      for (let i = 0; i < gs; i++) {
        const q = i === 0 ? 0 : i === 1 ? 15 : rng.int(16); // range spans all 16 codes
        w[c * k + g * gs + i] = (q - z) * s;
      }
    }
  }
  const q = quantize(w, { k, n, format: "int4", groupSize: gs });
  assert.ok(q.zeros instanceof Uint8Array);
  assert.deepStrictEqual(dequantize(q), w);
  for (let c = 0; c < n; c++) {
    for (let g = 0; g < 2; g++) assert.strictEqual(q.zeros![g * q.np + c], zs[c * 2 + g]);
  }
});

test("int4-sym: representable inputs round-trip exactly; no zeros array", () => {
  const rng = new Rng(22);
  const k = 128, n = 8;
  const w = new Float32Array(k * n);
  for (let c = 0; c < n; c++) {
    const s = Math.f16round(0.003 * (1 + c));
    for (let i = 0; i < k; i++) w[c * k + i] = (i === 0 ? 7 : i === 1 ? -7 : rng.int(15) - 7) * s;
  }
  const q = quantize(w, { k, n, format: "int4-sym", groupSize: 128 });
  assert.strictEqual(q.zeros, undefined);
  assert.deepStrictEqual(dequantize(q), w);
});

// Bound (derived): int4 uses s = fp16-up((hi - lo)/15) with lo = min(0, min w), hi = max(0, max w) and
// z = rne(-lo/s) in [0, 15]; then [lo, hi] lies within s/2 of the grid [-z*s, (15-z)*s], so rounding to
// nearest errs by <= s/2. int4-sym uses s = fp16-up(absmax/7): |w|/s <= 7, no clipping, |err| <= s/2.
// Plus one float32 rounding of the output: |w| * 2^-23.
test("int4 and int4-sym: error <= s/2 on normal and heavy-tailed data; zero points in [0, 15]", () => {
  const rng = new Rng(23);
  for (const format of ["int4", "int4-sym"] as const) {
    for (const gs of [32, 64, 128]) {
      for (const dist of ["normal", "heavy"] as const) {
        const k = 256, n = 24;
        const w = rng.fill(k * n, dist);
        if (dist === "normal") { for (let i = 0; i < w.length; i += 3) w[i] = Math.abs(w[i]) + 0.5; // skewed groups
         }
        const q = quantize(w, { k, n, format, groupSize: gs });
        const d = dequantize(q);
        for (let c = 0; c < n; c++) {
          for (let kk = 0; kk < k; kk++) {
            const g = Math.floor(kk / gs), s = q.scales[g * q.np + c];
            const x = w[c * k + kk];
            const err = Math.abs(d[c * k + kk] - x);
            assert.ok(
              err <= s / 2 + Math.abs(x) * 2 ** -23,
              `${format} gs ${gs} ${dist}: k ${kk} n ${c} err ${err} s ${s}`,
            );
          }
        }
        if (format === "int4") { for (const z of q.zeros!) assert.ok(z >= 0 && z <= 15); }
      }
    }
  }
});

test("int4: constant groups (max = min, positive or negative) and all-zero groups: no division by zero", () => {
  const k = 32, n = 4, gs = 8;
  const w = new Float32Array(k * n);
  for (let i = 0; i < k; i++) {
    w[0 * k + i] = 0.75; // constant positive
    w[1 * k + i] = -3.25; // constant negative
    w[2 * k + i] = 0; // all zero
    w[3 * k + i] = i < 8 ? 0 : 1e-3; // first group zero, the rest constant
  }
  for (const format of ["int4", "int4-sym", "fp4"] as const) {
    const q = quantize(w, { k, n, format, groupSize: gs });
    for (const s of q.scales) assert.ok(Number.isFinite(s), `${format}: scale ${s}`);
    const d = dequantize(q);
    for (let i = 0; i < w.length; i++) {
      assert.ok(Number.isFinite(d[i]), `${format} i ${i}`);
      if (w[i] === 0) assert.strictEqual(d[i], 0, `${format}: zero stays exactly zero at ${i}`);
    }
    if (format !== "fp4") {
      // a constant group is exactly representable: its value is 15*s (or -15*s / 7*s) for the rounded-up s
      for (let i = 0; i < k; i++) {
        assert.ok(Math.abs(d[i] - 0.75) <= 0.75 * 2 ** -9, `${format}: ${d[i]} vs 0.75`);
        assert.ok(Math.abs(d[k + i] + 3.25) <= 3.25 * 2 ** -9, `${format}: ${d[k + i]} vs -3.25`);
      }
    }
    if (format === "int4") { for (const z of q.zeros!) assert.ok(z <= 15); }
  }
});

test("int4: clipping search never worse than min/max per group", () => {
  const rng = new Rng(24);
  const k = 128, n = 16, gs = 32;
  for (const format of ["int4", "int4-sym"] as const) {
    const w = rng.fill(k * n, "heavy");
    const plain = dequantize(quantize(w, { k, n, format, groupSize: gs }));
    const clip = dequantize(quantize(w, { k, n, format, groupSize: gs, clip: [0.9, 0.8, 0.7, 0.6] }));
    let tp = 0, tc = 0;
    for (let c = 0; c < n; c++) {
      for (let g = 0; g < k / gs; g++) {
        let ep = 0, ec = 0;
        for (let kk = g * gs; kk < (g + 1) * gs; kk++) {
          ep += (plain[c * k + kk] - w[c * k + kk]) ** 2;
          ec += (clip[c * k + kk] - w[c * k + kk]) ** 2;
        }
        assert.ok(ec <= ep * (1 + 1e-5), `${format} group ${g} col ${c}`);
        tp += ep;
        tc += ec;
      }
    }
    assert.ok(tc < tp, `${format}: clipping ${tc} vs plain ${tp}`);
  }
});
