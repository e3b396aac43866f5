// Checks a shared library before dlopen. dlopen maps the file; a truncated file then faults (SIGBUS) on
// the first touch of a missing page, killing the process with no message. Reading the header and checking
// that every loaded segment and the section table lie inside the file turns that into an error naming it.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import process from "node:process";

const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };
const MACHO_CPU: Record<string, number> = { x64: 0x01000007, arm64: 0x0100000c };

function readHead(path: string, bytes: number): Uint8Array {
  const buf = new Uint8Array(bytes);
  const fd = openSync(path, "r");
  try {
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function checkElf(b: Uint8Array, size: number): string | undefined {
  if (b.length < 64) return `truncated ELF header (${size} bytes)`;
  if (b[4] !== 2) return "not a 64-bit ELF file";
  if (b[5] !== 1) return "not a little-endian ELF file";
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const machine = v.getUint16(18, true);
  const want = ELF_MACHINE[process.arch];
  if (want !== undefined && machine !== want) {
    return `ELF machine ${machine} does not match this ${process.arch} process (want ${want})`;
  }
  const phoff = Number(v.getBigUint64(32, true));
  const shoff = Number(v.getBigUint64(40, true));
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  if (shoff + shentsize * shnum > size) {
    return `truncated: section table ends at byte ${shoff + shentsize * shnum} of a ${size}-byte file`;
  }
  if (phoff + phentsize * phnum > size || phoff + phentsize * phnum > b.length) {
    return `truncated: program headers end at byte ${phoff + phentsize * phnum} of a ${size}-byte file`;
  }
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (v.getUint32(p, true) !== 1) continue; // PT_LOAD only: those pages are mapped
    const end = Number(v.getBigUint64(p + 8, true)) + Number(v.getBigUint64(p + 32, true));
    if (end > size) return `truncated: loadable segment ${i} ends at byte ${end} of a ${size}-byte file`;
  }
  return undefined;
}

function checkMachO(b: Uint8Array, size: number): string | undefined {
  if (b.length < 32) return `truncated Mach-O header (${size} bytes)`;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cpu = v.getUint32(4, true);
  const want = MACHO_CPU[process.arch];
  if (want !== undefined && cpu !== want) {
    return `Mach-O CPU type ${cpu} does not match this ${process.arch} process`;
  }
  const sizeofcmds = v.getUint32(20, true);
  if (32 + sizeofcmds > size) {
    return `truncated: load commands end at byte ${32 + sizeofcmds} of a ${size}-byte file`;
  }
  return undefined;
}

/**
 * Why `path` cannot be a loadable library for this process, or undefined when it looks sound.
 * `expectedSize` (from the build stamp) catches a file cut at a page boundary that still parses.
 */
export function libraryProblem(path: string, expectedSize?: number): string | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e) {
    return `cannot stat: ${(e as Error).message}`;
  }
  if (expectedSize !== undefined && size !== expectedSize) {
    return `size ${size} bytes differs from the ${expectedSize} bytes the build stamp recorded`;
  }
  const b = readHead(path, 4096);
  if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) {
    return checkElf(b, size);
  }
  const magic = b.length >= 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : 0;
  if (magic === 0xfeedfacf) return checkMachO(b, size);
  if (process.platform === "darwin" && (magic === 0xbebafeca || magic === 0xcafebabe)) return undefined; // fat: dyld checks slices
  const what = process.platform === "darwin" ? "Mach-O" : "ELF";
  return `not a ${what} shared library (first bytes ${
    Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, "0")).join(" ")
  })`;
}
