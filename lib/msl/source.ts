// One MSL file as the audit and the lint read it: the code tokens of the one lexer (lexer.ts, with
// operators joined), the preprocessor directives with continuation lines joined, the comments by line,
// and the object-like macros. Comments and string contents never become code tokens, so no rule can fire
// on them; host-only code of a shared header (#ifndef __METAL_VERSION__) is dropped.
import { lexMsl, type Token } from "./lexer.ts";

/** A preprocessor directive (`#include`, `#define`, ...), with continuation lines joined. */
export interface Directive {
  line: number;
  text: string;
}

/** Result of lexing one file. `comments` maps a line to the comment text found on it. */
export interface Lexed {
  /** Code tokens only (no comments, no directives). */
  tokens: Token[];
  directives: Directive[];
  comments: Map<number, string>;
  defines: Map<string, number>;
  /** Object-like macros (`#define NAME text`), for evaluating constants such as `(KBLOCK / 8)`. */
  macros: Map<string, string>;
}

function addComment(comments: Map<number, string>, line: number, text: string): void {
  comments.set(line, (comments.get(line) ?? "") + text);
}

// A directive token's text as the audit reads it: backslash-newline continuations joined, a trailing
// `//` comment moved to the comments. A /* comment */ stays in the text up to the end of its first line;
// the lines a block comment runs on past that are comments (the macro text ends where the line does).
function directiveText(t: Token, comments: Map<number, string>): string {
  const src = t.text;
  let line = t.line;
  let text = "";
  for (let j = 0; j < src.length;) {
    if (src[j] === "\\" && src[j + 1] === "\n") {
      j += 2;
      line++;
    } else if (src[j] === "/" && src[j + 1] === "/") {
      const e = src.indexOf("\n", j);
      addComment(comments, line, src.slice(j, e < 0 ? src.length : e));
      break;
    } else if (src[j] === "\n") {
      src.slice(j + 1).split("\n").forEach((p, k) => addComment(comments, line + 1 + k, p));
      break;
    } else text += src[j++];
  }
  return text.trim();
}

/** Tokenizes MSL/C++ source for the audit and the lint. Never throws: unknown characters become punctuation. */
export function lex(src: string): Lexed {
  const tokens: Token[] = [];
  const directives: Directive[] = [];
  const comments = new Map<number, string>();
  const defines = new Map<string, number>();
  const macros = new Map<string, string>();
  for (const t of lexMsl(src, { operators: "joined" })) {
    if (t.kind === "comment") {
      t.text.split("\n").forEach((p, k) => addComment(comments, t.line + k, p));
    } else if (t.kind === "pp") {
      const text = directiveText(t, comments);
      directives.push({ line: t.line, text });
      const def = /^#\s*define\s+([A-Za-z_]\w*)\s+\(?\s*(0x[0-9a-fA-F]+|\d+)[uUlL]*\s*\)?\s*$/.exec(text);
      if (def) defines.set(def[1], Number(def[2]));
      const mac = /^#\s*define\s+([A-Za-z_]\w*)(?![\w(])\s*(.*)$/.exec(text);
      if (mac && mac[2] !== "") macros.set(mac[1], mac[2]);
    } else tokens.push(t);
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
