// Progress of long CPU dispatches. A dispatch blocks the JavaScript thread inside one FFI call, so no
// JS timer can draw while it runs: the CPU runtime's workers draw the line themselves
// (csrc/cpu/progress.h) on stderr once it is turned on here.
import { loadNative } from "../ffi/native.ts";
import { check, cstr } from "./internal.ts";

/** Options of dispatchProgress. */
export interface DispatchProgressOptions {
  /** Which build's runtime: "instrument" for trace / race / bounds devices. Default: the normal build. */
  mode?: "instrument";
  /** Dispatches shorter than this draw nothing. Default 1000 ms. */
  afterMs?: number;
}

/**
 * @internal Turns the CPU runtime's progress line on stderr on (`label` prefixes it) or off (null) for
 * every CPU dispatch of that build in this process ("profile [###...]  42%  1720 / 4096 threadgroups").
 */
export function dispatchProgress(label: string | null, opts: DispatchProgressOptions = {}): void {
  const native = loadNative({ mode: opts.mode });
  const afterMs = opts.afterMs ?? 1000;
  check(native, native.fns.mm_cpu_progress(label === null ? -1 : 2, afterMs, cstr(label ?? "")), "progress");
}
