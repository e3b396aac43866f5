// The one symbol table of the C ABI (csrc/include/metal_marlin.h), in a runtime-neutral dialect that
// bun.ts and deno.ts translate. Every parameter carries its C declaration so a reviewer can diff it
// against the header.
import { gemmSymbols } from "./symbols_gemm.ts";
import { instrumentSymbols } from "./symbols_instrument.ts";

/** Neutral FFI types: "buffer" is a typed array passed as a pointer, "pointer" an opaque native pointer. */
export type NeutralType = "u8" | "u32" | "i32" | "u64" | "f64" | "buffer" | "pointer" | "void";

/** One C function: its parameter types and result type. */
export interface SymbolDef {
  readonly args: readonly NeutralType[];
  readonly result: NeutralType;
}

const coreSymbols = {
  mm_abi_version: { args: [], result: "u32" },
  mm_last_error: { args: [], result: "pointer" /* C: const char* */ },
  mm_noop: { args: ["u32" /* C: uint32_t x */], result: "u32" },
  mm_cpu_fiber_pingpong: { args: ["u32" /* C: uint32_t switches */], result: "i32" },
  mm_cpu_progress: {
    args: [
      "i32", // C: int32_t fd
      "u32", // C: uint32_t after_ms
      "buffer", // C: const char* label (NUL-terminated)
    ],
    result: "i32",
  },

  mm_device_open: {
    args: [
      "buffer", // C: const char* backend (NUL-terminated)
      "u32", // C: uint32_t threads
      "buffer", // C: mm_device* out
    ],
    result: "i32",
  },
  mm_device_close: { args: ["u32" /* C: mm_device dev */], result: "i32" },
  mm_device_info_get: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: mm_device_info* out
    ],
    result: "i32",
  },
  mm_device_synchronize: { args: ["u32" /* C: mm_device dev */], result: "i32" },
  mm_device_pending: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: uint64_t* out
    ],
    result: "i32",
  },
  mm_metal_register_module: {
    args: [
      "buffer", // C: const char* source (NUL-terminated)
      "buffer", // C: const char* module_path (NUL-terminated)
    ],
    result: "i32",
  },

  mm_buffer_alloc: {
    args: [
      "u32", // C: mm_device dev
      "u64", // C: uint64_t length
      "buffer", // C: mm_buffer* out
    ],
    result: "i32",
  },
  mm_buffer_free: { args: ["u32" /* C: mm_buffer buf */], result: "i32" },
  mm_buffer_contents: { args: ["u32" /* C: mm_buffer buf */], result: "pointer" /* C: void* */ },
  mm_buffer_length: { args: ["u32" /* C: mm_buffer buf */], result: "u64" },

  mm_library_builtin: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: mm_library* out
    ],
    result: "i32",
  },
  mm_library_load: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: const char* path
      "buffer", // C: mm_library* out
    ],
    result: "i32",
  },
  mm_library_compile: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: const char* source
      "buffer", // C: mm_library* out
    ],
    result: "i32",
  },
  mm_library_free: { args: ["u32" /* C: mm_library lib */], result: "i32" },
  mm_library_kernel_count: { args: ["u32" /* C: mm_library lib */], result: "u32" },
  mm_library_kernel_name: {
    args: [
      "u32", // C: mm_library lib
      "u32", // C: uint32_t i
    ],
    result: "pointer", // C: const char*
  },

  mm_kernel_get: {
    args: [
      "u32", // C: mm_library lib
      "buffer", // C: const char* name
      "buffer", // C: mm_kernel* out
    ],
    result: "i32",
  },
  mm_kernel_info_get: {
    args: [
      "u32", // C: mm_kernel k
      "buffer", // C: mm_kernel_info* out
    ],
    result: "i32",
  },
  mm_kernel_arg_info: {
    args: [
      "u32", // C: mm_kernel k
      "u32", // C: uint32_t index
      "buffer", // C: mm_arg_info* out
    ],
    result: "i32",
  },

  mm_dispatch: {
    args: [
      "u32", // C: mm_device dev
      "u32", // C: mm_kernel k
      "buffer", // C: const mm_dispatch_desc* desc
    ],
    result: "i32",
  },
} as const;

/** Every symbol the bindings load. */
export const symbols = { ...coreSymbols, ...gemmSymbols, ...instrumentSymbols } as const;
export type Symbols = typeof symbols;

/** Opaque native pointer; only lib/ffi interprets it. */
export type NativePointer = { readonly __nativePointer: unique symbol } | number | null;

type JsArg<T> = T extends "buffer" ? ArrayBufferView | null
  : T extends "pointer" ? NativePointer
  : number;
type JsResult<T> = T extends "void" ? void
  : T extends "pointer" ? NativePointer
  : T extends "u64" ? number | bigint
  : number;
type JsArgs<A> = { -readonly [I in keyof A]: JsArg<A[I]> };

/** The JS signature of every symbol, derived from the table. */
export type NativeFns = {
  [K in keyof Symbols]: (...args: JsArgs<Symbols[K]["args"]>) => JsResult<Symbols[K]["result"]>;
};

/** What an adapter (bun.ts, deno.ts) gives the rest of the library; no runtime types leak past it. */
export interface Native {
  /** Absolute path of the loaded library. */
  readonly path: string;
  readonly fns: NativeFns;
  /** Largest view arrayBuffer() can create in this runtime, bytes (Bun: 2^32; Deno: 2^53 - 1). */
  readonly maxViewBytes: number;
  /** An ArrayBuffer over `byteLength` bytes of native memory at `ptr` (no copy). */
  arrayBuffer(ptr: NativePointer, byteLength: number): ArrayBuffer;
  /** Address of the first byte of a view. */
  addressOf(view: ArrayBufferView): number;
  /** Address held by a native pointer (0 for null). */
  pointerValue(ptr: NativePointer): number;
  /** Reads a NUL-terminated UTF-8 string ("" for null). */
  cstring(ptr: NativePointer): string;
  /** Closes the dynamic library. */
  close(): void;
}

/** Wraps every function to log its name to stderr; used only when MM_TRACE_FFI=1. */
export function traceFns(fns: NativeFns, log: (name: string) => void): NativeFns {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(fns)) {
    const f = fn as (...a: unknown[]) => unknown;
    out[name] = (...a: unknown[]) => {
      log(name);
      return f(...a);
    };
  }
  return out as NativeFns;
}
