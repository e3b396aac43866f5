// bun:ffi adapter: translates the neutral symbol table for Bun and implements Native.
// Imported only under Bun (native.ts picks the adapter), so Deno never resolves "bun:ffi".
import { CString, dlopen, type FFIFunction, ptr, toArrayBuffer } from "bun:ffi";
import { type Native, type NativeFns, type NativePointer, type NeutralType, symbols } from "./symbols.ts";

const argType: Record<NeutralType, string> = {
  u8: "u8",
  u32: "u32",
  i32: "i32",
  u64: "u64", // accepts a JS number: no BigInt on the hot path
  f64: "f64",
  buffer: "ptr",
  pointer: "ptr",
  void: "void",
};
// u64_fast returns a number when it fits in 53 bits (all our lengths do).
const resultType: Record<NeutralType, string> = { ...argType, u64: "u64_fast" };

/** Opens the library at `path` with bun:ffi. Throws Bun's own error when dlopen fails. */
export function openBun(path: string): Native {
  const defs: Record<string, FFIFunction> = {};
  for (const [name, def] of Object.entries(symbols)) {
    defs[name] = {
      args: def.args.map((a: NeutralType) => argType[a]),
      returns: resultType[def.result as NeutralType],
    } as FFIFunction;
  }
  const lib = dlopen(path, defs);
  const asNumber = (p: NativePointer): number => (p === null ? 0 : (p as number));
  return {
    path,
    fns: lib.symbols as unknown as NativeFns,
    maxViewBytes: 2 ** 32, // toArrayBuffer throws "RangeError: Out of memory" past 4 GiB (Bun 1.4)
    arrayBuffer(p: NativePointer, byteLength: number): ArrayBuffer {
      return toArrayBuffer(asNumber(p) as never, 0, byteLength);
    },
    addressOf(view: ArrayBufferView): number {
      return ptr(view as DataView) as number; // any ArrayBufferView; the cast satisfies tsc with @types/bun
    },
    pointerValue: asNumber,
    cstring(p: NativePointer): string {
      return p === null || p === 0 ? "" : new CString(p as never).toString();
    },
    close(): void {
      lib.close();
    },
  };
}
