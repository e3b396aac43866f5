// Quantized GEMM from TypeScript: shape and dtype checks, then one mm_gemm / mm_batched_gemm call with
// a params block reused across calls (no allocation when `out` is given). Routing, extent and stride
// validation against the real buffer lengths happen in C (csrc/core/gemm.cpp).
import type { DeviceRef } from "../runtime/device.ts";
import { BoundsError, InvalidArgumentError, LimitError, MarlinError, ShapeError } from "../runtime/errors.ts";
import { type DeviceState, deviceState, type TensorState, tensorState } from "../runtime/internal.ts";
import type { QuantizedMatrix } from "../quant/types.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { QuantizedWeight } from "./weight.ts";
import {
  ACT,
  checkNative,
  checkU32,
  EPI,
  F,
  f32,
  PARAMS_BYTES,
  setBuffer,
  u32,
  U32_MAX,
  u8,
} from "./gemm_params.ts";
import { routeBytes } from "./gemm_route.ts";
import { checkViewExtents } from "./gemm_views.ts";

export { QuantizedWeight };
export type { QuantizedMatrix, Tensor };
export type { GemmRoute, GemmRouteShape } from "./gemm_route.ts";

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
export function uploadWeight(dev: DeviceRef, q: QuantizedMatrix): QuantizedWeight {
  return new QuantizedWeight(dev, q);
}

/** Activation dtypes the kernels take for A, out, bias and residual (MM_ACT_* ids). */
const ACT_DTYPES: Readonly<Record<string, number>> = { f16: 0, bf16: 1 };

// a fixes the activation dtype; out, bias and residual must match it (no silent conversion in a kernel).
function actBuffer(t: Tensor, op: string, what: string, want?: "f16" | "bf16"): TensorState {
  const s = tensorState(t, op);
  if (want === undefined) {
    if (!Object.hasOwn(ACT_DTYPES, s.dtype)) {
      throw new InvalidArgumentError(
        `${op}: ${what} must be f16 or bf16, got ${s.dtype}` +
          (s.dtype === "f32" ? "; convert with f32ToF16() or f32ToBf16() (metal-marlin exports both)" : ""),
        op,
      );
    }
  } else if (s.dtype !== want) {
    const how = want === "bf16" ? "f16ToBf16()" : "bf16ToF16()";
    throw new InvalidArgumentError(
      `${op}: ${what} is ${s.dtype} but a is ${want}; activations, out, bias and residual share one dtype ` +
        `(convert ${what} with ${s.dtype === "f32" ? `f32To${want === "bf16" ? "Bf16" : "F16"}()` : how})`,
      op,
    );
  }
  return s;
}

function checkWeight(w: QuantizedWeight, op: string, what: string): void {
  if (!(w instanceof QuantizedWeight)) {
    throw new InvalidArgumentError(`${op}: ${what} must be a QuantizedWeight from dev.upload()`, op);
  }
  w.assertLive(op);
}

function pitchOf(t: Tensor): number {
  return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
}

// Fills the params block for one call (everything but batch strides and the output).
function fill(op: string, a: Tensor, w: QuantizedWeight, opts: GemmOptions, batched: boolean): void {
  checkWeight(w, op, "w");
  const aBuf = actBuffer(a, op, "a");
  const act = tensorState(a, op).dtype as "f16" | "bf16";
  const rank = a.shape.length;
  const m = checkU32(op, "m", opts.m ?? (rank >= 2 ? a.shape[rank - 2] : 1), 1);
  const cols = pitchOf(a);
  if (opts.lda === undefined && cols !== w.k) {
    throw new ShapeError(`${op}: a has K=${cols} but w has K=${w.k}`, op);
  }
  const lda = opts.lda === undefined ? cols : checkU32(op, "lda", opts.lda, 1);
  // Checked here, before any output is allocated: a bogus M must not allocate (and zero-fill) a huge
  // output only to fail in C. The C side still checks every buffer against its real length.
  // Past 32 bits the output's own LimitError (or the strideA check when `out` is given) speaks, unless
  // the output itself would still fit: then it would be allocated for nothing.
  const aElems = tensorState(a, op).byteLength / 2;
  const need = (m - 1) * lda + w.k;
  if (lda >= w.k && need > aElems && need <= U32_MAX) {
    throw new BoundsError(
      `${op}: a holds ${aElems} f16 elements but m=${m}, lda=${lda}, K=${w.k} need ${need}`,
      op,
    );
  }
  if (need > U32_MAX && opts.out === undefined && m * w.n <= U32_MAX) {
    throw new LimitError(
      `${op}: a spans ${need} elements (m=${m}, lda=${lda}); kernels index with 32 bits`,
      op,
    );
  }
  const fused = opts.swiglu === true && opts.up === undefined;
  if (fused && w.n % 2 !== 0) {
    throw new ShapeError(`${op}: a fused gate/up weight needs an even N, got N=${w.n}`, op);
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
  u32[F.scaleDtype] = w.scaleDtypeId;
  u32[F.actDtype] = ACT_DTYPES[act];
  f32[F.tensorScale] = w.tensorScale;
  setBuffer(F.packed, tensorState(w.packed, op));
  setBuffer(F.scales, tensorState(w.scales, op));
  // The zeros slot carries int4 zero points or int4-affine biases.
  const zb = w.zeros ?? w.biases;
  if (zb) setBuffer(F.zeros, tensorState(zb, op));
  setBuffer(F.a, aBuf);
  let epi = 0;
  if (opts.bias) {
    epi |= EPI.bias;
    setBuffer(F.bias, actBuffer(opts.bias, op, "bias", act));
  }
  if (opts.residual) {
    epi |= EPI.residual;
    setBuffer(F.residual, actBuffer(opts.residual, op, "residual", act));
    u32[F.ldr] = opts.ldr === undefined ? pitchOf(opts.residual) : checkU32(op, "ldr", opts.ldr, 1);
  }
  if (opts.activation !== undefined) {
    const bit = Object.hasOwn(ACT, opts.activation) ? ACT[opts.activation] : undefined;
    if (bit === undefined) {
      throw new InvalidArgumentError(
        `${op}: activation must be "relu", "silu" or "gelu", got ${String(opts.activation)}`,
        op,
      );
    }
    epi |= bit;
  }
  if (opts.scale !== undefined && (typeof opts.scale !== "number" || !Number.isFinite(opts.scale))) {
    const got = typeof opts.scale === "string" ? JSON.stringify(opts.scale) : String(opts.scale);
    throw new InvalidArgumentError(`${op}: scale must be a finite number, got ${got}`, op);
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
        up.groupSize !== w.groupSize || up.batch !== w.batch || up.scaleDtype !== w.scaleDtype
      ) {
        throw new ShapeError(
          `${op}: up weight (${up.format} k=${up.k} n=${up.n} gs=${up.groupSize} batch=${up.batch} ` +
            `scales ${up.scaleDtype}) does not match w (${w.format} k=${w.k} ` +
            `n=${w.n} gs=${w.groupSize} batch=${w.batch} scales ${w.scaleDtype})`,
          op,
        );
      }
      setBuffer(F.upPacked, tensorState(up.packed, op));
      setBuffer(F.upScales, tensorState(up.scales, op));
      f32[F.upTensorScale] = up.tensorScale;
      const uzb = up.zeros ?? up.biases;
      if (uzb) setBuffer(F.upZeros, tensorState(uzb, op));
    } else {
      u32[F.upColumn] = n;
    }
  }
  u32[F.epilogue] = epi;
  u32[F.batch] = 1;
  if (!batched && rank > 2) {
    throw new ShapeError(`${op}: a has rank ${rank}; use batchedGemm for [B, M, K] activations`, op);
  }
}

// The output tensor: opts.out (no allocation) or a new f16 [batch?, M, N]; sets c and ldc.
function output(dev: DeviceRef, op: string, opts: GemmOptions, batch: number): Tensor {
  const ldc = opts.ldc === undefined ? undefined : checkU32(op, "ldc", opts.ldc, 1);
  const act = u32[F.actDtype] === ACT_DTYPES.bf16 ? "bf16" : "f16";
  if (opts.out) {
    setBuffer(F.c, actBuffer(opts.out, op, "out", act));
    u32[F.ldc] = ldc ?? pitchOf(opts.out);
    return opts.out;
  }
  const m = u32[F.m], n = u32[F.n];
  const out = alloc(dev, op, batch > 0 ? [batch, m, n] : [m, n], act, "output");
  setBuffer(F.c, tensorState(out, op));
  u32[F.ldc] = ldc ?? n;
  return out;
}

// Allocates under the caller's op, so the errors say "gemm: ...", not "tensor: ...".
function alloc(
  dev: DeviceRef,
  op: string,
  shape: number[],
  dtype: "f16" | "bf16" | "f32",
  role: string,
): Tensor {
  const elems = shape.reduce((x, y) => x * y, 1);
  if (elems > U32_MAX) {
    const msg = `${op}: the ${role} [${shape.join(", ")}] has ${elems} elements; kernels index with 32 bits`;
    throw new LimitError(msg, op);
  }
  try {
    return dev.empty(shape, dtype);
  } catch (e) {
    if (!(e instanceof MarlinError) || e.op === op) throw e;
    // Same class and code, message and op of the caller.
    const detail = e.message.startsWith(`${e.op}: `) ? e.message.slice(e.op.length + 2) : e.message;
    const Cls = e.constructor as new (message: string, op: string) => MarlinError;
    throw new Cls(`${op}: ${role} [${shape.join(", ")}] ${dtype}: ${detail}`, op);
  }
}

// Split-K partials go to one grow-only f32 buffer per device, reused by every call: dispatches on a
// device run in submission order, so two GEMMs never use it at once. (Without a workspace the C side
// allocates one per call and has to wait for the GEMM before freeing it.)
const workspaces = new WeakMap<object, { tensor: Tensor | undefined }>();
function bindWorkspace(dev: DeviceRef, s: DeviceState, op: string, w: QuantizedWeight): void {
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
  setBuffer(F.workspace, tensorState(ws.tensor, op));
}

/**
 * C = A·W (+ epilogue) with A f16 [M, K] (or [K] for M = 1) and W the k x n matrix q held (for "nk"
 * weights this is y = x·Wᵀ, as nn.Linear). Returns `opts.out` or a new f16 [M, N] tensor; read it with
 * toArray() (waits for the device). Asynchronous; allocation-free when `out` is given. Throws
 * InvalidArgumentError (dtypes, an option that is not an integer in range), ShapeError (K mismatch, a
 * pitch below its row), DisposedError, BoundsError (a buffer too small for the dims and pitches),
 * UnsupportedError (a group size without kernels), LimitError (extents past 32-bit indexing).
 */
export function gemm(dev: DeviceRef, a: Tensor, w: QuantizedWeight, opts: GemmOptions = {}): Tensor {
  const op = "gemm";
  const s = deviceState(dev, op);
  checkOptions(op, opts);
  fill(op, a, w, opts, false);
  const out = output(dev, op, opts, 0);
  try {
    checkViewExtents(op, a, out, opts);
    bindWorkspace(dev, s, op, w);
    checkNative(s, s.native.fns.mm_gemm(s.handle, u8), op, "mm_gemm");
  } catch (e) {
    // A failed call leaves no buffer behind: the output it allocated is released (never opts.out).
    if (out !== opts.out) out.dispose();
    throw e;
  }
  return out;
}

// `null`, a number or a string where an options object belongs is a typed error, not a TypeError.
function checkOptions(op: string, opts: unknown): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    const got = opts === null ? "null" : Array.isArray(opts) ? "an array" : typeof opts;
    throw new InvalidArgumentError(`${op}: options must be an object or undefined, got ${got}`, op);
  }
}

/**
 * Strided batched GEMM: A f16 [B, M, K], W batched (weight i for batch i) or unbatched (shared by every
 * batch: stride 0). Returns `opts.out` or a new f16 [B, M, N] tensor. Strides are in elements; a stride
 * of 0 broadcasts. Throws as gemm() does, plus ShapeError when a and w disagree on the batch count.
 */
export function batchedGemm(
  dev: DeviceRef,
  a: Tensor,
  w: QuantizedWeight,
  opts: BatchedGemmOptions = {},
): Tensor {
  const op = "batchedGemm";
  const s = deviceState(dev, op);
  checkOptions(op, opts);
  fill(op, a, w, opts, true);
  const batch = checkU32(op, "batch", opts.batch ?? (a.shape.length >= 3 ? a.shape[0] : 1), 1);
  if (w.batched && w.batch !== 1 && w.batch !== batch) {
    throw new ShapeError(`${op}: a has batch ${batch} but w has batch ${w.batch}`, op);
  }
  const m = u32[F.m];
  u32[F.batch] = batch;
  const out = output(dev, op, opts, batch);
  try {
    finishBatched(dev, s, op, a, w, out, opts, m);
  } catch (e) {
    // As in gemm(): a failed call releases the output it allocated.
    if (out !== opts.out) out.dispose();
    throw e;
  }
  return out;
}

// The batch strides, workspace and native call of batchedGemm (after the output exists).
function finishBatched(
  dev: DeviceRef,
  s: DeviceState,
  op: string,
  a: Tensor,
  w: QuantizedWeight,
  out: Tensor,
  opts: BatchedGemmOptions,
  m: number,
): void {
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
  checkViewExtents(op, a, out, opts);
  bindWorkspace(dev, s, op, w);
  checkNative(s, s.native.fns.mm_batched_gemm(s.handle, u8), op, "mm_batched_gemm");
}
