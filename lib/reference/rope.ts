// Float64 reference of rotary position embedding: angle = position · inv_freq[i] exactly.

/** Layout and convention of ropeF64(). */
export interface RopeRefOptions {
  /** Heads per token. */
  heads: number;
  /** Elements per head (token pitch = heads · headDim). */
  headDim: number;
  /** Leading rotated dims per head. */
  rotaryDim: number;
  /** Position of token 0. */
  positionOffset: number;
  /** Pairs (2i, 2i+1) instead of (i, i + rotaryDim/2). */
  interleaved: boolean;
  /** inv_freq[i] for i < rotaryDim/2 (the values the kernel reads). */
  invFreq: ArrayLike<number>;
}

/** Rotates x [tokens, heads, headDim] in float64; returns a new array. */
export function ropeF64(x: ArrayLike<number>, tokens: number, o: RopeRefOptions): Float64Array {
  const y = Float64Array.from(x);
  const half = o.rotaryDim / 2;
  for (let t = 0; t < tokens; t++) {
    const pos = o.positionOffset + t;
    for (let h = 0; h < o.heads; h++) {
      const base = (t * o.heads + h) * o.headDim;
      for (let i = 0; i < half; i++) {
        const i0 = o.interleaved ? 2 * i : i;
        const i1 = o.interleaved ? 2 * i + 1 : i + half;
        const a = pos * o.invFreq[i];
        const c = Math.cos(a), s = Math.sin(a);
        const x0 = x[base + i0], x1 = x[base + i1];
        y[base + i0] = x0 * c - x1 * s;
        y[base + i1] = x0 * s + x1 * c;
      }
    }
  }
  return y;
}
