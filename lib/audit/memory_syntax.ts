// The memory audit's syntax tree (expressions and statements of a function body, with token positions)
// and the C operator and type-word tables its parser (memory_ast.ts) reads.

export type Expr =
  | { k: "num"; v: number; at: number }
  | { k: "id"; name: string; at: number }
  | { k: "un"; op: string; e: Expr; at: number }
  | { k: "post"; op: string; e: Expr; at: number }
  | { k: "bin"; op: string; l: Expr; r: Expr; at: number }
  | { k: "asg"; op: string; l: Expr; r: Expr; at: number }
  | { k: "tern"; c: Expr; a: Expr; b: Expr; at: number }
  | { k: "call"; f: Expr; targs: string[]; args: Expr[]; at: number }
  | { k: "idx"; o: Expr; i: Expr; at: number; end: number }
  | { k: "mem"; o: Expr; name: string; arrow: boolean; at: number }
  | { k: "cast"; type: string[]; e: Expr; at: number }
  | { k: "list"; items: Expr[]; at: number }
  | { k: "other"; at: number };

export type Stmt =
  | { k: "block"; body: Stmt[] }
  | { k: "decl"; type: string[]; vars: { name: string; init: Expr | null; array: boolean; at: number }[] }
  | { k: "expr"; e: Expr }
  | { k: "if"; c: Expr; a: Stmt; b: Stmt | null }
  | { k: "for"; init: Stmt | null; c: Expr | null; step: Expr | null; body: Stmt; at: number }
  | { k: "while"; c: Expr; body: Stmt; at: number }
  | { k: "ret"; e: Expr | null }
  | { k: "nop" };

export const DECL_QUALS: ReadonlySet<string> = new Set([
  "const",
  "constexpr",
  "static",
  "volatile",
  "thread",
  "threadgroup",
  "device",
  "constant",
  "unsigned",
  "signed",
  "typename",
  "struct",
]);
export const TYPE_WORDS: RegExp =
  /^(bool|char|uchar|short|ushort|int|uint|long|ulong|half|float|bfloat|double|size_t|void|auto)(\d(x\d)?)?$/;
export const BIN_PREC: Readonly<Record<string, number>> = {
  "||": 1,
  "&&": 2,
  "|": 3,
  "^": 4,
  "&": 5,
  "==": 6,
  "!=": 6,
  "<": 7,
  ">": 7,
  "<=": 7,
  ">=": 7,
  "<<": 8,
  ">>": 8,
  "+": 9,
  "-": 9,
  "*": 10,
  "/": 10,
  "%": 10,
};
export const ASSIGN: ReadonlySet<string> = new Set([
  "=",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "<<=",
  ">>=",
]);
