// Byte access to one checkpoint file. Bun has Bun.mmap: tensors are then subarrays of the mapping (zero
// copy, the OS pages data in on demand). Deno has no mmap, so every range is read with a positional read
// into a buffer of exactly that range: a file is never held twice in memory either way.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CheckpointError } from "./errors.ts";

/** Options of openSource(). */
export interface SourceOptions {
  /** Use Bun.mmap when the runtime has it. Default true; false forces positional reads. */
  mmap?: boolean;
}

type Mmap = (path: string) => Uint8Array;

function bunMmap(): Mmap | undefined {
  const bun = (globalThis as { Bun?: { mmap?: Mmap } }).Bun;
  return typeof bun?.mmap === "function" ? bun.mmap.bind(bun) : undefined;
}

/** One open file: its size and bounded range reads. */
export class ByteSource {
  /** Path the file was opened with. */
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
  /** True when ranges are views of a memory map (Bun), false for positional reads. */
  readonly mapped: boolean;
  #fd: number;
  #map: Uint8Array | undefined;
  // Reusable read buffers (positional reads only), one per slot: importers copy everything they read,
  // so reusing them keeps a whole-model import from leaving one dead buffer per tensor to the GC.
  #scratch: ArrayBuffer[] = [];

  private constructor(path: string, fd: number, size: number, map: Uint8Array | undefined) {
    this.path = path;
    this.#fd = fd;
    this.size = size;
    this.#map = map;
    this.mapped = map !== undefined;
  }

  /** Opens `path` for reading; a missing or unreadable file is a CheckpointError. */
  static open(path: string, opts: SourceOptions = {}): ByteSource {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new CheckpointError("openCheckpoint", { file: path }, `cannot open: ${(e as Error).message}`);
    }
    const size = fstatSync(fd).size;
    const mmap = opts.mmap === false || size === 0 ? undefined : bunMmap();
    let map: Uint8Array | undefined;
    if (mmap !== undefined) {
      try {
        map = mmap(path);
      } catch {
        map = undefined; // e.g. a special file: positional reads still work
      }
    }
    return new ByteSource(path, fd, size, map);
  }

  /**
   * Bytes [offset, offset + length) of the file: a view of the mapping, or a fresh buffer. A range past
   * the end is a CheckpointError naming `tensor` (the thing being read) and the offset. With `slot`, a
   * positional read lands in that slot's reusable buffer: valid only until the next read of that slot.
   */
  read(offset: number, length: number, tensor?: string, slot?: number): Uint8Array {
    if (this.#fd < 0) throw new CheckpointError("read", { file: this.path, tensor }, "file is closed");
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new CheckpointError(
        "read",
        { file: this.path, tensor, offset },
        `${length} bytes at offset ${offset} reach past the end of the file (${this.size} bytes)`,
      );
    }
    if (this.#map !== undefined) return this.#map.subarray(offset, offset + length);
    let out: Uint8Array;
    if (slot === undefined) out = new Uint8Array(length);
    else {
      if ((this.#scratch[slot]?.byteLength ?? -1) < length) this.#scratch[slot] = new ArrayBuffer(length);
      out = new Uint8Array(this.#scratch[slot], 0, length);
    }
    let got = 0;
    while (got < length) {
      // One call reads at most 1 GiB: node:fs refuses lengths of 2 GiB and more in one read.
      const n = readSync(this.#fd, out, got, Math.min(length - got, 1 << 30), offset + got);
      if (n <= 0) {
        throw new CheckpointError(
          "read",
          { file: this.path, tensor, offset: offset + got },
          `file ended after ${got} of ${length} bytes (was it truncated while open?)`,
        );
      }
      got += n;
    }
    return out;
  }

  /** Closes the file (idempotent). A Bun mapping is released by the garbage collector (no munmap API). */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#map = undefined;
    this.#scratch = [];
  }
}
