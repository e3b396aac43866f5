// A small GGUF v3 writer for test fixtures, from ggml's docs/gguf.md (not lib/io): magic, version,
// tensor and key/value counts (u64), key/values (string = u64 length + bytes), tensor infos (name,
// n_dims, ne[] innermost first, type, offset), padding to the alignment, then the data.

/** A metadata value with its GGUF type id (4 u32, 5 i32, 6 f32, 8 string, 9 array of strings/u32). */
export type GgufKv = [key: string, type: 4 | 5 | 6 | 8, value: number | string] | [
  key: string,
  type: 9,
  value: { type: 4 | 8; items: (number | string)[] },
];

/** One tensor of a fixture: ne innermost first, ggml type id, its bytes. */
export interface GgufFixtureTensor {
  name: string;
  ne: number[];
  type: number;
  bytes: Uint8Array;
}

class Out {
  parts: number[] = [];
  u8(v: number) {
    this.parts.push(v & 255);
  }
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.u8(v >>> (8 * i));
  }
  u64(v: number | bigint) {
    const b = BigInt(v);
    for (let i = 0n; i < 8n; i++) this.u8(Number((b >> (8n * i)) & 255n));
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    for (const x of b) this.u8(x);
  }
  value(type: number, v: number | string) {
    if (type === 8) this.str(v as string);
    else if (type === 6) {
      const f = new Float32Array([v as number]);
      for (const x of new Uint8Array(f.buffer)) this.u8(x);
    } else this.u32(v as number);
  }
}

/** GGUF file bytes. `offsets` overrides each tensor's data offset (to build lying files). */
export function ggufBytes(
  kvs: GgufKv[],
  tensors: GgufFixtureTensor[],
  opts: { alignment?: number; offsets?: number[]; version?: number; tensorCount?: bigint } = {},
): Uint8Array {
  const align = opts.alignment ?? 32;
  const o = new Out();
  o.u32(0x46554747);
  o.u32(opts.version ?? 3);
  o.u64(opts.tensorCount ?? BigInt(tensors.length));
  o.u64(kvs.length);
  for (const [key, type, value] of kvs) {
    o.str(key);
    o.u32(type);
    if (type === 9) {
      const arr = value as { type: 4 | 8; items: (number | string)[] };
      o.u32(arr.type);
      o.u64(arr.items.length);
      for (const it of arr.items) o.value(arr.type, it);
    } else o.value(type, value as number | string);
  }
  const offs: number[] = [];
  let off = 0;
  for (const t of tensors) {
    offs.push(off);
    off = Math.ceil((off + t.bytes.length) / align) * align;
  }
  tensors.forEach((t, i) => {
    o.str(t.name);
    o.u32(t.ne.length);
    for (const d of t.ne) o.u64(d);
    o.u32(t.type);
    o.u64(opts.offsets?.[i] ?? offs[i]);
  });
  while (o.parts.length % align !== 0) o.u8(0);
  const head = Uint8Array.from(o.parts);
  const out = new Uint8Array(head.length + off);
  out.set(head);
  tensors.forEach((t, i) => out.set(t.bytes, head.length + offs[i]));
  return out;
}
