// The rewriter's view of the one MSL lexer (lib/msl/lexer.ts): strict tokenizing (a broken literal is a
// RewriteError naming file:line:col), single-character punctuation, and the token helpers the rewrite
// passes share (half literals, re-joining tokens as C++).
import { lexMsl, type Token } from "../msl/lexer.ts";

/** A token of the rewriter: the lexer's Token. */
export type Tok = Token;

/** Raised for any source the rewriter cannot or must not translate; message "file:LINE:COL: what". */
export class RewriteError extends Error {
  file: string;
  line: number;
  column: number;
  constructor(file: string, line: number, column: number, what: string) {
    super(`${file}:${line}:${column}: ${what}`);
    this.name = "RewriteError";
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** Splits `src` into tokens (whitespace dropped, comments kept). Throws RewriteError on unterminated literals. */
export function tokenize(src: string, file: string): Tok[] {
  return lexMsl(src, {
    onError: (line, col, what) => {
      throw new RewriteError(file, line, col, what);
    },
  });
}

/** True for a pp-number written as a half literal (`1.5h`, `2H`, `1e-3h`, `.5h`), not hex. */
export function isHalfLiteral(text: string): boolean {
  return /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[hH]$/.test(text);
}

/** `1.5h` -> `((half)1.5f)`; integer bodies gain `.0` so the float suffix is legal C++. */
export function halfLiteralCpp(text: string): string {
  let body = text.slice(0, -1);
  if (!/[.eE]/.test(body)) body += ".0";
  return `((half)${body}f)`;
}

/** Joins tokens the way they were spaced in the source, collapsing whitespace and dropping comments. */
export function joinToks(toks: readonly Tok[], halfToo = true): string {
  let out = "";
  for (const t of toks) {
    if (t.kind === "comment") continue;
    if (out !== "" && t.spaceBefore) out += " ";
    out += halfToo && t.kind === "number" && isHalfLiteral(t.text) ? halfLiteralCpp(t.text) : t.text;
  }
  return out;
}
