// FFI layer: ABI version, the error-code table and symbol table against the C header, raw calls with
// bad handles, the loader's failure reports and the MM_TRACE_FFI switch.
import assert from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { errorClassByCode, ErrorCode, LibraryLoadError } from "../lib/runtime/errors.ts";
import { EXPECTED_ABI_VERSION, loadNative } from "../lib/ffi/native.ts";
import { symbols } from "../lib/ffi/symbols.ts";
import { ROOT } from "../lib/build/stamp.ts";

loadNative(); // builds the library if stale, outside any per-test timeout

const header = readFileSync(join(ROOT, "csrc", "include", "metal_marlin.h"), "utf8");
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;

function runtimeArgs(script: string): string[] {
  return isBun ? [script] : ["run", "-A", script];
}

test("ffi: the loaded library reports the ABI version of metal_marlin.h", () => {
  const m = /#define MM_ABI_VERSION (\d+)u/.exec(header);
  assert.ok(m, "MM_ABI_VERSION not found in the header");
  assert.strictEqual(EXPECTED_ABI_VERSION, Number(m[1]));
  assert.strictEqual(loadNative().fns.mm_abi_version(), Number(m[1]));
});

test("ffi: every MM_E_* define in the header matches lib/runtime/errors.ts, and nothing extra", () => {
  const defines = [...header.matchAll(/#define (MM_(?:OK|E_[A-Z_]+)) (-?\d+)/g)];
  assert.ok(defines.length >= 17, `only ${defines.length} codes parsed`);
  const table = ErrorCode as Record<string, number>;
  for (const [, name, value] of defines) {
    assert.strictEqual(table[name], Number(value), `${name}: header says ${value}, TS says ${table[name]}`);
    if (name !== "MM_OK") assert.ok(errorClassByCode.get(Number(value)), `no error class for ${name}`);
  }
  assert.deepStrictEqual(Object.keys(table).sort(), defines.map((d) => d[1]).sort());
});

test("ffi: every symbol of the table is declared in the header with the same parameter count", () => {
  for (const [name, def] of Object.entries(symbols)) {
    const m = new RegExp(`MM_API [^;]*\\b${name}\\(([^)]*)\\)`).exec(header);
    assert.ok(m, `${name} is not declared in metal_marlin.h`);
    const params = m[1].trim() === "void" || m[1].trim() === "" ? 0 : m[1].split(",").length;
    assert.strictEqual(
      def.args.length,
      params,
      `${name}: table has ${def.args.length} args, header ${params}`,
    );
  }
});

test("ffi: null and stale handles return MM_E_BAD_HANDLE instead of crashing", () => {
  const n = loadNative();
  const f = n.fns;
  assert.strictEqual(f.mm_buffer_free(0), ErrorCode.MM_E_BAD_HANDLE);
  assert.strictEqual(f.mm_device_close(0), ErrorCode.MM_E_BAD_HANDLE);
  assert.strictEqual(f.mm_device_synchronize(0x7fffffff), ErrorCode.MM_E_BAD_HANDLE);
  assert.match(n.cstring(f.mm_last_error()), /handle/i);
  assert.strictEqual(n.pointerValue(f.mm_buffer_contents(0)), 0);
  assert.strictEqual(Number(f.mm_buffer_length(12345)), 0);
  assert.strictEqual(f.mm_library_kernel_count(0), 0);
  const info = new Uint32Array(38); // mm_kernel_info, 152 bytes, size field set
  info[0] = 152;
  assert.strictEqual(f.mm_kernel_info_get(0, info), ErrorCode.MM_E_BAD_HANDLE);

  const out = new Uint32Array(1);
  assert.strictEqual(f.mm_device_open(new TextEncoder().encode("cpu\0"), 1, out), 0);
  const dev = out[0];
  assert.strictEqual(f.mm_buffer_alloc(dev, 64, out), 0);
  const buf = out[0];
  assert.strictEqual(Number(f.mm_buffer_length(buf)), 64);
  assert.strictEqual(f.mm_buffer_free(buf), 0);
  assert.strictEqual(f.mm_buffer_free(buf), ErrorCode.MM_E_BAD_HANDLE, "second free of the same handle");
  assert.strictEqual(Number(f.mm_buffer_length(buf)), 0, "length of a freed buffer");
  assert.strictEqual(
    f.mm_buffer_alloc(buf, 64, out),
    ErrorCode.MM_E_BAD_HANDLE,
    "buffer handle used as a device",
  );
  assert.strictEqual(f.mm_device_close(dev), 0);
  assert.strictEqual(f.mm_buffer_alloc(dev, 64, out), ErrorCode.MM_E_BAD_HANDLE, "closed device");
});

test("ffi: a stale buffer handle never names a live buffer again, even after 5000 alloc/free cycles", () => {
  const f = loadNative().fns;
  const out = new Uint32Array(1);
  assert.strictEqual(f.mm_device_open(new TextEncoder().encode("cpu\0"), 1, out), 0);
  const dev = out[0];
  try {
    assert.strictEqual(f.mm_buffer_alloc(dev, 64, out), 0);
    const stale = out[0];
    assert.strictEqual(f.mm_buffer_free(stale), 0);
    // Allocate-one-free-one would recycle a single slot; its 12-bit generation wraps after 4096 frees.
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      assert.strictEqual(f.mm_buffer_alloc(dev, 64, out), 0);
      seen.add(out[0]);
      assert.strictEqual(f.mm_buffer_free(out[0]), 0);
    }
    assert.ok(!seen.has(stale), "the stale handle was issued again");
    assert.strictEqual(f.mm_buffer_alloc(dev, 1 << 20, out), 0);
    const live = out[0];
    assert.notStrictEqual(live, stale);
    assert.strictEqual(f.mm_buffer_free(stale), ErrorCode.MM_E_BAD_HANDLE, "free through the stale handle");
    assert.strictEqual(Number(f.mm_buffer_length(live)), 1 << 20, "the live buffer survived");
    assert.strictEqual(f.mm_buffer_free(live), 0);
  } finally {
    f.mm_device_close(dev);
  }
});

test("ffi: a missing explicit library path fails with LibraryLoadError naming the path", () => {
  const path = join(tmpdir(), "no-such-dir", "libmetal_marlin.so");
  assert.throws(() => loadNative({ libraryPath: path }), (e: unknown) => {
    assert.ok(e instanceof LibraryLoadError);
    assert.ok(e.message.includes(path), e.message);
    return true;
  });
});

test("ffi: a library with another ABI version is rejected naming both numbers", () => {
  // A stub exporting every symbol of the table, whose mm_abi_version returns 99.
  const dir = mkdtempSync(join(tmpdir(), "mm-abi-"));
  const src = Object.keys(symbols).map((s) =>
    `extern "C" __attribute__((visibility("default"))) long ${s}() { return 99; }`
  )
    .join("\n");
  writeFileSync(join(dir, "stub.cpp"), src);
  const so = join(dir, "libstub.so");
  execFileSync("g++", ["-shared", "-fPIC", "-o", so, join(dir, "stub.cpp")]);
  assert.throws(() => loadNative({ libraryPath: so }), (e: unknown) => {
    assert.ok(e instanceof LibraryLoadError);
    assert.match(e.message, /ABI version 99/);
    assert.match(e.message, new RegExp(`expects ${EXPECTED_ABI_VERSION}`));
    return true;
  });
});

test("ffi: MM_TRACE_FFI=1 logs each FFI call name; without it nothing is logged", () => {
  const dir = mkdtempSync(join(tmpdir(), "mm-trace-"));
  const script = join(dir, "trace.ts");
  const native = join(ROOT, "lib", "ffi", "native.ts");
  writeFileSync(
    script,
    `import { loadNative } from ${JSON.stringify(native)};\nloadNative().fns.mm_noop(7);\n`,
  );
  const run = (trace: string) =>
    spawnSync(process.execPath, runtimeArgs(script), {
      env: { ...process.env, MM_TRACE_FFI: trace },
      encoding: "utf8",
    });
  const on = run("1");
  assert.strictEqual(on.status, 0, on.stderr);
  assert.match(on.stderr, /ffi: mm_noop/);
  const off = run("");
  assert.strictEqual(off.status, 0, off.stderr);
  assert.doesNotMatch(off.stderr, /mm_noop/);
});
