// The mm_gemm_params block (csrc/include/metal_marlin.h) shared by every GEMM call: one reused buffer,
// its field indices, and the checks that guard what goes into it. Internal to lib/ (not in mod.ts).
import { errorFor, InvalidArgumentError } from "../runtime/errors.ts";
import type { DeviceState } from "../runtime/internal.ts";

// mm_gemm_params (csrc/include/metal_marlin.h): 34 uint32 fields, 11 uint64 byte offsets, then the
// fields appended by issue 11 (scale_dtype, act_dtype, tensor_scale, up_tensor_scale).
export const PARAMS_BYTES = 240;
const block = new ArrayBuffer(PARAMS_BYTES);
export const u8 = new Uint8Array(block);
export const u32 = new Uint32Array(block);
export const f32 = new Float32Array(block);
export const F = {
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
  scaleDtype: 56,
  actDtype: 57,
  tensorScale: 58,
  upTensorScale: 59,
} as const;
export const EPI = { bias: 1, residual: 16, scale: 32, swiglu: 64 } as const;
export const ACT: Readonly<Record<string, number>> = { relu: 2, silu: 4, gelu: 8 };
export const U32_MAX = 4294967295;

// Every count, pitch and stride goes into a uint32 field: anything else (2^32+1, 1.5, -1, NaN, "2")
// would be wrapped or truncated by the typed array and compute something else than asked.
export function checkU32(op: string, name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > U32_MAX) {
    const got = typeof value === "string" ? JSON.stringify(value) : String(value);
    throw new InvalidArgumentError(
      `${op}: ${name} must be an integer in ${min}..${U32_MAX}, got ${got}`,
      op,
    );
  }
  return value;
}

// C messages start with their entry point ("mm_gemm: ldc = 8 ..."); the caller's op replaces it, so
// the error reads "gemm: ldc = 8 is below n = 16".
export function checkNative(s: DeviceState, rc: number, op: string, entry: string): void {
  if (rc >= 0) return;
  const msg = s.native.cstring(s.native.fns.mm_last_error());
  throw errorFor(rc, op, msg.startsWith(`${entry}: `) ? msg.slice(entry.length + 2) : msg);
}

// Binds a tensor (or a view: its buffer at its byte offset) to a buffer slot of the params block.
export function setBuffer(slot: number, t: { buffer: number; byteOffset: number }): void {
  u32[slot] = t.buffer;
  // The byte offset is the u64 at 136 + 8 * (slot - packed); below 2^53, as split into two halves.
  const o = (136 + 8 * (slot - F.packed)) / 4;
  u32[o] = t.byteOffset >>> 0;
  u32[o + 1] = Math.floor(t.byteOffset / 4294967296);
}

// mm_gemm_route_info: 144 bytes; kind at 4, grid at 8, splits at 32, workspace_bytes (u64) at 40.
export const ROUTE_INFO_BYTES = 144;
export const routeBlock = new Uint8Array(ROUTE_INFO_BYTES);
export const routeView = new DataView(routeBlock.buffer);

// u64 field as two u32 halves (no BigInt on the hot path); exact below 2^53 bytes.
export function routeU64(at: number): number {
  return routeView.getUint32(at, true) + routeView.getUint32(at + 4, true) * 4294967296;
}
