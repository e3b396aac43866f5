// RMSNorm: y = x * rsqrt(mean(x^2) + eps) * weight per row (shaders/norm.metal): x and y f16 or bf16
// together, the weight f16 or bf16 on its own; one kernel, the dtypes are params words.
import { InvalidArgumentError, ShapeError } from "../runtime/errors.ts";
import { tensorState } from "../runtime/internal.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { bf16Flag, checkAct } from "./act_dtype.ts";
import {
  checkInt,
  checkRows,
  kernel,
  type OpDevice,
  type Operand,
  operandParts,
  Params,
  rawBytes,
} from "./layer_common.ts";

/** Options of rmsNorm(). Counts and pitches are in elements. */
export interface RmsNormOptions {
  /** Added to mean(x²) before the reciprocal square root. Default 1e-6. */
  eps?: number;
  /** Output tensor of x's dtype (may be x itself: in place). Default: a new tensor of x's shape and dtype. */
  out?: Operand;
  /** Rows to normalise. Default: x's elements / dim. */
  rows?: number;
  /** Row pitch of x. Default: dim. */
  ldx?: number;
  /** Row pitch of out. Default: dim. */
  ldy?: number;
}

const P = new Params(8); // NormParams: rows, dim, ldx, ldy, eps, act_bf16, w_bf16, pad

/**
 * RMSNorm of each row of x (f16 or bf16, rows of weight.length elements): y = x · rsqrt(mean(x²) + eps) ·
 * weight, accumulated in float; the norm is computed once per row. The weight is f16 or bf16 whatever x
 * is; out must have x's dtype (InvalidArgumentError otherwise, naming the conversion). Returns out or a
 * new tensor shaped like x, of x's dtype.
 */
export function rmsNorm(dev: OpDevice, x: Operand, weight: Tensor, opts: RmsNormOptions = {}): Tensor {
  const op = "rmsNorm";
  const wDtype = tensorState(weight, op).dtype;
  if (wDtype !== "f16" && wDtype !== "bf16") {
    throw new InvalidArgumentError(`${op}: weight must be f16 or bf16, got ${wDtype}`, op);
  }
  const dim = weight.length;
  if (dim === 0) throw new ShapeError(`${op}: weight is empty`, op);
  const xt = operandParts(x).tensor;
  const act = checkAct(op, "x", xt);
  const ldx = checkInt(op, "ldx", opts.ldx ?? dim, 1);
  const rows = checkInt(op, "rows", opts.rows ?? Math.floor(xt.length / dim), 0);
  if (opts.rows === undefined && opts.ldx === undefined && xt.length % dim !== 0) {
    throw new ShapeError(`${op}: x has ${xt.length} elements, not a multiple of dim ${dim}`, op);
  }
  const eps = opts.eps ?? 1e-6;
  if (!Number.isFinite(eps) || eps < 0) {
    throw new ShapeError(`${op}: eps must be finite and >= 0, got ${eps}`, op);
  }
  const xs = checkRows(op, "x", x, act, rows, dim, ldx);
  if (opts.out !== undefined) checkAct(op, "out", operandParts(opts.out).tensor, act);
  const out = opts.out ??
    dev.empty(xt.shape.length > 0 && opts.rows === undefined ? xt.shape : [rows, dim], act);
  const ldy = checkInt(op, "ldy", opts.ldy ?? dim, 1);
  const ys = checkRows(op, "out", out, act, rows, dim, ldy);
  if (rows === 0) return ys.tensor;
  P.u32.set([rows, dim, ldx, ldy]);
  P.f32[4] = eps;
  P.u32[5] = bf16Flag(act);
  P.u32[6] = bf16Flag(wDtype);
  // All three bound as raw 16-bit words: the kernel reads f16 or bf16 by the flags above.
  kernel(dev, "rms_norm").dispatch({
    grid: rows,
    threadgroupSize: 128,
    args: [rawBytes(weight), rawBytes(xs), rawBytes(ys), P.u32],
  });
  return ys.tensor;
}
