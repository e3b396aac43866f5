// Checkpoint import throughput: GB/s of source data from openCheckpoint() + quantized() over every
// tensor of a generated ~1 GB file (made at bench time in a temp dir, deleted after), with peak RSS.
// `bun bench/io.bench.ts [--json]` or `deno run -A bench/io.bench.ts [--json]`. Sources: GGUF Q4_0
// (repacked from 32-blocks) and GPTQ v2 safetensors (words copied as they are). Bun runs both its
// memory-map path and positional reads; Deno has only positional reads.
import { measure } from "mitata";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { openCheckpoint } from "../lib/io/checkpoint.ts";
import { stamp } from "./report.ts";

const N = 4096, K = 14336; // one Llama-3-8B gate_proj-sized matrix per tensor
function fill(bytes: Uint8Array, seed: number): Uint8Array {
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  let s = seed >>> 0;
  for (let i = 0; i < w.length; i++) w[i] = s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return bytes;
}

/** GGUF v3 with `count` Q4_0 tensors [N, K]; f16 d kept finite (exponent bits cleared of 0x1f). */
function writeGguf(path: string, count: number): number {
  const tensorBytes = (K / 32) * 18 * N;
  const head: number[] = [];
  const u32 = (v: number) => head.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  const u64 = (v: number) => (u32(v % 2 ** 32), u32(Math.floor(v / 2 ** 32)));
  const str = (s: string) => (u64(s.length), head.push(...new TextEncoder().encode(s)));
  u32(0x46554747), u32(3), u64(count), u64(0);
  for (let t = 0; t < count; t++) {
    (str(`blk.${t}.ffn_gate.weight`), u32(2), u64(K), u64(N), u32(2), u64(t * tensorBytes));
  }
  while (head.length % 32 !== 0) head.push(0);
  const data = fill(new Uint8Array(tensorBytes), 7);
  for (let b = 0; b < tensorBytes; b += 18) data[b + 1] &= 0x3b; // d: exponent < 0x1f (no Inf/NaN)
  const fd = openSync(path, "w");
  writeSync(fd, Uint8Array.from(head));
  for (let t = 0; t < count; t++) writeSync(fd, data);
  closeSync(fd);
  return head.length + count * tensorBytes;
}

/** GPTQ v2 safetensors with `count` layers [N, K], group 128. */
function writeGptq(sub: string, count: number): number {
  const g = K / 128;
  const parts = [["qweight", "I32", [K / 8, N], (K / 8) * N * 4], [
    "qzeros",
    "I32",
    [g, N / 8],
    g * (N / 8) * 4,
  ], [
    "scales",
    "F16",
    [g, N],
    g * N * 2,
  ]] as const;
  const header: Record<string, unknown> = {};
  let off = 0;
  for (let t = 0; t < count; t++) {
    for (const [p, dtype, shape, bytes] of parts) {
      header[`model.layers.${t}.mlp.gate_proj.${p}`] = { dtype, shape, data_offsets: [off, off + bytes] };
      off += bytes;
    }
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  const bufs = parts.map(([, , , bytes], i) => fill(new Uint8Array(bytes), 11 + i));
  for (let i = 0; i < bufs[2].length; i += 2) bufs[2][i + 1] &= 0x3b; // finite f16 scales
  const fd = openSync(join(sub, "model.safetensors"), "w");
  writeSync(fd, len);
  writeSync(fd, json);
  for (let t = 0; t < count; t++) for (const b of bufs) writeSync(fd, b);
  closeSync(fd);
  writeFileSync(
    join(sub, "config.json"),
    JSON.stringify({
      quantization_config: { quant_method: "gptq", bits: 4, group_size: 128, checkpoint_format: "gptq_v2" },
    }),
  );
  return 8 + json.length + off;
}

let peakRss = 0;
async function importAll(path: string, mmap: boolean): Promise<number> {
  const ck = await openCheckpoint(path, { mmap });
  let words = 0;
  try {
    for (const name of ck.names()) {
      words += ck.quantized(name).packed.length; // the result is dropped: one tensor alive at a time
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  } finally {
    ck.close();
  }
  return words;
}

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
const args = process.argv.slice(2);

if (args[0] === "--child") {
  // One configuration in a fresh process, so its peak RSS is its own (not a previous run's garbage).
  const [, path, mode] = args;
  const base = process.memoryUsage().rss;
  const stats = await measure(() => importAll(path, mode === "mmap"), {
    min_samples: 3,
    max_samples: 3,
    min_cpu_time: 0,
    warmup_samples: 1,
  });
  console.log(
    JSON.stringify({
      avgNs: stats.avg,
      minNs: stats.min,
      maxNs: stats.max,
      samples: stats.samples.length,
      base,
      peakRss,
    }),
  );
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), "mm-io-bench-"));
const ggufPath = join(dir, "model.gguf");
const gptqDir = join(dir, "gptq");
mkdirSync(gptqDir);
const sizes = { gguf: writeGguf(ggufPath, 32), gptq: writeGptq(gptqDir, 34) };
const self = fileURLToPath(import.meta.url);
const rows: Record<string, unknown>[] = [];
try {
  for (
    const [label, path, bytes] of [["gguf Q4_0", ggufPath, sizes.gguf], [
      "gptq v2",
      gptqDir,
      sizes.gptq,
    ]] as const
  ) {
    for (const mode of isBun ? ["mmap", "read"] : ["read"]) {
      const argv = isBun ? [self, "--child", path, mode] : ["run", "-A", self, "--child", path, mode];
      const out = execFileSync(process.execPath, argv, { encoding: "utf8", maxBuffer: 1 << 20 });
      const c = JSON.parse(out.trim().split("\n").pop()!);
      const row = {
        name: `import ${label} ${(bytes / 1e9).toFixed(2)} GB (${
          mode === "mmap" ? "Bun.mmap" : "positional reads"
        })`,
        sourceBytes: bytes,
        avgNs: c.avgNs,
        minNs: c.minNs,
        maxNs: c.maxNs,
        samples: c.samples,
        gbPerSecond: Math.round((bytes / c.avgNs) * 100) / 100,
        bestGbPerSecond: Math.round((bytes / c.minNs) * 100) / 100,
        rssBeforeMiB: Math.round(c.base / 2 ** 20),
        peakRssMiB: Math.round(c.peakRss / 2 ** 20),
      };
      rows.push(row);
      if (!process.argv.includes("--json")) console.log(JSON.stringify(row));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const doc = {
  bench: "io",
  ...stamp("host-ts"),
  note: "peak RSS includes pages of the memory map (Bun.mmap) and garbage the GC has not yet collected; " +
    "each configuration runs in its own process",
  results: rows,
};
const text = JSON.stringify(doc, null, 2);
if (process.argv.includes("--json")) console.log(text);
else {
  const file = new URL(`./results/io.${doc.runtime.name}.json`, import.meta.url);
  writeFileSync(file, text + "\n");
  console.log(`wrote ${file.pathname}`);
}
