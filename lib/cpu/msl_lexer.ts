// A small tokenizer for Metal Shading Language, just enough for the source rewriter: it knows
// comments, string/char literals and preprocessor lines so the rewriter never edits inside them.

/** Token kinds. `pp` is a whole preprocessor directive (continuation lines included). */
export type TokKind = "ident" | "number" | "string" | "char" | "punct" | "comment" | "pp";

/** One token with its source span (offsets into the text) and 1-based line/column of its start. */
export interface Tok {
  kind: TokKind;
  text: string;
  start: number;
  end: number;
  line: number;
  col: number;
  /** Whitespace, a newline or a comment separates it from the previous token. */
  spaceBefore: boolean;
}

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

const isIdStart = (c: string): boolean => /[A-Za-z_]/.test(c);
const isIdChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);
const isDigit = (c: string): boolean => c >= "0" && c <= "9";

/** Splits `src` into tokens (whitespace dropped, comments kept). Throws RewriteError on unterminated literals. */
export function tokenize(src: string, file: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let space = false;
  let atLineStart = true; // only whitespace so far on this line: a `#` starts a directive
  const n = src.length;

  // Advances to `to`, keeping the line counter right across embedded newlines.
  const advance = (to: number): void => {
    for (let k = i; k < to; k++) {
      if (src[k] === "\n") {
        line++;
        lineStart = k + 1;
      }
    }
    i = to;
  };
  const push = (kind: TokKind, end: number): void => {
    const t: Tok = {
      kind,
      text: src.slice(i, end),
      start: i,
      end,
      line,
      col: i - lineStart + 1,
      spaceBefore: space,
    };
    toks.push(t);
    advance(end);
    space = kind === "comment";
  };
  const fail = (what: string): never => {
    throw new RewriteError(file, line, i - lineStart + 1, what);
  };
  // End offset of a quoted literal starting at i (handles backslash escapes).
  const quoted = (q: string): number => {
    let k = i + 1;
    while (k < n && src[k] !== q) {
      if (src[k] === "\n") fail(`unterminated ${q === '"' ? "string" : "character"} literal`);
      k += src[k] === "\\" ? 2 : 1;
    }
    if (k >= n) fail("unterminated literal");
    return k + 1;
  };

  while (i < n) {
    const c = src[i];
    if (c === "\n") {
      advance(i + 1);
      space = true;
      atLineStart = true;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      space = true;
      continue;
    }
    if (c === "\\" && src[i + 1] === "\n") { // line splice outside a directive
      advance(i + 2);
      continue;
    }
    const wasLineStart = atLineStart;
    atLineStart = false;
    if (c === "/" && src[i + 1] === "/") {
      let k = i;
      while (k < n && src[k] !== "\n") k++;
      push("comment", k);
    } else if (c === "/" && src[i + 1] === "*") {
      const k = src.indexOf("*/", i + 2);
      if (k < 0) fail("unterminated /* comment");
      push("comment", k + 2);
    } else if (c === "#" && wasLineStart) {
      push("pp", directiveEnd(src, i));
    } else if (c === '"' || c === "'") {
      push(c === '"' ? "string" : "char", quoted(c));
    } else if (isDigit(c) || (c === "." && isDigit(src[i + 1] ?? ""))) {
      let k = i + 1;
      while (k < n) {
        const d = src[k];
        if ((d === "+" || d === "-") && /[eEpP]/.test(src[k - 1])) k++; // pp-number exponent sign
        else if (isIdChar(d) || d === ".") k++;
        else break;
      }
      push("number", k);
    } else if (isIdStart(c)) {
      let k = i + 1;
      while (k < n && isIdChar(src[k])) k++;
      push("ident", k);
    } else {
      const two = src.slice(i, i + 2);
      push("punct", i + (two === "::" || two === "->" ? 2 : 1));
    }
  }
  return toks;
}

// End of a preprocessor directive starting at `from`: the first newline not escaped by a backslash
// and not inside a /* comment */ (the directive token then spans its continuation lines).
function directiveEnd(src: string, from: number): number {
  let k = from;
  while (k < src.length) {
    if (src[k] === "\\" && src[k + 1] === "\n") k += 2;
    else if (src[k] === "\\" && src[k + 1] === "\r" && src[k + 2] === "\n") k += 3;
    else if (src[k] === "/" && src[k + 1] === "*") {
      const e = src.indexOf("*/", k + 2);
      k = e < 0 ? src.length : e + 2;
    } else if (src[k] === "\n") return k;
    else k++;
  }
  return k;
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
