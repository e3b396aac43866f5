// Quantized GEMM from TypeScript: shape and dtype checks, then one mm_gemm / mm_batched_gemm call with
// a params block reused across calls (no allocation when `out` is given). Routing, extent and stride
// validation against the real buffer lengths happen in C (csrc/core/gemm.cpp).
import type { Device } from "./device.ts";
import { errorFor, InvalidArgumentError, LimitError, MarlinError, ShapeError } from "./errors.ts";
import { type DeviceState, deviceState, fixedString, tensorState } from "./internal.ts";
import type { QuantizedMatrix } from "./quant/types.ts";
import type { Tensor } from "./tensor.ts";
import { QuantizedWeight } from "./weight.ts";

export { QuantizedWeight };
export type { Device, QuantizedMatrix, Tensor };

/** Activation applied after the bias: "gelu" is the tanh approximation. */
export type Activation = "relu" | "silu" | "gelu";

/**
 * Options of gemm(). Epilogue order: swiglu -> +bias -> activation -> *scale -> +residual. Counts,
 * pitches and strides are in elements (never bytes) and must be integers in 0..2^32-1 (InvalidArgumentError
 * otherwise).
 */
export interface GemmOptions {
  /** Output tensor, f16, holding [M, N] with row pitch `ldc`. Default: a new f16 [M, N] tensor. */
  out?: Tensor;
  /** f16 [N], added to every row after SwiGLU. Default: none. */
  bias?: Tensor;
  /** f16 [M, N] with row pitch `ldr`, added last. May be `out` itself (in place). Default: none. */
  residual?: Tensor;
  /** Activation after the bias. Default: none. */
  activation?: Activation;
  /** Finite factor applied after the activation. Default 1 (no scaling). */
  scale?: number;
  /** SwiGLU's up weight: out = silu(A·w) * (A·up); same format, dims and group size as w. Default: none. */
  up?: QuantizedWeight;
  /** SwiGLU from one fused weight w = [gate | up] along N (N must be even; out has N/2 columns). Default false. */
  swiglu?: boolean;
  /** Rows of A (1..2^32-1). Default a.shape[-2] (1 for a 1-D a). */
  m?: number;
  /** Row pitch of A in elements (>= K). Default a.shape[-1], which must then equal w.k. */
  lda?: number;
  /** Row pitch of out in elements (>= N). Default out.shape[-1], or N for a new output. */
  ldc?: number;
  /** Row pitch of residual in elements (>= N). Default residual.shape[-1]. */
  ldr?: number;
  /** Split-K parts: 0 = routing decides, 1 = never split, > 1 = about this many (capped at one per 256 K). Default 0. */
  splitK?: number;
}

/** Options of batchedGemm(). Strides are in elements; a stride of 0 broadcasts one matrix to every batch. */
export interface BatchedGemmOptions extends GemmOptions {
  /** Number of batches (>= 1). Default a.shape[0] for a 3-D a, else 1. */
  batch?: number;
  /** Elements between consecutive A matrices. Default m * lda. */
  strideA?: number;
  /** Elements between consecutive outputs (never 0 for batch > 1). Default m * ldc. */
  strideC?: number;
  /** Elements between consecutive residual matrices. Default m * ldr. */
  strideR?: number;
}

/** Uploads q to the device as three buffers (packed codes, f16 scales, u8 zero points for int4); see QuantizedWeight. */
export function uploadWeight(dev: Device, q: QuantizedMatrix): QuantizedWeight {
  return new QuantizedWeight(dev, q);
}

// mm_gemm_params (csrc/include/metal_marlin.h): 34 uint32 fields, then 11 uint64 byte offsets.
const PARAMS_BYTES = 224;
const block = new ArrayBuffer(PARAMS_BYTES);
const u8 = new Uint8Array(block);
const u32 = new Uint32Array(block);
const f32 = new Float32Array(block);
const F = {
  format: 1,
  groupSize: 2,
  m: 3,
  n: 4,
  k: 5,
  kp: 6,
  np: 7,
  ldw: 8,
  batch: 9,
  lda: 10,
  ldc: 11,
  ldr: 12,
  strideA: 13,
  strideW: 14,
  strideS: 15,
  strideC: 16,
  strideR: 17,
  epilogue: 18,
  alpha: 19,
  splitK: 20,
  upColumn: 21,
  packed: 22,
  scales: 23,
  zeros: 24,
  a: 25,
  c: 26,
  bias: 27,
  residual: 28,
  upPacked: 29,
  upScales: 30,
  upZeros: 31,
  workspace: 32,
} as const;
const EPI = { bias: 1, residual: 16, scale: 32, swiglu: 64 } as const;
const ACT: Readonly<Record<string, number>> = { relu: 2, silu: 4, gelu: 8 };
const U32_MAX = 4294967295;

// Every count, pitch and stride goes into a uint32 field: anything else (2^32+1, 1.5, -1, NaN, "2")
// would be wrapped or truncated by the typed array and compute something else than asked.
function checkU32(op: string, name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > U32_MAX) {
    const got = typeof value === "string" ? JSON.stringify(value) : String(value);
    throw new InvalidArgumentError(
      `${op}: ${name} must be an integer in ${min}..${U32_MAX}, got ${got}`,
      -1,
      op,
    );
  }
  return value;
}

// C messages start with their entry point ("mm_gemm: ldc = 8 ..."); the caller's op replaces it, so
// the error reads "gemm: ldc = 8 is below n = 16".
function checkNative(s: DeviceState, rc: number, op: string, entry: string): void {
  if (rc >= 0) return;
  const msg = s.native.cstring(s.native.fns.mm_last_error());
  throw errorFor(rc, op, msg.startsWith(`${entry}: `) ? msg.slice(entry.length + 2) : msg);
}

function setBuffer(slot: number, buffer: number): void {
  u32[slot] = buffer;
  // Offsets (u64 at byte 136 + 8 * (slot - packed)) are always 0: tensors bind whole buffers.
  const o = (136 + 8 * (slot - F.packed)) / 4;
  u32[o] = 0;
  u32[o + 1] = 0;
}

function f16Buffer(t: Tensor, op: string, what: string): number {
  const s = tensorState(t, op);
  if (s.dtype !== "f16") throw new InvalidArgumentError(`${op}: ${what} must be f16, got ${s.dtype}`, -1, op);
  return s.buffer;
}

function checkWeight(w: QuantizedWeight, op: string, what: string): void {
  if (!(w instanceof QuantizedWeight)) {
    throw new InvalidArgumentError(`${op}: ${what} must be a QuantizedWeight from dev.upload()`, -1, op);
  }
  w.assertLive(op);
}

function pitchOf(t: Tensor): number {
  return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
}

// Fills the params block for one call (everything but batch strides and the output).
function fill(op: string, a: Tensor, w: QuantizedWeight, opts: GemmOptions, batched: boolean): void {
  checkWeight(w, op, "w");
  const aBuf = f16Buffer(a, op, "a");
  const rank = a.shape.length;
  const m = checkU32(op, "m", opts.m ?? (rank >= 2 ? a.shape[rank - 2] : 1), 1);
  const cols = pitchOf(a);
  if (opts.lda === undefined && cols !== w.k) {
    throw new ShapeError(`${op}: a has K=${cols} but w has K=${w.k}`, -13, op);
  }
  const lda = opts.lda === undefined ? cols : checkU32(op, "lda", opts.lda, 1);
  const fused = opts.swiglu === true && opts.up === undefined;
  if (fused && w.n % 2 !== 0) {
    throw new ShapeError(`${op}: a fused gate/up weight needs an even N, got N=${w.n}`, -13, op);
  }
  const n = fused ? w.n / 2 : w.n;
  u32.fill(0);
  u32[0] = PARAMS_BYTES;
  u32[F.format] = w.formatId;
  u32[F.groupSize] = w.groupSize;
  u32[F.m] = m;
  u32[F.n] = n;
  u32[F.k] = w.k;
  u32[F.kp] = w.kp;
  u32[F.np] = w.np;
  u32[F.ldw] = w.np;
  u32[F.lda] = lda;
  u32[F.splitK] = opts.splitK === undefined ? 0 : checkU32(op, "splitK", opts.splitK, 0);
  setBuffer(F.packed, tensorState(w.packed, op).buffer);
  setBuffer(F.scales, tensorState(w.scales, op).buffer);
  if (w.zeros) setBuffer(F.zeros, tensorState(w.zeros, op).buffer);
  setBuffer(F.a, aBuf);
  let epi = 0;
  if (opts.bias) {
    epi |= EPI.bias;
    setBuffer(F.bias, f16Buffer(opts.bias, op, "bias"));
  }
  if (opts.residual) {
    epi |= EPI.residual;
    setBuffer(F.residual, f16Buffer(opts.residual, op, "residual"));
    u32[F.ldr] = opts.ldr === undefined ? pitchOf(opts.residual) : checkU32(op, "ldr", opts.ldr, 1);
  }
  if (opts.activation !== undefined) {
    const bit = Object.hasOwn(ACT, opts.activation) ? ACT[opts.activation] : undefined;
    if (bit === undefined) {
      throw new InvalidArgumentError(
        `${op}: activation must be "relu", "silu" or "gelu", got ${String(opts.activation)}`,
        -1,
        op,
      );
    }
    epi |= bit;
  }
  if (opts.scale !== undefined && (typeof opts.scale !== "number" || !Number.isFinite(opts.scale))) {
    const got = typeof opts.scale === "string" ? JSON.stringify(opts.scale) : String(opts.scale);
    throw new InvalidArgumentError(`${op}: scale must be a finite number, got ${got}`, -1, op);
  }
  if (opts.scale !== undefined && opts.scale !== 1) {
    epi |= EPI.scale;
    f32[F.alpha] = opts.scale;
  }
  if (opts.up !== undefined || opts.swiglu === true) {
    epi |= EPI.swiglu;
    if (opts.up !== undefined) {
      const up = opts.up;
      checkWeight(up, op, "up");
      if (
        up.k !== w.k || up.n !== w.n || up.kp !== w.kp || up.np !== w.np || up.format !== w.format ||
        up.groupSize !== w.groupSize || up.batch !== w.batch
      ) {
        throw new ShapeError(
          `${op}: up weight (${up.format} k=${up.k} n=${up.n} gs=${up.groupSize} batch=${up.batch}) ` +
            `does not match w (${w.format} k=${w.k} n=${w.n} gs=${w.groupSize} batch=${w.batch})`,
          -13,
          op,
        );
      }
      setBuffer(F.upPacked, tensorState(up.packed, op).buffer);
      setBuffer(F.upScales, tensorState(up.scales, op).buffer);
      if (up.zeros) setBuffer(F.upZeros, tensorState(up.zeros, op).buffer);
    } else {
      u32[F.upColumn] = n;
    }
  }
  u32[F.epilogue] = epi;
  u32[F.batch] = 1;
  if (!batched && rank > 2) {
    throw new ShapeError(`${op}: a has rank ${rank}; use batchedGemm for [B, M, K] activations`, -13, op);
  }
}

// The output tensor: opts.out (no allocation) or a new f16 [batch?, M, N]; sets c and ldc.
function output(dev: Device, op: string, opts: GemmOptions, batch: number): Tensor {
  const ldc = opts.ldc === undefined ? undefined : checkU32(op, "ldc", opts.ldc, 1);
  if (opts.out) {
    u32[F.c] = f16Buffer(opts.out, op, "out");
    u32[F.ldc] = ldc ?? pitchOf(opts.out);
    return opts.out;
  }
  const m = u32[F.m], n = u32[F.n];
  const out = alloc(dev, op, batch > 0 ? [batch, m, n] : [m, n], "f16", "output");
  u32[F.c] = tensorState(out, op).buffer;
  u32[F.ldc] = ldc ?? n;
  return out;
}

// Allocates under the caller's op, so the errors say "gemm: ...", not "tensor: ...".
function alloc(dev: Device, op: string, shape: number[], dtype: "f16" | "f32", role: string): Tensor {
  const elems = shape.reduce((x, y) => x * y, 1);
  if (elems > U32_MAX) {
    const msg = `${op}: the ${role} [${shape.join(", ")}] has ${elems} elements; kernels index with 32 bits`;
    throw new LimitError(msg, -6, op);
  }
  try {
    return dev.empty(shape, dtype);
  } catch (e) {
    if (!(e instanceof MarlinError) || e.op === op) throw e;
    // Same class and code, message and op of the caller.
    const detail = e.message.startsWith(`${e.op}: `) ? e.message.slice(e.op.length + 2) : e.message;
    const Cls = e.constructor as new (message: string, code: number, op: string) => MarlinError;
    throw new Cls(`${op}: ${role} [${shape.join(", ")}] ${dtype}: ${detail}`, e.code, op);
  }
}

// Split-K partials go to one grow-only f32 buffer per device, reused by every call: dispatches on a
// device run in submission order, so two GEMMs never use it at once. (Without a workspace the C side
// allocates one per call and has to wait for the GEMM before freeing it.)
const workspaces = new WeakMap<object, { tensor: Tensor | undefined }>();
// mm_gemm_route_info: 144 bytes; kind at 4, grid at 8, splits at 32, workspace_bytes (u64) at 40.
const ROUTE_INFO_BYTES = 144;
const routeBlock = new Uint8Array(ROUTE_INFO_BYTES);
const routeView = new DataView(routeBlock.buffer);

// u64 field as two u32 halves (no BigInt on the hot path); exact below 2^53 bytes.
function routeU64(at: number): number {
  return routeView.getUint32(at, true) + routeView.getUint32(at + 4, true) * 4294967296;
}

// Route answers (the workspace bytes) cached per weight, ROUTE_SLOTS keys each, round robin: a model
// loop alternates weights (q/k/v/o/gate/up/down), which a cache of one shape per device missed on
// every call (an extra mm_gemm_route FFI call). The weight fixes n, k, format and group size; the rest
// of the routing input is the key: m, SwiGLU mode (0 off, 1 separate up, 2 fused: halves n), splitK, batch.
const ROUTE_SLOTS = 4;
const KEY = 4;
interface Routes {
  keys: Uint32Array;
  /** Workspace bytes per slot; -1 = empty. */
  bytes: Float64Array;
  next: number;
}
const routes = new WeakMap<QuantizedWeight, Routes>();

function routeBytes(s: DeviceState, op: string, w: QuantizedWeight): number {
  let r = routes.get(w);
  if (r === undefined) {
    r = { keys: new Uint32Array(ROUTE_SLOTS * KEY), bytes: new Float64Array(ROUTE_SLOTS).fill(-1), next: 0 };
    routes.set(w, r);
  }
  const m = u32[F.m], split = u32[F.splitK], batch = u32[F.batch];
  const mode = (u32[F.epilogue] & EPI.swiglu) === 0 ? 0 : u32[F.upColumn] === 0 ? 1 : 2;
  const { keys } = r;
  for (let i = 0, o = 0; i < ROUTE_SLOTS; i++, o += KEY) {
    if (
      r.bytes[i] >= 0 && keys[o] === m && keys[o + 1] === mode && keys[o + 2] === split &&
      keys[o + 3] === batch
    ) return r.bytes[i];
  }
  routeBlock.fill(0);
  routeView.setUint32(0, ROUTE_INFO_BYTES, true);
  checkNative(s, s.native.fns.mm_gemm_route(s.handle, u8, routeBlock), op, "mm_gemm_route");
  const i = r.next, o = i * KEY;
  r.next = (i + 1) % ROUTE_SLOTS;
  [keys[o], keys[o + 1], keys[o + 2], keys[o + 3]] = [m, mode, split, batch];
  return (r.bytes[i] = routeU64(40));
}

function bindWorkspace(dev: Device, s: DeviceState, op: string, w: QuantizedWeight): void {
  const bytes = routeBytes(s, op, w);
  // Past 32-bit indexing mm_gemm refuses the split with its own LimitError: allocate nothing for it.
  if (bytes === 0 || bytes / 4 > U32_MAX) return;
  let ws = workspaces.get(dev);
  if (ws === undefined) {
    ws = { tensor: undefined };
    workspaces.set(dev, ws);
  }
  if (ws.tensor === undefined || ws.tensor.disposed || ws.tensor.byteLength < bytes) {
    ws.tensor?.dispose();
    ws.tensor = alloc(dev, op, [Math.ceil(bytes / 4)], "f32", "split-K workspace");
  }
  setBuffer(F.workspace, tensorState(ws.tensor, op).buffer);
}

/**
 * C = A·W (+ epilogue) with A f16 [M, K] (or [K] for M = 1) and W the k x n matrix q held (for "nk"
 * weights this is y = x·Wᵀ, as nn.Linear). Returns `opts.out` or a new f16 [M, N] tensor; read it with
 * toArray() (waits for the device). Asynchronous; allocation-free when `out` is given. Throws
 * InvalidArgumentError (dtypes, an option that is not an integer in range), ShapeError (K mismatch, a
 * pitch below its row), DisposedError, BoundsError (a buffer too small for the dims and pitches),
 * UnsupportedError (a group size without kernels), LimitError (extents past 32-bit indexing).
 */
export function gemm(dev: Device, a: Tensor, w: QuantizedWeight, opts: GemmOptions = {}): Tensor {
  const op = "gemm";
  const s = deviceState(dev, op);
  fill(op, a, w, opts, false);
  const out = output(dev, op, opts, 0);
  bindWorkspace(dev, s, op, w);
  checkNative(s, s.native.fns.mm_gemm(s.handle, u8), op, "mm_gemm");
  return out;
}

/**
 * Strided batched GEMM: A f16 [B, M, K], W batched (weight i for batch i) or unbatched (shared by every
 * batch: stride 0). Returns `opts.out` or a new f16 [B, M, N] tensor. Strides are in elements; a stride
 * of 0 broadcasts. Throws as gemm() does, plus ShapeError when a and w disagree on the batch count.
 */
export function batchedGemm(
  dev: Device,
  a: Tensor,
  w: QuantizedWeight,
  opts: BatchedGemmOptions = {},
): Tensor {
  const op = "batchedGemm";
  const s = deviceState(dev, op);
  fill(op, a, w, opts, true);
  const batch = checkU32(op, "batch", opts.batch ?? (a.shape.length >= 3 ? a.shape[0] : 1), 1);
  if (w.batched && w.batch !== 1 && w.batch !== batch) {
    throw new ShapeError(`${op}: a has batch ${batch} but w has batch ${w.batch}`, -13, op);
  }
  const m = u32[F.m];
  u32[F.batch] = batch;
  const out = output(dev, op, opts, batch);
  u32[F.strideA] = opts.strideA === undefined
    ? checkU32(op, "m * lda (the default strideA)", m * u32[F.lda], 0)
    : checkU32(op, "strideA", opts.strideA, 0);
  u32[F.strideC] = opts.strideC === undefined
    ? checkU32(op, "m * ldc (the default strideC)", m * u32[F.ldc], 0)
    : checkU32(op, "strideC", opts.strideC, 0);
  if (opts.residual) {
    u32[F.strideR] = opts.strideR === undefined
      ? checkU32(op, "m * ldr (the default strideR)", m * u32[F.ldr], 0)
      : checkU32(op, "strideR", opts.strideR, 0);
  } else if (opts.strideR !== undefined) checkU32(op, "strideR", opts.strideR, 0);
  if (w.batched && w.batch > 1) {
    u32[F.strideW] = (w.kp / 8) * w.np;
    u32[F.strideS] = (w.kp / w.groupSize) * w.np;
  }
  bindWorkspace(dev, s, op, w);
  checkNative(s, s.native.fns.mm_batched_gemm(s.handle, u8), op, "mm_batched_gemm");
  return out;
}

/** Which kernel a GEMM of these dims uses, as chosen by the C routing (csrc/core/gemm_routing.cpp). */
export interface GemmRoute {
  /** Kernel family: "gemv" (M = 1), "small" (M <= 16), "splitk" (few threadgroups on a deep K), "tiled". */
  kind: "gemv" | "small" | "splitk" | "tiled";
  /** Main kernel name, e.g. "gemm_splitk_fp4_gs128" (shaders/manifest grammar). */
  kernel: string;
  /** Reduction kernel of split-K ("gemm_splitk_reduce"), "" for the other kinds. */
  reduceKernel: string;
  /** Threadgroups of the main kernel: [x, y, z], z = batch. */
  grid: [number, number, number];
  /** Split-K parts (K chunks reduced afterwards); 1 when K is not split. */
  splits: number;
  /** Bytes of f32 split-K partials (splits x batch x M x N x 4, twice for SwiGLU); 0 when not split. */
  workspaceBytes: number;
}

/** Problem description for gemmRoute(): dims in elements, format as an MM_FORMAT_* id. */
export interface GemmRouteShape {
  /** Rows of A (>= 1). */
  m: number;
  /** Output columns (>= 1; per half for SwiGLU). */
  n: number;
  /** Reduction length (>= 1). */
  k: number;
  /** MM_FORMAT_* id: 0 fp4, 1 int4, 2 int4-sym (lib/quant/formats.ts FORMAT_IDS). */
  format: number;
  /** Quantization group size along K (kernels exist for 32, 64, 128, 256). */
  groupSize: number;
  /** Batches (>= 1). Default 1. */
  batch?: number;
  /** SwiGLU (the tiled kernel then covers half the columns per threadgroup). Default false. */
  swiglu?: boolean;
  /** Split-K request as in GemmOptions.splitK. Default 0 (routing decides). */
  splitK?: number;
}

const KINDS = ["", "gemv", "small", "splitk", "tiled"] as const;

/**
 * Asks the C routing function which kernel serves an [m, k] x [k, n] GEMM of this format and group size
 * (for tests, benchmarks and the alignment audit). Throws UnsupportedError for a group size without
 * kernels, InvalidArgumentError for an unknown format or a dim outside 1..2^32-1.
 */
export function gemmRoute(dev: Device, shape: GemmRouteShape): GemmRoute {
  const op = "gemmRoute";
  const s = deviceState(dev, op);
  const m = checkU32(op, "m", shape.m, 1),
    n = checkU32(op, "n", shape.n, 1),
    k = checkU32(op, "k", shape.k, 1);
  const gs = checkU32(op, "groupSize", shape.groupSize, 1),
    batch = checkU32(op, "batch", shape.batch ?? 1, 1);
  u32.fill(0);
  u32[0] = PARAMS_BYTES;
  u32[F.format] = checkU32(op, "format", shape.format, 0);
  u32[F.groupSize] = gs;
  u32[F.m] = m;
  u32[F.n] = n;
  u32[F.k] = k;
  u32[F.kp] = Math.min(Math.ceil(k / gs) * gs, U32_MAX);
  u32[F.np] = Math.min(Math.ceil(n / 8) * 8 * (shape.swiglu ? 2 : 1), U32_MAX);
  u32[F.batch] = batch;
  u32[F.splitK] = checkU32(op, "splitK", shape.splitK ?? 0, 0);
  if (shape.swiglu) {
    u32[F.epilogue] = EPI.swiglu;
    u32[F.upColumn] = Math.ceil(n / 8) * 8;
  }
  if (batch > 1) u32[F.strideC] = Math.min(m * n, U32_MAX);
  routeBlock.fill(0);
  routeView.setUint32(0, ROUTE_INFO_BYTES, true);
  checkNative(s, s.native.fns.mm_gemm_route(s.handle, u8, routeBlock), op, "mm_gemm_route");
  return {
    kind: KINDS[routeView.getUint32(4, true)] as GemmRoute["kind"],
    kernel: fixedString(routeBlock, 48, 48),
    reduceKernel: fixedString(routeBlock, 96, 48),
    grid: [routeView.getUint32(8, true), routeView.getUint32(12, true), routeView.getUint32(16, true)],
    splits: routeView.getUint32(32, true),
    workspaceBytes: routeU64(40),
  };
}
