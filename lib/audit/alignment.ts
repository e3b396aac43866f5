// Alignment audit: for a model and a list of token counts M, every projection's GEMM shape, whether it
// divides the kernels' tiles and group size, the padding that will be applied, and what it costs.
import { checkDim, checkGroupSize, padTo } from "../quant/padding.ts";
import { argError } from "../quant/check.ts";
import { DEFAULT_GROUP_SIZE, FORMAT_IDS, type QuantFormat } from "../quant/formats.ts";
import type { ModelConfig } from "./models.ts";

/** Prefill GEMM tile (DESIGN.md "Kernel design notes"): 64x64 outputs, K-step 32. The GEMM kernels own
 * these numbers; update them here when the kernels change. */
export const PREFILL_TILE_M = 64;
/** Output columns of one prefill tile. */
export const PREFILL_TILE_N = 64;
/** K values one prefill tile step consumes. */
export const PREFILL_TILE_K = 32;
/** GEMV (M = 1) reads 8 output columns per step, so N must be a multiple of 8. */
export const GEMV_N_MULTIPLE = 8;
/** Largest M sent to the small-batch kernel (each weight word read once for all rows). */
export const SMALL_BATCH_MAX_M = 16;

/**
 * The C routing's named thresholds (csrc/core/gemm_routing.cpp, shaders/gemm_params.h), mirrored so the
 * audit runs without a device. tests/alignment.test.ts reads the C sources to check every value and
 * compares routeGemm() with the real routing (gemmRoute) for every built-in model, M, group size and format.
 */
export const ROUTING = {
  /** kGemvMaxM: rows served by the GEMV kernel (decode). */
  gemvMaxM: 1,
  /** kSmallMaxM = GEMM_SMALL_MAX_M: rows served by the small-batch and split-K kernels. */
  smallMaxM: SMALL_BATCH_MAX_M,
  /** kSplitTargetThreadgroups: auto split-K when the vector kernels launch fewer threadgroups. */
  splitTargetThreadgroups: 64,
  /** kSplitMinChunk = 4 * GEMM_VEC_KBLOCK: smallest K per automatic split part. */
  splitMinChunk: 1024,
  /** kSplitMaxParts: most automatic split parts. */
  splitMaxParts: 32,
  /** GEMM_VEC_COLS: output columns per threadgroup of the vector kernels. */
  vecCols: 32,
  /** GEMM_VEC_KBLOCK: K values per step of the vector kernels; split chunks are multiples of it. */
  vecKBlock: 256,
} as const;

/** Every positive multiple of 8 is a group size of the same kernels (group size is runtime data). */
export function groupSizeServed(groupSize: number): boolean {
  return Number.isInteger(groupSize) && groupSize > 0 && groupSize % 8 === 0;
}

/**
 * Kernel path a GEMM takes: "split-k" splits K over threadgroups and reduces the partials; "none" when
 * the group size has no kernels (gemm() throws UnsupportedError).
 */
export type GemmPath = "gemv" | "small-batch" | "split-k" | "prefill" | "none";

/** What routeGemm() answers: the path, the C kernel name and the split-K parts. */
export interface RouteAnswer {
  /** Path of the report; "none" when the group size has no kernels. */
  path: GemmPath;
  /** Kernel name as the C routing answers it (e.g. "gemm_splitk"); "" for "none". */
  kernel: string;
  /** Split-K parts; 1 when K is not split, 0 for "none". */
  splits: number;
}

const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/**
 * The C routing function (gemm_route) in TypeScript, same thresholds and order: GEMV for M = 1, small
 * batch up to 16 rows, split-K when those would launch fewer than 64 threadgroups on a K with room for
 * two 1024-wide parts (or when splitK asks for parts), tiled ("prefill") above 16 rows.
 */
export function routeGemm(
  s: {
    m: number;
    n: number;
    k: number;
    format: QuantFormat;
    groupSize: number;
    batch?: number;
    splitK?: number;
  },
): RouteAnswer {
  const R = ROUTING;
  if (!groupSizeServed(s.groupSize)) return { path: "none", kernel: "", splits: 0 };
  const splitK = s.splitK ?? 0;
  let splits = 1;
  let family = "gemm_tiled";
  if (s.m <= R.smallMaxM) {
    const kSpan = ceilDiv(s.k, 8) * 8;
    const vecGroups = ceilDiv(s.n, R.vecCols) * (s.batch ?? 1);
    const maxParts = Math.min(Math.floor(kSpan / R.splitMinChunk), R.splitMaxParts);
    let want = 1;
    if (splitK > 1) want = Math.min(splitK, ceilDiv(kSpan, R.vecKBlock));
    else if (splitK === 0 && vecGroups < R.splitTargetThreadgroups && maxParts >= 2) {
      want = Math.min(ceilDiv(R.splitTargetThreadgroups, vecGroups), maxParts);
    }
    if (want > 1) {
      // Group-aligned parts, as gemm_routing.cpp (the comments there say why).
      const c256 = ceilDiv(ceilDiv(kSpan, want), R.vecKBlock) * R.vecKBlock, gs = s.groupSize;
      let chunk = c256;
      if (R.vecKBlock % gs !== 0 && gs < kSpan) {
        const g16 = gs % 16 === 0 ? gs : 2 * gs;
        chunk = Math.floor(c256 / g16) * g16 || Math.floor(c256 / gs) * gs || gs;
        if (ceilDiv(kSpan, chunk) > R.splitMaxParts) chunk = ceilDiv(ceilDiv(kSpan, want), gs) * gs;
      }
      splits = ceilDiv(kSpan, chunk);
    }
    family = splits > 1 ? "gemm_splitk" : s.m <= R.gemvMaxM ? "gemv" : "gemm_small";
  }
  const path: GemmPath = family === "gemv"
    ? "gemv"
    : family === "gemm_small"
    ? "small-batch"
    : family === "gemm_splitk"
    ? "split-k"
    : "prefill";
  // One pipeline per family; only the tiled kernel has two (f16 / bf16 tiles): the audit models f16.
  return { path, kernel: family === "gemm_tiled" ? "gemm_tiled_f16" : family, splits };
}

/** Message flagged on every row when the group size has no kernels. */
export function noKernelMessage(groupSize: number): string {
  return `no kernel for group size ${groupSize}: group sizes are positive multiples of 8`;
}

/** One projection of one layer type, as a GEMM C[M, N] = A[M, K] · W[K, N]. */
export interface Projection {
  /** e.g. "q_proj", "qkv_fused", "expert.down_proj". */
  name: string;
  /** Reduction length K (elements). */
  k: number;
  /** Output columns N (elements). */
  n: number;
  /** Routed experts: the audit uses the average rows per expert, ceil(M * topK / experts). */
  expert: boolean;
}

/** One row of the report: one projection at one M. */
export interface AlignmentRow {
  /** Projection name, e.g. "q_proj" (see Projection.name). */
  projection: string;
  /** Rows of A (tokens; per expert for routed experts). */
  m: number;
  /** Reduction length K (elements). */
  k: number;
  /** Output columns N (elements). */
  n: number;
  /** Path the C routing takes for this shape (same answer as gemmRoute). */
  path: GemmPath;
  /** Kernel the C routing picks, e.g. "gemm_splitk"; "" when the group size has none. */
  kernel: string;
  /** Split-K parts (1 = K not split; 0 when there is no kernel). */
  splits: number;
  /** K is a multiple of 8 (one packed word). */
  kDiv8: boolean;
  /** N is a multiple of 8. */
  nDiv8: boolean;
  /** K is a multiple of the group size. */
  kDivGroup: boolean;
  /** K is a multiple of PREFILL_TILE_K. */
  kDivTileK: boolean;
  /** N is a multiple of PREFILL_TILE_N. */
  nDivTileN: boolean;
  /** M is a multiple of PREFILL_TILE_M. */
  mDivTileM: boolean;
  /** M as run: never padded (kernels bounds-check rows). */
  mp: number;
  /** K of the padded weight (a multiple of the group size and of PREFILL_TILE_K). */
  kp: number;
  /** N of the padded weight (a multiple of GEMV_N_MULTIPLE). */
  np: number;
  /** Extra bytes because of padding (weights + fp16 activations + fp16 outputs). */
  paddingBytes: number;
  /** paddingBytes as a percentage of the unpadded bytes. */
  paddingPercent: number;
  /** Human-readable flags: "M=1 (GEMV path)", "odd M (padded to 8)", "K % gs != 0", ... */
  flags: string[];
}

/** The whole report. */
export interface AlignmentReport {
  /** Model name (built-in key or the config's model_type / file). */
  model: string;
  /** Where the numbers come from ("seed table", a config path). */
  source: string;
  /** Quantization group size audited. */
  groupSize: number;
  /** Weight format audited. */
  format: QuantFormat;
  /** Tile sizes the divisibility columns refer to. */
  tiles: { m: number; n: number; k: number; gemvN: number };
  /** One row per projection and M. */
  rows: AlignmentRow[];
}

/** Every projection of the model (QKV separate and fused with GQA sizes, O, MLP, LM head, MoE). */
export function projections(cfg: ModelConfig): Projection[] {
  const q = cfg.heads * cfg.headDim, kv = cfg.kvHeads * cfg.headDim, h = cfg.hidden;
  const p = (name: string, k: number, n: number, expert = false): Projection => ({ name, k, n, expert });
  const out = [
    p("q_proj", h, q),
    p("k_proj", h, kv),
    p("v_proj", h, kv),
    p("qkv_fused", h, q + 2 * kv),
    p("o_proj", q, h),
  ];
  if (cfg.intermediate > 0) {
    const f = cfg.intermediate;
    out.push(p("gate_proj", h, f), p("up_proj", h, f), p("gate_up_fused", h, 2 * f), p("down_proj", f, h));
  }
  if (cfg.moe !== undefined) {
    const e = cfg.moe.expertIntermediate;
    out.push(p("router", h, cfg.moe.experts));
    out.push(p("expert.gate_proj", h, e, true), p("expert.up_proj", h, e, true));
    out.push(p("expert.gate_up_fused", h, 2 * e, true), p("expert.down_proj", e, h, true));
    const s = cfg.moe.sharedIntermediate;
    if (s > 0) out.push(p("shared.gate_up_fused", h, 2 * s), p("shared.down_proj", s, h));
  }
  out.push(p("lm_head", h, cfg.vocab));
  return out;
}

/** Bytes of a quantized [K, N] weight: 4-bit codes + fp16 scales (+ uint8 zero points for int4). */
function weightBytes(k: number, n: number, gs: number, format: QuantFormat): number {
  return k * n / 2 + (k / gs) * n * (2 + (format === "int4" ? 1 : 0));
}

function lcm(a: number, b: number): number {
  let x = a, y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/**
 * Audits `cfg` for each token count in `ms`. Padding applied: Kp = roundUp(K, lcm(gs, PREFILL_TILE_K)),
 * Np = roundUp(N, GEMV_N_MULTIPLE). M is not padded: gemm() bounds-checks rows in every kernel, so Mp = M
 * and ragged M costs idle lanes in the last row tile, not bytes (padM() is the policy for callers that
 * stage activations in reusable buffers). Activations and outputs are not padded either (kernels bounds-
 * check K and N), so the cost is the weight padding; percentages are of weights + fp16 activations + outputs.
 */
export function auditAlignment(
  cfg: ModelConfig,
  ms: readonly number[],
  opts: { groupSize?: number; format?: QuantFormat } = {},
): AlignmentReport {
  const gs = opts.groupSize ?? DEFAULT_GROUP_SIZE;
  checkGroupSize("auditAlignment", gs);
  if (ms.length === 0) throw argError("auditAlignment", "auditAlignment: give at least one token count M");
  for (const m of ms) checkDim("auditAlignment", "M", m);
  const format = opts.format ?? "fp4";
  if (!Object.hasOwn(FORMAT_IDS, format)) {
    throw argError("auditAlignment", `auditAlignment: unknown format "${format}"`);
  }
  const rows: AlignmentRow[] = [];
  for (const proj of projections(cfg)) {
    for (const m0 of ms) {
      const m = proj.expert && cfg.moe ? Math.max(1, Math.ceil((m0 * cfg.moe.topK) / cfg.moe.experts)) : m0;
      const { k, n } = proj;
      const { path, kernel, splits } = routeGemm({ m, n, k, format, groupSize: gs });
      const mp = m, kp = padTo(k, lcm(gs, PREFILL_TILE_K)), np = padTo(n, GEMV_N_MULTIPLE);
      // Activations [M, K] and outputs [M, N] keep their shapes (kernels bounds-check K, N and M):
      // only the packed weight and its scales are padded.
      const base = weightBytes(k, n, gs, format) + 2 * m * k + 2 * m * n;
      const padded = weightBytes(kp, np, gs, format) + 2 * m * k + 2 * m * n;
      const flags: string[] = [];
      if (path === "none") flags.push(noKernelMessage(gs));
      if (m === 1 && path === "gemv") flags.push("M=1 (GEMV path)");
      else if (m === 1) flags.push(`M=1 (${path} path)`);
      else if (m % 2 === 1) flags.push("odd M (rows bounds-checked, not padded)");
      if (path === "split-k") {
        const groups = Math.ceil(n / ROUTING.vecCols);
        flags.push(`split-K ${splits} parts (${groups} threadgroups < ${ROUTING.splitTargetThreadgroups})`);
      }
      if (path === "prefill" && m % PREFILL_TILE_M !== 0) {
        flags.push(`M % ${PREFILL_TILE_M} != 0 (last row tile ${m % PREFILL_TILE_M}/${PREFILL_TILE_M} busy)`);
      }
      if (proj.expert) flags.push(`rows/expert for M=${m0}`);
      if (k % gs !== 0) flags.push(`K % ${gs} != 0`);
      if (k % 8 !== 0) flags.push("K % 8 != 0");
      if (n % GEMV_N_MULTIPLE !== 0) flags.push(`N % ${GEMV_N_MULTIPLE} != 0`);
      if (path === "prefill" && n % PREFILL_TILE_N !== 0) {
        flags.push(`N % ${PREFILL_TILE_N} != 0 (edge tile)`);
      }
      rows.push({
        projection: proj.name,
        m,
        k,
        n,
        path,
        kernel,
        splits,
        kDiv8: k % 8 === 0,
        nDiv8: n % 8 === 0,
        kDivGroup: k % gs === 0,
        kDivTileK: k % PREFILL_TILE_K === 0,
        nDivTileN: n % PREFILL_TILE_N === 0,
        mDivTileM: m % PREFILL_TILE_M === 0,
        mp,
        kp,
        np,
        paddingBytes: padded - base,
        paddingPercent: base === 0 ? 0 : ((padded - base) / base) * 100,
        flags,
      });
    }
  }
  return {
    model: cfg.name,
    source: cfg.source,
    groupSize: gs,
    format,
    tiles: { m: PREFILL_TILE_M, n: PREFILL_TILE_N, k: PREFILL_TILE_K, gemvN: GEMV_N_MULTIPLE },
    rows,
  };
}

function fmtBytes(b: number): string {
  if (b < 1024) return `${Math.round(b)} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}

/** The report as a fixed-width terminal table (one line per projection and M). */
export function formatAlignmentReport(r: AlignmentReport): string {
  const yn = (b: boolean): string => (b ? "y" : "n");
  const head = [
    "projection",
    "M",
    "N",
    "K",
    "path",
    "kernel",
    "K%8",
    "N%8",
    `K%${r.groupSize}`,
    `K%${r.tiles.k}`,
    `N%${r.tiles.n}`,
    "Mp",
    "Np",
    "Kp",
    "pad",
    "pad%",
    "flags",
  ];
  const body = r.rows.map((x) => [
    x.projection,
    String(x.m),
    String(x.n),
    String(x.k),
    x.path,
    x.kernel,
    yn(x.kDiv8),
    yn(x.nDiv8),
    yn(x.kDivGroup),
    yn(x.kDivTileK),
    yn(x.nDivTileN),
    String(x.mp),
    String(x.np),
    String(x.kp),
    fmtBytes(x.paddingBytes),
    x.paddingPercent.toFixed(2),
    x.flags.join("; "),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(
      "  ",
    ).trimEnd();
  const title = `alignment: ${r.model} (${r.source}), ${r.format}, group size ${r.groupSize}, ` +
    `prefill tile ${r.tiles.m}x${r.tiles.n} K-step ${r.tiles.k}, GEMV N multiple ${r.tiles.gemvN}`;
  const unsupported = groupSizeServed(r.groupSize) ? [] : [`warning: ${noKernelMessage(r.groupSize)}`];
  return [title, ...unsupported, line(head), ...body.map(line)].join("\n");
}
