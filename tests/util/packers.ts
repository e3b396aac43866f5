// Source-format packers for fixtures, each written from the format's published layout (not from
// lib/io's importers): they take codes q[n][k] (0..15, row n = output column of the weight [N, K]) and
// produce the bytes the source tools write.
import { Rng } from "./random.ts";

/** Random codes [rows][cols] 0..15 as one flat Uint8Array. */
export function randomCodes(rows: number, cols: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: rows * cols }, () => r.int(16));
}

/** Random f16 values in ±[lo, hi) (sign random), as raw uint16 bits. */
export function randomHalves(count: number, seed: number, lo = 2 ** -8, hi = 1): Uint16Array {
  const r = new Rng(seed);
  const f = Float16Array.from(
    { length: count },
    () => (r.next() < 0.5 ? -1 : 1) * (lo + r.next() * (hi - lo)),
  );
  return new Uint16Array(f.buffer);
}

/** Random bf16 values in ±[lo, hi), raw bits (top half of the f32, truncated). */
export function randomBf16(count: number, seed: number, lo = 2 ** -8, hi = 1): Uint16Array {
  const r = new Rng(seed);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  return Uint16Array.from({ length: count }, () => {
    f[0] = (r.next() < 0.5 ? -1 : 1) * (lo + r.next() * (hi - lo));
    return u[0] >>> 16;
  });
}

/** f16 bits -> number. */
export function h2f(h: number): number {
  return new Float16Array(new Uint16Array([h]).buffer)[0];
}
/** bf16 bits -> number. */
export function bf2f(b: number): number {
  return new Float32Array(new Uint32Array([b << 16]).buffer)[0];
}

/** ggml block of 32 codes (qs[16]): value j in the low nibble of byte j, value j+16 in its high nibble. */
function ggmlQs(q: Uint8Array, at: number): number[] {
  return Array.from({ length: 16 }, (_, j) => q[at + j] | (q[at + j + 16] << 4));
}

/** GGUF Q4_0 tensor data for codes [n][k] and d [n][k/32] (f16 bits): blocks {d, qs[16]}. */
export function packQ4_0(q: Uint8Array, d: Uint16Array, n: number, k: number): Uint8Array {
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < k / 32; b++) {
      const h = d[r * (k / 32) + b];
      out.push(h & 255, h >>> 8, ...ggmlQs(q, r * k + 32 * b));
    }
  }
  return Uint8Array.from(out);
}

/** GGUF Q4_1 data: blocks {d, m, qs[16]}. */
export function packQ4_1(q: Uint8Array, d: Uint16Array, m: Uint16Array, n: number, k: number): Uint8Array {
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < k / 32; b++) {
      const i = r * (k / 32) + b;
      out.push(d[i] & 255, d[i] >>> 8, m[i] & 255, m[i] >>> 8, ...ggmlQs(q, r * k + 32 * b));
    }
  }
  return Uint8Array.from(out);
}

/** GGUF MXFP4 data: blocks {e, qs[16]}. */
export function packMxfp4(q: Uint8Array, e: Uint8Array, n: number, k: number): Uint8Array {
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < k / 32; b++) out.push(e[r * (k / 32) + b], ...ggmlQs(q, r * k + 32 * b));
  }
  return Uint8Array.from(out);
}

/** GPTQ qweight int32 [K/8, N]: word [i][c] holds k = 8i + j in bits 4j..4j+3. */
export function packGptqWeight(q: Uint8Array, n: number, k: number): Uint32Array {
  const out = new Uint32Array((k / 8) * n);
  for (let c = 0; c < n; c++) {
    for (let kk = 0; kk < k; kk++) out[(kk >> 3) * n + c] |= q[c * k + kk] << (4 * (kk & 7));
  }
  return out;
}

/** GPTQ qzeros int32 [G, ceil(N/8)]: column c in bits 4(c%8).. of word c/8; `stored` = zero (-1 for v1). */
export function packGptqZeros(stored: Uint8Array, groups: number, n: number): Uint32Array {
  const w = Math.ceil(n / 8);
  const out = new Uint32Array(groups * w);
  for (let g = 0; g < groups; g++) {
    for (let c = 0; c < n; c++) out[g * w + (c >> 3)] |= (stored[g * n + c] & 15) << (4 * (c & 7));
  }
  return out;
}

/** AutoAWQ's pack order: nibble i of a word holds column 8j + ORDER[i]. */
const AWQ_PACK_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

/** AWQ int32 [rows, N/8] from values v[row][n] (qweight: rows = K; qzeros: rows = G). */
export function packAwq(v: (row: number, col: number) => number, rows: number, n: number): Uint32Array {
  const out = new Uint32Array(rows * (n / 8));
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n / 8; j++) {
      let w = 0;
      for (let i = 0; i < 8; i++) w |= (v(r, 8 * j + AWQ_PACK_ORDER[i]) & 15) << (4 * i);
      out[r * (n / 8) + j] = w;
    }
  }
  return out;
}

/** MLX weight uint32 [N, K/8]: word [n][j] holds k = 8j + i in bits 4i.. (LSB first along K). */
export function packMlx(q: Uint8Array, n: number, k: number): Uint32Array {
  const out = new Uint32Array(n * (k / 8));
  for (let r = 0; r < n; r++) {
    for (let kk = 0; kk < k; kk++) out[r * (k / 8) + (kk >> 3)] |= q[r * k + kk] << (4 * (kk & 7));
  }
  return out;
}
