// quantize(): dense Float32/Float16 weights -> QuantizedMatrix (formats.ts layout), with padding,
// round-to-nearest-even, and an optional per-group clipping search.
import { checkDim, padK, padN } from "./padding.ts";
import { argError, checkFormat, firstNonFinite, shapeError } from "./check.ts";
import {
  DEFAULT_GROUP_SIZE,
  DEFAULT_N_MULTIPLE,
  FORMAT_INFO,
  FP4_MAX,
  INT4_SYM_MAX,
  INT4_SYM_ZERO,
} from "./formats.ts";
import {
  absMax,
  int4Zero,
  loadColumn,
  minMax,
  packFp4Group,
  packInt4Group,
  sseFp4,
  sseInt4,
} from "./group.ts";
import { type Plan, quantizeFp4Scaled } from "./quantize_fp4x.ts";
import { minMaxPlain, packAffineGroup, roundNearest, roundScaleUp, scaleMax } from "./scale_round.ts";
import type { QuantizedMatrix, QuantizeOptions } from "./types.ts";

/** Clip ratios tried by `clip: true`: 1 (plain absmax) down to 0.5 in steps of 0.05. */
export const DEFAULT_CLIP_RATIOS: readonly number[] = [
  1,
  0.95,
  0.9,
  0.85,
  0.8,
  0.75,
  0.7,
  0.65,
  0.6,
  0.55,
  0.5,
];

const OP = "quantize";

function plan(w: unknown, opts: QuantizeOptions): Plan {
  if (!(w instanceof Float32Array) && !(w instanceof Float16Array)) {
    const got = w === null ? "null" : (w as object)?.constructor?.name ?? typeof w;
    throw argError(OP, `${OP}: w must be a Float32Array or Float16Array, got ${got}`);
  }
  if (opts === null || typeof opts !== "object") throw argError(OP, `${OP}: opts must be an object`);
  checkDim(OP, "k", opts.k);
  checkDim(OP, "n", opts.n);
  checkFormat(OP, opts.format);
  const info = FORMAT_INFO[opts.format];
  const gs = groupSizeOf(opts);
  const kp = padK(opts.k, gs, OP);
  const scaleDtype = opts.scaleDtype ?? info.scaleDtypes[0];
  if (!info.scaleDtypes.includes(scaleDtype)) {
    throw argError(
      OP,
      `${OP}: format "${opts.format}" stores scales as ${info.scaleDtypes.join(" or ")}, got scaleDtype ${
        JSON.stringify(scaleDtype)
      }`,
    );
  }
  const np = padN(opts.n, opts.nMultiple ?? DEFAULT_N_MULTIPLE, OP);
  const layout = opts.layout ?? "nk";
  if (layout !== "nk" && layout !== "kn") {
    throw argError(OP, `${OP}: layout must be "nk" or "kn", got ${JSON.stringify(layout)}`);
  }
  if (opts.batch !== undefined) checkDim(OP, "batch", opts.batch);
  const batch = opts.batch ?? 1;
  const want = batch * opts.k * opts.n;
  if (w.length !== want) {
    const dims = opts.batch === undefined
      ? `k*n = ${opts.k}*${opts.n} = ${want}`
      : `batch*k*n = ${batch}*${opts.k}*${opts.n} = ${want}`;
    throw shapeError(OP, `${OP}: w has ${w.length} elements but ${dims}`);
  }
  let ratios: readonly number[] | undefined;
  if (opts.clip === true) ratios = DEFAULT_CLIP_RATIOS;
  else if (Array.isArray(opts.clip)) {
    for (const r of opts.clip) {
      if (typeof r !== "number" || !(r > 0 && r <= 1)) {
        throw argError(OP, `${OP}: clip ratios must be in (0, 1], got ${String(r)}`);
      }
    }
    // Ratio 1 first: the search then can only improve on plain absmax.
    ratios = [1, ...opts.clip.filter((r) => r !== 1)];
  } else if (opts.clip !== undefined && opts.clip !== false) {
    throw argError(OP, `${OP}: clip must be a boolean or an array of ratios, got ${String(opts.clip)}`);
  }
  return { k: opts.k, n: opts.n, kp, np, gs, scaleDtype, batch, batchOpt: opts.batch, layout, ratios };
}

/**
 * The group size quantize() uses: opts.groupSize, "channel" = roundUp(k, 8) (one group over all of K),
 * the format's fixed size (mxfp4 32, nvfp4 16), or the default 128. A group size the kernels cannot
 * serve (not a positive multiple of 8, or not the fixed size) is refused here with InvalidArgumentError.
 */
export function groupSizeOf(opts: QuantizeOptions): number {
  const fixed = FORMAT_INFO[opts.format].fixedGroupSize;
  const want = opts.groupSize === "channel" ? Math.ceil(opts.k / 8) * 8 : opts.groupSize;
  if (fixed !== undefined) {
    if (want !== undefined && want !== fixed) {
      throw argError(
        OP,
        `${OP}: ${opts.format} has group size ${fixed} by definition, got ${String(opts.groupSize)}`,
      );
    }
    return fixed;
  }
  if (want === undefined) return DEFAULT_GROUP_SIZE;
  if (typeof want !== "number") {
    throw argError(OP, `${OP}: groupSize must be a multiple of 8 or "channel", got ${JSON.stringify(want)}`);
  }
  return want;
}

function badValue(w: Float32Array | Float16Array, idx: number, p: Plan): Error {
  const per = p.k * p.n;
  const b = Math.floor(idx / per), r = idx % per;
  const [k, n] = p.layout === "nk" ? [r % p.k, Math.floor(r / p.k)] : [Math.floor(r / p.n), r % p.n];
  const where = p.batch > 1 ? `batch ${b}, k ${k}, n ${n}` : `k ${k}, n ${n}`;
  return argError(OP, `${OP}: w[${idx}] (${where}) is ${w[idx]}; weights must be finite`);
}

function scaleTooLarge(p: Plan, b: number, g: number, n: number, v: number): Error {
  return argError(
    OP,
    `${OP}: group ${g} (k ${g * p.gs}..${g * p.gs + p.gs - 1}) of column ${n}${
      p.batch > 1 ? ` in batch ${b}` : ""
    } needs scale ${v}, above the ${p.scaleDtype === "bf16" ? "bfloat16" : "float16"} maximum ${
      scaleMax(p.scaleDtype)
    }; rescale the weights${p.scaleDtype === "f16" ? ' or use scaleDtype: "bf16"' : ""}`,
  );
}

/**
 * Quantizes dense weights to a 4-bit format.
 * @param w Float32Array or Float16Array of `batch*k*n` elements, laid out as `opts.layout` ("nk" = [N, K]
 *   nn.Linear layout, default; "kn" = [K, N]), batches back to back.
 * @param opts k, n, format, groupSize (default 128; a multiple of 8 or "channel"; mxfp4 32, nvfp4 16),
 *   scaleDtype ("f16" default or "bf16"), layout, batch, nMultiple (default 8), clip (per-group clipping
 *   search for fp4/int4/int4-sym, default off).
 * @returns packed codes and scales (plus uint8 zero points for "int4", biases for "int4-affine", the
 *   tensor scale for "nvfp4") padded to Kp = roundUp(K, gs), Np = roundUp(N, nMultiple).
 * @throws InvalidArgumentError (bad option or group size, NaN/Inf weight, scale above the storage type's
 *   maximum), ShapeError (length).
 */
export function quantize(w: Float32Array | Float16Array, opts: QuantizeOptions): QuantizedMatrix {
  const p = plan(w, opts);
  const bad = firstNonFinite(w);
  if (bad >= 0) throw badValue(w, bad, p);
  const format = opts.format;
  if (format === "mxfp4" || format === "nvfp4") return quantizeFp4Scaled(w, format, p);
  const { k, n, kp, np, gs, batch, layout, ratios, scaleDtype } = p;
  const groups = kp / gs, words = kp / 8;
  const packed = new Uint32Array(batch * words * np);
  const bf16 = scaleDtype === "bf16";
  const scales = bf16 ? new Uint16Array(batch * groups * np) : new Float16Array(batch * groups * np);
  const zeros = format === "int4" ? new Uint8Array(batch * groups * np) : undefined;
  const affine = format === "int4-affine";
  const biases = affine
    ? (bf16 ? new Uint16Array(scales.length) : new Float16Array(scales.length))
    : undefined;
  const col = new Float32Array(kp); // one column of K, zero past k: padded rows quantize to exact 0
  const bits = new Uint32Array(col.buffer);
  const range = new Float64Array(2);
  const rs = new Float64Array(2), rb = new Float64Array(2);
  const maxCode = format === "fp4" ? FP4_MAX : INT4_SYM_MAX;
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < n; c++) {
      loadColumn(col, w, b, c, k, n, layout);
      for (let g = 0; g < groups; g++) {
        const off = g * gs;
        const sIdx = (b * groups + g) * np + c;
        const pIdx = (b * words + off / 8) * np + c;
        if (affine) {
          if (off >= k) continue; // a whole padded group: code 0, s = 0, b = 0
          minMaxPlain(col, off, Math.min(gs, k - off), range);
          if (!roundScaleUp(scaleDtype, (range[1] - range[0]) / 15, rs)) {
            throw scaleTooLarge(p, b, g, c, (range[1] - range[0]) / 15);
          }
          roundNearest(scaleDtype, range[0], rb);
          scales[sIdx] = rs[1];
          biases![sIdx] = rb[1];
          // A constant group is all bias: codes 0 (s = 0 would divide by zero).
          if (rs[0] > 0) packAffineGroup(col, off, gs, k, rs[0], rb[0], packed, pIdx, np);
        } else if (format === "int4") {
          minMax(col, off, gs, range);
          let best = -1, bestS = 0, bestRaw = 0, bestZ = 0;
          for (const r of ratios ?? [1]) {
            const lo = range[0] * r, hi = range[1] * r;
            if (!roundScaleUp(scaleDtype, (hi - lo) / 15, rs)) {
              throw scaleTooLarge(p, b, g, c, (hi - lo) / 15);
            }
            const s = rs[0];
            if (s === 0) break; // all-zero group: codes 0, zero point 0, scale 0
            const z = int4Zero(lo, s);
            const e = ratios === undefined ? 0 : sseInt4(col, off, gs, s, z);
            if (best < 0 || e < best) {
              best = e;
              bestS = s;
              bestRaw = rs[1];
              bestZ = z;
            }
          }
          if (bestS === 0) continue;
          scales[sIdx] = bestRaw;
          zeros![sIdx] = bestZ;
          packInt4Group(col, off, gs, bestS, bestZ, packed, pIdx, np);
        } else {
          const amax = absMax(bits, off, gs);
          let best = -1, bestS = 0, bestRaw = 0;
          for (const r of ratios ?? [1]) {
            if (!roundScaleUp(scaleDtype, (amax * r) / maxCode, rs)) {
              throw scaleTooLarge(p, b, g, c, (amax * r) / maxCode);
            }
            const s = rs[0];
            if (s === 0) break; // all-zero group: scale 0 (rounding up keeps any nonzero absmax above 0)
            const e = ratios === undefined
              ? 0
              : format === "fp4"
              ? sseFp4(col, off, gs, s)
              : sseInt4(col, off, gs, s, INT4_SYM_ZERO);
            if (best < 0 || e < best) {
              best = e;
              bestS = s;
              bestRaw = rs[1];
            }
          }
          if (bestS === 0) {
            if (format === "int4-sym") fillWords(packed, pIdx, gs / 8, np, 0x88888888);
            continue;
          }
          scales[sIdx] = bestRaw;
          if (format === "fp4") packFp4Group(col, bits, off, gs, bestS, packed, pIdx, np);
          else packInt4Group(col, off, gs, bestS, INT4_SYM_ZERO, packed, pIdx, np);
        }
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
    batch: opts.batch,
    layout,
    packed,
    scaleDtype,
    scales,
    zeros,
  };
  return biases === undefined ? q : { ...q, biases };
}

/** Writes `count` copies of `word` down a column of packed words. */
function fillWords(packed: Uint32Array, p: number, count: number, np: number, word: number): void {
  for (let i = 0; i < count; i++, p += np) packed[p] = word;
}
