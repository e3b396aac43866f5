// safetensors reader: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the data.
// The header is validated whole before any tensor is read: size limit, known dtypes, shape x dtype size =
// byte range, every range inside the data section, no two ranges overlapping. Gaps between ranges are
// tolerated: the specification asks writers for none, but a gap cannot make a read go wrong.
import { CheckpointError } from "./errors.ts";
import { ByteSource, type SourceOptions } from "./source.ts";
import { SAFETENSORS_DTYPES } from "./dtypes.ts";

/** Largest JSON header accepted (the reference implementation's limit is the same 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor entry of a safetensors header, with absolute file offsets. */
export interface SafetensorsEntry {
  readonly name: string;
  /** safetensors dtype name, e.g. "F16", "I32". */
  readonly dtype: string;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** First byte in the file (absolute). */
  readonly start: number;
  /** Byte length. */
  readonly length: number;
}

const OP = "openCheckpoint";

/** An open safetensors file: validated entries and `__metadata__`. */
export class SafetensorsFile {
  /** The file. */
  readonly source: ByteSource;
  /** Tensors by name, in header order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** The `__metadata__` block (string values), empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;

  private constructor(
    source: ByteSource,
    entries: Map<string, SafetensorsEntry>,
    metadata: Record<string, string>,
  ) {
    this.source = source;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Opens and validates `path`; any defect is a CheckpointError naming the file, tensor and offset. */
  static open(path: string, opts: SourceOptions = {}): SafetensorsFile {
    const src = ByteSource.open(path, opts);
    try {
      const { entries, metadata } = parseHeader(src);
      return new SafetensorsFile(src, entries, metadata);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /**
   * Raw bytes of tensor `name`: a view of the mapping, or a fresh buffer; with `slot`, the source's
   * reusable buffer for that slot (valid until its next read: for callers that copy what they read).
   */
  bytes(name: string, slot?: number): Uint8Array {
    const e = this.entries.get(name);
    if (e === undefined) {
      throw new CheckpointError(OP, { file: this.source.path, tensor: name }, "no such tensor");
    }
    return this.source.read(e.start, e.length, name, slot);
  }

  /** Closes the file (idempotent). */
  close(): void {
    this.source.close();
  }
}

function fail(src: ByteSource, message: string, tensor?: string, offset?: number): CheckpointError {
  return new CheckpointError(OP, { file: src.path, tensor, offset }, message);
}

function parseHeader(src: ByteSource): {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
} {
  if (src.size < 8) {
    throw fail(src, `file is ${src.size} bytes, shorter than the 8-byte header length`, undefined, 0);
  }
  const lenBytes = src.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(src.size - 8)) {
    throw fail(src, `header length ${n} reaches past the end of the file (${src.size} bytes)`, undefined, 0);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw fail(src, `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`, undefined, 0);
  }
  const hlen = Number(n);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(src.read(8, hlen)));
  } catch (e) {
    throw fail(src, `header is not valid UTF-8 JSON: ${(e as Error).message}`, undefined, 8);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw fail(src, "header is not a JSON object", undefined, 8);
  }
  const dataStart = 8 + hlen;
  const dataLen = src.size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(src, v);
      continue;
    }
    entries.set(name, checkEntry(src, name, v, dataStart, dataLen));
  }
  // Overlaps: sort by start; each range must begin at or after the previous one's end.
  const sorted = [...entries.values()].filter((e) => e.length > 0).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], c = sorted[i];
    if (c.start < p.start + p.length) {
      throw fail(
        src,
        `data [${c.start - dataStart}, ${c.start - dataStart + c.length}) overlaps tensor "${p.name}" ` +
          `[${p.start - dataStart}, ${p.start - dataStart + p.length})`,
        c.name,
        c.start,
      );
    }
  }
  return { entries, metadata };
}

function checkMetadata(src: ByteSource, v: unknown): Record<string, string> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw fail(src, "__metadata__ must be an object of strings", undefined, 8);
  }
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== "string") throw fail(src, `__metadata__["${k}"] is not a string`, undefined, 8);
  }
  return v as Record<string, string>;
}

function checkEntry(
  src: ByteSource,
  name: string,
  v: unknown,
  dataStart: number,
  dataLen: number,
): SafetensorsEntry {
  if (v === null || typeof v !== "object") throw fail(src, "entry is not an object", name, 8);
  const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
  if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
    throw fail(
      src,
      `unknown dtype ${JSON.stringify(dtype)}; known: ${Object.keys(SAFETENSORS_DTYPES).join(", ")}`,
      name,
      8,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(src, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name, 8);
  }
  if (
    !Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    off[0] > off[1]
  ) {
    throw fail(
      src,
      `data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`,
      name,
      8,
    );
  }
  const [begin, end] = off as [number, number];
  if (end > dataLen) {
    throw fail(
      src,
      `data_offsets [${begin}, ${end}] reach past the end of the data section (${dataLen} bytes)`,
      name,
      dataStart + begin,
    );
  }
  // Multiply with a bound so a lying shape cannot overflow: the product may not exceed the range.
  const size = SAFETENSORS_DTYPES[dtype];
  let bytes = size;
  for (const d of shape as number[]) bytes = bytes * d > Number.MAX_SAFE_INTEGER ? Infinity : bytes * d;
  if (bytes !== end - begin) {
    throw fail(
      src,
      `shape [${
        (shape as number[]).join(", ")
      }] x ${dtype} (${size} bytes) = ${bytes} bytes, but data_offsets ` +
        `[${begin}, ${end}] hold ${end - begin}`,
      name,
      dataStart + begin,
    );
  }
  return { name, dtype, shape: shape as number[], start: dataStart + begin, length: end - begin };
}

/** A sharded model: `model.safetensors.index.json`'s weight_map over several files. */
export interface ShardIndex {
  /** Tensor name -> shard file name (relative to the directory). */
  readonly weightMap: Readonly<Record<string, string>>;
}

/** Parses a model.safetensors.index.json object. */
export function parseShardIndex(json: unknown, file: string): ShardIndex {
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== "object" || Array.isArray(wm)) {
    throw new CheckpointError(OP, { file }, "has no weight_map object");
  }
  for (const [k, v] of Object.entries(wm)) {
    if (typeof v !== "string" || v.includes("/") || v.includes("\\") || v.startsWith(".")) {
      throw new CheckpointError(
        OP,
        { file, tensor: k },
        `weight_map entry ${JSON.stringify(v)} is not a file name`,
      );
    }
  }
  return { weightMap: wm as Record<string, string> };
}
