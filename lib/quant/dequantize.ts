// dequantize(): QuantizedMatrix -> Float32Array in the layout and (unpadded) shape it was quantized from.
import { checkQuantized, scaleDtypeOf } from "./validate.ts";
import { decodeScale, FP4_E2M1_VALUES, INT4_SYM_ZERO } from "./formats.ts";
import type { QuantizedMatrix } from "./types.ts";

/**
 * Fills `lut` with the 16 dequantized values of one (group, column) in float64, by the formulas of
 * lib/quant/formats.ts, so each output element is rounded to float32 exactly once. This is the one host
 * decode: dequantize() and the float64 reference (lib/reference/gemm.ts) both use it.
 */
export function groupTable(q: QuantizedMatrix, sIdx: number, lut: Float64Array): void {
  const sd = scaleDtypeOf(q);
  const s = decodeScale(sd, q.scales[sIdx]);
  switch (q.format) {
    case "fp4":
    case "mxfp4":
      for (let c = 0; c < 16; c++) lut[c] = FP4_E2M1_VALUES[c] * s;
      return;
    case "nvfp4": {
      const t = q.tensorScale!;
      for (let c = 0; c < 16; c++) lut[c] = FP4_E2M1_VALUES[c] * s * t;
      return;
    }
    case "int4-affine": {
      const bias = decodeScale(sd, q.biases![sIdx]);
      for (let c = 0; c < 16; c++) lut[c] = s * c + bias;
      return;
    }
    default: {
      const z = q.format === "int4" ? q.zeros![sIdx] : INT4_SYM_ZERO;
      for (let c = 0; c < 16; c++) lut[c] = (c - z) * s;
    }
  }
}

/**
 * Dequantizes to float32: shape [batch?, N, K] for layout "nk", [batch?, K, N] for "kn", original k and n
 * (padding dropped). Values follow each format's formula (lib/quant/formats.ts), computed in float64
 * and rounded once to float32.
 */
export function dequantize(q: QuantizedMatrix): Float32Array {
  checkQuantized("dequantize", q);
  const { k, n, np, groupSize: gs } = q;
  const batch = q.batch ?? 1;
  const groups = q.kp / gs, words = q.kp / 8;
  const out = new Float32Array(batch * k * n);
  const lut = new Float64Array(16);
  const nk = q.layout === "nk";
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < n; c++) {
      for (let g = 0; g < groups; g++) {
        groupTable(q, (b * groups + g) * np + c, lut);
        const k0 = g * gs;
        let p = (b * words + k0 / 8) * np + c;
        for (let kk = k0; kk < k0 + gs && kk < k; kk += 8, p += np) {
          const word = q.packed[p];
          const lim = Math.min(8, k - kk);
          if (nk) {
            const o = (b * n + c) * k + kk;
            for (let i = 0; i < lim; i++) out[o + i] = lut[(word >>> (i << 2)) & 15];
          } else {
            let o = (b * k + kk) * n + c;
            for (let i = 0; i < lim; i++, o += n) out[o] = lut[(word >>> (i << 2)) & 15];
          }
        }
      }
    }
  }
  return out;
}
