// GPTQ importer (AutoGPTQ / GPTQModel safetensors): qweight int32 [K/8, N] packs 8 consecutive K values
// LSB first (our own word layout, so words copy as they are); qzeros int32 [G, N/8] packs 8 columns per
// word; scales f16 [G, N]; g_idx int32 [K] gives each K row its group. w = scale·(q − zero).
// "gptq" (v1) stores zero − 1 and readers add 1; "gptq_v2" stores the zero itself. A v1 nibble of 15 is
// refused: kernels disagree on what it means (16 in exllama-style kernels, 0 after AutoGPTQ's mask).
// Act-order (g_idx not equal to floor(i / group_size)) is refused: serving it exactly needs the same K
// permutation applied to activations, which gemm does not do.
import { InexactImportError } from "./errors.ts";
import { type ImportedMatrix, int4Matrix, roundUp } from "./contract.ts";
import { halvesOf, u32View } from "./dtypes.ts";

/** One stored tensor handed to an importer. */
export interface RawTensor {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** What the importer needs besides the tensors (from quantization_config / quantize_config.json). */
export interface GptqOptions {
  /** Group size, or -1 / undefined for "infer" (-1 in a config means one group over K). */
  groupSize?: number;
  /** "gptq" (v1, zeros stored minus one) or "gptq_v2". Default "gptq". */
  checkpointFormat?: "gptq" | "gptq_v2";
  /** Run every check (shapes, g_idx, zero points) but stop before reading qweight's bytes. */
  checkOnly?: boolean;
}

const OP = "quantized";

function refuse(file: string, t: string, why: string): never {
  throw new InexactImportError(OP, file, t, why);
}

function need2d(file: string, t: RawTensor, dtypes: string[]): void {
  if (t.shape.length !== 2 || !dtypes.includes(t.dtype)) {
    refuse(file, t.name, `expected a 2-D ${dtypes.join("/")} tensor, got ${t.dtype} [${t.shape.join(", ")}]`);
  }
}

/** Group size from the config, else from g_idx, else K / groups; -1 means one group over all of K. */
export function gptqGroupSize(
  file: string,
  name: string,
  k: number,
  groups: number,
  gs: number | undefined,
  gIdx?: Int32Array,
): number {
  // One group over all of K (-1, or any group size >= K): stored as groupSize = kp = roundUp(K, 8), which
  // also keeps a huge configured group size from sizing the padded arrays.
  if (gs === -1 || (groups === 1 && (gs === undefined || gs >= k))) return roundUp(k, 8);
  if (gs === undefined && gIdx !== undefined && groups > 1) {
    gs = gIdx.indexOf(1); // rows before the first row of group 1 (exact when g_idx is trivial)
  }
  if (gs === undefined && k % groups === 0) gs = k / groups;
  if (gs === undefined || gs <= 0 || gs % 8 !== 0 || Math.ceil(k / gs) !== groups) {
    refuse(
      file,
      name,
      `cannot use group size ${gs} for K = ${k} with ${groups} scale rows (need a multiple of 8)`,
    );
  }
  return gs;
}

/** Imports one GPTQ linear layer (4-bit). `prefix` names it in errors. */
export function importGptq(
  file: string,
  prefix: string,
  qweight: RawTensor,
  qzeros: RawTensor,
  scales: RawTensor,
  gIdxT: RawTensor | undefined,
  opts: GptqOptions = {},
): ImportedMatrix {
  need2d(file, qweight, ["I32", "U32"]);
  need2d(file, qzeros, ["I32", "U32"]);
  need2d(file, scales, ["F16"]);
  const k = qweight.shape[0] * 8, n = qweight.shape[1];
  const groups = scales.shape[0];
  if (scales.shape[1] !== n || qzeros.shape[0] !== groups || qzeros.shape[1] !== Math.ceil(n / 8)) {
    refuse(
      file,
      prefix,
      `shapes disagree: qweight [${qweight.shape}] (K=${k}, N=${n}), scales [${scales.shape}], qzeros [${qzeros.shape}]`,
    );
  }
  let gIdx: Int32Array | undefined;
  if (gIdxT !== undefined) {
    if (gIdxT.shape.length !== 1 || gIdxT.shape[0] !== k || gIdxT.dtype !== "I32") {
      refuse(file, gIdxT.name, `g_idx must be I32 [${k}], got ${gIdxT.dtype} [${gIdxT.shape}]`);
    }
    const v = u32View(gIdxT.bytes);
    gIdx = new Int32Array(v.buffer, v.byteOffset, k);
  }
  const gs = gptqGroupSize(file, prefix, k, groups, opts.groupSize, gIdx);
  if (gIdx !== undefined) {
    for (let i = 0; i < k; i++) {
      if (gIdx[i] !== Math.floor(i / gs)) {
        refuse(
          file,
          gIdxT!.name,
          `act-order g_idx: row ${i} is in group ${gIdx[i]}, not ${
            Math.floor(i / gs)
          } = floor(${i}/${gs}); ` +
            "exact serving needs gemm to permute activations, which it does not: use a desc_act=false export",
        );
      }
    }
  }
  const v1 = (opts.checkpointFormat ?? "gptq") === "gptq";
  const kp = roundUp(k, gs), np = roundUp(n, 8);
  const qz = u32View(qzeros.bytes);
  const zeros = new Uint8Array((kp / gs) * np);
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < n; c++) {
      const nib = (qz[g * qzeros.shape[1] + (c >>> 3)] >>> ((c & 7) << 2)) & 15;
      if (v1 && nib === 15) {
        refuse(
          file,
          qzeros.name,
          `GPTQ v1 zero nibble 15 (group ${g}, column ${c}) means zero point 16 or 0 depending on the kernel; ` +
            "re-export as gptq_v2 to make it unambiguous",
        );
      }
      zeros[g * np + c] = nib + (v1 ? 1 : 0);
    }
  }
  if (opts.checkOnly) return undefined as unknown as ImportedMatrix;
  const packed = new Uint32Array((kp / 8) * np);
  if (n === np) {
    new Uint8Array(packed.buffer).set(qweight.bytes); // same word layout: one byte copy, aligned or not
  } else {
    const qw = u32View(qweight.bytes);
    for (let r = 0; r < k / 8; r++) for (let c = 0; c < n; c++) packed[r * np + c] = qw[r * n + c];
  }
  // K rows past k (kp > k): the code equal to the zero point, so they decode to exactly 0.
  for (let r = k / 8; r < kp / 8; r++) {
    for (let c = 0; c < n; c++) packed[r * np + c] = zeros[Math.floor((r * 8) / gs) * np + c] * 0x11111111;
  }
  return int4Matrix(k, n, kp, np, gs, packed, halvesOf(scales.bytes), zeros);
}
