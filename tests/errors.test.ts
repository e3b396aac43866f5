// Error paths: the code -> class table, and dispatch failures reported by the C side as typed errors
// (limits, threadgroup memory, bindings, bounds, unknown kernel).
import assert from "node:assert";
import { test } from "./harness.ts";
import { compileModule } from "../lib/build/build.ts";
import { envMode } from "../lib/build/stamp.ts";
import { openTestDevice } from "./util/backend.ts";
import {
  BadHandleError,
  BindingError,
  BoundsError,
  errorClassByCode,
  ErrorCode,
  errorFor,
  LimitError,
  MarlinError,
  ShapeError,
  UnknownKernelError,
} from "../lib/runtime/errors.ts";
import { loadNative } from "../lib/ffi/native.ts";
import { source } from "./util/kernels.ts";

const SRC = source("tests/fixtures/kernels/binding_checks.metal");

loadNative();
try {
  compileModule(SRC, { name: "errors_test.metal", mode: envMode() }); // warm the cache outside test timeouts
} catch {
  // reported by the tests that compile SRC
}

function params(n: number, scale: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, n, true);
  new DataView(b.buffer).setFloat32(4, scale, true);
  return b;
}

function setup() {
  const dev = openTestDevice();
  const lib = dev.compile(SRC, { name: "errors_test.metal" });
  return { dev, lib, src: dev.tensor(new Float32Array(64)), dst: dev.empty([64], "f32") };
}

test("errors: errorFor() builds the subclass for each code and keeps code and op", () => {
  for (const [code, Cls] of errorClassByCode) {
    const e = errorFor(code, "op_x", "detail");
    assert.ok(e instanceof Cls && e instanceof MarlinError);
    assert.strictEqual(e.code, code);
    assert.strictEqual(e.op, "op_x");
    assert.strictEqual(e.message, "op_x: detail");
  }
  assert.strictEqual(errorClassByCode.get(ErrorCode.MM_E_BAD_HANDLE), BadHandleError);
});

test("errors: a threadgroup over 1024 threads is a LimitError", () => {
  const { dev, lib, src, dst } = setup();
  try {
    const k = lib.kernel("scale_copy");
    assert.throws(
      () => k.dispatch({ grid: 1, threadgroupSize: 1025, args: [src, dst, params(64, 1)] }),
      LimitError,
    );
    assert.throws(
      () => k.dispatch({ grid: 1, threadgroupSize: [32, 33], args: [src, dst, params(64, 1)] }),
      LimitError,
    );
    k.dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst, params(64, 1)] }); // the limit itself is fine
  } finally {
    dev.dispose();
  }
});

test("errors: threadgroup memory over 32 KB is a LimitError", () => {
  const { dev, lib, src, dst } = setup();
  try {
    const k = lib.kernel("tg_copy");
    assert.throws(
      () => k.dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst], threadgroupMemory: [32768 + 16] }),
      LimitError,
    );
    k.dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst], threadgroupMemory: [256] });
    src.data.fill(3);
    k.dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst], threadgroupMemory: [256] });
    assert.ok(dst.toArray().every((x) => x === 3));
  } finally {
    dev.dispose();
  }
});

test("errors: unknown kernel name lists the available kernels", () => {
  const { dev, lib } = setup();
  try {
    assert.throws(() => lib.kernel("scale_cpy"), (e: unknown) => {
      assert.ok(e instanceof UnknownKernelError);
      assert.match(e.message, /scale_cpy/);
      assert.match(e.message, /scale_copy/);
      assert.match(e.message, /tg_copy/);
      return true;
    });
  } finally {
    dev.dispose();
  }
});

test("errors: binding a tensor of the wrong dtype is a BindingError", () => {
  const { dev, lib, dst } = setup();
  try {
    const ints = dev.tensor(new Int32Array(64));
    assert.throws(
      () =>
        lib.kernel("scale_copy").dispatch({ grid: 1, threadgroupSize: 64, args: [ints, dst, params(64, 1)] }),
      BindingError,
    );
  } finally {
    dev.dispose();
  }
});

test("errors: a missing binding is a BindingError", () => {
  const { dev, lib, src, dst } = setup();
  try {
    assert.throws(
      () => lib.kernel("scale_copy").dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst] }),
      BindingError,
    );
  } finally {
    dev.dispose();
  }
});

test("errors: inline bytes shorter than the constant struct are a BindingError", () => {
  const { dev, lib, src, dst } = setup();
  try {
    const short = new Uint8Array(4);
    assert.throws(
      () => lib.kernel("scale_copy").dispatch({ grid: 1, threadgroupSize: 64, args: [src, dst, short] }),
      BindingError,
    );
  } finally {
    dev.dispose();
  }
});

test("errors: an element offset past the end of a tensor is a BoundsError", () => {
  const { dev, lib, src, dst } = setup();
  try {
    assert.throws(
      () =>
        lib.kernel("scale_copy").dispatch({
          grid: 1,
          threadgroupSize: 64,
          args: [{ tensor: src, offset: 65 }, dst, params(64, 1)],
        }),
      BoundsError,
    );
  } finally {
    dev.dispose();
  }
});

test("errors: data too short for the shape is a ShapeError with both numbers", () => {
  using dev = openTestDevice();
  assert.throws(() => dev.tensor(new Float16Array(10), [4, 4]), (e: unknown) => {
    assert.ok(e instanceof ShapeError);
    assert.match(e.message, /16 elements/);
    assert.match(e.message, /10/);
    return true;
  });
});
