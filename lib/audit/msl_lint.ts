// MSL validity lint: rejects C++ constructs that Metal Shading Language does not allow, so the CPU
// runtime (which compiles the shaders as C++) can never accept a shader that `xcrun metal` would reject.
import { SPACES } from "../msl/address_spaces.ts";
import { findCalls, findFunctions } from "../msl/decls.ts";
import type { Token } from "../msl/lexer.ts";
import { lex } from "../msl/source.ts";

/** One lint finding; `line` is 1-based in `file`. */
export interface LintFinding {
  /** File name as given to lintMsl(). */
  file: string;
  /** 1-based line of the finding in `file`. */
  line: number;
  /** Which MSL restriction the code breaks. */
  rule:
    | "std-namespace"
    | "recursion"
    | "dynamic-allocation"
    | "function-pointer"
    | "goto"
    | "pointer-address-space"
    | "vec3-in-buffer"
    | "include";
  /** What is wrong, naming the construct. */
  message: string;
}

const ALLOC_CALLS = new Set(["malloc", "free", "calloc", "realloc", "aligned_alloc", "posix_memalign"]);
const VEC3 = /^(packed_)?(float|half|int|uint|short|ushort|char|uchar|bool|bfloat|long|ulong)3$/;
const NOTE_16 = /note:\s*16-byte/i;
// Statement starts: a pointer declaration can only begin right after one of these.
const STMT_START = new Set([";", "{", "}", "(", ")"]);
const DECL_SKIP = new Set([
  "const",
  "constexpr",
  "static",
  "volatile",
  "typename",
  "unsigned",
  "signed",
  "inline",
]);

function isVec3Type(tokens: Token[], from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const t = tokens[i].text;
    if (VEC3.test(t) && !t.startsWith("packed_")) return true;
    if ((t === "vec" || t === "vector") && tokens[i + 1]?.text === "<") {
      // vec<float, 3>
      for (let k = i + 2; k < Math.min(to, i + 6); k++) {
        if (tokens[k].text === "3" && tokens[k + 1]?.text === ">") return true;
      }
    }
  }
  return false;
}

/** Lints one MSL source. `name` is used as the `file` of every finding. Findings are sorted by line. */
export function lintMsl(source: string, name: string): LintFinding[] {
  const lexed = lex(source);
  const tokens = lexed.tokens;
  const out: LintFinding[] = [];
  const add = (line: number, rule: LintFinding["rule"], message: string): void => {
    out.push({ file: name, line, rule, message });
  };

  for (const d of lexed.directives) {
    const inc = /^#\s*include\s*(<([^>]*)>|"([^"]*)")?/.exec(d.text);
    if (!inc) continue;
    if (inc[2] !== undefined && !/^metal_\w+$/.test(inc[2].trim())) {
      add(d.line, "include", `#include <${inc[2]}>: only <metal_*> system headers exist in MSL`);
    } else if (inc[3] !== undefined && (inc[3].startsWith("/") || /^[A-Za-z]:/.test(inc[3]))) {
      add(d.line, "include", `#include "${inc[3]}": use a path relative to the shader directory`);
    } else if (inc[1] === undefined) add(d.line, "include", "#include of a macro: include headers by name");
  }

  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1]?.text;
    if (t.kind === "ident") {
      if (t.text === "std" && next === "::") {
        add(t.line, "std-namespace", "std:: does not exist in MSL; use metal:: functions");
      } else if (t.text === "goto") add(t.line, "goto", "goto is not allowed in MSL");
      else if (t.text === "new" || t.text === "delete") {
        add(t.line, "dynamic-allocation", `\`${t.text}\`: MSL has no dynamic allocation`);
      } else if (ALLOC_CALLS.has(t.text) && next === "(" && tokens[i - 1]?.text !== ".") {
        add(t.line, "dynamic-allocation", `${t.text}(): MSL has no dynamic allocation`);
      }
    }
    // `(*name)(` or `(*)(`: a function pointer declarator or call through one.
    if (t.text === "(" && next === "*") {
      let k = i + 2;
      if (tokens[k]?.kind === "ident") k++;
      if (tokens[k]?.text === ")" && tokens[k + 1]?.text === "(") {
        add(t.line, "function-pointer", "function pointers are not allowed in MSL");
      }
    }
    // A 3-vector as the element type behind a device/constant pointer or reference.
    if ((t.text === "device" || t.text === "constant") && t.kind === "ident") {
      let k = i + 1;
      while (k < tokens.length && !["*", "&", ";", ",", ")", "{", "="].includes(tokens[k].text)) k++;
      const ptr = tokens[k]?.text === "*" || tokens[k]?.text === "&";
      if (ptr && isVec3Type(tokens, i + 1, k)) {
        const noted = NOTE_16.test(lexed.comments.get(t.line) ?? "") ||
          NOTE_16.test(lexed.comments.get(t.line - 1) ?? "");
        if (!noted) {
          add(
            t.line,
            "vec3-in-buffer",
            "3-component vector in a buffer occupies 16 bytes (not 12); add a `// note: 16-byte` comment or use packed_*3",
          );
        }
      }
    }
    // Local pointer declarations and casts without an address space.
    if (t.text === "*" && (STMT_START.has(tokens[i - 2]?.text ?? ";") || tokens[i - 2] === undefined)) {
      const prev = tokens[i - 1];
      const after = tokens[i + 1];
      const castClose = after?.text === ")" && tokens[i - 2]?.text === "(";
      // After `(` only `(T* p = ...` is a declaration: `max(a * b, c)` is a product.
      const ends = tokens[i - 2]?.text === "(" ? ["="] : tokens[i - 2]?.text === ")" ? [] : ["=", ";", ","];
      const decl = after?.kind === "ident" && ends.includes(tokens[i + 2]?.text ?? "");
      if (
        prev?.kind === "ident" && !SPACES.has(prev.text) && !DECL_SKIP.has(prev.text) && (decl || castClose)
      ) {
        if (castClose && !/^[a-z_]+\d?(x\d)?$/.test(prev.text)) continue; // `(x*)` with x not a type-ish name
        add(
          t.line,
          "pointer-address-space",
          `pointer to ${prev.text} without an address space (device/constant/threadgroup/thread)`,
        );
      }
    }
  }
  lintLocalPointers(tokens, add);

  // Signatures: every pointer parameter (and every kernel reference parameter) needs an address space.
  const funcs = findFunctions(lexed, name);
  for (const f of funcs) {
    for (const p of f.params) {
      if ((p.pointer || (f.kernel && p.reference)) && p.addressSpace === null) {
        add(
          p.line,
          "pointer-address-space",
          `${f.name}: parameter ${p.name || "?"} is a ${
            p.pointer ? "pointer" : "reference"
          } without an address space`,
        );
      }
    }
  }
  lintRecursion(funcs, tokens, add);
  out.sort((a, b) => a.line - b.line);
  // The local-pointer and signature passes may both see one declarator; keep one finding per line+rule.
  return out.filter((f, k) => k === 0 || f.line !== out[k - 1].line || f.rule !== out[k - 1].rule);
}

type Add = (line: number, rule: LintFinding["rule"], message: string) => void;

// `const device float* p` is fine; `const float* p = ...;` (after qualifiers) is not.
function lintLocalPointers(tokens: Token[], add: Add): void {
  for (let i = 0; i < tokens.length; i++) {
    if (!STMT_START.has(tokens[i].text)) continue;
    let k = i + 1;
    let hasSpace = false;
    let skipped = false;
    while (tokens[k] && (DECL_SKIP.has(tokens[k].text) || SPACES.has(tokens[k].text))) {
      if (SPACES.has(tokens[k].text)) hasSpace = true;
      skipped = true;
      k++;
    }
    if (!skipped || hasSpace || tokens[k]?.kind !== "ident") continue;
    const ty = tokens[k];
    k++;
    if (
      tokens[k]?.text === "*" && tokens[k + 1]?.kind === "ident" &&
      ["=", ";", ","].includes(tokens[k + 2]?.text ?? "")
    ) {
      add(
        tokens[k].line,
        "pointer-address-space",
        `pointer to ${ty.text} without an address space (device/constant/threadgroup/thread)`,
      );
    }
  }
}

// Direct recursion and cycles among the file's functions (Tarjan's strongly connected components).
function lintRecursion(funcs: ReturnType<typeof findFunctions>, tokens: Token[], add: Add): void {
  const defined = funcs.filter((f) => f.body !== null);
  const names = new Set(defined.map((f) => f.name));
  const edges = new Map<string, { callee: string; line: number }[]>();
  for (const f of defined) {
    const [a, b] = f.body!;
    const list = edges.get(f.name) ?? [];
    for (const c of findCalls(tokens, a, b)) {
      if (names.has(c.name)) list.push({ callee: c.name, line: tokens[c.at].line });
    }
    edges.set(f.name, list);
  }
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const comp = new Map<string, number>();
  let compCount = 0;
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const e of edges.get(v) ?? []) {
      if (!idx.has(e.callee)) {
        visit(e.callee);
        low.set(v, Math.min(low.get(v)!, low.get(e.callee)!));
      } else if (onStack.has(e.callee)) low.set(v, Math.min(low.get(v)!, idx.get(e.callee)!));
    }
    if (low.get(v) === idx.get(v)) {
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.set(w, compCount);
      } while (w !== v);
      compCount++;
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  for (const [caller, list] of edges) {
    for (const e of list) {
      if (comp.get(caller) !== comp.get(e.callee)) continue;
      const msg = caller === e.callee
        ? `${caller} calls itself: MSL does not allow recursion`
        : `${caller} calls ${e.callee}, which calls back into ${caller}: MSL does not allow recursion`;
      add(e.line, "recursion", msg);
    }
  }
}
