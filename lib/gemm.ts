// Quantized GEMM from TypeScript: shape and dtype checks, then one mm_gemm / mm_batched_gemm call with
// a params block reused across calls (no allocation when `out` is given). Routing, extent and stride
// validation against the real buffer lengths happen in C (csrc/core/gemm.cpp).
import type { Device } from "./device.ts";
import { InvalidArgumentError, ShapeError } from "./errors.ts";
import { check, type DeviceState, deviceState, tensorState } from "./internal.ts";
import type { QuantizedMatrix } from "./quant/types.ts";
import type { Tensor } from "./tensor.ts";
import { QuantizedWeight } from "./weight.ts";

export { QuantizedWeight };

/** Activation applied after the bias: "gelu" is the tanh approximation. */
export type Activation = "relu" | "silu" | "gelu";

/**
 * Options of gemm(). Epilogue order: swiglu -> +bias -> activation -> *scale -> +residual.
 * Pitches are in elements.
 */
export interface GemmOptions {
  /** Output tensor (f16, holds [M, N] with row pitch ldc). Default: a new [M, N] tensor. */
  out?: Tensor;
  /** f16 [N], added to every row. */
  bias?: Tensor;
  /** f16 [M, N] (row pitch ldr), added last. */
  residual?: Tensor;
  activation?: Activation;
  /** Output scale (multiplies after the activation). Default 1 (off). */
  scale?: number;
  /** SwiGLU: silu(A·w) * (A·up). Give `up`, or set swiglu with a fused w = [gate | up] along N. */
  up?: QuantizedWeight;
  swiglu?: boolean;
  /** Rows of A. Default a.shape[-2] (1 for a 1-D a). */
  m?: number;
  /** Row pitch of A. Default a.shape[-1], which must then equal w.k. */
  lda?: number;
  /** Row pitch of out. Default out.shape[-1] (N for a new output). */
  ldc?: number;
  /** Row pitch of residual. Default residual.shape[-1]. */
  ldr?: number;
  /** Split-K parts: 0/undefined = routing decides, 1 = never split, > 1 = about this many. */
  splitK?: number;
}

/** Options of batchedGemm(): batch strides in elements; 0 broadcasts one matrix to every batch. */
export interface BatchedGemmOptions extends GemmOptions {
  /** Default a.shape[0]. */
  batch?: number;
  /** Default m * lda. */
  strideA?: number;
  /** Default m * ldc. */
  strideC?: number;
  /** Default m * ldr. */
  strideR?: number;
}

/** Uploads q to the device: three device buffers (packed, scales, zeros for int4). */
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
  const m = opts.m ?? (rank >= 2 ? a.shape[rank - 2] : 1);
  const cols = pitchOf(a);
  if (opts.lda === undefined && cols !== w.k) {
    throw new ShapeError(`${op}: a has K=${cols} but w has K=${w.k}`, -13, op);
  }
  const lda = opts.lda ?? cols;
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
  u32[F.splitK] = opts.splitK ?? 0;
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
    u32[F.ldr] = opts.ldr ?? pitchOf(opts.residual);
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
  if (opts.out) {
    u32[F.c] = f16Buffer(opts.out, op, "out");
    u32[F.ldc] = opts.ldc ?? pitchOf(opts.out);
    return opts.out;
  }
  const m = u32[F.m], n = u32[F.n];
  const out = dev.empty(batch > 0 ? [batch, m, n] : [m, n], "f16");
  u32[F.c] = tensorState(out, op).buffer;
  u32[F.ldc] = opts.ldc ?? n;
  return out;
}

// Split-K partials go to one grow-only f32 buffer per device, reused by every call: dispatches on a
// device run in submission order, so two GEMMs never use it at once. (Without a workspace the C side
// allocates one per call and has to wait for the GEMM before freeing it.) The route answer is cached
// for the last shape per device, so a steady-state loop makes no extra FFI call (mm_gemm_route ~300 ns).
interface Workspace {
  tensor: Tensor | undefined;
  /** u32 params slots the route depends on, as of the last route call. */
  key: Uint32Array;
  bytes: number;
}
const ROUTE_SLOTS = [
  F.m,
  F.n,
  F.k,
  F.format,
  F.groupSize,
  F.batch,
  F.epilogue,
  F.splitK,
  F.upColumn,
] as const;
const workspaces = new WeakMap<object, Workspace>();
const routeBlock = new Uint8Array(144);
const routeView = new DataView(routeBlock.buffer);

function bindWorkspace(dev: Device, s: DeviceState, op: string): void {
  let ws = workspaces.get(dev);
  if (ws === undefined) {
    ws = { tensor: undefined, key: new Uint32Array(ROUTE_SLOTS.length), bytes: -1 };
    workspaces.set(dev, ws);
  }
  let same = ws.bytes >= 0;
  for (let i = 0; i < ROUTE_SLOTS.length && same; i++) same = ws.key[i] === u32[ROUTE_SLOTS[i]];
  if (!same) {
    routeBlock.fill(0);
    routeView.setUint32(0, routeBlock.length, true);
    check(s.native, s.native.fns.mm_gemm_route(s.handle, u8, routeBlock), op);
    ws.bytes = Number(routeView.getBigUint64(40, true));
    for (let i = 0; i < ROUTE_SLOTS.length; i++) ws.key[i] = u32[ROUTE_SLOTS[i]];
  }
  if (ws.bytes === 0) return;
  if (ws.tensor === undefined || ws.tensor.disposed || ws.tensor.byteLength < ws.bytes) {
    ws.tensor?.dispose();
    ws.tensor = dev.empty([Math.ceil(ws.bytes / 4)], "f32");
  }
  setBuffer(F.workspace, tensorState(ws.tensor, op).buffer);
}

/**
 * C = A·W (+ epilogue) with A [M, K] f16 (or [K] for M = 1) and W the k x n matrix q held (for "nk"
 * weights this is y = x·Wᵀ, as nn.Linear). Returns `opts.out` or a new f16 [M, N] tensor; read it with
 * toArray() (waits for the device). Throws ShapeError (K mismatch), InvalidArgumentError (dtypes),
 * DisposedError, BoundsError (a buffer too small for the dims and pitches).
 */
export function gemm(dev: Device, a: Tensor, w: QuantizedWeight, opts: GemmOptions = {}): Tensor {
  const op = "gemm";
  const s = deviceState(dev, op);
  fill(op, a, w, opts, false);
  const out = output(dev, op, opts, 0);
  bindWorkspace(dev, s, op);
  check(s.native, s.native.fns.mm_gemm(s.handle, u8), op);
  return out;
}

/**
 * Strided batched GEMM: A [B, M, K] f16, W batched (weight i for batch i) or unbatched (shared by every
 * batch: stride 0). Returns `opts.out` or a new f16 [B, M, N] tensor. Strides in elements, 0 broadcasts.
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
  const batch = opts.batch ?? (a.shape.length >= 3 ? a.shape[0] : 1);
  if (!Number.isInteger(batch) || batch < 1) {
    throw new InvalidArgumentError(`${op}: batch must be a positive integer, got ${batch}`, -1, op);
  }
  if (w.batched && w.batch !== 1 && w.batch !== batch) {
    throw new ShapeError(`${op}: a has batch ${batch} but w has batch ${w.batch}`, -13, op);
  }
  const m = u32[F.m];
  u32[F.batch] = batch;
  const out = output(dev, op, opts, batch);
  u32[F.strideA] = opts.strideA ?? m * u32[F.lda];
  u32[F.strideC] = opts.strideC ?? m * u32[F.ldc];
  if (opts.residual) u32[F.strideR] = opts.strideR ?? m * u32[F.ldr];
  if (w.batched && w.batch > 1) {
    u32[F.strideW] = (w.kp / 8) * w.np;
    u32[F.strideS] = (w.kp / w.groupSize) * w.np;
  }
  bindWorkspace(dev, s, op);
  check(s.native, s.native.fns.mm_batched_gemm(s.handle, u8), op);
  return out;
}

/** Which kernel a GEMM of these dims would use (for tests and benchmarks). */
export interface GemmRoute {
  kind: "gemv" | "small" | "splitk" | "tiled";
  kernel: string;
  reduceKernel: string;
  grid: [number, number, number];
  splits: number;
  workspaceBytes: number;
}

const KINDS = ["", "gemv", "small", "splitk", "tiled"] as const;

/** Asks the C routing function which kernel serves [m, k] x weight (dims, format, group size). */
export function gemmRoute(
  dev: Device,
  shape: {
    m: number;
    n: number;
    k: number;
    format: number;
    groupSize: number;
    batch?: number;
    swiglu?: boolean;
    splitK?: number;
  },
): GemmRoute {
  const op = "gemmRoute";
  const s = deviceState(dev, op);
  u32.fill(0);
  u32[0] = PARAMS_BYTES;
  u32[F.format] = shape.format;
  u32[F.groupSize] = shape.groupSize;
  u32[F.m] = shape.m;
  u32[F.n] = shape.n;
  u32[F.k] = shape.k;
  u32[F.kp] = Math.ceil(shape.k / shape.groupSize) * shape.groupSize;
  u32[F.np] = Math.ceil(shape.n / 8) * 8 * (shape.swiglu ? 2 : 1);
  u32[F.batch] = shape.batch ?? 1;
  u32[F.splitK] = shape.splitK ?? 0;
  if (shape.swiglu) {
    u32[F.epilogue] = EPI.swiglu;
    u32[F.upColumn] = Math.ceil(shape.n / 8) * 8;
  }
  if ((shape.batch ?? 1) > 1) u32[F.strideC] = shape.m * shape.n;
  routeBlock.fill(0);
  routeView.setUint32(0, 144, true);
  check(s.native, s.native.fns.mm_gemm_route(s.handle, u8, routeBlock), op);
  const str = (at: number): string => {
    const f = routeBlock.subarray(at, at + 48);
    const e = f.indexOf(0);
    return new TextDecoder().decode(e < 0 ? f : f.subarray(0, e));
  };
  return {
    kind: KINDS[routeView.getUint32(4, true)] as GemmRoute["kind"],
    kernel: str(48),
    reduceKernel: str(96),
    grid: [routeView.getUint32(8, true), routeView.getUint32(12, true), routeView.getUint32(16, true)],
    splits: routeView.getUint32(32, true),
    workspaceBytes: Number(routeView.getBigUint64(40, true)),
  };
}
