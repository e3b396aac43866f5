// The one MSL lexer (lib/msl/lexer.ts) and the audit's view of it (lib/msl/source.ts): both punctuation
// modes, strict and lenient literals, directives spanning lines, and what the audit keeps aside.
import assert from "node:assert/strict";
import { lexMsl } from "../lib/msl/lexer.ts";
import { lex } from "../lib/msl/source.ts";
import { test } from "./harness.ts";

const texts = (src: string, operators?: "split" | "joined"): string[] =>
  lexMsl(src, { operators }).map((t) => t.text);

test("msl lexer: split mode keeps only :: and -> together; joined mode takes the longest operator", () => {
  const src = "x <<= a->b >> c::d; i-->0; v<vec<half,4>>";
  assert.deepEqual(texts(src), [
    ..."x < < = a -> b > > c :: d ; i - -> 0 ; v < vec < half , 4 > >".split(" "),
  ]);
  assert.deepEqual(texts(src, "joined"), [
    ..."x <<= a -> b >> c :: d ; i -- > 0 ; v < vec < half , 4 >>".split(" "),
  ]);
});

test("msl lexer: spans, lines, columns and spacing of tokens", () => {
  const toks = lexMsl("a /* c */b\n  1.5h+.5e-3f");
  assert.deepEqual(toks.map((t) => [t.kind, t.text, t.line, t.col, t.spaceBefore]), [
    ["ident", "a", 1, 1, false],
    ["comment", "/* c */", 1, 3, true],
    ["ident", "b", 1, 10, true],
    ["number", "1.5h", 2, 3, true],
    ["punct", "+", 2, 7, false],
    ["number", ".5e-3f", 2, 8, false],
  ]);
  for (const t of toks) assert.equal("a /* c */b\n  1.5h+.5e-3f".slice(t.start, t.end), t.text);
});

test("msl lexer: a directive is one token across continuations and block comments", () => {
  const toks = lexMsl("#define A(x) \\\n  (x) /* two\nlines */ + 1\nint y; /* c */ #pragma once\n");
  assert.deepEqual(toks.map((t) => [t.kind, t.line]), [
    ["pp", 1],
    ["ident", 4],
    ["ident", 4],
    ["punct", 4],
    ["comment", 4],
    ["punct", 4],
    ["ident", 4],
    ["ident", 4],
  ]);
  assert.deepEqual(lexMsl("/* c */ #pragma once").map((t) => t.kind), ["comment", "pp"]);
});

test("msl lexer: strict mode reports broken literals and comments with their position; lenient reads on", () => {
  const seen: string[] = [];
  const onError = (line: number, col: number, what: string): never => {
    seen.push(`${line}:${col}: ${what}`);
    throw new Error("stop");
  };
  for (const src of ['int a;\n  s = "abc;\n', "x = 'y;", "a /* open"]) {
    assert.throws(() => lexMsl(src, { onError }), /stop/);
  }
  assert.deepEqual(seen, [
    "2:7: unterminated string literal",
    "1:5: unterminated literal", // at the end of the source
    "1:3: unterminated /* comment",
  ]);
  const lenient = lexMsl('s = "abc;\nb');
  assert.deepEqual(lenient.map((t) => [t.kind, t.line]), [["ident", 1], ["punct", 1], ["string", 1], [
    "ident",
    2,
  ]]);
});

test("msl source view: code tokens only; directives, comments, macros and host-only code kept aside", () => {
  const src = [
    "#define KBLOCK 64 // tile",
    "#define HALF (KBLOCK / 2)",
    "#ifndef __METAL_VERSION__",
    "int host_only;",
    "#endif",
    "/* a",
    "   b */ kernel void k() {}",
  ].join("\n");
  const lx = lex(src);
  assert.deepEqual(lx.tokens.map((t) => t.text), ["kernel", "void", "k", "(", ")", "{", "}"]);
  assert.deepEqual(lx.directives.map((d) => d.text), [
    "#define KBLOCK 64",
    "#define HALF (KBLOCK / 2)",
    "#ifndef __METAL_VERSION__",
    "#endif",
  ]);
  assert.equal(lx.defines.get("KBLOCK"), 64);
  assert.equal(lx.macros.get("HALF"), "(KBLOCK / 2)");
  assert.deepEqual([...lx.comments], [[1, "// tile"], [6, "/* a"], [7, "   b */"]]);
});
