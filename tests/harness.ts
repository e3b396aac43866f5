// One test suite, two runtimes: `test()` registers with bun:test under Bun and with Deno.test under
// Deno, so every tests/*.test.ts file runs unchanged under `bun test` and `deno test`.
// Assertions come from node:assert, which both runtimes implement (jsr:@std/assert is unreachable here).

type TestFn = () => void | Promise<void>;
type Register = (name: string, fn: TestFn, skip: string | undefined) => void;

interface DenoTestApi {
  test(
    def: { name: string; fn: TestFn; ignore: boolean; sanitizeResources: boolean; sanitizeOps: boolean },
  ): void;
}

interface BunTestFn {
  (name: string, fn: TestFn): void;
  skip(name: string, fn: TestFn): void;
}

const g = globalThis as unknown as { Bun?: unknown; Deno?: DenoTestApi };

async function pickRegister(): Promise<Register> {
  if (g.Bun !== undefined) {
    const bunTest = "bun:test"; // a variable keeps Deno's module graph from resolving it
    const mod = await import(bunTest) as { test: BunTestFn };
    return (name, fn, skip) =>
      skip === undefined ? mod.test(name, fn) : mod.test.skip(`${name} (${skip})`, fn);
  }
  if (g.Deno !== undefined) {
    const deno = g.Deno;
    // FFI-backed objects are released by explicit dispose or FinalizationRegistry, which Deno's
    // per-test resource sanitizer cannot see; the tests check leaks themselves (native byte counts).
    return (name, fn, skip) =>
      deno.test({
        name: skip === undefined ? name : `${name} (${skip})`,
        fn,
        ignore: skip !== undefined,
        sanitizeResources: false,
        sanitizeOps: false,
      });
  }
  throw new Error("tests/harness.ts: run the suite with `bun test` or `deno test`");
}

const register = await pickRegister();

/** Registers one independent test case; `opts.skip` (a reason) reports it as skipped instead. */
export function test(name: string, fn: TestFn, opts: { skip?: string } = {}): void {
  register(name, fn, opts.skip);
}
