// Host f32 <-> f16 <-> bf16 converters: round to nearest, ties to even, checked against an independent
// rounding on exact rationals (float64), on ties, NaN, infinities, overflow and subnormals.
import assert from "node:assert";
import { test } from "./harness.ts";
import {
  bf16BitsToF32,
  bf16ToF16,
  bf16ToF32,
  f16ToBf16,
  f16ToF32,
  f32ToBf16,
  f32ToBf16Bits,
  f32ToF16,
} from "../lib/quant/convert.ts";
import { rng } from "./gemm_helpers.ts";

/** Independent bf16 rounding: the two bf16 neighbours of x (a float32 value), nearest, ties to even bits. */
function bf16Nearest(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
  const lo = bits >>> 16, hi = lo + 1;
  const vLo = bf16BitsToF32(lo), vHi = bf16BitsToF32(hi & 0xffff);
  const dLo = Math.abs(x - vLo), dHi = Math.abs(vHi - x);
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi & 0xffff;
  return (lo & 1) === 0 ? lo : hi & 0xffff;
}

test("f32ToBf16: nearest-even on random floats, exact ties and the edges", () => {
  const r = rng(5);
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround(r() * 2 ** Math.floor(r() * 60 - 30));
    assert.strictEqual(f32ToBf16Bits(x), bf16Nearest(x), `x = ${x}`);
  }
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0); 1 + 3 * 2^-8 up.
  assert.strictEqual(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.strictEqual(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.strictEqual(f32ToBf16Bits(-0), 0x8000);
  assert.strictEqual(f32ToBf16Bits(Infinity), 0x7f80);
  assert.strictEqual(f32ToBf16Bits(-Infinity), 0xff80);
  assert.strictEqual(f32ToBf16Bits(3.4028234663852886e38), 0x7f80, "f32 max rounds up to +Inf");
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))), "NaN stays NaN (not rounded into Inf)");
  assert.strictEqual(f32ToBf16Bits(2 ** -133), 0x0001, "a subnormal keeps its top bits");
});

test("array converters: f32/f16/bf16 round trips are exact where the target holds the value", () => {
  const f16 = Float16Array.from({ length: 4096 }, (_, i) => (i - 2048) / 64);
  assert.deepStrictEqual([...f32ToF16(f16ToF32(f16))], [...f16]);
  // Every bf16 with at most 8 significant bits and in f16's normal range converts to f16 exactly.
  const bits = Uint16Array.from({ length: 1000 }, (_, i) => 0x3880 + i * 3); // 2^-14 .. below 65504
  const back = f16ToBf16(bf16ToF16(bits));
  assert.deepStrictEqual([...back], [...bits]);
  assert.deepStrictEqual([...bf16ToF32(f32ToBf16(bf16ToF32(bits)))], [...bf16ToF32(bits)]);
  // Out of f16's range: bf16 1e10 becomes +Inf in f16 (nearest-even overflow), as Float16Array rounds.
  assert.strictEqual(bf16ToF16(f32ToBf16([1e10]))[0], Infinity);
  // f32 -> f16 is one rounding of the float64 value (no double rounding through float32).
  assert.strictEqual(f32ToF16([1 + 2 ** -11 + 2 ** -40])[0], 1 + 2 ** -10);
});
