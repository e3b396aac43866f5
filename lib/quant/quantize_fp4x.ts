// quantize() for the two FP4 formats with non-float block scales: OCP MXFP4 (E8M0 power-of-two scale
// per 32 values) and NVFP4 (E4M3 scale per 16 values times one f32 scale per tensor). Codes round to
// nearest even on the E2M1 grid of the block's decoded scale; block scales round up so nothing clips.
import { absMax, loadColumn, packFp4Group } from "./group.ts";
import { decodeE4M3, decodeE8M0 } from "./formats.ts";
import { e4m3Up, e8m0For, nvfp4TensorScale } from "./scale_round.ts";
import type { QuantizedMatrix, WeightLayout } from "./types.ts";
import type { ScaleDType } from "./formats.ts";

/** Checked options of one quantize() call. */
export interface Plan {
  k: number;
  n: number;
  kp: number;
  np: number;
  gs: number;
  scaleDtype: ScaleDType;
  batch: number;
  /** opts.batch as given (undefined: a single matrix, arrays are 2-D). */
  batchOpt: number | undefined;
  layout: WeightLayout;
  ratios: readonly number[] | undefined;
}

// |w| max over the whole input (nvfp4's tensor scale), branch-free on the float bits like absMax.
function tensorAbsMax(w: Float32Array | Float16Array): number {
  let m = 0;
  for (let i = 0; i < w.length; i++) {
    const a = Math.abs(w[i]);
    if (a > m) m = a;
  }
  return m;
}

/** Quantizes `w` (already checked by quantize's plan) to "mxfp4" or "nvfp4". */
export function quantizeFp4Scaled(
  w: Float32Array | Float16Array,
  format: "mxfp4" | "nvfp4",
  p: Plan,
): QuantizedMatrix {
  const { k, n, kp, np, gs, batch, layout } = p;
  const groups = kp / gs, words = kp / 8;
  const packed = new Uint32Array(batch * words * np);
  const scales = new Uint8Array(batch * groups * np);
  const col = new Float32Array(kp);
  const bits = new Uint32Array(col.buffer);
  const nv = format === "nvfp4";
  const t = nv ? nvfp4TensorScale(tensorAbsMax(w)) : 1;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < n; c++) {
      loadColumn(col, w, b, c, k, n, layout);
      for (let g = 0; g < groups; g++) {
        const off = g * gs;
        const amax = absMax(bits, off, gs);
        if (amax === 0) continue; // byte 0: E4M3 0, or E8M0 2^-127 with zero codes; both decode to 0
        const byte = nv ? e4m3Up(amax / 6 / t) : e8m0For(amax);
        scales[(b * groups + g) * np + c] = byte;
        // Effective scale in float64: exact (E4M3 4 significant bits times an f32, or a power of two).
        const s = nv ? decodeE4M3(byte) * t : decodeE8M0(byte);
        packFp4Group(col, bits, off, gs, s, packed, (b * words + off / 8) * np + c, np);
      }
    }
  }
  const q: QuantizedMatrix = {
    format,
    k,
    n,
    kp,
    np,
    groupSize: gs,
    batch: p.batchOpt,
    layout,
    packed,
    scaleDtype: nv ? "e4m3" : "e8m0",
    scales,
    zeros: undefined,
  };
  return nv ? { ...q, tensorScale: t } : q;
}
