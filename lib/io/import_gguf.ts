// GGUF 4-bit importers (ggml-common.h block layouts, ggml-quants.c dequantize_row_*). A weight [N, K]
// has ne = [K, N] (ne0 innermost); a stack of experts has ne = [K, N, E] and becomes a batch. Blocks of 32
// run along K; byte j of a block's qs holds value j (low nibble) and value j + 16 (high nibble).
//   Q4_0  {f16 d; u8 qs[16]}         w = (q - 8)·d          -> int4-sym, group 32, scale d (sign kept)
//   Q4_1  {f16 d; f16 m; u8 qs[16]}  w = q·d + m            -> int4-affine, scale d, bias m
//   MXFP4 {u8 e; u8 qs[16]}          w = E2M1(q)·2^(e-127)  -> mxfp4 (E8M0 scale e); until #11 lands,
//                                     fp4 with the f16 scale 2^(e-127) when every e gives a normal or
//                                     subnormal f16 power of two (e in 103..142), which is exact
//   Q4_K  refused: its sub-block scale d·sc (f16 × 6-bit) needs up to 17 significant bits, f16 has 11.
import { InexactImportError } from "./errors.ts";
import { formatAvailable, type ImportedMatrix, roundUp } from "./contract.ts";
import type { GgufTensor } from "./gguf.ts";

const OP = "quantized";

/** Source format label of a GGUF tensor, e.g. "gguf:Q4_0". */
export function ggufSource(t: GgufTensor): string {
  return `gguf:${t.ggml.name}`;
}

/** The ggml types with an importer (Q4_K is known and refused). */
export const GGUF_IMPORTABLE: readonly string[] = ["Q4_0", "Q4_1", "MXFP4"];

interface Dims {
  k: number;
  n: number;
  batch: number | undefined;
}

function dims(file: string, t: GgufTensor): Dims {
  if (t.ne.length < 2 || t.ne.length > 3) {
    throw new InexactImportError(
      OP,
      file,
      t.name,
      `ne [${t.ne.join(", ")}] is not a matrix or a stack of them`,
    );
  }
  return { k: t.ne[0], n: t.ne[1], batch: t.ne.length === 3 ? t.ne[2] : undefined };
}

/** Why `t` cannot be imported exactly (structure only), or undefined when it can. */
export function ggufRefusal(t: GgufTensor, contract = false): string | undefined {
  const name = t.ggml.name;
  if (name === "Q4_K") {
    return "Q4_K cannot be imported exactly: its per-sub-block scale d·sc (an f16 times a 6-bit integer) " +
      "needs up to 17 significant bits and f16/bf16 scales hold 11/8; requantize from the f16 model";
  }
  if (!GGUF_IMPORTABLE.includes(name)) return `${name} is not a 4-bit format we import (Q4_0, Q4_1, MXFP4)`;
  if (t.ne.length < 2 || t.ne.length > 3) return `ne [${t.ne.join(", ")}] is not a matrix or a stack of them`;
  if (name === "Q4_1" && !contract && !formatAvailable("int4-affine")) {
    return "Q4_1 needs format int4-affine (w = s·q + b), which lib/quant does not have yet (issue #11)";
  }
  return undefined;
}

/**
 * Walks the 32-blocks of a [batch, n, k/32] block array: for each block calls `scale(sIdx, o)` with the
 * scales index [b, blk, r] and the block's byte offset, and writes its 32 codes into `packed` [b, k/8, np].
 * Rows go in tiles of 16 so the words written for one block index land side by side (a row at a time
 * would write one word per cache line: 2.5x slower on a 4096 x 14336 matrix).
 */
function repack32(
  bytes: Uint8Array,
  d: Dims,
  np: number,
  blockBytes: number,
  qsAt: number,
  packed: Uint32Array,
  scale: (sIdx: number, o: number) => void,
): void {
  const blocks = d.k / 32, words = d.k / 8, rowBytes = blocks * blockBytes;
  for (let b = 0; b < (d.batch ?? 1); b++) {
    for (let r0 = 0; r0 < d.n; r0 += 16) {
      const r1 = Math.min(d.n, r0 + 16);
      for (let blk = 0; blk < blocks; blk++) {
        const p0 = (b * words + blk * 4) * np;
        for (let r = r0; r < r1; r++) {
          const o = (b * d.n + r) * rowBytes + blk * blockBytes;
          scale((b * blocks + blk) * np + r, o);
          const q = o + qsAt;
          let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
          for (let i = 0; i < 8; i++) {
            const lo = bytes[q + i], hi = bytes[q + 8 + i], s = i << 2;
            w0 |= (lo & 15) << s; // values 0..7
            w1 |= (hi & 15) << s; // values 8..15
            w2 |= (lo >>> 4) << s; // values 16..23
            w3 |= (hi >>> 4) << s; // values 24..31
          }
          const p = p0 + r;
          packed[p] = w0;
          packed[p + np] = w1;
          packed[p + 2 * np] = w2;
          packed[p + 3 * np] = w3;
        }
      }
    }
  }
}

/**
 * Imports a Q4_0, Q4_1 or MXFP4 tensor exactly; anything else is an InexactImportError. `contract`
 * builds the issue-#11 contract formats (int4-affine, mxfp4) even before lib/quant has them (tests).
 */
export function importGguf(file: string, t: GgufTensor, bytes: Uint8Array, contract = false): ImportedMatrix {
  const why = ggufRefusal(t, contract);
  if (why !== undefined) throw new InexactImportError(OP, file, t.name, why);
  const d = dims(file, t);
  const np = roundUp(d.n, 8), batch = d.batch ?? 1;
  const packed = new Uint32Array(batch * (d.k / 8) * np);
  const nScales = batch * (d.k / 32) * np;
  const base = { k: d.k, n: d.n, kp: d.k, np, groupSize: 32, batch: d.batch, layout: "nk" as const, packed };
  const h = (o: number) => bytes[o] | (bytes[o + 1] << 8);
  if (t.ggml.name === "Q4_0") {
    const s = new Uint16Array(nScales);
    repack32(bytes, d, np, 18, 2, packed, (i, o) => (s[i] = h(o)));
    const scales = new Float16Array(s.buffer);
    return { ...base, format: "int4-sym", scaleDtype: "f16", scales, zeros: undefined };
  }
  if (t.ggml.name === "Q4_1") {
    const s = new Uint16Array(nScales), m = new Uint16Array(nScales);
    repack32(bytes, d, np, 20, 4, packed, (i, o) => {
      s[i] = h(o);
      m[i] = h(o + 2);
    });
    return {
      ...base,
      format: "int4-affine",
      scaleDtype: "f16",
      scales: new Float16Array(s.buffer),
      biases: new Float16Array(m.buffer),
      zeros: undefined,
    };
  }
  // MXFP4
  const e = new Uint8Array(nScales);
  let lo = 255, hi = 0, at = -1;
  repack32(bytes, d, np, 17, 1, packed, (i, o) => {
    const v = bytes[o];
    e[i] = v;
    if (v < lo) lo = v;
    if (v > hi) [hi, at] = [v, o];
  });
  if (hi === 255) {
    throw new InexactImportError(
      OP,
      file,
      t.name,
      `E8M0 scale 255 (NaN) in the block at byte ${t.start + at}`,
    );
  }
  if (contract || formatAvailable("mxfp4")) {
    return { ...base, format: "mxfp4", scaleDtype: "e8m0", scales: e, zeros: undefined };
  }
  // Pre-#11 path: 2^(e-127) as an f16 scale is exact for e in 103..142 (2^-24 subnormal .. 2^15).
  if (lo < 103 || hi > 142) {
    throw new InexactImportError(
      OP,
      file,
      t.name,
      `E8M0 exponents span ${lo - 127}..${hi - 127}; until format mxfp4 exists (issue #11) only -24..15 ` +
        "(exact f16 scales for fp4) import exactly",
    );
  }
  const scales = new Float16Array(nScales);
  for (let i = 0; i < nScales; i++) {
    if ((i % np) < d.n) scales[i] = 2 ** (e[i] - 127);
  }
  return { ...base, format: "fp4", scaleDtype: "f16", scales, zeros: undefined };
}
