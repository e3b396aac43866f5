// MLX affine importer (mlx affine_quantize; mlx-community "*-4bit" models): weight uint32 [N, K/8] packs
// 8 consecutive K values LSB first per output row, scales and biases [N, K/gs] in the model's dtype (f16
// or bf16); w = scale·q + bias. Our word [k/8][n] is MLX's word [n][k/8] transposed, nibbles unchanged;
// scales and biases keep their exact bits. Stacked experts [E, N, K/8] become a batch.
import { InexactImportError } from "./errors.ts";
import { formatAvailable, type ImportedMatrix, scaleDtypeAvailable } from "./contract.ts";
import { halvesOf, u32View } from "./dtypes.ts";
import type { RawTensor } from "./import_gptq.ts";

const OP = "quantized";

/** Why an MLX layer with these scale dtypes cannot be imported now, or undefined. */
export function mlxRefusal(
  scaleDtype: string,
  bits: number | undefined,
  contract = false,
): string | undefined {
  if (bits !== undefined && bits !== 4) return `MLX ${bits}-bit quantization is not 4-bit`;
  if (scaleDtype !== "F16" && scaleDtype !== "BF16") return `scales are ${scaleDtype}, not F16 or BF16`;
  if (contract) return undefined;
  if (!formatAvailable("int4-affine")) {
    return "MLX affine needs format int4-affine (w = s·q + b), which lib/quant does not have yet (issue #11)";
  }
  if (scaleDtype === "BF16" && !scaleDtypeAvailable("bf16")) {
    return "bf16 scales are not available yet (issue #11)";
  }
  return undefined;
}

/**
 * Imports one MLX affine 4-bit layer. `groupSize` from config.json's quantization, else K / groups.
 * `contract` builds int4-affine even before lib/quant has it (tests).
 */
export function importMlx(
  file: string,
  prefix: string,
  weight: RawTensor,
  scales: RawTensor,
  biases: RawTensor,
  opts: { groupSize?: number; bits?: number; contract?: boolean } = {},
): ImportedMatrix {
  const why = mlxRefusal(scales.dtype, opts.bits, opts.contract);
  if (why !== undefined) throw new InexactImportError(OP, file, prefix, why);
  const nd = weight.shape.length;
  const sameShape = scales.shape.join() === biases.shape.join() && scales.dtype === biases.dtype;
  if (weight.dtype !== "U32" || (nd !== 2 && nd !== 3) || scales.shape.length !== nd || !sameShape) {
    throw new InexactImportError(
      OP,
      file,
      prefix,
      `expected weight U32 [E?, N, K/8] with scales and biases [E?, N, K/gs] of one dtype; got weight ` +
        `${weight.dtype} [${weight.shape}], scales ${scales.dtype} [${scales.shape}], biases ${biases.dtype} [${biases.shape}]`,
    );
  }
  const batch = nd === 3 ? weight.shape[0] : undefined, e = batch ?? 1;
  const n = weight.shape[nd - 2], kw = weight.shape[nd - 1], k = kw * 8, groups = scales.shape[nd - 1];
  const gs = opts.groupSize ?? k / groups;
  if (
    !Number.isInteger(gs) || gs % 8 !== 0 || k % gs !== 0 || k / gs !== groups || scales.shape[nd - 2] !== n
  ) {
    throw new InexactImportError(
      OP,
      file,
      prefix,
      `group size ${gs} does not fit K = ${k} with ${groups} groups`,
    );
  }
  const np = Math.ceil(n / 8) * 8;
  const w = u32View(weight.bytes), s = halvesOf(scales.bytes), b = halvesOf(biases.bytes);
  const packed = new Uint32Array(e * kw * np);
  const so = new Uint16Array(e * groups * np), bo = new Uint16Array(e * groups * np);
  for (let x = 0; x < e; x++) {
    for (let r = 0; r < n; r++) {
      const src = (x * n + r) * kw;
      for (let j = 0; j < kw; j++) packed[(x * kw + j) * np + r] = w[src + j];
      const ss = (x * n + r) * groups;
      for (let g = 0; g < groups; g++) {
        so[(x * groups + g) * np + r] = s[ss + g];
        bo[(x * groups + g) * np + r] = b[ss + g];
      }
    }
  }
  const f16 = scales.dtype === "F16";
  return {
    format: "int4-affine",
    k,
    n,
    kp: k,
    np,
    groupSize: gs,
    batch,
    layout: "nk",
    packed,
    scaleDtype: f16 ? "f16" : "bf16",
    scales: f16 ? new Float16Array(so.buffer) : so,
    biases: f16 ? new Float16Array(bo.buffer) : bo,
    zeros: undefined,
  };
}
