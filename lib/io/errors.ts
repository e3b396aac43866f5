// Errors of checkpoint reading. A CheckpointError is a malformed file (it names the file, the tensor when
// there is one, and the byte offset); an InexactImportError is a well-formed tensor we refuse to import
// because our formats cannot reproduce its source's dequantization bit for bit.
import { InvalidArgumentError, UnsupportedError } from "../runtime/errors.ts";

/** Where in a file a problem sits; every field is optional but the file. */
export interface FileLocation {
  /** Path of the file. */
  file: string;
  /** Tensor name, when the problem belongs to one tensor. */
  tensor?: string;
  /** Byte offset into the file (from its first byte), when known. */
  offset?: number;
}

function where(loc: FileLocation): string {
  const t = loc.tensor === undefined ? "" : `: tensor "${loc.tensor}"`;
  const o = loc.offset === undefined ? "" : ` (byte offset ${loc.offset})`;
  return `${loc.file}${t}${o}`;
}

/**
 * A checkpoint file is malformed, truncated or lies about its contents (header past the end, overlapping
 * tensors, unknown dtype, ...). Code MM_E_INVALID_ARG. `file`, `tensor` and `offset` locate the problem.
 */
export class CheckpointError extends InvalidArgumentError {
  /** Path of the file. */
  readonly file: string;
  /** Tensor name, or undefined when the problem is not one tensor's. */
  readonly tensor: string | undefined;
  /** Byte offset into the file, or undefined when unknown. */
  readonly offset: number | undefined;
  /** `message` is the detail; the location is prepended as "op: file: tensor "x" (byte offset n): ". */
  constructor(op: string, loc: FileLocation, message: string) {
    super(`${op}: ${where(loc)}: ${message}`, op);
    this.file = loc.file;
    this.tensor = loc.tensor;
    this.offset = loc.offset;
  }
}

/**
 * A tensor that cannot be imported exactly (act-order GPTQ, GGUF Q4_K, a format not available yet, ...).
 * Code MM_E_UNSUPPORTED. The message says why and what would work instead.
 */
export class InexactImportError extends UnsupportedError {
  /** Path of the file holding the tensor. */
  readonly file: string;
  /** The tensor refused. */
  readonly tensor: string;
  /** `message` is the reason; op, file and tensor are prepended. */
  constructor(op: string, file: string, tensor: string, message: string) {
    super(`${op}: ${file}: tensor "${tensor}": ${message}`, op);
    this.file = file;
    this.tensor = tensor;
  }
}
