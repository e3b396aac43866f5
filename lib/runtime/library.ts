// Library (a set of compiled kernels) and Kernel (one entry point, its reflection and dispatch).
// The mm_dispatch_desc block a dispatch passes is built in dispatch_desc.ts.
import { dtypeName } from "./dtype.ts";
import { DisposedError, UnknownKernelError } from "./errors.ts";
import type { NativeFns } from "../ffi/native.ts";
import { DispatchDesc, type DispatchOptions } from "./dispatch_desc.ts";
import { check, cstr, type DeviceState, fixedString, outHandle, registerChild } from "./internal.ts";

export type { ConstantValue, DispatchOptions, KernelArg } from "./dispatch_desc.ts";

/** Reflection of one [[buffer(i)]] parameter. */
export interface BufferArgInfo {
  /** The `i` of `[[buffer(i)]]`: the position in DispatchOptions.args. */
  index: number;
  /** Address space of the pointer: `device` or `constant`. */
  kind: "device" | "constant";
  /** How the kernel uses the buffer: read only (const), written only, or both. */
  access: "read" | "write" | "read_write";
  /** Scalar dtype of the element ("any" for structs). */
  dtype: string;
  /** sizeof the pointee in bytes. */
  elemBytes: number;
  /** Pointee type as written in the source, e.g. "float" or "Params". */
  typeName: string;
  /** Parameter name in the kernel signature. */
  argName: string;
  /** 1-based .metal line of the parameter. */
  line: number;
}

/** Reflection of a kernel. */
export interface KernelInfo {
  /** Kernel name (the `[[host_name]]` or the function name). */
  name: string;
  /** .metal file the kernel is defined in. */
  file: string;
  /** 1-based line of the kernel in `file`. */
  line: number;
  /** The `[[buffer(i)]]` parameters the kernel uses, by ascending index. */
  buffers: BufferArgInfo[];
  /** Number of `[[threadgroup(i)]]` parameters (each sized by DispatchOptions.threadgroupMemory). */
  threadgroupArgs: number;
  /** Threadgroup memory declared in the body, bytes. */
  staticThreadgroupBytes: number;
  /** Most threads per threadgroup this kernel can run with (threads). */
  maxThreadsPerThreadgroup: number;
}

const KERNEL_INFO = 152;
const ARG_INFO = 104;

// Set in Kernel's static block: the only way to construct one, kept out of the public type.
let constructKernel: (lib: Library, dev: DeviceState, handle: number, name: string) => Kernel;

/** One kernel of a library. Get it with `lib.kernel(name)`. */
export class Kernel {
  /** Entry point name (the `[[host_name]]` or function name). */
  readonly name: string;
  /** Reflection read once from the native side. */
  readonly info: KernelInfo;
  #lib: Library;
  #dev: DeviceState;
  #handle: number;
  #dispatch: NativeFns["mm_dispatch"]; // looked up once, not per dispatch
  #desc: DispatchDesc;
  #op: string; // "dispatch <name>", built once: no string building per dispatch

  static {
    constructKernel = (lib, dev, handle, name) => new Kernel(lib, dev, handle, name);
  }

  private constructor(lib: Library, dev: DeviceState, handle: number, name: string) {
    this.name = name;
    this.#op = `dispatch ${name}`;
    this.#lib = lib;
    this.#dev = dev;
    this.#handle = handle;
    this.#dispatch = dev.native.fns.mm_dispatch;
    this.info = readInfo(dev, handle, name);
    this.#desc = new DispatchDesc(name, this.#op);
  }

  /**
   * Runs the kernel once. Arguments are validated here (InvalidArgumentError / BindingError naming the
   * field); device-side checks (limits, bindings, bounds) throw the matching MarlinError.
   */
  dispatch(opts: DispatchOptions): void {
    if (this.#lib.disposed) {
      throw new DisposedError(`dispatch ${this.name}: the library was disposed`, "dispatch");
    }
    const dev = this.#dev;
    if (dev.closed) throw new DisposedError(`dispatch ${this.name}: the device was disposed`, "dispatch");
    const desc = this.#desc.build(opts); // validates opts before anything reaches the native side
    check(dev.native, this.#dispatch(dev.handle, this.#handle, desc), this.#op);
  }
}

/** @internal Used by Library.kernel(). */
export function createKernel(lib: Library, dev: DeviceState, handle: number, name: string): Kernel {
  return constructKernel(lib, dev, handle, name);
}

function readInfo(dev: DeviceState, handle: number, name: string): KernelInfo {
  const { native } = dev;
  const ki = new Uint8Array(KERNEL_INFO);
  const kv = new DataView(ki.buffer);
  kv.setUint32(0, KERNEL_INFO, true);
  check(native, native.fns.mm_kernel_info_get(handle, ki), `kernel ${name}`);
  const nBuffers = kv.getUint32(4, true);
  const buffers: BufferArgInfo[] = [];
  const ai = new Uint8Array(ARG_INFO);
  const av = new DataView(ai.buffer);
  for (let i = 0; i < nBuffers; i++) {
    ai.fill(0);
    av.setUint32(0, ARG_INFO, true);
    check(native, native.fns.mm_kernel_arg_info(handle, i, ai), `kernel ${name}`);
    const kind = av.getUint32(4, true);
    if (kind === 0) continue; // index unused by the kernel
    const access = av.getUint32(8, true);
    buffers.push({
      index: i,
      kind: kind === 1 ? "device" : "constant",
      access: access === 3 ? "read_write" : access === 2 ? "write" : "read",
      dtype: dtypeName(av.getUint32(12, true)),
      elemBytes: av.getUint32(16, true),
      line: av.getUint32(20, true),
      typeName: fixedString(ai, 24, 48),
      argName: fixedString(ai, 72, 32),
    });
  }
  return {
    name,
    file: fixedString(ki, 24, 128),
    line: kv.getUint32(20, true),
    buffers,
    threadgroupArgs: kv.getUint32(8, true),
    staticThreadgroupBytes: kv.getUint32(12, true),
    maxThreadsPerThreadgroup: kv.getUint32(16, true),
  };
}

// Set in Library's static block: the only way to construct one, kept out of the public type.
let constructLibrary: (dev: DeviceState, owner: object, handle: number, owned: boolean) => Library;

/** @internal Used by Device.compile() / Device.builtin(); `owned` = false for the built-in library. */
export function createLibrary(dev: DeviceState, owner: object, handle: number, owned: boolean): Library {
  return constructLibrary(dev, owner, handle, owned);
}

/** A set of kernels: built-in (`dev.builtin()`) or compiled (`dev.compile(source)`). */
export class Library implements Disposable {
  /** Names of the kernels in this library. */
  readonly kernels: readonly string[];
  #dev: DeviceState;
  #handle: number;
  #owned: boolean;
  #disposed = false;
  #cache = new Map<string, Kernel>();
  #unregister: () => void;
  readonly #owner: object; // the Device: reachable as long as this library is

  static {
    constructLibrary = (dev, owner, handle, owned) => new Library(dev, owner, handle, owned);
  }

  // `owned` = false for the built-in library, which the device frees itself.
  private constructor(dev: DeviceState, owner: object, handle: number, owned: boolean) {
    this.#owner = owner;
    this.#dev = dev;
    this.#handle = handle;
    this.#owned = owned;
    const { native } = dev;
    const names: string[] = [];
    const count = native.fns.mm_library_kernel_count(handle);
    for (let i = 0; i < count; i++) names.push(native.cstring(native.fns.mm_library_kernel_name(handle, i)));
    this.kernels = Object.freeze(names);
    this.#unregister = registerChild(dev, this);
  }

  /** True once dispose() ran (directly or through the device). */
  get disposed(): boolean {
    return this.#disposed || this.#dev.closed;
  }

  /** The kernel called `name`; UnknownKernelError lists the available names. */
  kernel(name: string): Kernel {
    if (this.disposed) throw new DisposedError(`kernel ${name}: the library was disposed`, "kernel");
    const hit = this.#cache.get(name);
    if (hit) return hit;
    if (!this.kernels.includes(name)) {
      throw new UnknownKernelError(
        `kernel: no kernel "${name}" in this library; available: ${this.kernels.join(", ") || "(none)"}`,
        "kernel",
      );
    }
    const { native } = this.#dev;
    check(native, native.fns.mm_kernel_get(this.#handle, cstr(name), outHandle), `kernel ${name}`);
    const k = createKernel(this, this.#dev, outHandle[0], name);
    this.#cache.set(name, k);
    return k;
  }

  /** Frees the library (compiled ones) and invalidates its kernels. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unregister();
    this.#cache.clear();
    if (this.#owned && !this.#dev.closed) this.#dev.native.fns.mm_library_free(this.#handle);
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
