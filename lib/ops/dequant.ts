// GPU dequantization (shaders/dequant.metal): a QuantizedWeight to a dense f16 [batch?, K, N] tensor,
// the math layout of C = A·W (for an "nk" nn.Linear weight, W = Wᵀ of the checkpoint matrix).
import { InvalidArgumentError } from "../runtime/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { kernel, type OpDevice, Params, scratch } from "./layer_common.ts";
import { QuantizedWeight } from "./weight.ts";

const P = new Params(12); // DequantParams

/**
 * Dequantizes `w` on the device to a new f16 tensor [K, N] ([batch, K, N] for a batched weight): value =
 * decode(code) · scale per the format, padding dropped. Scales are read once per (group, 4 columns).
 */
export function dequantizeWeight(dev: OpDevice, w: QuantizedWeight): Tensor {
  const op = "dequantize";
  if (!(w instanceof QuantizedWeight)) {
    throw new InvalidArgumentError(`${op}: w must be a QuantizedWeight`, op);
  }
  w.assertLive(op);
  const out = dev.empty(w.batched ? [w.batch, w.k, w.n] : [w.k, w.n], "f16");
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
    0,
    0,
  ]);
  const fmt = w.format === "int4-sym" ? "int4sym" : w.format;
  kernel(dev, `dequant_${fmt}`).dispatch({
    grid: [Math.ceil(Math.ceil(w.n / 4) / 64), groups, w.batch],
    threadgroupSize: 64,
    args: [w.packed, w.scales, w.zeros ?? scratch(dev, "dequant-no-zeros", 4, "u8"), out, P.u32],
  });
  return out;
}
