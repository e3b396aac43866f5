// openCheckpoint(): one API over a .safetensors file, a sharded model directory, a .gguf file, or our own
// saved format. Quantized layers are recognised by their parts (GPTQ/AWQ: qweight + qzeros + scales;
// MLX: weight U32 + scales + biases; ours: the metadata block) and exposed under the float model's name
// (PREFIX.weight); their parts are not listed separately.
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { QuantizedMatrix } from "../quant/types.ts";
import { asQuantized } from "./contract.ts";
import { decodeFloats, isFloatStorage } from "./dtypes.ts";
import { CheckpointError, InexactImportError } from "./errors.ts";
import { GgufFile } from "./gguf.ts";
import { ggufRefusal, ggufSource, importGguf } from "./import_gguf.ts";
import { layerOf, type ProjectionName, projectionOf } from "./naming.ts";
import { parseShardIndex, SafetensorsFile } from "./safetensors.ts";
import { detectLayers, type Layer, layerRefusal, loadLayer } from "./layers.ts";
import { quantConfig, readJson } from "./config.ts";

/** What ckpt.info(name) tells about one tensor. */
export interface TensorInfo {
  /** The name as names() lists it. */
  readonly name: string;
  /** Source format: "gguf:Q4_0", "mlx:affine4", "gptq", "gptq_v2", "awq", "metal-marlin:int4", "safetensors:F16", ... */
  readonly source: string;
  /** Logical shape, outermost first: [batch?, N, K] for a quantized matrix (the float weight's shape). */
  readonly shape: readonly number[];
  /** Storage dtype: of the values for a plain tensor, of the scales for a quantized one. */
  readonly dtype: string;
  /** K values per scale, for quantized tensors. */
  readonly groupSize: number | undefined;
  /** Which projection the name denotes (Llama / Qwen2 / Mistral / GGUF naming), if any. */
  readonly projection: ProjectionName | undefined;
  /** Transformer layer index from the name, if any. */
  readonly layer: number | undefined;
  /** True for a 4-bit (or other block-quantized) tensor. */
  readonly quantized: boolean;
  /** Stored bytes (all parts: codes, scales, zeros, biases, g_idx). */
  readonly bytes: number;
  /** Stored bits per weight (bytes · 8 / elements). */
  readonly bitsPerWeight: number;
  /** True when quantized() can import it exactly as far as its structure tells (data checks run in quantized()). */
  readonly exact: boolean;
  /** Why it cannot be imported (quantized tensors with exact = false). */
  readonly reason: string | undefined;
}

/** Options of openCheckpoint(). */
export interface OpenOptions {
  /**
   * Use Bun.mmap when the runtime has it (tensors are then views of the mapping). Default true; false
   * forces positional reads, which is what Deno always does (it has no mmap).
   */
  mmap?: boolean;
}

type Plain = { kind: "st"; file: SafetensorsFile; name: string } | {
  kind: "gguf";
  file: GgufFile;
  name: string;
};

const OP = "openCheckpoint";
/** __metadata__ key where convert keeps the source's config (JSON), for align and quantization settings. */
export const CONFIG_KEY = "metal-marlin.config";

/** An open checkpoint. Close it (or `using`) to release its files. */
export class Checkpoint implements Disposable {
  /** The path openCheckpoint was given. */
  readonly path: string;
  #config: Record<string, unknown> | undefined;
  #files: { close(): void }[];
  #plain = new Map<string, Plain>();
  #layers = new Map<string, Layer>();
  #names: string[] = [];

  private constructor(path: string, config: Record<string, unknown> | undefined, files: { close(): void }[]) {
    this.path = path;
    this.#config = config;
    this.#files = files;
  }

  /** @internal Built by openCheckpoint. */
  static async open(path: string, opts: OpenOptions = {}): Promise<Checkpoint> {
    await Promise.resolve();
    let st;
    try {
      st = statSync(path);
    } catch (e) {
      throw new CheckpointError(OP, { file: path }, `cannot open: ${(e as Error).message}`);
    }
    if (st.isDirectory()) return Checkpoint.#openDir(path, opts);
    if (path.endsWith(".gguf")) return Checkpoint.#openGguf(path, opts);
    const cfgPath = join(dirname(path), "config.json");
    const cfg = existsSync(cfgPath) ? readJson(cfgPath) as Record<string, unknown> : undefined;
    return Checkpoint.#openSafetensors(path, [path], cfg, opts);
  }

  static #openGguf(path: string, opts: OpenOptions): Checkpoint {
    const g = GgufFile.open(path, opts);
    const ck = new Checkpoint(path, Object.fromEntries(g.metadata), [g]);
    for (const name of g.tensors.keys()) ck.#plain.set(name, { kind: "gguf", file: g, name });
    ck.#names = [...g.tensors.keys()];
    return ck;
  }

  static #openDir(dir: string, opts: OpenOptions): Checkpoint {
    const cfgPath = join(dir, "config.json");
    const cfg = existsSync(cfgPath) ? readJson(cfgPath) as Record<string, unknown> : undefined;
    const index = join(dir, "model.safetensors.index.json");
    if (existsSync(index)) {
      const { weightMap } = parseShardIndex(readJson(index), index);
      const shards = [...new Set(Object.values(weightMap))].map((f) => join(dir, f));
      return Checkpoint.#openSafetensors(dir, shards, cfg, opts, weightMap);
    }
    const files = readdirSync(dir).sort();
    const st = files.filter((f) => f.endsWith(".safetensors")).map((f) => join(dir, f));
    if (st.length > 0) return Checkpoint.#openSafetensors(dir, st, cfg, opts);
    const gg = files.filter((f) => f.endsWith(".gguf"));
    if (gg.length === 1) return Checkpoint.#openGguf(join(dir, gg[0]), opts);
    throw new CheckpointError(
      OP,
      { file: dir },
      gg.length > 1
        ? `holds ${gg.length} .gguf files (${gg.join(", ")}): open one of them`
        : "holds no .safetensors, model.safetensors.index.json or .gguf file",
    );
  }

  static #openSafetensors(
    path: string,
    paths: string[],
    cfg: Record<string, unknown> | undefined,
    opts: OpenOptions,
    weightMap?: Record<string, string>,
  ): Checkpoint {
    const files: SafetensorsFile[] = [];
    const ck = new Checkpoint(path, cfg, files);
    try {
      for (const p of paths) files.push(SafetensorsFile.open(p, opts));
      const carried = files.find((f) => f.metadata[CONFIG_KEY] !== undefined);
      if (ck.#config === undefined && carried !== undefined) {
        try {
          ck.#config = JSON.parse(carried.metadata[CONFIG_KEY]);
        } catch (e) {
          throw new CheckpointError(
            OP,
            { file: carried.source.path, offset: 8 },
            `bad ${CONFIG_KEY}: ${(e as Error).message}`,
          );
        }
      }
      const where = new Map<string, SafetensorsFile>();
      for (const f of files) {
        for (const name of f.entries.keys()) {
          const prev = where.get(name);
          if (prev !== undefined) {
            throw new CheckpointError(
              OP,
              { file: f.source.path, tensor: name },
              `also in ${prev.source.path}`,
            );
          }
          if (
            weightMap !== undefined && weightMap[name] !== undefined &&
            weightMap[name] !== basename(f.source.path)
          ) {
            throw new CheckpointError(
              OP,
              { file: f.source.path, tensor: name },
              `the index says it is in ${weightMap[name]}`,
            );
          }
          where.set(name, f);
        }
      }
      if (weightMap !== undefined) {
        for (const [name, file] of Object.entries(weightMap)) {
          if (!where.has(name)) {
            throw new CheckpointError(
              OP,
              { file: join(path, file), tensor: name },
              "listed in the index but missing",
            );
          }
        }
      }
      const { layers, consumed } = detectLayers(files, where, quantConfig(cfg, path));
      for (const l of layers) ck.#layers.set(l.name, l);
      for (const [name, f] of where) {
        if (!consumed.has(name)) ck.#plain.set(name, { kind: "st", file: f, name });
      }
      ck.#names = [...where.keys()].filter((n) => !consumed.has(n)).concat(layers.map((l) => l.name));
      return ck;
    } catch (e) {
      ck.close();
      throw e;
    }
  }

  /**
   * The model's config.json (or the GGUF metadata as an object; for a file convert wrote, the source's
   * config it carries), when there is one.
   */
  get config(): Readonly<Record<string, unknown>> | undefined {
    return this.#config;
  }

  /** Tensor names: plain tensors as stored, quantized layers under their float name (PREFIX.weight). */
  names(): string[] {
    return [...this.#names];
  }

  #unknown(name: string): CheckpointError {
    return new CheckpointError(
      "info",
      { file: this.path, tensor: name },
      "no such tensor in this checkpoint",
    );
  }

  /** What is known about tensor `name` without importing it. */
  info(name: string): TensorInfo {
    const base = { name, projection: projectionOf(name), layer: layerOf(name) };
    const l = this.#layers.get(name);
    if (l !== undefined) {
      const reason = layerRefusal(l);
      const elems = l.shape.reduce((a, b) => a * b, 1);
      return {
        ...base,
        source: l.source,
        shape: l.shape,
        dtype: l.scaleDtype,
        groupSize: l.groupSize,
        quantized: true,
        bytes: l.bytes,
        bitsPerWeight: (l.bytes * 8) / elems,
        exact: reason === undefined,
        reason,
      };
    }
    const p = this.#plain.get(name);
    if (p === undefined) throw this.#unknown(name);
    if (p.kind === "st") {
      const e = p.file.entries.get(name)!;
      const elems = e.shape.reduce((a, b) => a * b, 1);
      return {
        ...base,
        source: `safetensors:${e.dtype}`,
        shape: e.shape,
        dtype: e.dtype,
        groupSize: undefined,
        quantized: false,
        bytes: e.length,
        bitsPerWeight: elems === 0 ? 0 : (e.length * 8) / elems,
        exact: false,
        reason: "not a quantized tensor (use float())",
      };
    }
    const t = p.file.tensors.get(name)!;
    const shape = [...t.ne].reverse();
    const elems = t.ne.reduce((a, b) => a * b, 1);
    const q = t.ggml.blockSize > 1;
    const reason = q ? ggufRefusal(t) : "not a quantized tensor (use float())";
    return {
      ...base,
      source: ggufSource(t),
      shape,
      dtype: t.ggml.name,
      groupSize: q ? t.ggml.blockSize : undefined,
      quantized: q,
      bytes: t.length,
      bitsPerWeight: elems === 0 ? 0 : (t.length * 8) / elems,
      exact: q && reason === undefined,
      reason,
    };
  }

  /**
   * Tensor `name` as a QuantizedMatrix in our layout, ready for dev.upload. Exact: dequantize() of it
   * equals the source format's own formula. Throws InexactImportError when it cannot be exact.
   */
  quantized(name: string): QuantizedMatrix {
    const l = this.#layers.get(name);
    if (l !== undefined) return asQuantized(loadLayer(l));
    const p = this.#plain.get(name);
    if (p === undefined) throw this.#unknown(name);
    if (p.kind === "gguf") {
      const t = p.file.tensors.get(name)!;
      return asQuantized(importGguf(p.file.source.path, t, p.file.bytes(name, 0)));
    }
    const e = p.file.entries.get(name)!;
    throw new InexactImportError(
      "quantized",
      p.file.source.path,
      name,
      `is a plain ${e.dtype} tensor (use float())`,
    );
  }

  /** Tensor `name` (F32, F16 or BF16 storage) as a Float32Array, outermost dimension first. */
  float(name: string): Float32Array {
    const p = this.#plain.get(name);
    if (p === undefined) {
      if (this.#layers.has(name)) {
        throw new InexactImportError("float", this.path, name, "is quantized (use quantized())");
      }
      throw this.#unknown(name);
    }
    const dtype = p.kind === "st" ? p.file.entries.get(name)!.dtype : p.file.tensors.get(name)!.ggml.name;
    if (!isFloatStorage(dtype)) {
      throw new InexactImportError(
        "float",
        p.file.source.path,
        name,
        `${dtype} is not F32, F16 or BF16 storage`,
      );
    }
    return decodeFloats(p.file.bytes(name, 0), dtype);
  }

  /** Raw stored bytes and dtype of a plain tensor (convert copies these as they are). */
  raw(name: string): { dtype: string; shape: readonly number[]; bytes: Uint8Array } {
    const p = this.#plain.get(name);
    if (p === undefined) throw this.#unknown(name);
    if (p.kind === "st") {
      const e = p.file.entries.get(name)!;
      return { dtype: e.dtype, shape: e.shape, bytes: p.file.bytes(name) };
    }
    const t = p.file.tensors.get(name)!;
    if (t.ggml.blockSize !== 1) {
      throw new InexactImportError(
        "raw",
        p.file.source.path,
        name,
        `${t.ggml.name} has no safetensors dtype`,
      );
    }
    return {
      dtype: t.ggml.name === "I32" ? "I32" : t.ggml.name,
      shape: [...t.ne].reverse(),
      bytes: p.file.bytes(name),
    };
  }

  /** Closes every file (idempotent). */
  close(): void {
    for (const f of this.#files) f.close();
  }

  /** Same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens a checkpoint: a `.safetensors` file, a `.gguf` file, or a model directory (config.json plus
 * model.safetensors, model.safetensors.index.json with shards, or one .gguf). Headers are validated
 * before anything is read; a malformed file is a CheckpointError naming the file, tensor and offset.
 */
export function openCheckpoint(path: string, opts: OpenOptions = {}): Promise<Checkpoint> {
  return Checkpoint.open(path, opts);
}
