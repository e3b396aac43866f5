// Which kernel serves a GEMM: the C routing function's answer (csrc/core/gemm_routing.cpp), asked
// through mm_gemm_route, for callers (the public gemmRoute in lib/api/device.ts) and cached per weight
// for gemm() itself.
import { type DeviceState, deviceState, fixedString } from "../runtime/internal.ts";
import {
  checkNative,
  checkU32,
  EPI,
  F,
  PARAMS_BYTES,
  ROUTE_INFO_BYTES,
  routeBlock,
  routeU64,
  routeView,
  u32,
  U32_MAX,
  u8,
} from "./gemm_params.ts";
import type { QuantizedWeight } from "./weight.ts";

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

export function routeBytes(s: DeviceState, op: string, w: QuantizedWeight): number {
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

/** Which kernel a GEMM of these dims uses, as chosen by the C routing (csrc/core/gemm_routing.cpp). */
export interface GemmRoute {
  /** Kernel family: "gemv" (M = 1), "small" (M <= 16), "splitk" (few threadgroups on a deep K), "tiled". */
  kind: "gemv" | "small" | "splitk" | "tiled";
  /** Main kernel name: "gemv", "gemm_small", "gemm_splitk", "gemm_tiled_f16" or "gemm_tiled_bf16". */
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
  /** MM_FORMAT_* id (lib/quant/formats.ts FORMAT_IDS: 0 fp4 .. 5 nvfp4). */
  format: number;
  /** Quantization group size along K: any multiple of 8 (mxfp4 32, nvfp4 16). */
  groupSize: number;
  /** Activation dtype: picks the tiled kernel ("gemm_tiled_f16" / "gemm_tiled_bf16"). Default "f16". */
  act?: "f16" | "bf16";
  /** Batches (>= 1). Default 1. */
  batch?: number;
  /** SwiGLU (the tiled kernel then covers half the columns per threadgroup). Default false. */
  swiglu?: boolean;
  /** Split-K request as in GemmOptions.splitK. Default 0 (routing decides). */
  splitK?: number;
}

const KINDS = ["", "gemv", "small", "splitk", "tiled"] as const;

/**
 * The body of the public gemmRoute(dev, shape) (lib/api/device.ts): asks the C routing function which
 * kernel serves an [m, k] x [k, n] GEMM. `dev` is any object attached as a device (the public Device).
 */
export function routeOf(dev: object, shape: GemmRouteShape): GemmRoute {
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
  // mxfp4 and nvfp4 have one scale storage each; the others route the same with f16 or bf16 scales.
  u32[F.scaleDtype] = shape.format === 4 ? 2 : shape.format === 5 ? 3 : 0;
  u32[F.actDtype] = shape.act === "bf16" ? 1 : 0;
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
