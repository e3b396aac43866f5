// A small safetensors writer for test fixtures, written from the specification alone (not lib/io): u64 LE
// header length, JSON header {name: {dtype, shape, data_offsets}} + optional __metadata__, then the data
// in the order given. `header` can replace the computed header to build lying files.
import { writeFileSync } from "node:fs";

/** One tensor of a fixture. */
export interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Little-endian bytes of a typed array. */
export function le(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** The header object the specification prescribes for `tensors` laid out back to back. */
export function stHeader(tensors: StTensor[], metadata?: Record<string, string>): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (metadata !== undefined) h.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  return h;
}

/** File bytes: header (default stHeader) + data. */
export function stBytes(
  tensors: StTensor[],
  opts: { metadata?: Record<string, string>; header?: unknown } = {},
): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(opts.header ?? stHeader(tensors, opts.metadata)));
  const data = tensors.reduce((a, t) => a + t.bytes.length, 0);
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors) {
    out.set(t.bytes, p);
    p += t.bytes.length;
  }
  return out;
}

/** Writes a safetensors fixture to `path`. */
export function writeSt(
  path: string,
  tensors: StTensor[],
  opts: { metadata?: Record<string, string>; header?: unknown } = {},
): void {
  writeFileSync(path, stBytes(tensors, opts));
}
