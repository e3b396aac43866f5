// Float64 reference of attention over a cache: full softmax per query (no tiling, no online rescaling).

/** Shapes of attentionF64(). */
export interface AttentionRefOptions {
  /** Query tokens. */
  tokens: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (query head h reads KV head h / (heads / kvHeads)). */
  kvHeads: number;
  /** Elements per head. */
  headDim: number;
  /** Keys present: positions 0 .. kvLength - 1. */
  kvLength: number;
  /** Position of query row 0. */
  positionOffset: number;
  /** Row i sees keys 0 .. positionOffset + i only. */
  causal: boolean;
  /** Softmax scale. */
  scale: number;
}

/**
 * q [T, heads, D]; k and v [kvHeads, kvLength, D] (dense, position-major per head). Returns
 * [T, heads, D] in float64: also the per-element bound inputs (sum of |p·v|) when `abs` is set.
 */
export function attentionF64(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: AttentionRefOptions,
): { out: Float64Array; absOut: Float64Array } {
  const { tokens: T, heads: H, kvHeads, headDim: D, kvLength: L } = o;
  const G = H / kvHeads;
  const out = new Float64Array(T * H * D);
  const absOut = new Float64Array(T * H * D);
  const s = new Float64Array(L);
  for (let t = 0; t < T; t++) {
    const end = o.causal ? Math.min(L, o.positionOffset + t + 1) : L;
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / G);
      let mx = -Infinity;
      for (let j = 0; j < end; j++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += q[(t * H + h) * D + d] * k[(kvh * L + j) * D + d];
        s[j] = acc * o.scale;
        mx = Math.max(mx, s[j]);
      }
      let den = 0;
      for (let j = 0; j < end; j++) den += s[j] = Math.exp(s[j] - mx);
      for (let d = 0; d < D; d++) {
        let acc = 0, abs = 0;
        for (let j = 0; j < end; j++) {
          const pv = s[j] / den * v[(kvh * L + j) * D + d];
          acc += pv;
          abs += Math.abs(pv);
        }
        out[(t * H + h) * D + d] = acc;
        absOut[(t * H + h) * D + d] = abs;
      }
    }
  }
  return { out, absOut };
}
