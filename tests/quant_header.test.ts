// shaders/quant_formats.h and lib/quant/formats.ts must agree: the header is generated, and it is parsed
// back independently so a generator bug cannot hide a mismatch.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { test } from "./harness.ts";
import { quantHeader } from "../scripts/gen-quant-header.ts";
import { FORMAT_IDS, FP4_E2M1_VALUES, INT4_SYM_ZERO, K_PER_WORD, NIBBLE_BITS } from "../lib/quant/formats.ts";

const header = readFileSync(new URL("../shaders/quant_formats.h", import.meta.url), "utf8");

test("shaders/quant_formats.h is up to date (run scripts/gen-quant-header.ts)", () => {
  assert.strictEqual(header, quantHeader());
});

test("header values parsed back equal the TypeScript definitions", () => {
  const table = /#define MM_FP4_E2M1_VALUES \{([^}]*)\}/.exec(header);
  assert.ok(table !== null);
  const vals = table[1].split(",").map((s) => parseFloat(s.trim().replace(/f$/, "")));
  assert.strictEqual(vals.length, 16);
  vals.forEach((v, i) => assert.ok(Object.is(v, FP4_E2M1_VALUES[i]), `code ${i}: ${v}`));
  const def = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)u`).exec(header)![1]);
  assert.strictEqual(def("MM_QFMT_FP4"), FORMAT_IDS["fp4"]);
  assert.strictEqual(def("MM_QFMT_INT4"), FORMAT_IDS["int4"]);
  assert.strictEqual(def("MM_QFMT_INT4_SYM"), FORMAT_IDS["int4-sym"]);
  assert.strictEqual(def("MM_Q_K_PER_WORD"), K_PER_WORD);
  assert.strictEqual(def("MM_Q_NIBBLE_BITS"), NIBBLE_BITS);
  assert.strictEqual(def("MM_Q_INT4_SYM_ZERO"), INT4_SYM_ZERO);
});
