// The readers on good and bad files. Good: float() decodes F32/F16/BF16 storage exactly, sharded
// directories resolve through the index, Bun's memory map and positional reads give the same bytes.
// Bad: every malformed file (truncated, lying header, offsets past the end, overlaps, unknown dtype or
// ggml type, huge counts) is a CheckpointError naming the file, the tensor and the byte offset.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";
import { le, stBytes, stHeader, type StTensor, writeSt } from "./util/st_writer.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import { openCheckpoint } from "../lib/io/checkpoint.ts";
import { CheckpointError } from "../lib/io/errors.ts";
import { ErrorCode } from "../lib/runtime/errors.ts";

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

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

function floats(): StTensor[] {
  const bf = new Uint16Array([0x3f80, 0xc040, 0x0001, 0x7f80, 0x8000]); // 1, -3, tiny subnormal, +Inf, -0
  return [
    { name: "a.f32", dtype: "F32", shape: [2, 2], bytes: le(new Float32Array([1.5, -2, 1e-30, 3])) },
    { name: "b.f16", dtype: "F16", shape: [3], bytes: le(new Float16Array([0.1, -65504, 6e-8])) },
    { name: "c.bf16", dtype: "BF16", shape: [5], bytes: le(bf) },
    { name: "d.i32", dtype: "I32", shape: [1], bytes: le(new Int32Array([7])) },
  ];
}

test(
  "safetensors: float() decodes F32, F16 and BF16 exactly (mmap and positional reads agree)",
  withDir(async (dir) => {
    const path = join(dir, "f.safetensors");
    writeSt(path, floats(), { metadata: { note: "x" } });
    for (const mmap of [true, false]) {
      const ck = await openCheckpoint(path, { mmap });
      try {
        assert.deepEqual(ck.names(), ["a.f32", "b.f16", "c.bf16", "d.i32"]);
        assert.deepEqual([...ck.float("a.f32")], [1.5, -2, Math.fround(1e-30), 3]);
        assert.deepEqual([...ck.float("b.f16")], [...new Float16Array([0.1, -65504, 6e-8])].map(Number));
        assert.deepEqual([...ck.float("c.bf16")], [1, -3, 2 ** -133, Infinity, -0]);
        assert.deepEqual(ck.info("c.bf16").shape, [5]);
        assert.throws(() => ck.float("d.i32"), /I32 is not F32, F16 or BF16 storage/);
      } finally {
        ck.close();
      }
    }
  }),
);

test(
  "safetensors: a sharded directory resolves every tensor through model.safetensors.index.json",
  withDir(async (dir) => {
    const t = floats();
    writeSt(join(dir, "model-00001-of-00002.safetensors"), t.slice(0, 2));
    writeSt(join(dir, "model-00002-of-00002.safetensors"), t.slice(2));
    const weightMap = Object.fromEntries(
      t.map((x, i) => [x.name, `model-0000${i < 2 ? 1 : 2}-of-00002.safetensors`]),
    );
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    const ck = await openCheckpoint(dir);
    try {
      assert.deepEqual(ck.names().sort(), t.map((x) => x.name).sort());
      assert.deepEqual([...ck.float("c.bf16")].slice(0, 2), [1, -3]);
      assert.deepEqual([...ck.float("a.f32")], [1.5, -2, Math.fround(1e-30), 3]);
    } finally {
      ck.close();
    }
    // The index naming a file that does not hold the tensor is an error, not a silent fallback.
    weightMap["a.f32"] = "model-00002-of-00002.safetensors";
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
    await assert.rejects(
      openCheckpoint(dir),
      (e: unknown) =>
        e instanceof CheckpointError && e.tensor === "a.f32" &&
        /the index says it is in model-00002/.test(e.message),
    );
  }),
);

/** Asserts that opening `bytes` as `name` fails with a CheckpointError whose message matches `re`. */
async function bad(
  dir: string,
  name: string,
  bytes: Uint8Array,
  re: RegExp,
  loc: { tensor?: string; offset?: number } = {},
) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  for (const mmap of isBun ? [true, false] : [false]) {
    await assert.rejects(openCheckpoint(path, { mmap }), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `${name}: expected CheckpointError, got ${String(e)}`);
      assert.equal(e.code, ErrorCode.MM_E_INVALID_ARG);
      assert.equal(e.file, path);
      assert.match(e.message, re, name);
      assert.ok(e.message.startsWith("openCheckpoint: "), e.message);
      if (loc.tensor !== undefined) assert.equal(e.tensor, loc.tensor, name);
      if (loc.offset !== undefined) assert.equal(e.offset, loc.offset, name);
      return true;
    });
  }
}

test(
  "safetensors: corrupted files -> CheckpointError with file, tensor and byte offset",
  withDir(async (dir) => {
    const t = floats();
    const good = stBytes(t);
    const hlen = Number(new DataView(good.buffer).getBigUint64(0, true));
    await bad(dir, "empty.safetensors", new Uint8Array(3), /shorter than the 8-byte header length/, {
      offset: 0,
    });
    await bad(
      dir,
      "trunc-header.safetensors",
      good.subarray(0, 20),
      /header length \d+ reaches past the end of the file \(20 bytes\)/,
      { offset: 0 },
    );
    await bad(
      dir,
      "trunc-data.safetensors",
      good.subarray(0, good.length - 3),
      /tensor "d.i32".*data_offsets \[\d+, \d+\] reach past the end of the data section/,
      { tensor: "d.i32", offset: 8 + hlen + 32 },
    );
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 60n, true);
    await bad(dir, "huge.safetensors", huge, /header length 1152921504606846976 reaches past the end/);
    const h = stHeader(t) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    const lie = (mut: (x: typeof h) => void) => {
      const c = structuredClone(h);
      mut(c);
      return stBytes(t, { header: c });
    };
    await bad(
      dir,
      "shape.safetensors",
      lie((c) => (c["a.f32"].shape = [2, 3])),
      /shape \[2, 3\] x F32 \(4 bytes\) = 24 bytes, but data_offsets \[0, 16\] hold 16/,
      { tensor: "a.f32" },
    );
    await bad(
      dir,
      "past.safetensors",
      lie((c) => (c["d.i32"].data_offsets = [100000, 100004])),
      /reach past the end of the data section/,
      { tensor: "d.i32" },
    );
    await bad(
      dir,
      "overlap.safetensors",
      lie((c) => (c["b.f16"].data_offsets = [10, 16])),
      /overlaps tensor "a.f32" \[0, 16\)/,
      { tensor: "b.f16" },
    );
    await bad(
      dir,
      "dtype.safetensors",
      lie((c) => (c["a.f32"].dtype = "F4_E2M1")),
      /unknown dtype "F4_E2M1"/,
      { tensor: "a.f32" },
    );
    await bad(
      dir,
      "negative.safetensors",
      lie((c) => (c["a.f32"].shape = [-1, 4])),
      /not a list of non-negative integers/,
    );
    const notJson = good.slice();
    notJson[8] = 0x5b; // "[" : not an object any more
    notJson[9] = 0x7b;
    await bad(dir, "json.safetensors", notJson, /header is not valid UTF-8 JSON/, { offset: 8 });
    await bad(
      dir,
      "meta.safetensors",
      stBytes(t, { header: { ...h, __metadata__: { a: 1 } } }),
      /__metadata__\["a"\] is not a string/,
    );
  }),
);

const Q4_0 = 2;
function ggufGood(): Uint8Array {
  return ggufBytes(
    [["general.architecture", 8, "llama"], ["llama.block_count", 4, 1], ["tokenizer.ggml.tokens", 9, {
      type: 8,
      items: ["a", "b"],
    }]],
    [
      { name: "blk.0.attn_q.weight", ne: [32, 8], type: Q4_0, bytes: new Uint8Array(8 * 18) },
      { name: "output_norm.weight", ne: [4], type: 0, bytes: le(new Float32Array([1, 2, 3, 4])) },
    ],
  );
}

test(
  "GGUF: metadata, tensor infos (ne innermost first) and float() of an F32 tensor",
  withDir(async (dir) => {
    const path = join(dir, "m.gguf");
    writeFileSync(path, ggufGood());
    const ck = await openCheckpoint(path);
    try {
      assert.deepEqual(ck.names(), ["blk.0.attn_q.weight", "output_norm.weight"]);
      assert.equal(ck.config?.["general.architecture"], "llama");
      assert.deepEqual(ck.config?.["tokenizer.ggml.tokens"], ["a", "b"]);
      const i = ck.info("blk.0.attn_q.weight");
      assert.deepEqual([i.shape, i.dtype, i.bytes, i.bitsPerWeight, i.layer], [[8, 32], "Q4_0", 144, 4.5, 0]);
      assert.deepEqual([...ck.float("output_norm.weight")], [1, 2, 3, 4]);
    } finally {
      ck.close();
    }
  }),
);

test(
  "GGUF: corrupted files -> CheckpointError with file, tensor and byte offset",
  withDir(async (dir) => {
    const good = ggufGood();
    const t = [
      { name: "x", ne: [32, 8], type: Q4_0, bytes: new Uint8Array(8 * 18) },
      { name: "y", ne: [32, 8], type: Q4_0, bytes: new Uint8Array(8 * 18) },
    ];
    await bad(dir, "short.gguf", good.subarray(0, 10), /shorter than a GGUF header/, { offset: 0 });
    const magic = good.slice();
    magic[0] = 0x47 + 1;
    await bad(dir, "magic.gguf", magic, /not a GGUF file/, { offset: 0 });
    await bad(dir, "v1.gguf", ggufBytes([], t, { version: 1 }), /GGUF version 1 is not supported/, {
      offset: 4,
    });
    await bad(
      dir,
      "count.gguf",
      ggufBytes([], t, { tensorCount: 1n << 40n }),
      /1099511627776 tensors is over the limit/,
    );
    await bad(
      dir,
      "fit.gguf",
      ggufBytes([], t, { tensorCount: 1000n }),
      /1000 tensors and 0 metadata entries cannot fit/,
    );
    const arr = ggufBytes([["a", 9, { type: 4, items: [] }]], []);
    new DataView(arr.buffer).setBigUint64(41, 1n << 25n, true); // the array's element count
    await bad(dir, "array.gguf", arr, /metadata "a": array of 33554432 is over the limit/, { offset: 41 });
    await bad(
      dir,
      "trunc-meta.gguf",
      good.subarray(0, 120),
      /metadata key 2: string of 21 bytes reaches past the end of the file/,
      { offset: 102 },
    );
    await bad(
      dir,
      "trunc-data.gguf",
      good.subarray(0, good.length - 20),
      /tensor "output_norm.weight".*reach past the end of the file/,
      { tensor: "output_norm.weight" },
    );
    await bad(dir, "type.gguf", ggufBytes([], [{ ...t[0], type: 99 }]), /tensor "x".*unknown ggml type 99/, {
      tensor: "x",
    });
    await bad(
      dir,
      "overlap.gguf",
      ggufBytes([], t, { offsets: [0, 32] }),
      /tensor "y".*overlaps tensor "x"/,
      { tensor: "y" },
    );
    await bad(
      dir,
      "past.gguf",
      ggufBytes([], t, { offsets: [0, 1 << 20] }),
      /tensor "y".*reach past the end of the file/,
      { tensor: "y" },
    );
    await bad(
      dir,
      "misaligned.gguf",
      ggufBytes([], t, { offsets: [0, 148] }),
      /data offset 148 is not a multiple of the alignment 32/,
      { tensor: "y" },
    );
    await bad(
      dir,
      "block.gguf",
      ggufBytes([], [{ ...t[0], ne: [30, 8] }]),
      /ne\[0\] = 30 is not a multiple of Q4_0's block of 32/,
    );
    // A string length of 2^48: refused before any allocation.
    const s = ggufBytes([["k", 8, "v"]], []);
    new DataView(s.buffer).setBigUint64(24, 1n << 48n, true);
    await bad(dir, "string.gguf", s, /string of 281474976710656 bytes reaches past the end/, { offset: 24 });
  }),
);

test(
  "openCheckpoint: a missing path or a directory without weights is a CheckpointError",
  withDir(async (dir) => {
    await assert.rejects(
      openCheckpoint(join(dir, "nope.safetensors")),
      (e: unknown) => e instanceof CheckpointError && /cannot open/.test(e.message),
    );
    await assert.rejects(
      openCheckpoint(dir),
      (e: unknown) => e instanceof CheckpointError && /holds no .safetensors/.test(e.message),
    );
  }),
);
