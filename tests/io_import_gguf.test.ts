// GGUF importers: fixtures written by tests/util packers from ggml's block layouts, then
// dequantize(ckpt.quantized(name)) must equal the source's own formula (computed here) bit for bit, and a
// GEMM on the imported weight must match the float64 reference of that formula. N is not a multiple of 8.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { Rng } from "./util/random.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import { h2f, packMxfp4, packQ4_0, packQ4_1, randomCodes, randomHalves } from "./util/packers.ts";
import { assertExact, assertGemm, has, needAffine, using_, withDir } from "./util/io_assert.ts";
import { InexactImportError } from "../lib/io/errors.ts";
import { dequantize } from "../lib/quant/dequantize.ts";

test(
  "GGUF Q4_0 -> int4-sym gs32: exact incl. negative, zero and -0 scales (N=13, K=96, and a 3-expert stack)",
  withDir(async (dir) => {
    const n = 13, k = 96, e = 3;
    const q = randomCodes(e * n, k, 1);
    const d = randomHalves(e * n * (k / 32), 2);
    d[0] = 0x8000; // -0
    d[1] = 0; // an all-zero block
    const path = join(dir, "m.gguf");
    const data2 = packQ4_0(q.subarray(0, n * k), d.subarray(0, n * (k / 32)), n, k);
    const data3 = packQ4_0(q, d, e * n, k);
    writeFileSync(
      path,
      ggufBytes([["general.architecture", 8, "llama"]], [
        { name: "blk.0.attn_q.weight", ne: [k, n], type: 2, bytes: data2 },
        { name: "blk.0.ffn_gate_exps.weight", ne: [k, n, e], type: 2, bytes: data3 },
      ]),
    );
    await using_(path, (ck) => {
      const info = ck.info("blk.0.attn_q.weight");
      assert.deepEqual([info.source, info.shape, info.groupSize, info.projection, info.exact], [
        "gguf:Q4_0",
        [n, k],
        32,
        "q",
        true,
      ]);
      const f = (r: number, c: number) => (q[r * k + c] - 8) * h2f(d[r * (k / 32) + (c >> 5)]);
      const w = ck.quantized("blk.0.attn_q.weight");
      assert.equal(w.format, "int4-sym");
      assertExact("Q4_0", w, n, k, f);
      assertGemm("Q4_0", w, n, k, f);
      const w3 = ck.quantized("blk.0.ffn_gate_exps.weight");
      assert.equal(w3.batch, e);
      const all = dequantize(w3);
      for (let i = 0; i < e * n * k; i++) {
        const want = Math.fround((q[i] - 8) * h2f(d[Math.floor(i / 32)]));
        if (!Object.is(all[i], want)) assert.fail(`Q4_0 stack: element ${i} = ${all[i]}, formula ${want}`);
      }
    });
  }),
);

test(
  "GGUF MXFP4: exact through fp4 with f16 scales 2^(e-127) today; e = 255 and out-of-range e refused",
  withDir(async (dir) => {
    const n = 10, k = 64, bl = k / 32;
    const q = randomCodes(n, k, 3);
    const rng = new Rng(4);
    const e = Uint8Array.from({ length: n * bl }, () => 112 + rng.int(16)); // scales 2^-15..2^0: outputs stay inside f16
    const path = join(dir, "mx.gguf");
    const bad = e.slice();
    bad[5] = 255;
    const low = e.slice();
    low[2] = 20;
    writeFileSync(
      path,
      ggufBytes([], [
        { name: "w", ne: [k, n], type: 39, bytes: packMxfp4(q, e, n, k) },
        { name: "nan", ne: [k, n], type: 39, bytes: packMxfp4(q, bad, n, k) },
        { name: "low", ne: [k, n], type: 39, bytes: packMxfp4(q, low, n, k) },
      ]),
    );
    const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
    const f = (r: number, c: number) => {
      const code = q[r * k + c];
      return (code & 8 ? -1 : 1) * E2M1[code & 7] * 2 ** (e[r * bl + (c >> 5)] - 127);
    };
    await using_(path, (ck) => {
      const w = ck.quantized("w");
      assert.equal(w.format, has("mxfp4") ? "mxfp4" : "fp4");
      assertExact("MXFP4", w, n, k, f);
      assertGemm("MXFP4", w, n, k, f);
      assert.throws(
        () => ck.quantized("nan"),
        (x: unknown) => x instanceof InexactImportError && /E8M0 scale 255/.test(x.message),
      );
      if (!has("mxfp4")) {
        assert.throws(
          () => ck.quantized("low"),
          (x: unknown) => x instanceof InexactImportError && /exponents span -107/.test(x.message),
        );
      }
    });
  }),
);

test(
  "GGUF Q4_K is refused with the reason; Q8_0 is not a 4-bit import",
  withDir(async (dir) => {
    const path = join(dir, "k.gguf");
    writeFileSync(
      path,
      ggufBytes([], [
        { name: "blk.0.ffn_down.weight", ne: [256, 2], type: 12, bytes: new Uint8Array(2 * 144) },
        { name: "output.weight", ne: [32, 2], type: 8, bytes: new Uint8Array(2 * 34) },
      ]),
    );
    await using_(path, (ck) => {
      const i = ck.info("blk.0.ffn_down.weight");
      assert.equal(i.exact, false);
      assert.match(i.reason!, /17 significant bits/);
      assert.equal(ck.info("output.weight").projection, "lm_head");
      assert.throws(
        () => ck.quantized("blk.0.ffn_down.weight"),
        (x: unknown) => x instanceof InexactImportError && /Q4_K/.test(x.message),
      );
      assert.throws(
        () => ck.quantized("output.weight"),
        (x: unknown) => x instanceof InexactImportError && /Q8_0/.test(x.message),
      );
    });
  }),
);

test(
  "GGUF Q4_1 -> int4-affine: exact (w = q·d + m)",
  withDir(async (dir) => {
    const n = 9, k = 64;
    const q = randomCodes(n, k, 5), d = randomHalves(n * 2, 6), m = randomHalves(n * 2, 7);
    const path = join(dir, "q41.gguf");
    writeFileSync(
      path,
      ggufBytes([], [{ name: "blk.1.ffn_up.weight", ne: [k, n], type: 3, bytes: packQ4_1(q, d, m, n, k) }]),
    );
    await using_(path, (ck) => {
      const f = (r: number, c: number) => q[r * k + c] * h2f(d[r * 2 + (c >> 5)]) + h2f(m[r * 2 + (c >> 5)]);
      const w = ck.quantized("blk.1.ffn_up.weight");
      assertExact("Q4_1", w, n, k, f);
      assertGemm("Q4_1", w, n, k, f);
    });
  }),
  { skip: needAffine },
);
