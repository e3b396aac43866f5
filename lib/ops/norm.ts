// RMSNorm: y = x * rsqrt(mean(x^2) + eps) * weight per row (shaders/norm.metal), f16 in and out.
import { ShapeError } from "../runtime/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import {
  checkDtype,
  checkInt,
  checkRows,
  kernel,
  type OpDevice,
  type Operand,
  operandParts,
  Params,
} from "./layer_common.ts";

/** Options of rmsNorm(). Counts and pitches are in elements. */
export interface RmsNormOptions {
  /** Added to mean(x²) before the reciprocal square root. Default 1e-6. */
  eps?: number;
  /** Output f16 tensor (may be x itself: in place). Default: a new tensor of x's shape. */
  out?: Operand;
  /** Rows to normalise. Default: x's elements / dim. */
  rows?: number;
  /** Row pitch of x. Default: dim. */
  ldx?: number;
  /** Row pitch of out. Default: dim. */
  ldy?: number;
}

const P = new Params(8); // NormParams: rows, dim, ldx, ldy, eps, pad[3]

/**
 * RMSNorm of each row of x (f16, rows of weight.length elements): y = x · rsqrt(mean(x²) + eps) · weight,
 * accumulated in float; the norm is computed once per row. Returns out or a new f16 tensor shaped like x.
 */
export function rmsNorm(dev: OpDevice, x: Operand, weight: Tensor, opts: RmsNormOptions = {}): Tensor {
  const op = "rmsNorm";
  const dim = checkDtype(op, "weight", weight, "f16");
  if (dim === 0) throw new ShapeError(`${op}: weight is empty`, op);
  const xt = operandParts(x).tensor;
  const ldx = checkInt(op, "ldx", opts.ldx ?? dim, 1);
  const rows = checkInt(op, "rows", opts.rows ?? Math.floor(xt.length / dim), 0);
  if (opts.rows === undefined && opts.ldx === undefined && xt.length % dim !== 0) {
    throw new ShapeError(`${op}: x has ${xt.length} elements, not a multiple of dim ${dim}`, op);
  }
  const eps = opts.eps ?? 1e-6;
  if (!Number.isFinite(eps) || eps < 0) {
    throw new ShapeError(`${op}: eps must be finite and >= 0, got ${eps}`, op);
  }
  const xs = checkRows(op, "x", x, "f16", rows, dim, ldx);
  const out = opts.out ??
    dev.empty(xt.shape.length > 0 && opts.rows === undefined ? xt.shape : [rows, dim], "f16");
  const ldy = checkInt(op, "ldy", opts.ldy ?? dim, 1);
  const ys = checkRows(op, "out", out, "f16", rows, dim, ldy);
  if (rows === 0) return ys.tensor;
  P.u32.set([rows, dim, ldx, ldy]);
  P.f32[4] = eps;
  kernel(dev, "rms_norm_f16").dispatch({
    grid: rows,
    threadgroupSize: 128,
    args: [weight, xs, ys, P.u32],
  });
  return ys.tensor;
}
