// MSL validity, syntax-only: each .metal file goes through the CPU rewriter and is compiled by clang
// with -fsyntax-only -DMM_ADDRESS_SPACES, where the shim makes device/constant/threadgroup real clang
// address spaces (csrc/cpu/shim/mm_shim.h), so mixing them is a compile error as in MSL. Never a
// runtime build: ASan does not instrument address-space accesses. Runs under Bun and Deno.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative } from "node:path";
import { RewriteError, rewriteMetal } from "../cpu/rewrite.ts";
import { CLANG_ADDRESS_SPACES } from "../msl/address_spaces.ts";
import { resolveInclude, run } from "./build.ts";
import { resolveShaderPath } from "./shader_paths.ts";
import { ROOT } from "./stamp.ts";
import { findToolchain } from "./toolchain.ts";

/** One error of the pass, located in a shader source. */
export interface MslDiagnostic {
  /** Checkout-relative shader file (or the #line name when it resolves to no file). */
  file: string;
  line: number;
  column: number;
  message: string;
  /** The compiler's notes, verbatim (candidates, instantiation chain). */
  notes: string[];
}

/** Result for one .metal file. */
export interface MslFileResult {
  file: string;
  errors: MslDiagnostic[];
  /**
   * Statements the pass cannot check because of the C++ model, not the shader: storing a vector or
   * struct into a device/threadgroup object calls a C++ member (operator=, operator[]) whose `this`
   * cannot carry an address space outside OpenCL. MSL allows these; they are not mixing errors.
   */
  unchecked: MslDiagnostic[];
}

/** Options of checkMsl(). */
export interface CheckMslOptions {
  /** clang++ to use (default: the asan toolchain's compiler, i.e. $MM_CXX or clang++-16). */
  cxx?: string;
  /** Files compiled at once (default 2: the machines have 2 cores). */
  parallel?: number;
}

/** The clang++ the pass uses, or undefined (with the reason) when none is installed. */
export function findMslCompiler(): { cxx?: string; reason?: string } {
  try {
    return { cxx: findToolchain("asan").cxx };
  } catch (e) {
    return { reason: e instanceof Error ? e.message : String(e) };
  }
}

const DIAG = /^(.+?):(\d+):(\d+): (error|warning|note|fatal error): (.*)$/;
// A note about a C++ member call on an object in an address space (see MslFileResult.unchecked).
const THIS_IN_SPACE = /'this' object is in address space|could not match|candidate template ignored/;
// A copy out of an object in one of the shim's address spaces (named, or as clang's raw attribute).
const COPY_OUT_OF_SPACE = new RegExp(
  `^no viable conversion from '(?:const )?(?:${
    Object.keys(CLANG_ADDRESS_SPACES).join("|")
  }|__attribute__\\(\\(address_space\\(\\d\\)\\)\\)) [^*']+'`,
);

interface RawDiag {
  file: string;
  line: number;
  column: number;
  kind: string;
  message: string;
}

/**
 * Splits clang's stderr into errors with their notes. Errors inside the shim are moved to the first
 * shader location of their note chain ("in instantiation of ... requested here").
 */
export function parseClangDiagnostics(stderr: string, shaderFile: string): Omit<MslFileResult, "file"> {
  const raws: RawDiag[] = [];
  for (const line of stderr.split("\n")) {
    const m = DIAG.exec(line);
    if (m) raws.push({ file: m[1], line: Number(m[2]), column: Number(m[3]), kind: m[4], message: m[5] });
  }
  const out: Omit<MslFileResult, "file"> = { errors: [], unchecked: [] };
  for (let i = 0; i < raws.length; i++) {
    const r = raws[i];
    if (r.kind !== "error" && r.kind !== "fatal error") continue;
    const notes: RawDiag[] = [];
    while (i + 1 < raws.length && raws[i + 1].kind === "note") notes.push(raws[++i]);
    let where = { file: resolveShaderPath(r.file, [shaderFile]), line: r.line, column: r.column };
    for (const n of notes) {
      if (where.file) break;
      const f = resolveShaderPath(n.file, [shaderFile]);
      if (f) where = { file: f, line: n.line, column: n.column };
    }
    const diag: MslDiagnostic = {
      file: where.file ?? r.file,
      line: where.line,
      column: where.column,
      message: r.message,
      notes: notes.map((n) => `${n.file}:${n.line}:${n.column}: note: ${n.message}`),
    };
    const candidates = notes.filter((n) => /not viable|candidate/.test(n.message));
    const memberOnSpace = candidates.length > 0 && candidates.every((n) => THIS_IN_SPACE.test(n.message)) &&
      candidates.some((n) => /'this' object is in address space/.test(n.message));
    if (memberOnSpace || COPY_OUT_OF_SPACE.test(r.message)) out.unchecked.push(diag);
    else out.errors.push(diag);
  }
  return out;
}

/** Checks one .metal file (checkout-relative or absolute path). */
export async function checkMslFile(file: string, cxx: string): Promise<MslFileResult> {
  const rel = isAbsolute(file) ? relative(ROOT, file) : file;
  const source = readFileSync(join(ROOT, rel), "utf8");
  let rewritten: { cpp: string; headers: Map<string, string> };
  try {
    rewritten = rewriteMetal(source, { fileName: rel, resolveInclude });
  } catch (e) {
    if (!(e instanceof RewriteError)) throw e;
    const err = e as RewriteError & { file: string; line: number; column: number };
    return {
      file: rel,
      errors: [{ file: err.file, line: err.line, column: err.column, message: err.message, notes: [] }],
      unchecked: [],
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "mm-msl-"));
  try {
    for (const [name, text] of rewritten.headers) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const cpp = join(dir, "shader.cpp");
    writeFileSync(cpp, rewritten.cpp);
    const flags = [
      "-std=c++20",
      "-fsyntax-only",
      "-DMM_ADDRESS_SPACES",
      "-ferror-limit=0",
      "-fno-caret-diagnostics",
      "-Wno-unknown-attributes",
      "-Icsrc/include",
      "-Icsrc/cpu",
      "-Icsrc/cpu/shim",
      "-Ishaders",
    ];
    const r = await run(cxx, [...flags, cpp]);
    const parsed = parseClangDiagnostics(r.stderr, rel);
    if (r.code !== 0 && parsed.errors.length === 0 && parsed.unchecked.length === 0) {
      // The compiler failed without a parsable error (crash, bad flag): never report success.
      parsed.errors.push({
        file: rel,
        line: 1,
        column: 1,
        message: `clang failed: ${r.stderr.trim()}`,
        notes: [],
      });
    }
    return { file: rel, ...parsed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Checks every file, `parallel` at a time, in the order given. Throws when no clang is installed. */
export async function checkMsl(
  files: readonly string[],
  opts: CheckMslOptions = {},
): Promise<MslFileResult[]> {
  let cxx = opts.cxx;
  if (!cxx) {
    const found = findMslCompiler();
    if (!found.cxx) throw new Error(`check-msl: ${found.reason}`);
    cxx = found.cxx;
  }
  const results: MslFileResult[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      results[i] = await checkMslFile(files[i], cxx!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 2, files.length) }, worker));
  return results;
}
