// The activation dtype of the layer ops (attention, KV cache, MoE): f16 or bf16, fixed by one operand
// and shared by the rest, as in the GEMMs (no silent conversion inside a kernel). The kernels read the
// raw 16-bit elements and decode them by a flag in their params block (gemm_act in gemm_common.h).
import { InvalidArgumentError } from "../runtime/errors.ts";
import { tensorState } from "../runtime/internal.ts";
import type { Tensor } from "../runtime/tensor.ts";

/** Activation element types of the layer ops. */
export type ActDType = "f16" | "bf16";

/** The params-block flag the kernels decode 16-bit elements by: 1 for bf16, 0 for f16. */
export function bf16Flag(dtype: ActDType): number {
  return dtype === "bf16" ? 1 : 0;
}

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
  // A converter exists from f32 and from the other 16-bit type; other dtypes (u32 ...) get none.
  const to = want === "bf16" ? "Bf16" : "F16";
  const how = got === "f32" || got === "f16" || got === "bf16" ? `convert ${what} with ${got}To${to}()` : "";
  const ways = [how, alt ? (how ? `or ${alt}` : alt) : ""].filter((w) => w !== "").join(", ");
  throw new InvalidArgumentError(
    `${op}: ${what} is ${got} but ${by} is ${want}; ${share} share one dtype` + (ways ? ` (${ways})` : ""),
    op,
  );
}

/**
 * The activation dtype of an op whose x fixes it: with no `want`, x's own dtype (f16 or bf16); with `want`
 * (x's dtype), `t` must have it. Like the GEMMs, an op never converts silently.
 */
export function checkAct(op: string, what: string, t: Tensor, want?: ActDType): ActDType {
  if (want === undefined) return actDtypeOf(op, what, t);
  checkSameAct(op, what, t, want, "x", `x and ${what}`);
  return want;
}
