// GGUF reader (v2 and v3; ggml's docs/gguf.md): magic "GGUF", u32 version, u64 tensor count, u64 metadata
// count, metadata key/values, tensor infos (name, n_dims, ne[] innermost first, ggml type, offset), then
// the data section at the next multiple of general.alignment (default 32). Every count and length is
// checked against the bytes left in the file before anything is allocated, so a lying header ends in a
// CheckpointError, never a huge allocation. We parse it ourselves: @huggingface/gguf (0.4.6) pulls in
// @huggingface/tasks (5.6 MB) and accepted a truncated file without an error when we tried it.
import { CheckpointError } from "./errors.ts";
import { ByteSource, type SourceOptions } from "./source.ts";
import { GGML_TYPES, type GgmlType } from "./dtypes.ts";

const OP = "openCheckpoint";
const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const MAX_DIMS = 4; // GGML_MAX_DIMS
const CHUNK = 1 << 20;
// Object counts a header may ask for. Bytes are bounded by the file size already; these bound the JS
// objects per byte (a 1 GB file of empty strings would otherwise become 125 M string objects). Real
// files: ~256 K tokenizer entries, a few thousand tensors (per-expert MoE layouts: ~100 K).
const MAX_ARRAY = 1 << 24;
const MAX_TENSORS = 1 << 20;

/** A metadata value: numbers, bigint for u64/i64 past 2^53, strings, booleans, arrays of those. */
export type GgufValue = number | bigint | string | boolean | GgufValue[];

/** One tensor info with its absolute byte range. */
export interface GgufTensor {
  readonly name: string;
  /** ggml type id. */
  readonly type: number;
  /** Traits of the type. */
  readonly ggml: GgmlType;
  /** ne[]: innermost (contiguous) dimension first, as GGUF writes them. */
  readonly ne: readonly number[];
  /** First byte in the file (absolute). */
  readonly start: number;
  /** Byte length. */
  readonly length: number;
}

/** Reads little-endian values sequentially through a 1 MB window of the file. */
class Cursor {
  pos = 0;
  #buf: Uint8Array = new Uint8Array(0);
  #view = new DataView(this.#buf.buffer);
  #bufStart = 0;
  constructor(readonly src: ByteSource) {}

  #rel = 0;
  // Makes n bytes available and returns the view; #rel is their offset in it. (The view must be read
  // after #need ran: `this.#view.getX(this.#need(n))` would read the view from before a refill.)
  #v(n: number, what: string): DataView {
    this.#rel = this.#need(n, what);
    return this.#view;
  }

  left(): number {
    return this.src.size - this.pos;
  }

  fail(message: string, offset = this.pos): CheckpointError {
    return new CheckpointError(OP, { file: this.src.path, offset }, message);
  }

  #need(n: number, what: string): number {
    if (n > this.left()) {
      throw this.fail(`${what}: needs ${n} bytes but the file ends ${this.left()} bytes later (truncated?)`);
    }
    let rel = this.pos - this.#bufStart;
    if (rel < 0 || rel + n > this.#buf.length) {
      const len = Math.min(Math.max(n, CHUNK), this.left());
      this.#buf = this.src.read(this.pos, len);
      this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length);
      this.#bufStart = this.pos;
      rel = 0;
    }
    this.pos += n;
    return rel;
  }

  u8(what: string): number {
    return this.#v(1, what).getUint8(this.#rel);
  }
  u32(what: string): number {
    return this.#v(4, what).getUint32(this.#rel, true);
  }
  u64(what: string): number {
    const v = this.#v(8, what).getBigUint64(this.#rel, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.fail(`${what} ${v} is not a usable size`, this.pos - 8);
    }
    return Number(v);
  }
  value(type: number, what: string): GgufValue {
    switch (type) {
      case 0:
        return this.#v(1, what).getUint8(this.#rel);
      case 1:
        return this.#v(1, what).getInt8(this.#rel);
      case 2:
        return this.#v(2, what).getUint16(this.#rel, true);
      case 3:
        return this.#v(2, what).getInt16(this.#rel, true);
      case 4:
        return this.#v(4, what).getUint32(this.#rel, true);
      case 5:
        return this.#v(4, what).getInt32(this.#rel, true);
      case 6:
        return this.#v(4, what).getFloat32(this.#rel, true);
      case 7:
        return this.#v(1, what).getUint8(this.#rel) !== 0;
      case 8:
        return this.string(what);
      case 10: {
        const v = this.#v(8, what).getBigUint64(this.#rel, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 11: {
        const v = this.#v(8, what).getBigInt64(this.#rel, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 12:
        return this.#v(8, what).getFloat64(this.#rel, true);
      default:
        throw this.fail(`${what}: unknown metadata value type ${type}`, this.pos - 4);
    }
  }
  string(what: string): string {
    const at = this.pos;
    const n = this.u64(`${what} length`);
    if (n > this.left()) {
      throw this.fail(`${what}: string of ${n} bytes reaches past the end of the file`, at);
    }
    const rel = this.#need(n, what);
    return new TextDecoder().decode(this.#buf.subarray(rel, rel + n));
  }
}

/** Smallest encoded size of one value of a metadata type (bounds array counts by the bytes left). */
function minSize(type: number): number {
  return [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8][type] ?? 1;
}

/** An open, validated GGUF file. */
export class GgufFile {
  /** The file. */
  readonly source: ByteSource;
  /** GGUF version (2 or 3). */
  readonly version: number;
  /** Metadata key -> value. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensors by name, in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensor>;
  /** Absolute offset of the data section. */
  readonly dataStart: number;

  private constructor(
    source: ByteSource,
    version: number,
    metadata: Map<string, GgufValue>,
    tensors: Map<string, GgufTensor>,
    dataStart: number,
  ) {
    this.source = source;
    this.version = version;
    this.metadata = metadata;
    this.tensors = tensors;
    this.dataStart = dataStart;
  }

  /** Opens and validates `path`; any defect is a CheckpointError naming the file, tensor and offset. */
  static open(path: string, opts: SourceOptions = {}): GgufFile {
    const src = ByteSource.open(path, opts);
    try {
      return GgufFile.#parse(src);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  static #parse(src: ByteSource): GgufFile {
    const c = new Cursor(src);
    if (src.size < 24) throw c.fail(`file is ${src.size} bytes, shorter than a GGUF header (24)`, 0);
    const magic = c.u32("magic");
    if (magic !== MAGIC) throw c.fail(`not a GGUF file (magic 0x${magic.toString(16)})`, 0);
    const version = c.u32("version");
    if (version !== 2 && version !== 3) {
      throw c.fail(`GGUF version ${version} is not supported (2 and 3 are; big-endian files are not)`, 4);
    }
    const nTensors = c.u64("tensor count");
    const nKv = c.u64("metadata count");
    // A tensor info takes >= 8 + 4 + 8 + 4 + 8 bytes, a key/value >= 8 + 4 + 1: counts beyond the file lie.
    if (nTensors > MAX_TENSORS) throw c.fail(`${nTensors} tensors is over the limit of ${MAX_TENSORS}`, 8);
    if (nTensors * 32 > c.left() || nKv * 13 > c.left()) {
      throw c.fail(`${nTensors} tensors and ${nKv} metadata entries cannot fit in ${src.size} bytes`, 8);
    }
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.string(`metadata key ${i}`);
      const type = c.u32(`metadata "${key}" type`);
      if (type === 9) {
        const et = c.u32(`metadata "${key}" array type`);
        const at = c.pos;
        const count = c.u64(`metadata "${key}" array count`);
        if (count > MAX_ARRAY) {
          throw c.fail(`metadata "${key}": array of ${count} is over the limit of ${MAX_ARRAY}`, at);
        }
        if (count * minSize(et) > c.left()) {
          throw c.fail(`metadata "${key}": array of ${count} reaches past the end of the file`, at);
        }
        if (et === 9) throw c.fail(`metadata "${key}": nested arrays are not supported`, at - 4);
        const arr: GgufValue[] = new Array(count);
        for (let j = 0; j < count; j++) arr[j] = c.value(et, `metadata "${key}"[${j}]`);
        metadata.set(key, arr);
      } else {
        metadata.set(key, c.value(type, `metadata "${key}"`));
      }
    }
    const align = metadata.get("general.alignment") ?? 32;
    if (typeof align !== "number" || !Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
      throw c.fail(`general.alignment ${String(align)} is not a power of two`);
    }
    const infos: { name: string; type: number; ne: number[]; off: number; at: number }[] = [];
    for (let i = 0; i < nTensors; i++) {
      const at = c.pos;
      const name = c.string(`tensor info ${i} name`);
      const nd = c.u32(`tensor "${name}" n_dims`);
      if (nd < 1 || nd > MAX_DIMS) throw c.fail(`tensor "${name}": n_dims ${nd} is not 1..${MAX_DIMS}`, at);
      const ne: number[] = [];
      for (let d = 0; d < nd; d++) ne.push(c.u64(`tensor "${name}" ne[${d}]`));
      const type = c.u32(`tensor "${name}" type`);
      const off = c.u64(`tensor "${name}" offset`);
      infos.push({ name, type, ne, off, at });
    }
    const dataStart = Math.ceil(c.pos / align) * align;
    const tensors = new Map<string, GgufTensor>();
    for (const t of infos) {
      const loc = { file: src.path, tensor: t.name, offset: t.at };
      const g = GGML_TYPES.get(t.type);
      if (g === undefined) throw new CheckpointError(OP, loc, `unknown ggml type ${t.type}`);
      if (tensors.has(t.name)) throw new CheckpointError(OP, loc, "name appears twice");
      if (t.ne[0] % g.blockSize !== 0) {
        throw new CheckpointError(
          OP,
          loc,
          `ne[0] = ${t.ne[0]} is not a multiple of ${g.name}'s block of ${g.blockSize}`,
        );
      }
      if (t.off % align !== 0) {
        throw new CheckpointError(
          OP,
          loc,
          `data offset ${t.off} is not a multiple of the alignment ${align}`,
        );
      }
      let len = (t.ne[0] / g.blockSize) * g.typeSize;
      for (let d = 1; d < t.ne.length; d++) {
        len = len * t.ne[d] > Number.MAX_SAFE_INTEGER ? Infinity : len * t.ne[d];
      }
      const start = dataStart + t.off;
      if (!(start + len <= src.size)) {
        throw new CheckpointError(
          OP,
          { ...loc, offset: start },
          `${len} bytes of ${g.name} [${
            t.ne.join(", ")
          }] at data offset ${t.off} reach past the end of the file (${src.size} bytes)`,
        );
      }
      tensors.set(t.name, { name: t.name, type: t.type, ggml: g, ne: t.ne, start, length: len });
    }
    const sorted = [...tensors.values()].filter((t) => t.length > 0).sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const p = sorted[i - 1], t = sorted[i];
      if (t.start < p.start + p.length) {
        throw new CheckpointError(
          OP,
          { file: src.path, tensor: t.name, offset: t.start },
          `data [${t.start}, ${t.start + t.length}) overlaps tensor "${p.name}" [${p.start}, ${
            p.start + p.length
          })`,
        );
      }
    }
    return new GgufFile(src, version, metadata, tensors, dataStart);
  }

  /**
   * Raw bytes of tensor `name`: a view of the mapping, or a fresh buffer; with `slot`, the source's
   * reusable buffer for that slot (valid until its next read: for callers that copy what they read).
   */
  bytes(name: string, slot?: number): Uint8Array {
    const t = this.tensors.get(name);
    if (t === undefined) {
      throw new CheckpointError(OP, { file: this.source.path, tensor: name }, "no such tensor");
    }
    return this.source.read(t.start, t.length, name, slot);
  }

  /** Closes the file (idempotent). */
  close(): void {
    this.source.close();
  }
}
