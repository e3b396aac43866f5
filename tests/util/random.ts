// Seeded PRNG for tests (mulberry32): reproducible data, never Math.random.

/** A seeded generator of uniform [0, 1) numbers, normals and heavy-tailed values. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Student-t with 2 degrees of freedom: heavy tails like real weight outliers. */
  heavy(): number {
    let c = 0;
    for (let i = 0; i < 2; i++) c += this.normal() ** 2;
    return this.normal() / Math.sqrt(c / 2);
  }
  /** Float32Array of `len` values from `gen`. */
  fill(len: number, gen: "normal" | "heavy" | "uniform"): Float32Array {
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) {
      out[i] = gen === "normal" ? this.normal() : gen === "heavy" ? this.heavy() : this.next();
    }
    return out;
  }
}
