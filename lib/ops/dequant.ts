// GPU dequantization (shaders/dequant.metal): a QuantizedWeight to a dense f16 or bf16 [batch?, K, N] tensor,
// the math layout of C = A·W (for an "nk" nn.Linear weight, W = Wᵀ of the checkpoint matrix).
import { InvalidArgumentError } from "../runtime/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { bf16Flag } from "./act_dtype.ts";
import { kernel, type OpDevice, Params, rawBytes, scratch } from "./layer_common.ts";
import { QuantizedWeight } from "./weight.ts";

const P = new Params(16); // DequantParams

/** Options of `Device.dequantize`. */
export interface DequantizeOptions {
  /** Output element type: "f16" (default) or "bf16" (MLX models run in bf16). */
  dtype?: "f16" | "bf16";
}

/**
 * Dequantizes `w` on the device to a new f16 (default) or bf16 (`opts.dtype`) tensor [K, N] ([batch, K, N] for a batched weight): value =
 * decode(code) · scale (+ offset) per the format, any format and group size (per channel too), padding
 * dropped. Scales (and zero points or biases) are read once per (group, 4 columns).
 */
export function dequantizeWeight(dev: OpDevice, w: QuantizedWeight, opts?: DequantizeOptions): Tensor {
  const op = "dequantize";
  if (!(w instanceof QuantizedWeight)) {
    throw new InvalidArgumentError(`${op}: w must be a QuantizedWeight`, op);
  }
  const dtype = opts?.dtype ?? "f16";
  if (dtype !== "f16" && dtype !== "bf16") {
    throw new InvalidArgumentError(`${op}: dtype must be "f16" or "bf16", got ${JSON.stringify(dtype)}`, op);
  }
  w.assertLive(op);
  const out = dev.empty(w.batched ? [w.batch, w.k, w.n] : [w.k, w.n], dtype);
  const groups = w.kp / w.groupSize;
  P.u32.set([
    w.k,
    w.n,
    w.np,
    w.groupSize,
    groups,
    w.n,
    (w.kp / 8) * w.np,
    groups * w.np,
    w.k * w.n,
    w.n % 4 === 0 ? 1 : 0, // with N % 4 == 0 every row start is 8-byte aligned
    w.formatId,
    w.scaleDtypeId,
  ]);
  P.f32[12] = w.tensorScale;
  P.u32[13] = bf16Flag(dtype);
  kernel(dev, "dequant").dispatch({
    grid: [Math.ceil(Math.ceil(w.n / 4) / 64), groups, w.batch],
    threadgroupSize: 64,
    // The zeros slot carries int4 zero points or int4-affine biases (as in gemm).
    args: [
      w.packed,
      rawBytes(w.scales),
      rawBytes(w.zeros ?? w.biases ?? scratch(dev, "dequant-no-zeros", 4, "u8")),
      rawBytes(out), // f16 or bf16 bits, written as ushort by the kernel
      P.u32,
    ],
  });
  return out;
}
