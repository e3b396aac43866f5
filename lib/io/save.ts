// Our own checkpoint format and its writer. A safetensors file whose __metadata__ says
// format = "metal-marlin" and lists every quantized tensor under "metal-marlin.tensors" (JSON: format,
// k, n, kp, np, groupSize, batch, layout, scaleDtype, tensorScale). Each quantized tensor NAME is stored
// as NAME.packed (U32 [batch?, kp/8, np]), NAME.scales (F16 / BF16 / F8_E8M0 / F8_E4M3 [batch?, kp/gs, np]),
// NAME.zeros (U8, int4 only) and NAME.biases (int4-affine only): our layout as is, so it reloads and
// uploads without repacking. Float tensors (norms, embeddings) are stored under their own name.
// The writer streams: data goes to the file tensor by tensor after a reserved header region, and the
// header (padded with spaces, which the safetensors specification allows) is written last.
import { closeSync, openSync, writeSync } from "node:fs";
import type { QuantizedMatrix } from "../quant/types.ts";
import { checkQuantized } from "../quant/validate.ts";
import type { ImportedMatrix } from "./contract.ts";
import { CheckpointError } from "./errors.ts";

/** __metadata__ value of "format" in files saveQuantized writes. */
export const MARLIN_FORMAT = "metal-marlin";
/** __metadata__ key holding the JSON description of every quantized tensor. */
export const MARLIN_TENSORS_KEY = "metal-marlin.tensors";
/** Version of our layout in __metadata__["metal-marlin.version"]. */
export const MARLIN_VERSION = "1";

/** A tensor stored as it is: dtype (safetensors name), shape, little-endian bytes. */
export interface RawEntry {
  /** safetensors dtype name: "F32", "F16", "BF16", "I32", ... */
  readonly dtype: string;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** Little-endian element bytes (product of shape × dtype size). */
  readonly bytes: Uint8Array;
}

/** What one quantized tensor records in the metadata block. */
export interface MarlinTensorMeta {
  format: string;
  k: number;
  n: number;
  kp: number;
  np: number;
  groupSize: number;
  batch: number | null;
  layout: string;
  scaleDtype: string;
  tensorScale?: number;
}

const SCALE_ST_DTYPE: Record<string, string> = { f16: "F16", bf16: "BF16", e8m0: "F8_E8M0", e4m3: "F8_E4M3" };

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The stored parts of one quantized matrix: [suffix, dtype, shape, bytes]. */
export function quantizedParts(q: QuantizedMatrix): [string, string, number[], Uint8Array][] {
  const m = q as unknown as ImportedMatrix;
  const lead = m.batch === undefined ? [] : [m.batch];
  const sdt = m.scaleDtype ?? "f16";
  const sshape = [...lead, m.kp / m.groupSize, m.np];
  const parts: [string, string, number[], Uint8Array][] = [
    ["packed", "U32", [...lead, m.kp / 8, m.np], bytesOf(m.packed)],
    ["scales", SCALE_ST_DTYPE[sdt], sshape, bytesOf(m.scales)],
  ];
  if (m.zeros !== undefined) parts.push(["zeros", "U8", sshape, bytesOf(m.zeros)]);
  if (m.biases !== undefined) parts.push(["biases", SCALE_ST_DTYPE[sdt], sshape, bytesOf(m.biases)]);
  return parts;
}

function metaOf(q: QuantizedMatrix): MarlinTensorMeta {
  const m = q as unknown as ImportedMatrix;
  const out: MarlinTensorMeta = {
    format: m.format,
    k: m.k,
    n: m.n,
    kp: m.kp,
    np: m.np,
    groupSize: m.groupSize,
    batch: m.batch ?? null,
    layout: m.layout,
    scaleDtype: m.scaleDtype ?? "f16",
  };
  if (m.tensorScale !== undefined) out.tensorScale = m.tensorScale;
  return out;
}

/** Upper bound of the header bytes for these tensor names (every number at its widest). */
export function headerBound(names: Iterable<string>, metadata: Record<string, string>): number {
  let bytes = 400 + JSON.stringify(JSON.stringify(metadata)).length * 2;
  for (const name of names) {
    const q = JSON.stringify(name).length;
    bytes += 4 * (q + 24 + 150) + 2 * JSON.stringify(JSON.stringify(name)).length + 300;
  }
  return Math.ceil(bytes / 8) * 8;
}

/** Streams a safetensors file: add() writes each tensor's data, finish() writes the header. */
export class SafetensorsWriter {
  readonly path: string;
  #fd: number;
  #reserve: number;
  #pos = 0;
  #entries: Record<string, unknown> = {};
  #quant: Record<string, MarlinTensorMeta> = {};

  /** `reserve`: header bytes to leave before the data (see headerBound). */
  constructor(path: string, reserve: number) {
    this.path = path;
    this.#reserve = reserve;
    this.#fd = openSync(path, "w");
  }

  /** Bytes of data written so far. */
  get dataBytes(): number {
    return this.#pos;
  }

  /** Appends one raw tensor. */
  addRaw(name: string, e: RawEntry): void {
    if (Object.hasOwn(this.#entries, name)) {
      throw new CheckpointError("saveQuantized", { file: this.path, tensor: name }, "tensor name used twice");
    }
    let off = 0;
    while (off < e.bytes.length) {
      off += writeSync(this.#fd, e.bytes, off, e.bytes.length - off, 8 + this.#reserve + this.#pos + off);
    }
    this.#entries[name] = {
      dtype: e.dtype,
      shape: e.shape,
      data_offsets: [this.#pos, this.#pos + e.bytes.length],
    };
    this.#pos += e.bytes.length;
  }

  /** Appends a quantized matrix as NAME.packed/.scales/(.zeros)/(.biases) plus its metadata. */
  addQuantized(name: string, q: QuantizedMatrix): void {
    checkQuantized("saveQuantized", q);
    if (Object.hasOwn(this.#quant, name)) {
      throw new CheckpointError("saveQuantized", { file: this.path, tensor: name }, "tensor name used twice");
    }
    for (const [suffix, dtype, shape, bytes] of quantizedParts(q)) {
      this.addRaw(`${name}.${suffix}`, { dtype, shape, bytes });
    }
    this.#quant[name] = metaOf(q);
  }

  /** Writes the header (metadata merged with our own keys) and closes the file. */
  finish(metadata: Record<string, string> = {}): void {
    const meta: Record<string, string> = {
      ...metadata,
      format: MARLIN_FORMAT,
      "metal-marlin.version": MARLIN_VERSION,
      [MARLIN_TENSORS_KEY]: JSON.stringify(this.#quant),
    };
    const json = new TextEncoder().encode(JSON.stringify({ __metadata__: meta, ...this.#entries }));
    try {
      if (json.length > this.#reserve) {
        throw new CheckpointError(
          "saveQuantized",
          { file: this.path },
          `header of ${json.length} bytes does not fit the ${this.#reserve} reserved (an internal bound was wrong)`,
        );
      }
      const head = new Uint8Array(8 + this.#reserve).fill(0x20); // padded with spaces
      new DataView(head.buffer).setBigUint64(0, BigInt(this.#reserve), true);
      head.set(json, 8);
      writeSync(this.#fd, head, 0, head.length, 0);
    } finally {
      this.close();
    }
  }

  /** Closes the file without finishing it (idempotent). */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** A tensor to save: a QuantizedMatrix, or a raw tensor stored as it is. */
export type SaveEntry = QuantizedMatrix | RawEntry;

function isRaw(e: SaveEntry): e is RawEntry {
  return (e as RawEntry).bytes instanceof Uint8Array && typeof (e as RawEntry).dtype === "string";
}

/**
 * Writes `tensors` to `path` in our format (safetensors + a __metadata__ block naming format, group size,
 * K, N, ... per quantized tensor). The file reloads with openCheckpoint(path) and its matrices upload
 * without repacking. `metadata` adds string entries to __metadata__ ("format" and keys starting with
 * "metal-marlin." are ours).
 */
export function saveQuantized(
  path: string,
  tensors: Record<string, SaveEntry> | ReadonlyMap<string, SaveEntry>,
  metadata: Record<string, string> = {},
): void {
  const entries = tensors instanceof Map
    ? [...tensors]
    : Object.entries(tensors as Record<string, SaveEntry>);
  const w = new SafetensorsWriter(path, headerBound(entries.map(([n]) => n), metadata));
  try {
    for (const [name, e] of entries) {
      if (isRaw(e)) w.addRaw(name, e);
      else w.addQuantized(name, e);
    }
  } catch (err) {
    w.close();
    throw err;
  }
  w.finish(metadata);
}
