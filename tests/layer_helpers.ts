// Shared helpers of the layer-op tests (norm, rope, attention, moe, dequant, decoder layer): one
// comparison against a float64 reference with a per-element bound, reporting the worst element.
import assert from "node:assert/strict";

export { openTestDevice, randF16, randomWeight, rng } from "./gemm_helpers.ts";

/**
 * Asserts |got[i] - want[i]| <= bound[i] for every i; the message names the case, the worst index
 * (by violation ratio), its values and how many elements failed.
 */
export function assertWithin(
  label: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: ArrayLike<number> | ((i: number) => number),
): void {
  assert.equal(got.length, want.length, `${label}: length ${got.length} vs ${want.length}`);
  let bad = 0, worst = -1, worstRatio = 0;
  for (let i = 0; i < got.length; i++) {
    const b = typeof bound === "function" ? bound(i) : bound[i];
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= b)) {
      bad++;
      const ratio = Number.isNaN(err) ? Infinity : err / b;
      if (ratio > worstRatio || worst < 0) [worst, worstRatio] = [i, ratio];
    }
  }
  if (bad > 0) {
    const b = typeof bound === "function" ? bound(worst) : bound[worst];
    assert.fail(
      `${label}: ${bad}/${got.length} elements out of bound; worst [${worst}] got ${got[worst]} want ${
        want[worst]
      } bound ${b} (${worstRatio.toExponential(2)}x)`,
    );
  }
}

/** f16 values of a float array (round to nearest even, as the device stores them). */
export function f16(x: ArrayLike<number>): Float16Array {
  return Float16Array.from(x as ArrayLike<number>);
}

/** Bitwise equality of two typed arrays (NaN payloads and -0 included). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
