// The activation dtype of the layer ops (attention, KV cache, MoE): f16 or bf16, fixed by one operand
// and shared by the rest, as in the GEMMs (no silent conversion inside a kernel). The kernels read the
// raw 16-bit elements and decode them by a flag in their params block (gemm_act in gemm_common.h).
import { InvalidArgumentError } from "../runtime/errors.ts";
import { tensorState } from "../runtime/internal.ts";
import type { Tensor } from "../runtime/tensor.ts";

/** Activation element types of the layer ops. */
export type ActDType = "f16" | "bf16";

/** The dtype of `t` when it is f16 or bf16; InvalidArgumentError otherwise (for f32, how to convert). */
export function actDtypeOf(op: string, what: string, t: Tensor): ActDType {
  const d = tensorState(t, op).dtype;
  if (d === "f16" || d === "bf16") return d;
  throw new InvalidArgumentError(
    `${op}: ${what} must be f16 or bf16, got ${d}` +
      (d === "f32" ? "; convert with f32ToF16() or f32ToBf16() (metal-marlin exports both)" : ""),
    op,
  );
}

/**
 * Throws InvalidArgumentError unless `t` is `want`, the dtype `by` fixed: the message names both dtypes,
 * the operands that must agree (`share`) and how to convert (`alt`: another way out, e.g. a bf16 cache).
 */
export function checkSameAct(
  op: string,
  what: string,
  t: Tensor,
  want: ActDType,
  by: string,
  share: string,
  alt?: string,
): void {
  const got = tensorState(t, op).dtype;
  if (got === want) return;
  const how = got === "f32"
    ? `f32To${want === "bf16" ? "Bf16" : "F16"}()`
    : want === "bf16"
    ? "f16ToBf16()"
    : "bf16ToF16()";
  throw new InvalidArgumentError(
    `${op}: ${what} is ${got} but ${by} is ${want}; ${share} share one dtype ` +
      `(convert ${what} with ${how}${alt ? `, or ${alt}` : ""})`,
    op,
  );
}
