// dev.upload() checks what the C side cannot: zero points are data (16 or 255 silently computed
// garbage), zeros only belong to "int4", and a wrong array type is named rather than reported as a
// length ("must be a Uint32Array of ... 128 words, got 128").
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice, randomWeight } from "./gemm_helpers.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";

test("upload: an int4 zero point outside 0..15 is refused with its value and first index", () => {
  const dev = openTestDevice();
  try {
    const q = randomWeight(64, 16, "int4", 32, 1);
    const zeros = new Uint8Array(q.zeros!);
    zeros[5] = 16;
    zeros[9] = 255;
    assert.throws(
      () => dev.upload({ ...q, zeros }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.op === "upload" &&
        e.message === "upload: int4 zero point 16 at index 5 is outside 0..15",
    );
    zeros[5] = 15;
    zeros[9] = 0;
    dev.upload({ ...q, zeros }).dispose();
  } finally {
    dev.dispose();
  }
});

test("upload: zeros given with format fp4 or int4-sym are refused", () => {
  const dev = openTestDevice();
  try {
    for (const format of ["fp4", "int4-sym"] as const) {
      const q = randomWeight(64, 16, format, 32, 2);
      const zeros = new Uint8Array(q.scales.length).fill(8);
      assert.throws(
        () => dev.upload({ ...q, zeros }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === `upload: zeros are only used by format "int4", but format is "${format}" ` +
              `(drop zeros or use "int4")`,
      );
    }
  } finally {
    dev.dispose();
  }
});

test("upload: wrong array types name the type they got", () => {
  const dev = openTestDevice();
  try {
    const q = randomWeight(64, 16, "int4", 32, 3);
    const cases: [Record<string, unknown>, string][] = [
      [{ packed: new Int32Array(q.packed) }, "upload: packed must be a Uint32Array, got Int32Array"],
      [{ packed: [...q.packed] }, "upload: packed must be a Uint32Array, got Array"],
      [{ scales: new Float32Array(q.scales) }, "upload: scales must be a Float16Array, got Float32Array"],
      [{ zeros: new Int8Array(q.zeros!) }, "upload: zeros must be a Uint8Array, got Int8Array"],
      [{ packed: undefined }, "upload: packed must be a Uint32Array, got undefined"],
    ];
    for (const [patch, message] of cases) {
      assert.throws(
        () => dev.upload({ ...q, ...patch } as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.message === message,
        message,
      );
    }
  } finally {
    dev.dispose();
  }
});
