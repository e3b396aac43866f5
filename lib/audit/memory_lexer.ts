// A small MSL tokenizer shared by the static memory-access audit and the MSL lint. Comments and string
// contents never become tokens, so no rule can fire on them; preprocessor lines are kept aside.

/** One token of MSL source. `line` is 1-based; `col` is 1-based. */
export interface Token {
  kind: "ident" | "number" | "string" | "char" | "punct";
  text: string;
  line: number;
  col: number;
}

/** A preprocessor directive (`#include`, `#define`, ...), with continuation lines joined. */
export interface Directive {
  line: number;
  text: string;
}

/** Result of lexing one file. `comments` maps a line to the comment text found on it. */
export interface Lexed {
  tokens: Token[];
  directives: Directive[];
  comments: Map<number, string>;
  defines: Map<string, number>;
  /** Object-like macros (`#define NAME text`), for evaluating constants such as `(KBLOCK / 8)`. */
  macros: Map<string, string>;
}

// Longest first, so `<<=` wins over `<<` and `<`.
const PUNCTS = [
  "<<=",
  ">>=",
  "...",
  "->",
  "++",
  "--",
  "<<",
  ">>",
  "<=",
  ">=",
  "==",
  "!=",
  "&&",
  "||",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "::",
];

function addComment(comments: Map<number, string>, line: number, text: string): void {
  comments.set(line, (comments.get(line) ?? "") + text);
}

/** Tokenizes MSL/C++ source. Never throws: unknown characters become one-character punctuation. */
export function lex(src: string): Lexed {
  const tokens: Token[] = [];
  const directives: Directive[] = [];
  const comments = new Map<number, string>();
  const defines = new Map<string, number>();
  const macros = new Map<string, string>();
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let atLineStart = true; // only whitespace seen since the last newline: `#` starts a directive
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
      lineStart = i;
      atLineStart = true;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      let j = i;
      while (j < n && src[j] !== "\n") j++;
      addComment(comments, line, src.slice(i, j));
      i = j;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const j = end < 0 ? n : end + 2;
      const parts = src.slice(i, j).split("\n");
      parts.forEach((p, k) => addComment(comments, line + k, p));
      for (let k = i; k < j; k++) if (src[k] === "\n") (line++, lineStart = k + 1);
      i = j;
      continue;
    }
    if (c === "#" && atLineStart) {
      const startLine = line;
      let j = i;
      let text = "";
      // Join backslash continuations; strip comments from the directive text.
      while (j < n && src[j] !== "\n") {
        if (src[j] === "\\" && src[j + 1] === "\n") {
          j += 2;
          line++;
          lineStart = j;
          continue;
        }
        if (src[j] === "/" && src[j + 1] === "/") {
          const e = src.indexOf("\n", j);
          addComment(comments, line, src.slice(j, e < 0 ? n : e));
          j = e < 0 ? n : e;
          break;
        }
        text += src[j++];
      }
      directives.push({ line: startLine, text: text.trim() });
      const def = /^#\s*define\s+([A-Za-z_]\w*)\s+\(?\s*(0x[0-9a-fA-F]+|\d+)[uUlL]*\s*\)?\s*$/.exec(
        text.trim(),
      );
      if (def) defines.set(def[1], Number(def[2]));
      const mac = /^#\s*define\s+([A-Za-z_]\w*)(?![\w(])\s*(.*)$/.exec(text.trim());
      if (mac && mac[2] !== "") macros.set(mac[1], mac[2]);
      i = j;
      continue;
    }
    atLineStart = false;
    const col = i - lineStart + 1;
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /\w/.test(src[j])) j++;
      tokens.push({ kind: "ident", text: src.slice(i, j), line, col });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(src[i + 1] ?? ""))) {
      let j = i + 1;
      while (
        j < n && (/[\w.]/.test(src[j]) || ((src[j] === "+" || src[j] === "-") && /[eEpP]/.test(src[j - 1])))
      ) j++;
      tokens.push({ kind: "number", text: src.slice(i, j), line, col });
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
      tokens.push({ kind: c === '"' ? "string" : "char", text: src.slice(i, j + 1), line, col });
      i = j + 1;
      continue;
    }
    const p = PUNCTS.find((q) => src.startsWith(q, i)) ?? c;
    tokens.push({ kind: "punct", text: p, line, col });
    i += p.length;
  }
  const host = hostOnlyLines(directives);
  return {
    tokens: tokens.filter((t) => !host(t.line)),
    directives: directives.filter((d) => !host(d.line)),
    comments,
    defines,
    macros,
  };
}

// Code under `#ifndef __METAL_VERSION__` (or the #else of `#ifdef __METAL_VERSION__`) is host C/C++ in
// a header shared with csrc/, not MSL: it is dropped so neither the lint nor the audit sees it.
function hostOnlyLines(directives: Directive[]): (line: number) => boolean {
  const ranges: [number, number][] = [];
  const stack: { host: boolean | null; start: number }[] = [];
  const metalTest = (t: string): boolean | null => {
    if (
      /^#\s*ifndef\s+__METAL_VERSION__\b/.test(t) ||
      /^#\s*if\s+!\s*(defined\s*\(?\s*)?__METAL_VERSION__\b/.test(t)
    ) return true;
    if (
      /^#\s*ifdef\s+__METAL_VERSION__\b/.test(t) || /^#\s*if\s+(defined\s*\(?\s*)?__METAL_VERSION__\b/.test(t)
    ) return false;
    return null;
  };
  for (const d of directives) {
    if (/^#\s*if/.test(d.text)) stack.push({ host: metalTest(d.text), start: d.line });
    else if (/^#\s*(else|elif)\b/.test(d.text) && stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.host === true) ranges.push([top.start, d.line]);
      top.host = top.host === null || /^#\s*elif/.test(d.text) ? null : !top.host;
      top.start = d.line;
    } else if (/^#\s*endif\b/.test(d.text) && stack.length > 0) {
      const top = stack.pop()!;
      if (top.host === true) ranges.push([top.start, d.line]);
    }
  }
  return (line) => ranges.some(([a, b]) => line > a && line < b);
}

/** Index of the token closing the bracket opened at `open` (`(`, `[`, `{`), or tokens.length. */
export function matching(tokens: Token[], open: number): number {
  const o = tokens[open].text;
  const close = o === "(" ? ")" : o === "[" ? "]" : "}";
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i].text;
    if (t === o) depth++;
    else if (t === close && --depth === 0) return i;
  }
  return tokens.length;
}

/** Index just past the `>` closing template arguments opened at `open` (`<`), or -1 if it is no
 * template argument list (a comparison). `>>` counts as two closers. */
export function templateEnd(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i].text;
    if (t === "<") depth++;
    else if (t === ">") depth--;
    else if (t === ">>") depth -= 2;
    else if (t === "(" || t === "[") i = matching(tokens, i);
    else if (t === ";" || t === "{" || t === "}" || t === "&&" || t === "||" || t === ")" || t === "]") {
      return -1;
    }
    if (depth <= 0) return depth === 0 ? i + 1 : -1;
  }
  return -1;
}

/** Reassembles tokens as readable source text (for report expressions). */
export function tokensText(tokens: Token[], from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) {
    const t = tokens[i].text;
    const prev = i > from ? tokens[i - 1] : undefined;
    const tight = !prev || /^[.([\]]$|^->$|^::$/.test(t) || /^[.([]$|^->$|^::$/.test(prev.text) ||
      t === ")" || t === "," || (t === "[" && prev.kind === "ident");
    s += (tight ? "" : " ") + t;
  }
  return s;
}

/** Splits template-argument tokens at top-level commas: ["half", ",", "4"] -> ["half", "4"]. */
export function splitArgs(targs: string[]): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0;
  for (const t of targs) {
    if (t === "<") depth++;
    if (t === ">") depth--;
    if (t === "," && depth === 0) (out.push(cur), cur = "");
    else cur += (cur ? " " : "") + t;
  }
  if (cur) out.push(cur);
  return out;
}

/** The source text of one line, rebuilt from its tokens. */
export function lineText(tokens: Token[], line: number): string {
  const a = tokens.findIndex((t) => t.line === line);
  let b = a;
  while (b >= 0 && b < tokens.length && tokens[b].line === line) b++;
  return a < 0 ? "" : tokensText(tokens, a, b);
}
