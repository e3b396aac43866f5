// GPU dequantization of every weight format against the float64 dequantization: ragged K and N (padding
// dropped), group sizes 32 / 64 / 128, batched weights; exact up to the f16 rounding of each value.
import { test } from "./harness.ts";
import { assertWithin, openCpu, randomWeight } from "./layer_helpers.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";

for (const format of ["fp4", "int4", "int4-sym"] as const) {
  for (
    const [k, n, gs, batch] of [[37, 13, 32, undefined], [256, 64, 128, undefined], [200, 40, 64, 3]] as const
  ) {
    test(`dequantize ${format} K=${k} N=${n} gs${gs}${batch ? ` batch ${batch}` : ""} vs float64`, () => {
      using dev = openCpu();
      const q = randomWeight(k, n, format, gs, k + n, batch);
      using w = dev.upload(q);
      using d = dev.dequantize(w);
      const want = dequantizeF64(q);
      // value(code)·scale is exact in float; the only error is the f16 store (half an ulp).
      assertWithin(
        `${format} ${k}x${n}`,
        d.toArray() as Float16Array,
        want,
        (i) => Math.abs(want[i]) * 2 ** -11 + 2 ** -25,
      );
    });
  }
}
