// The error bound of an fp16 GEMM against the float64 reference (lib/reference/gemm.ts matmulF64).
import { matmulF64 } from "../../lib/reference/gemm.ts";

/**
 * Per-element bound for an fp16-output (or, with `out` "bf16", bf16-output) GEMM accumulated in float32:
 *   output rounding: half an ulp, |c| * 2^-11 for f16 (2^-8 for bf16's 8-bit significand), plus 2^-25
 *   for f16's subnormal range, and
 *   float32 accumulation: K additions each rounding by at most 2^-24 of the running sum, bounded by
 *   K * 2^-24 * sum_k |a_ik * b_kj| (the classic recursive-summation bound, in any summation order).
 */
export function gemmF16Tolerance(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  out: "f16" | "bf16" = "f16",
): Float64Array {
  const absSum = matmulF64(
    Float64Array.from(a as ArrayLike<number>, Math.abs),
    Float64Array.from(b as ArrayLike<number>, Math.abs),
    m,
    k,
    n,
  );
  const exact = matmulF64(a, b, m, k, n);
  const half = out === "bf16" ? 2 ** -8 : 2 ** -11;
  return exact.map((c, i) => Math.abs(c) * half + k * 2 ** -24 * absSum[i] + 2 ** -25);
}
