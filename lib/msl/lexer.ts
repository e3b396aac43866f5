// The one tokenizer for Metal Shading Language in metal-marlin. It knows comments, string/char literals
// and preprocessor lines, so no tool ever edits or matches inside them. Every token keeps its source span
// (the CPU rewriter edits the text by offsets) and its line and column (the audit and lint report them).
// Used by the rewriter (lib/cpu, strict: a broken literal is an error) and, through lex() in source.ts,
// by the static memory-access audit and the MSL lint (lenient: they must read any file).

/** Token kinds. `pp` is a whole preprocessor directive (continuation lines included). */
export type TokenKind = "ident" | "number" | "string" | "char" | "punct" | "comment" | "pp";

/** One token with its source span (offsets into the text) and 1-based line/column of its start. */
export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
  end: number;
  line: number;
  col: number;
  /** Whitespace, a newline or a comment separates it from the previous token. */
  spaceBefore: boolean;
}

/** Options of lexMsl(). */
export interface LexOptions {
  /**
   * "split" (default): every punctuation character is its own token except `::` and `->`, which suits a
   * rewriter that matches `<`/`>` of template lists one by one. "joined": longest operator first
   * (`<<=`, `++`, `==`, ...), which suits an expression parser.
   */
  operators?: "split" | "joined";
  /**
   * Called for an unterminated string, character literal or block comment (it must throw). Absent:
   * lenient, for tools that read any file: a literal ends at the end of its line (the newline included)
   * and a block comment at the end of the file.
   */
  onError?: (line: number, col: number, what: string) => never;
}

// Longest first, so `<<=` wins over `<<` and `<`.
const JOINED = [
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

const isIdStart = (c: string): boolean => /[A-Za-z_]/.test(c);
const isIdChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);
const isDigit = (c: string): boolean => c >= "0" && c <= "9";

/** Splits `src` into tokens (whitespace dropped; comments and directives kept as tokens). */
export function lexMsl(src: string, opts: LexOptions = {}): Token[] {
  const joined = opts.operators === "joined";
  const toks: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let space = false;
  let atLineStart = true; // only whitespace and comments so far on this line: a `#` starts a directive
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
  const push = (kind: TokenKind, end: number): void => {
    toks.push({
      kind,
      text: src.slice(i, end),
      start: i,
      end,
      line,
      col: i - lineStart + 1,
      spaceBefore: space,
    });
    advance(end);
    space = kind === "comment";
  };
  const fail = (what: string): void => {
    opts.onError?.(line, i - lineStart + 1, what);
  };
  // End offset of a quoted literal starting at i (handles backslash escapes).
  const quoted = (q: string): number => {
    let k = i + 1;
    while (k < n && src[k] !== q) {
      if (src[k] === "\n") {
        fail(`unterminated ${q === '"' ? "string" : "character"} literal`);
        return k + 1;
      }
      k += src[k] === "\\" ? 2 : 1;
    }
    if (k >= n) fail("unterminated literal");
    return Math.min(k + 1, n);
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
    if (c === "/" && src[i + 1] === "/") {
      let k = i;
      while (k < n && src[k] !== "\n") k++;
      push("comment", k);
    } else if (c === "/" && src[i + 1] === "*") {
      const k = src.indexOf("*/", i + 2);
      if (k < 0) fail("unterminated /* comment");
      push("comment", k < 0 ? n : k + 2);
    } else if (c === "#" && atLineStart) {
      push("pp", directiveEnd(src, i));
    } else {
      atLineStart = false;
      if (c === '"' || c === "'") {
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
      } else if (joined) {
        push("punct", i + (JOINED.find((q) => src.startsWith(q, i)) ?? c).length);
      } else {
        const two = src.slice(i, i + 2);
        push("punct", i + (two === "::" || two === "->" ? 2 : 1));
      }
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
