// Float64 references of the MoE pieces: routing (softmax, top-k with ties to the lower index,
// renormalisation), the stable sort of (token, slot) pairs by expert, and the combine.

/** Router logits x · routerᵀ in float64: x [T, D], router [E, D]; returns [T, E]. */
export function routerLogitsF64(
  x: ArrayLike<number>,
  router: ArrayLike<number>,
  T: number,
  E: number,
): Float64Array {
  const D = router.length / E;
  const out = new Float64Array(T * E);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) {
      let acc = 0;
      for (let d = 0; d < D; d++) acc += x[t * D + d] * router[e * D + d];
      out[t * E + e] = acc;
    }
  }
  return out;
}

/** Top-k of each row of logits [T, E] (ties to the lower expert) and softmax weights (renormalised or not). */
export function routeF64(
  logits: ArrayLike<number>,
  T: number,
  E: number,
  k: number,
  renormalize = true,
): { ids: Uint32Array; weights: Float64Array } {
  const ids = new Uint32Array(T * k), weights = new Float64Array(T * k);
  for (let t = 0; t < T; t++) {
    const row = Array.from({ length: E }, (_, e) => logits[t * E + e]);
    const mx = Math.max(...row);
    const total = row.reduce((s, l) => s + Math.exp(l - mx), 0);
    const order = row.map((_, e) => e).sort((a, b) => row[b] - row[a] || a - b);
    const top = order.slice(0, k);
    const picked = top.reduce((s, e) => s + Math.exp(row[e] - mx), 0);
    top.forEach((e, j) => {
      ids[t * k + j] = e;
      weights[t * k + j] = Math.exp(row[e] - mx) / (renormalize ? picked : total);
    });
  }
  return { ids, weights };
}

/** Stable counting sort of pairs p (ids[p] = expert) by expert: sorted, offsets [E+1], inverse. */
export function sortPairsF64(ids: ArrayLike<number>, E: number): {
  sorted: Uint32Array;
  offsets: Uint32Array;
  inverse: Uint32Array;
} {
  const P = ids.length;
  const offsets = new Uint32Array(E + 1);
  for (let p = 0; p < P; p++) offsets[ids[p] + 1]++;
  for (let e = 0; e < E; e++) offsets[e + 1] += offsets[e];
  const next = offsets.slice(0, E);
  const sorted = new Uint32Array(P), inverse = new Uint32Array(P);
  for (let p = 0; p < P; p++) {
    const at = next[ids[p]]++;
    sorted[at] = p;
    inverse[p] = at;
  }
  return { sorted, offsets, inverse };
}

/** out[t] = add[t] + Σ_j weights[t, j] · y[inverse[t·k + j]] in float64; y [P, N] sorted. */
export function combineF64(
  y: ArrayLike<number>,
  weights: ArrayLike<number>,
  inverse: ArrayLike<number>,
  T: number,
  k: number,
  N: number,
  add?: ArrayLike<number>,
): { out: Float64Array; abs: Float64Array } {
  const out = new Float64Array(T * N), abs = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let acc = add ? add[t * N + n] : 0, a = Math.abs(acc);
      for (let j = 0; j < k; j++) {
        const v = weights[t * k + j] * y[inverse[t * k + j] * N + n];
        acc += v;
        a += Math.abs(v);
      }
      out[t * N + n] = acc;
      abs[t * N + n] = a;
    }
  }
  return { out, abs };
}
