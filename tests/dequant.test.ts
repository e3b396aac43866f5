// GPU dequantization of every weight format against the float64 dequantization: ragged K and N (padding
// dropped), group sizes 32 / 64 / 128, not powers of two (24, 40, 8) and per channel, f16 / bf16 / E8M0 /
// E4M3 scales, int4-affine biases, nvfp4's tensor scale, batched weights.
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randomWeight } from "./layer_helpers.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";
import { bf16ToF32, type QuantFormat, type ScaleDType } from "../mod.ts";
import assert from "node:assert";

type Gs = number | "channel" | undefined;

function dequantCase(
  format: QuantFormat,
  k: number,
  n: number,
  gs: Gs,
  batch?: number,
  sd?: ScaleDType,
): void {
  test(
    `dequantize ${format} K=${k} N=${n} gs${gs ?? "(format's)"}${batch ? ` batch ${batch}` : ""}${
      sd ? ` scales ${sd}` : ""
    } vs float64`,
    () => {
      using dev = openTestDevice();
      const q = randomWeight(k, n, format, gs, k + n, batch, sd);
      using w = dev.upload(q);
      using d = dev.dequantize(w);
      const want = dequantizeF64(q);
      // value(code)·scale is exact in float; int4-affine's + bias and nvfp4's scale · tensor scale round
      // once in float (2^-24 relative); then the f16 store (half an ulp).
      assertWithin(
        `${format} ${k}x${n} gs${q.groupSize} scales ${q.scaleDtype}`,
        d.toArray() as Float16Array,
        want,
        (i) => Math.abs(want[i]) * (2 ** -11 + 2 ** -22) + 2 ** -25,
      );
    },
  );
}

for (const format of ["fp4", "int4", "int4-sym"] as const) {
  for (
    const [k, n, gs, batch] of [[37, 13, 32, undefined], [256, 64, 128, undefined], [200, 40, 64, 3]] as const
  ) {
    dequantCase(format, k, n, gs, batch);
  }
}

for (const format of ["fp4", "int4", "int4-sym", "int4-affine"] as const) {
  dequantCase(format, 37, 13, 24);
  dequantCase(format, 200, 40, 40, 3, "bf16");
  dequantCase(format, 61, 21, "channel");
  dequantCase(format, 19, 9, 8, 2);
}
dequantCase("int4-affine", 256, 64, 128, 2);
dequantCase("mxfp4", 37, 13, undefined);
dequantCase("mxfp4", 200, 40, undefined, 3);
dequantCase("nvfp4", 37, 13, undefined);
dequantCase("nvfp4", 200, 40, undefined, 3);

// bf16 output (the dtype MLX models run in): same decode, one bf16 store (8-bit mantissa: half an ulp is
// 2^-8 relative) instead of f16's; and a dtype other than f16/bf16 is refused by name.
for (const format of ["fp4", "int4-affine", "nvfp4"] as const) {
  test(`dequantize ${format} 37x13 to bf16 vs float64`, () => {
    using dev = openTestDevice();
    const q = randomWeight(37, 13, format, format === "nvfp4" ? undefined : 32, 7);
    using w = dev.upload(q);
    using d = dev.dequantize(w, { dtype: "bf16" });
    assert.strictEqual(d.dtype, "bf16");
    const got = bf16ToF32(d.toArray() as Uint16Array);
    const want = dequantizeF64(q);
    assertWithin(`${format} bf16`, got, want, (i) => Math.abs(want[i]) * (2 ** -8 + 2 ** -22) + 2 ** -133);
  });
}

test("dequantize refuses an output dtype other than f16 / bf16", () => {
  using dev = openTestDevice();
  using w = dev.upload(randomWeight(16, 8, "fp4", 16, 1));
  assert.throws(
    () => dev.dequantize(w, { dtype: "f32" as "f16" }),
    /dequantize: dtype must be "f16" or "bf16"/,
  );
});
