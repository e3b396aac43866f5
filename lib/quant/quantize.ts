// quantize(): dense Float32/Float16 weights -> QuantizedMatrix (formats.ts layout), with padding,
// round-to-nearest-even, and an optional per-group clipping search.
import { checkDim, padK, padN } from "./padding.ts";
import { argError, checkFormat, firstNonFinite, shapeError } from "./check.ts";
import {
  DEFAULT_GROUP_SIZE,
  DEFAULT_N_MULTIPLE,
  FP16_MAX,
  FP4_MAX,
  INT4_SYM_MAX,
  INT4_SYM_ZERO,
} from "./formats.ts";
import { absMax, f16Up, int4Zero, minMax, packFp4Group, packInt4Group, sseFp4, sseInt4 } from "./group.ts";
import type { QuantizedMatrix, QuantizeOptions, WeightLayout } from "./types.ts";

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

interface Plan {
  k: number;
  n: number;
  kp: number;
  np: number;
  gs: number;
  batch: number;
  layout: WeightLayout;
  ratios: readonly number[] | undefined;
}

function plan(w: unknown, opts: QuantizeOptions): Plan {
  if (!(w instanceof Float32Array) && !(w instanceof Float16Array)) {
    const got = w === null ? "null" : (w as object)?.constructor?.name ?? typeof w;
    throw argError(OP, `${OP}: w must be a Float32Array or Float16Array, got ${got}`);
  }
  if (opts === null || typeof opts !== "object") throw argError(OP, `${OP}: opts must be an object`);
  checkDim(OP, "k", opts.k);
  checkDim(OP, "n", opts.n);
  checkFormat(OP, opts.format);
  const gs = opts.groupSize ?? DEFAULT_GROUP_SIZE;
  const kp = padK(opts.k, gs, OP);
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
  return { k: opts.k, n: opts.n, kp, np, gs, batch, layout, ratios };
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
    } needs scale ${v}, above the float16 maximum ${FP16_MAX}; rescale the weights`,
  );
}

/**
 * Quantizes dense weights to a 4-bit format.
 * @param w Float32Array or Float16Array of `batch*k*n` elements, laid out as `opts.layout` ("nk" = [N, K]
 *   nn.Linear layout, default; "kn" = [K, N]), batches back to back.
 * @param opts k, n, format, groupSize (default 128, multiple of 8), layout, batch, nMultiple (default 8),
 *   clip (per-group clipping search, default off).
 * @returns packed codes and float16 scales (and uint8 zero points for "int4") padded to Kp = roundUp(K, gs),
 *   Np = roundUp(N, nMultiple); padded positions dequantize to exactly 0.
 * @throws InvalidArgumentError (bad option, NaN/Inf weight, scale above fp16 max), ShapeError (length).
 */
export function quantize(w: Float32Array | Float16Array, opts: QuantizeOptions): QuantizedMatrix {
  const p = plan(w, opts);
  const bad = firstNonFinite(w);
  if (bad >= 0) throw badValue(w, bad, p);
  const { k, n, kp, np, gs, batch, layout, ratios } = p;
  const format = opts.format;
  const groups = kp / gs, words = kp / 8;
  const packed = new Uint32Array(batch * words * np);
  const scales = new Float16Array(batch * groups * np);
  const zeros = format === "int4" ? new Uint8Array(batch * groups * np) : undefined;
  const col = new Float32Array(kp); // one column of K, zero past k: padded rows quantize to exact 0
  const bits = new Uint32Array(col.buffer);
  const range = new Float64Array(2);
  const maxCode = format === "fp4" ? FP4_MAX : INT4_SYM_MAX;
  for (let b = 0; b < batch; b++) {
    const wBase = b * k * n;
    for (let c = 0; c < n; c++) {
      if (layout === "nk") col.set(w.subarray(wBase + c * k, wBase + c * k + k));
      else for (let r = 0, i = wBase + c; r < k; r++, i += n) col[r] = w[i];
      for (let g = 0; g < groups; g++) {
        const off = g * gs;
        const sIdx = (b * groups + g) * np + c;
        const pIdx = (b * words + off / 8) * np + c;
        if (format === "int4") {
          minMax(col, off, gs, range);
          let best = -1, bestS = 0, bestZ = 0;
          for (const r of ratios ?? [1]) {
            const lo = range[0] * r, hi = range[1] * r;
            const s = f16Up((hi - lo) / 15);
            if (s === Infinity) throw scaleTooLarge(p, b, g, c, (hi - lo) / 15);
            if (s === 0) break; // all-zero group: codes 0, zero point 0, scale 0
            const z = int4Zero(lo, s);
            const e = ratios === undefined ? 0 : sseInt4(col, off, gs, s, z);
            if (best < 0 || e < best) {
              best = e;
              bestS = s;
              bestZ = z;
            }
          }
          if (bestS === 0) continue;
          scales[sIdx] = bestS;
          zeros![sIdx] = bestZ;
          packInt4Group(col, off, gs, bestS, bestZ, packed, pIdx, np);
        } else {
          const amax = absMax(bits, off, gs);
          let best = -1, bestS = 0;
          for (const r of ratios ?? [1]) {
            const s = f16Up((amax * r) / maxCode);
            if (s === Infinity) throw scaleTooLarge(p, b, g, c, (amax * r) / maxCode);
            if (s === 0) break; // all-zero group: scale 0 (f16Up keeps any nonzero absmax above 0)
            const e = ratios === undefined
              ? 0
              : format === "fp4"
              ? sseFp4(col, off, gs, s)
              : sseInt4(col, off, gs, s, INT4_SYM_ZERO);
            if (best < 0 || e < best) {
              best = e;
              bestS = s;
            }
          }
          if (bestS === 0) {
            if (format === "int4-sym") fillWords(packed, pIdx, gs / 8, np, 0x88888888);
            continue;
          }
          scales[sIdx] = bestS;
          if (format === "fp4") packFp4Group(col, bits, off, gs, bestS, packed, pIdx, np);
          else packInt4Group(col, off, gs, bestS, INT4_SYM_ZERO, packed, pIdx, np);
        }
      }
    }
  }
  return {
    format,
    k,
    n,
    kp,
    np,
    groupSize: gs,
    batch: opts.batch,
    layout,
    packed,
    scales,
    zeros,
  };
}

/** Writes `count` copies of `word` down a column of packed words. */
function fillWords(packed: Uint32Array, p: number, count: number, np: number, word: number): void {
  for (let i = 0; i < count; i++, p += np) packed[p] = word;
}
