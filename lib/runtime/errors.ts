// Error classes of metal-marlin. Every error carries the MM_E_* code of its class (from
// csrc/include/metal_marlin.h) and the operation that failed; tests/ffi.test.ts checks the table below
// against the header so the two cannot drift apart.

/**
 * Base class of every metal-marlin error. `code` is always the MM_E_* value of the error's class,
 * whether the error was raised by the native library or by the TypeScript side.
 */
export class MarlinError extends Error {
  /** Negative MM_E_* status code of this error's class (see `ErrorCode`); never 0. */
  readonly code: number;
  /** The operation that failed, e.g. "mm_buffer_alloc" or "tensor" ("" when unknown). */
  readonly op: string;
  /** `message` should start with the operation; `op` names it for programs. */
  constructor(message: string, op?: string);
  /**
   * Older form kept for callers that still pass a status code: `code` is ignored, the class decides
   * it, so a caller cannot disagree with the class.
   */
  constructor(message: string, code: number, op?: string);
  constructor(message: string, codeOrOp?: number | string, op?: string) {
    super(message);
    this.name = new.target.name;
    this.code = codeOfClass(new.target);
    this.op = typeof codeOrOp === "string" ? codeOrOp : op ?? "";
  }
}

/** A value is out of range or malformed (MM_E_INVALID_ARG). */
export class InvalidArgumentError extends MarlinError {}
/** A null, freed or foreign handle (MM_E_BAD_HANDLE). */
export class BadHandleError extends MarlinError {}
/** An allocation failed or exceeds the device limit (MM_E_OUT_OF_MEMORY). */
export class OutOfMemoryError extends MarlinError {}
/** No kernel of that name in the library; the message lists the available ones (MM_E_UNKNOWN_KERNEL). */
export class UnknownKernelError extends MarlinError {}
/** Missing/extra binding, wrong kind or dtype, inline bytes too short (MM_E_BINDING). */
export class BindingError extends MarlinError {}
/** Grid, threadgroup size or threadgroup memory over the device limits (MM_E_LIMIT). */
export class LimitError extends MarlinError {}
/** An offset or extent reaches past a buffer's end (MM_E_BOUNDS). */
export class BoundsError extends MarlinError {}
/** Shader compilation failed. `line` is the .metal line of the first error, 0 if unknown (MM_E_COMPILE). */
export class CompileError extends MarlinError {
  /** 1-based .metal line of the first compiler error, or 0 when it could not be parsed. */
  line = 0;
  /** File name the compiler reported for the first error ("" when unknown). */
  file = "";
}
/** A native library or shader module could not be loaded (MM_E_LOAD). */
export class LibraryLoadError extends MarlinError {}
/** Lanes wait at different barriers and can never all arrive (MM_E_DEADLOCK). */
export class DeadlockError extends MarlinError {}
/** A barrier reached by only some lanes (MM_E_BARRIER). */
export class BarrierError extends MarlinError {}
/** Backend or feature not available here (MM_E_UNSUPPORTED). */
export class UnsupportedError extends MarlinError {}
/** Dimensions do not agree (MM_E_SHAPE). */
export class ShapeError extends MarlinError {}
/** An offset or stride breaks a required alignment (MM_E_ALIGNMENT). */
export class AlignmentError extends MarlinError {}
/** Race detector finding, instrumented builds only (MM_E_RACE). */
export class RaceError extends MarlinError {}
/** Read of never-written threadgroup memory, instrumented builds only (MM_E_UNINIT). */
export class UninitializedReadError extends MarlinError {}
/** An object was used after dispose(); its code is MM_E_BAD_HANDLE, the C side's answer to a freed handle. */
export class DisposedError extends MarlinError {}
/** A bug inside metal-marlin (MM_E_INTERNAL): please report it. */
export class InternalError extends MarlinError {}
/**
 * A simdgroup-uniform operation saw lane-dependent values, e.g. simdgroup_matrix inputs that differ
 * between the lanes of a simdgroup: undefined on a GPU, so every CPU mode rejects it (MM_E_NONUNIFORM).
 */
export class NonUniformError extends MarlinError {}
/**
 * SIGINT (Ctrl-C) arrived while the CPU runtime ran a dispatch (MM_E_INTERRUPTED): the dispatch
 * stopped between threadgroups, its outputs are incomplete, and the signal was passed on to the
 * host runtime's own handler (by default the process then exits).
 */
export class InterruptedError extends MarlinError {}
/**
 * A kernel on a `check: "bounds"` device accessed memory outside its bound buffer ranges or
 * threadgroup allocations (MM_E_BOUNDS_CHECK). The message names the .metal line, the buffer index
 * (or threadgroup argument / variable), the byte offset and the bound length in bytes. The access
 * was stopped before it happened: nothing was written, the read returned nothing.
 */
export class BoundsCheckError extends BoundsError {}

type ErrorClass = new (message: string, op?: string) => MarlinError;

/** MM_E_* name -> value, mirroring csrc/include/metal_marlin.h. */
export const ErrorCode = {
  MM_OK: 0,
  MM_E_INVALID_ARG: -1,
  MM_E_BAD_HANDLE: -2,
  MM_E_OUT_OF_MEMORY: -3,
  MM_E_UNKNOWN_KERNEL: -4,
  MM_E_BINDING: -5,
  MM_E_LIMIT: -6,
  MM_E_BOUNDS: -7,
  MM_E_COMPILE: -8,
  MM_E_LOAD: -9,
  MM_E_DEADLOCK: -10,
  MM_E_BARRIER: -11,
  MM_E_UNSUPPORTED: -12,
  MM_E_SHAPE: -13,
  MM_E_ALIGNMENT: -14,
  MM_E_RACE: -15,
  MM_E_UNINIT: -16,
  MM_E_INTERNAL: -17,
  MM_E_NONUNIFORM: -18,
  MM_E_INTERRUPTED: -19,
  MM_E_BOUNDS_CHECK: -20,
} as const;

/** Status code -> error class thrown for it (lib/runtime/internal.ts `check()`). */
export const errorClassByCode: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [ErrorCode.MM_E_INVALID_ARG, InvalidArgumentError],
  [ErrorCode.MM_E_BAD_HANDLE, BadHandleError],
  [ErrorCode.MM_E_OUT_OF_MEMORY, OutOfMemoryError],
  [ErrorCode.MM_E_UNKNOWN_KERNEL, UnknownKernelError],
  [ErrorCode.MM_E_BINDING, BindingError],
  [ErrorCode.MM_E_LIMIT, LimitError],
  [ErrorCode.MM_E_BOUNDS, BoundsError],
  [ErrorCode.MM_E_COMPILE, CompileError],
  [ErrorCode.MM_E_LOAD, LibraryLoadError],
  [ErrorCode.MM_E_DEADLOCK, DeadlockError],
  [ErrorCode.MM_E_BARRIER, BarrierError],
  [ErrorCode.MM_E_UNSUPPORTED, UnsupportedError],
  [ErrorCode.MM_E_SHAPE, ShapeError],
  [ErrorCode.MM_E_ALIGNMENT, AlignmentError],
  [ErrorCode.MM_E_RACE, RaceError],
  [ErrorCode.MM_E_UNINIT, UninitializedReadError],
  [ErrorCode.MM_E_INTERNAL, InternalError],
  [ErrorCode.MM_E_NONUNIFORM, NonUniformError],
  [ErrorCode.MM_E_INTERRUPTED, InterruptedError],
  [ErrorCode.MM_E_BOUNDS_CHECK, BoundsCheckError],
]);

/** Builds the error for a negative status code; `detail` is mm_last_error() or another message. */
export function errorFor(rc: number, op: string, detail: string): MarlinError {
  const Cls = errorClassByCode.get(rc);
  if (Cls === undefined) return new InternalError(`${op}: unknown status ${rc}: ${detail}`, op);
  const text = detail.length > 0 ? detail : `failed with status ${rc}`;
  return new Cls(`${op}: ${text}`, op);
}

// Class -> code, walking the prototype chain so a subclass of e.g. ShapeError is a shape error too.
// DisposedError has no C counterpart: the C side reports a freed handle as MM_E_BAD_HANDLE.
function codeOfClass(cls: abstract new (...a: never[]) => MarlinError): number {
  for (let c: unknown = cls; typeof c === "function" && c !== MarlinError; c = Object.getPrototypeOf(c)) {
    if (c === DisposedError) return ErrorCode.MM_E_BAD_HANDLE;
    for (const [code, k] of errorClassByCode) if (k === c) return code;
  }
  return ErrorCode.MM_E_INTERNAL; // MarlinError itself, or a class missing from the table
}
