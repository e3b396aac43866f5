// Our own format: saveQuantized() -> openCheckpoint() gives back the same QuantizedMatrix bit for bit and
// it uploads without repacking; convertCheckpoint() of a generated GGUF / GPTQ / AWQ file round-trips
// unchanged (packed codes, scales, zeros bit-identical to a direct import; float tensors identical).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";
import { openTestDevice, randomWeight } from "./gemm_helpers.ts";
import { le, writeSt } from "./util/st_writer.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import {
  packAwq,
  packGptqWeight,
  packGptqZeros,
  packMxfp4,
  packQ4_0,
  randomCodes,
  randomHalves,
} from "./util/packers.ts";
import { openCheckpoint } from "../lib/io/checkpoint.ts";
import { convertCheckpoint } from "../lib/io/convert.ts";
import { saveQuantized } from "../lib/io/save.ts";
import { InexactImportError } from "../lib/io/errors.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { QUANT_FORMATS } from "../lib/quant/formats.ts";

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-io-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const bits = (a: ArrayBufferView | undefined) =>
  a === undefined ? undefined : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function assertSameMatrix(label: string, got: QuantizedMatrix, want: QuantizedMatrix): void {
  for (const f of ["format", "k", "n", "kp", "np", "groupSize", "batch", "layout"] as const) {
    assert.equal(got[f], want[f], `${label}: ${f}`);
  }
  // scaleDtype, biases and tensorScale exist once the #11 formats land; absent on both sides before.
  const x = got as unknown as Record<string, unknown>, y = want as unknown as Record<string, unknown>;
  assert.equal(x.scaleDtype ?? "f16", y.scaleDtype ?? "f16", `${label}: scaleDtype`);
  assert.equal(x.tensorScale, y.tensorScale, `${label}: tensorScale`);
  assert.ok(got.packed instanceof Uint32Array, `${label}: packed type`);
  assert.equal(got.scales.constructor, want.scales.constructor, `${label}: scales type`);
  assert.deepEqual(bits(got.packed), bits(want.packed), `${label}: packed`);
  assert.deepEqual(bits(got.scales), bits(want.scales), `${label}: scales`);
  assert.deepEqual(bits(got.zeros), bits(want.zeros), `${label}: zeros`);
  assert.deepEqual(
    bits(x.biases as ArrayBufferView | undefined),
    bits(y.biases as ArrayBufferView | undefined),
    `${label}: biases`,
  );
}

test(
  "saveQuantized -> openCheckpoint: fp4, int4, int4-sym, batched, 'kn' layout and a float tensor come back bit-identical",
  withDir(async (dir) => {
    const qs: Record<string, QuantizedMatrix> = {
      "model.layers.0.self_attn.q_proj.weight": randomWeight(100, 13, "fp4", 32, 1),
      "model.layers.0.mlp.up_proj.weight": randomWeight(64, 24, "int4", 64, 2),
      "model.layers.0.mlp.down_proj.weight": randomWeight(40, 7, "int4-sym", 8, 3),
      "experts.weight": randomWeight(64, 16, "int4", 32, 4, 3),
      "kn.weight": quantize(Float32Array.from({ length: 48 * 9 }, (_, i) => Math.cos(i)), {
        k: 48,
        n: 9,
        format: "fp4",
        groupSize: 16,
        layout: "kn",
      }),
    };
    const norm = { dtype: "F16", shape: [3], bytes: le(new Float16Array([1, 0.5, -2])) };
    const path = join(dir, "ours.safetensors");
    saveQuantized(path, { ...qs, "model.norm.weight": norm }, { origin: "test" });
    const file = readFileSync(path);
    const hlen = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + hlen))); // padded with spaces
    assert.equal(header.__metadata__.format, "metal-marlin");
    assert.equal(header.__metadata__.origin, "test");
    const ck = await openCheckpoint(path);
    try {
      assert.deepEqual(ck.names().sort(), [...Object.keys(qs), "model.norm.weight"].sort());
      for (const [name, q] of Object.entries(qs)) {
        const info = ck.info(name);
        assert.equal(info.source, `metal-marlin:${q.format}`);
        assert.equal(info.groupSize, q.groupSize);
        assertSameMatrix(name, ck.quantized(name), q);
      }
      assert.deepEqual([...ck.float("model.norm.weight")], [1, 0.5, -2]);
      // Uploads as it is and computes the same GEMM as the original matrix.
      const dev = openTestDevice();
      try {
        const name = "model.layers.0.self_attn.q_proj.weight";
        using w1 = dev.upload(qs[name]);
        using w2 = dev.upload(ck.quantized(name));
        using a = dev.tensor(Float16Array.from({ length: 2 * 100 }, (_, i) => Math.sin(i)), [2, 100]);
        using y1 = dev.gemm(a, w1);
        using y2 = dev.gemm(a, w2);
        assert.deepEqual(y2.toArray(), y1.toArray());
      } finally {
        dev.dispose();
      }
    } finally {
      ck.close();
    }
  }),
);

const has = (f: string) => (QUANT_FORMATS as readonly string[]).includes(f);

test(
  "saveQuantized -> openCheckpoint: int4-affine (f16, bf16), mxfp4 (E8M0) and nvfp4 (E4M3 + tensor scale) bit-identical",
  withDir(async (dir) => {
    const w = Float32Array.from({ length: 24 * 72 }, (_, i) => Math.sin(i * 0.37) * 3);
    const make = (format: string, scaleDtype?: string) =>
      quantize(w, { k: 72, n: 24, format, groupSize: format === "nvfp4" ? 16 : 32, scaleDtype } as never);
    const qs: Record<string, QuantizedMatrix> = {
      "affine.f16": make("int4-affine"),
      "affine.bf16": make("int4-affine", "bf16"),
      "mx.weight": make("mxfp4"),
      "nv.weight": make("nvfp4"),
    };
    const path = join(dir, "contract.safetensors");
    saveQuantized(path, qs);
    const ck = await openCheckpoint(path);
    try {
      for (const [name, q] of Object.entries(qs)) assertSameMatrix(name, ck.quantized(name), q);
      assert.equal(ck.info("nv.weight").dtype, "e4m3");
    } finally {
      ck.close();
    }
  }),
  { skip: ["int4-affine", "mxfp4", "nvfp4"].every(has) ? undefined : "needs the issue #11 formats" },
);

test(
  "convert: generated GGUF (Q4_0, MXFP4, F32), GPTQ and AWQ files round-trip bit-identical through our format",
  withDir(async (dir) => {
    const n = 12, k = 64;
    const q = randomCodes(n, k, 7),
      d = randomHalves(n * 2, 8),
      e = Uint8Array.from({ length: n * 2 }, (_, i) => 120 + (i % 9));
    const gg = join(dir, "m.gguf");
    writeFileSync(
      gg,
      ggufBytes([["general.architecture", 8, "llama"]], [
        { name: "blk.0.attn_k.weight", ne: [k, n], type: 2, bytes: packQ4_0(q, d, n, k) },
        { name: "blk.0.ffn_up.weight", ne: [k, n], type: 39, bytes: packMxfp4(q, e, n, k) },
        { name: "output_norm.weight", ne: [5], type: 0, bytes: le(new Float32Array([1, 2, 3, 4, 5])) },
      ]),
    );
    const gptq = join(dir, "gptq");
    const awq = join(dir, "awq");
    for (const [sub, method] of [[gptq, "gptq"], [awq, "awq"]] as const) {
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub, { recursive: true });
      const z = randomCodes(2, n, 9).map((x) => 1 + (x % 14));
      const s = randomHalves(2 * n, 10);
      const parts = method === "gptq"
        ? [
          { name: "l.qweight", dtype: "I32", shape: [k / 8, n], bytes: le(packGptqWeight(q, n, k)) },
          {
            name: "l.qzeros",
            dtype: "I32",
            shape: [2, 2],
            bytes: le(packGptqZeros(z.map((x) => x - 1), 2, n)),
          },
        ]
        : [
          {
            name: "l.qweight",
            dtype: "I32",
            shape: [k, 2],
            bytes: le(packAwq((kk, c) => (c < n ? q[c * k + kk] : 0), k, 16)),
          },
          {
            name: "l.qzeros",
            dtype: "I32",
            shape: [2, 2],
            bytes: le(packAwq((g, c) => (c < n ? z[g * n + c] : 0), 2, 16)),
          },
        ];
      const sc = method === "gptq" ? s : (() => {
        const wide = new Uint16Array(2 * 16);
        for (let g = 0; g < 2; g++) wide.set(s.subarray(g * n, (g + 1) * n), g * 16);
        return wide;
      })();
      writeSt(join(sub, "model.safetensors"), [
        ...parts,
        { name: "l.scales", dtype: "F16", shape: [2, method === "gptq" ? n : 16], bytes: le(sc) },
        {
          name: "embed.weight",
          dtype: "BF16",
          shape: [2, 2],
          bytes: le(new Uint16Array([0x3f80, 0x4000, 0xbf80, 0])),
        },
      ]);
      writeFileSync(
        join(sub, "config.json"),
        JSON.stringify({ quantization_config: { quant_method: method, bits: 4, group_size: 32 } }),
      );
    }
    for (const src of [gg, gptq, awq]) {
      const out = join(dir, `${src.split("/").pop()}.out.safetensors`);
      const seen: number[] = [];
      const r = await convertCheckpoint(src, out, { onProgress: (done) => seen.push(done) });
      assert.ok(
        seen.length === r.quantized.length + r.copied.length && seen.at(-1) === r.sourceBytes,
        `${src}: progress`,
      );
      const a = await openCheckpoint(src), b = await openCheckpoint(out);
      try {
        assert.deepEqual(b.names().sort(), a.names().sort(), src);
        for (const name of a.names()) {
          if (a.info(name).quantized) {
            assertSameMatrix(`${src} ${name}`, b.quantized(name), a.quantized(name));
            assert.equal(b.info(name).projection, a.info(name).projection);
          } else assert.deepEqual(b.float(name), a.float(name), `${src} ${name}`);
        }
      } finally {
        a.close();
        b.close();
      }
    }
  }),
);

test(
  "convert: a tensor that cannot import exactly fails the conversion unless skipInexact",
  withDir(async (dir) => {
    const gg = join(dir, "k.gguf");
    writeFileSync(
      gg,
      ggufBytes([], [
        { name: "a", ne: [256, 2], type: 12, bytes: new Uint8Array(2 * 144) },
        { name: "b", ne: [2], type: 0, bytes: le(new Float32Array([1, 2])) },
      ]),
    );
    await assert.rejects(
      convertCheckpoint(gg, join(dir, "o.safetensors")),
      (e: unknown) => e instanceof InexactImportError && e.tensor === "a",
    );
    const r = await convertCheckpoint(gg, join(dir, "o.safetensors"), { skipInexact: true });
    assert.deepEqual([
      r.copied,
      r.skipped.map((s) => s.name),
    ], [["b"], ["a"]]);
    const ck = await openCheckpoint(join(dir, "o.safetensors"));
    try {
      assert.deepEqual(ck.names(), ["b"]);
    } finally {
      ck.close();
    }
  }),
);
