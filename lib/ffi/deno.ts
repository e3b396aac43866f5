// Deno.dlopen adapter: translates the neutral symbol table for Deno and implements Native.
// Deno's FFI types are declared structurally here so Bun's type checker never needs Deno's globals.
import { type Native, type NativeFns, type NativePointer, type NeutralType, symbols } from "./symbols.ts";

type Ptr = object | null; // Deno.PointerObject | null
interface DenoFfi {
  dlopen(path: string, defs: Record<string, { parameters: string[]; result: string }>): {
    symbols: Record<string, unknown>;
    close(): void;
  };
  UnsafePointer: { of(view: ArrayBufferView): Ptr; value(p: Ptr): bigint | number };
  UnsafePointerView: {
    getArrayBuffer(p: object, byteLength: number, offset?: number): ArrayBuffer;
    getCString(p: object, offset?: number): string;
  };
}

const typeMap: Record<NeutralType, string> = {
  u8: "u8",
  u32: "u32",
  i32: "i32",
  u64: "u64", // accepts number | bigint; we pass numbers
  f64: "f64",
  buffer: "buffer",
  pointer: "pointer",
  void: "void",
};

/** Opens the library at `path` with Deno.dlopen. Throws Deno's own error when dlopen fails. */
export function openDeno(path: string): Native {
  const D = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const defs: Record<string, { parameters: string[]; result: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = {
      parameters: def.args.map((a: NeutralType) => typeMap[a]),
      result: typeMap[def.result as NeutralType],
    };
  }
  const lib = D.dlopen(path, defs);
  return {
    path,
    fns: lib.symbols as unknown as NativeFns,
    maxViewBytes: Number.MAX_SAFE_INTEGER, // V8's ArrayBuffer limit on 64-bit hosts
    arrayBuffer(p: NativePointer, byteLength: number): ArrayBuffer {
      return D.UnsafePointerView.getArrayBuffer(p as unknown as object, byteLength);
    },
    addressOf(view: ArrayBufferView): number {
      return Number(D.UnsafePointer.value(D.UnsafePointer.of(view)));
    },
    pointerValue(p: NativePointer): number {
      return p === null ? 0 : Number(D.UnsafePointer.value(p as unknown as Ptr));
    },
    cstring(p: NativePointer): string {
      return p === null ? "" : D.UnsafePointerView.getCString(p as unknown as object);
    },
    close(): void {
      lib.close();
    },
  };
}
