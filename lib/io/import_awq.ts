// AWQ importer (AutoAWQ "GEMM" safetensors): qweight int32 [K, N/8] packs 8 columns per word in the order
// nibble i -> column 8j + AWQ_ORDER[i]; qzeros int32 [G, N/8] packed the same way (zeros stored as they
// are, no −1); scales f16 [G, N]. w = scale·(q − zero) -> int4 exactly, after moving every nibble to our
// layout (8 consecutive K per word).
import { InexactImportError } from "./errors.ts";
import { type ImportedMatrix, int4Matrix, roundUp } from "./contract.ts";
import { halvesOf, u32View } from "./dtypes.ts";
import type { RawTensor } from "./import_gptq.ts";

/** Nibble i of an AWQ word holds column 8j + AWQ_ORDER[i] (AutoAWQ's pack order). */
export const AWQ_ORDER: readonly number[] = [0, 2, 4, 6, 1, 3, 5, 7];

const OP = "quantized";

/** Imports one AWQ linear layer (4-bit). `groupSize` from the config, or undefined to infer K / groups. */
export function importAwq(
  file: string,
  prefix: string,
  qweight: RawTensor,
  qzeros: RawTensor,
  scales: RawTensor,
  groupSize?: number,
): ImportedMatrix {
  const bad = (t: string, why: string): never => {
    throw new InexactImportError(OP, file, t, why);
  };
  for (const [t, dt] of [[qweight, ["I32", "U32"]], [qzeros, ["I32", "U32"]], [scales, ["F16"]]] as const) {
    if (t.shape.length !== 2 || !(dt as readonly string[]).includes(t.dtype)) {
      bad(t.name, `expected a 2-D ${dt.join("/")} tensor, got ${t.dtype} [${t.shape.join(", ")}]`);
    }
  }
  const k = qweight.shape[0], w8 = qweight.shape[1], n = scales.shape[1], groups = scales.shape[0];
  if (w8 * 8 !== n || qzeros.shape[0] !== groups || qzeros.shape[1] !== w8) {
    bad(
      prefix,
      `shapes disagree: qweight [${qweight.shape}], scales [${scales.shape}], qzeros [${qzeros.shape}]`,
    );
  }
  // One group over all of K (-1, or a group size >= K) is stored as groupSize = roundUp(K, 8): a huge
  // configured group size must not size the padded arrays.
  let gs = groupSize === -1 || (groups === 1 && groupSize !== undefined && groupSize >= k)
    ? roundUp(k, 8)
    : groupSize;
  if (gs === undefined) gs = groups === 1 ? roundUp(k, 8) : k % groups === 0 ? k / groups : -1;
  if (gs <= 0 || gs % 8 !== 0 || Math.ceil(k / gs) !== groups) {
    bad(prefix, `cannot use group size ${gs} for K = ${k} with ${groups} scale rows (need a multiple of 8)`);
  }
  const kp = roundUp(k, gs), np = n; // n is a multiple of 8 here
  const qz = u32View(qzeros.bytes);
  const zeros = new Uint8Array((kp / gs) * np);
  for (let g = 0; g < groups; g++) {
    for (let j = 0; j < w8; j++) {
      const w = qz[g * w8 + j];
      for (let i = 0; i < 8; i++) zeros[g * np + 8 * j + AWQ_ORDER[i]] = (w >>> (i << 2)) & 15;
    }
  }
  const qw = u32View(qweight.bytes);
  const packed = new Uint32Array((kp / 8) * np);
  for (let kk = 0; kk < kp; kk++) {
    const row = (kk >>> 3) * np, sh = (kk & 7) << 2;
    if (kk >= k) {
      // Padded K rows hold the zero point: they decode to exactly 0.
      const zrow = Math.floor(kk / gs) * np;
      for (let c = 0; c < n; c++) packed[row + c] |= zeros[zrow + c] << sh;
      continue;
    }
    for (let j = 0; j < w8; j++) {
      const w = qw[kk * w8 + j];
      for (let i = 0; i < 8; i++) packed[row + 8 * j + AWQ_ORDER[i]] |= ((w >>> (i << 2)) & 15) << sh;
    }
  }
  return int4Matrix(k, n, kp, np, gs, packed, halvesOf(scales.bytes), zeros);
}
