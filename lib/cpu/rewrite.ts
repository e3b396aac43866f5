// Build-time rewriter: Metal Shading Language (.metal) -> C++ for the CPU shader runtime. It removes
// MSL-only syntax, turns threadgroup locals / function constants / half literals into shim calls, and
// appends per-kernel entries plus reflection (see csrc/cpu/rt_abi.h). Every output line keeps the
// .metal line it came from (#line), so compiler, ASan and coverage reports name shader lines.

import { halfLiteralCpp, isHalfLiteral, joinToks, RewriteError, tokenize } from "./rewrite_tokens.ts";
import { findKernels, isQualifierUse, type KernelReflection, type KernelSite } from "./rewrite_kernels.ts";
import { attrItems, Scan, splitTopLevel, STD_ATTRS } from "./rewrite_scan.ts";
import { builtinModuleSymbol, cString, emitTail } from "./rewrite_tail.ts";
import { resolveTgBytes, tgBytesDefs, type TgDecl, type TgDef } from "./rewrite_tgbytes.ts";

export { builtinModuleSymbol, RewriteError };
export type { BufferReflection, KernelReflection } from "./rewrite_kernels.ts";

/** Options of one rewrite. */
export interface RewriteOptions {
  /** Name used in #line directives and reflection, e.g. "shaders/gemm.metal". */
  fileName: string;
  /** Exported getter; default "mm_rt_module_get" (run-time modules). Use builtinModuleSymbol() for linked shaders. */
  moduleSymbol?: string;
  /** Source text of a quoted include, or undefined to leave it to the C++ compiler unrewritten. */
  resolveInclude?: (name: string, fromFile: string) => string | undefined;
  /** First threadgroup-declaration slot number (default 0). */
  slotBase?: number;
}

/** Output of one rewrite: the .cpp text, rewritten quoted headers by include name, and the kernels. */
export interface RewriteResult {
  cpp: string;
  headers: Map<string, string>;
  kernels: KernelReflection[];
}

// State shared by a file and the headers it pulls in.
interface Ctx {
  opts: RewriteOptions;
  slot: number;
  headers: Map<string, string>;
  started: Set<string>;
  kernels: KernelSite[];
  fcNames: Set<string>;
  /** Kernel definitions of every file, for static_tg_bytes; emitted byte-count names per scope. */
  tgDefs: TgDef[];
  tgNames: Map<string, number>;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Rewrites one .metal source into C++ (see the contract in csrc/cpu/rt_abi.h and csrc/cpu/shim/). Throws RewriteError. */
export function rewriteMetal(source: string, opts: RewriteOptions): RewriteResult {
  const ctx: Ctx = {
    opts,
    slot: opts.slotBase ?? 0,
    headers: new Map(),
    started: new Set(),
    kernels: [],
    fcNames: new Set(),
    tgDefs: [],
    tgNames: new Map(),
  };
  const body = rewriteFile(source, opts.fileName, ctx);
  const names = new Map<string, KernelSite>();
  for (const k of ctx.kernels) {
    const prev = names.get(k.refl.hostName);
    if (prev) {
      throw new RewriteError(
        k.file,
        k.refl.line,
        1,
        `kernel name '${k.refl.hostName}' is already used at ${prev.file}:${prev.refl.line}`,
      );
    }
    names.set(k.refl.hostName, k);
    resolveTgBytes(k, ctx.tgDefs);
  }
  const tail = emitTail(ctx.kernels, opts.fileName, opts.moduleSymbol ?? "mm_rt_module_get");
  return {
    cpp: body + (body.endsWith("\n") ? "" : "\n") + tail,
    headers: ctx.headers,
    kernels: ctx.kernels.map((k) => k.refl),
  };
}

// Rewrites one file (main or header) without the generated tail; collects its kernels into ctx.
function rewriteFile(src: string, file: string, ctx: Ctx): string {
  const s = new Scan(tokenize(src, file), file);
  const edits: Edit[] = [];
  const tgDecls: TgDecl[] = [];
  const t = s.t;
  for (let i = 0; i < t.length; i++) {
    const x = t[i];
    if (x.kind === "pp") edits.push(...directive(x.text, x.start, file, ctx));
    else if (x.kind === "number" && isHalfLiteral(x.text)) {
      edits.push({ start: x.start, end: x.end, text: halfLiteralCpp(x.text) });
    } else if (s.isAttr(i)) {
      const e = s.attrEnd(i);
      const keep = attrItems(s, i, e).filter((a) => STD_ATTRS.has(a.name));
      const all = attrItems(s, i, e).length;
      if (keep.length < all) {
        const text = keep.length === 0
          ? ""
          : `[[${keep.map((a) => joinToks(s.t.slice(s.t.indexOf(a.tok), itemEnd(s, a.tok)))).join(", ")}]]`;
        edits.push({ start: x.start, end: t[e].end, text });
      }
      i = e;
    } else if (x.kind !== "ident") continue;
    else if (x.text === "kernel" && s.scope[i] !== "function" && isQualifierUse(s, i)) {
      edits.push({ start: x.start, end: x.end, text: "" });
    } else if (x.text === "threadgroup" && s.scope[i] === "function" && s.atStatementStart(i)) {
      i = threadgroupDecl(s, i, ctx, edits, tgDecls);
    } else if (x.text === "constant" && s.scope[i] !== "function" && s.atStatementStart(i)) {
      i = functionConstant(s, i, src, ctx, edits);
    }
  }
  ctx.kernels.push(...findKernels(s));
  ctx.tgDefs.push(
    ...tgBytesDefs(s, tgDecls, ctx.tgNames, (at, text) => edits.push({ start: at, end: at, text })),
  );
  return `#line 1 ${cString(file)}\n` + applyEdits(src, edits);
}

// End index (exclusive) of the attribute item starting at token `tok` (name plus optional argument list).
function itemEnd(s: Scan, tok: { start: number }): number {
  let k = s.t.findIndex((y) => y.start === tok.start);
  while (s.t[k].kind === "ident" || s.is(k, "::")) k++;
  return s.is(k, "(") ? s.close(k) + 1 : k;
}

// Preprocessor lines: <metal_*> includes become the shim, quoted includes are rewritten recursively,
// and half literals in #define bodies are converted (a macro body is code too).
function directive(text: string, start: number, file: string, ctx: Ctx): Edit[] {
  if (/^#\s*include\s*<metal_\w+>/.test(text)) {
    const end = text.indexOf(">") + 1;
    return [{ start, end: start + end, text: `#include "mm_shim.h"` }];
  }
  const inc = /^#\s*include\s*"([^"]+)"/.exec(text);
  if (inc) {
    const name = inc[1];
    if (!ctx.started.has(name)) {
      const hdr = ctx.opts.resolveInclude?.(name, file);
      if (hdr !== undefined) {
        ctx.started.add(name);
        ctx.headers.set(name, rewriteFile(hdr, name, ctx));
      }
    }
    return [];
  }
  const def = /^#\s*define\b/.exec(text);
  if (!def) return [];
  const edits: Edit[] = [];
  try {
    for (const y of tokenize(text.slice(def[0].length), file)) {
      if (y.kind === "number" && isHalfLiteral(y.text)) {
        const at = start + def[0].length + y.start;
        edits.push({ start: at, end: at + y.text.length, text: halfLiteralCpp(y.text) });
      }
    }
  } catch (e) {
    if (!(e instanceof RewriteError)) throw e; // an odd macro body is left to the C++ preprocessor
  }
  return edits;
}

// Index of the `;` ending the statement that starts at i; a top-level `{` is reported via `brace`.
function statementEnd(s: Scan, i: number): { semi: number; brace: number } {
  for (let k = i; k < s.t.length; k++) {
    const x = s.t[k].text;
    if (x === "{") return { semi: -1, brace: k };
    if (x === "(" || x === "[") k = s.close(k);
    else if (x === ";") return { semi: k, brace: -1 };
    else if (x === "}") break;
  }
  throw s.error(s.t[i], "declaration is missing its ';'");
}

// `threadgroup T a[N][M], b;` in a function body -> `auto& a = ::mm_shim::tg_array<T[N][M]>(SLOT); auto& b = ...;`.
// Pointers and references into threadgroup memory are left alone (the shim macro drops the qualifier).
// Each declarator is also recorded in `decls` for the kernel's static_tg_bytes.
function threadgroupDecl(s: Scan, i: number, ctx: Ctx, edits: Edit[], decls: TgDecl[]): number {
  const { semi, brace } = statementEnd(s, i);
  let hasInit = brace >= 0 ? brace : -1;
  const end = semi >= 0 ? semi : brace;
  for (let k = i + 1; k < end; k++) {
    const x = s.t[k].text;
    if (x === "[" || x === "(") k = s.close(k);
    else if (x === "*" || x === "&") return i;
    else if (x === "=" && hasInit < 0) hasInit = k;
  }
  if (hasInit >= 0) {
    throw s.error(
      s.t[hasInit],
      "a threadgroup variable cannot have an initializer (MSL forbids it); assign it in the body",
    );
  }
  const parts = splitTopLevel(s, i + 1, semi);
  const out: string[] = [];
  let typeText = "";
  let typeEnd = 0;
  parts.forEach(([a, b], n) => {
    let dim = a;
    while (dim < b && !s.is(dim, "[")) dim++;
    const nameIdx = n === 0 ? dim - 1 : a;
    const nameTok = s.t[nameIdx];
    if (!nameTok || nameTok.kind !== "ident" || (n === 0 && nameIdx <= a) || (n > 0 && dim !== a + 1)) {
      throw s.error(s.t[a] ?? s.t[i], "cannot parse this threadgroup declaration");
    }
    if (n === 0) {
      typeText = joinToks(s.t.slice(a, nameIdx));
      typeEnd = nameIdx;
    }
    const dims = joinToks(s.t.slice(dim, b));
    decls.push({ at: i, type: s.t.slice(parts[0][0], typeEnd), dims: s.t.slice(dim, b) });
    out.push(`auto& ${nameTok.text} = ::mm_shim::tg_array<${typeText}${dims}>(${ctx.slot++}u);`);
  });
  edits.push({ start: s.t[i].start, end: s.t[semi].end, text: out.join(" ") });
  return semi;
}

// File-scope `constant T name [[function_constant(i)]];` -> a #define reading the lane's constants, on its
// own line after the statement's line. `constant T n = <expr using function constants>;` becomes a
// #define as well, because its value differs per pipeline and cannot be a C++ global.
function functionConstant(s: Scan, i: number, src: string, ctx: Ctx, edits: Edit[]): number {
  const { semi } = statementEnd(s, i);
  if (semi < 0) return i;
  let attrAt = -1, eq = -1;
  for (let k = i + 1; k < semi; k++) {
    if (s.isAttr(k) && attrItems(s, k, s.attrEnd(k)).some((a) => a.name === "function_constant")) attrAt = k;
    else if (s.is(k, "=") && eq < 0) eq = k;
  }
  let define: string;
  let name: string;
  if (attrAt >= 0) {
    const item = attrItems(s, attrAt, s.attrEnd(attrAt)).find((a) => a.name === "function_constant")!;
    const idx = item.args?.length === 1 ? /^(\d+)[uU]?$/.exec(item.args[0].text) : null;
    if (!idx) throw s.error(item.tok, "function_constant(...) needs an integer literal index");
    if (Number(idx[1]) >= 16) {
      throw s.error(
        item.tok,
        `function_constant(${idx[1]}): indices go from 0 to 15 (MM_MAX_FUNCTION_CONSTANTS)`,
      );
    }
    if (eq >= 0) throw s.error(s.t[eq], "a function constant cannot have an initializer");
    const nameTok = s.t[attrAt - 1];
    if (nameTok.kind !== "ident" || attrAt - 1 <= i + 1 || s.attrEnd(attrAt) + 1 !== semi) {
      throw s.error(s.t[i], "expected `constant T name [[function_constant(i)]];`");
    }
    name = nameTok.text;
    define = `(::mm_shim::function_constant<${joinToks(s.t.slice(i + 1, attrAt - 1))}>(${idx[1]}))`;
  } else {
    if (
      eq < 0 ||
      !s.t.slice(eq, semi).some((y) => ctx.fcNames.has(y.text) || y.text === "is_function_constant_defined")
    ) {
      return i;
    }
    const nameTok = s.t[eq - 1];
    if (nameTok.kind !== "ident" || eq - 1 <= i + 1) return i;
    name = nameTok.text;
    define = `((${joinToks(s.t.slice(i + 1, eq - 1))})(${joinToks(s.t.slice(eq + 1, semi))}))`;
  }
  ctx.fcNames.add(name);
  edits.push({ start: s.t[i].start, end: s.t[semi].end, text: "" });
  // Insert at the first newline after the statement that is not inside a /* comment */.
  let at = s.t[semi].end;
  for (;;) {
    const nl = src.indexOf("\n", at);
    const cover = s.comments.find((c) => c.start < nl && nl < c.end);
    if (nl < 0 || !cover) {
      at = nl < 0 ? src.length : nl;
      break;
    }
    at = cover.end;
  }
  // The #define itself maps to the declaration's line, so errors in it name that line.
  const declLine = s.t[i].line, nextLine = lineOf(src, at) + 1;
  const resync = at < src.length ? `\n#line ${nextLine} ${cString(s.file)}` : "";
  edits.push({
    start: at,
    end: at,
    text: `\n#line ${declLine} ${cString(s.file)}\n#define ${name} ${define}${resync}`,
  });
  return semi;
}

// 1-based line of offset `at`.
function lineOf(src: string, at: number): number {
  let n = 1;
  for (let k = src.indexOf("\n"); k >= 0 && k < at; k = src.indexOf("\n", k + 1)) n++;
  return n;
}

// Applies non-overlapping edits; a replacement that drops newlines is padded so later lines stay aligned.
function applyEdits(src: string, edits: Edit[]): string {
  edits.sort((a, b) => a.start - b.start || a.end - b.end);
  let out = "";
  let pos = 0;
  for (const e of edits) {
    if (e.start < pos) throw new Error(`rewrite.ts: overlapping edits at offset ${e.start}`);
    out += src.slice(pos, e.start);
    const lost = count(src.slice(e.start, e.end)) - count(e.text);
    out += e.text + "\n".repeat(Math.max(0, lost));
    pos = e.end;
  }
  return out + src.slice(pos);
}

const count = (x: string): number => x.split("\n").length - 1;
