// Stages a prebuilt-library package, dist/platform/<os>-<arch>/ (@metal-marlin/<os>-<arch>), from a
// portable build: -march=x86-64-v2 (or generic arm64) instead of -march=native, so it runs on any CPU of
// that architecture. `--arch arm64` cross-builds with clang-16 and the sysroot of Debian's g++-aarch64-linux-gnu.
// usage: bun scripts/npm/platform.ts [--arch x64|arm64]
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { ROOT } from "../../lib/build/stamp.ts";
import { PLATFORMS } from "./platforms.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { arch: { type: "string", default: process.arch } },
});
const os = process.platform;
const target = PLATFORMS.find((p) => p.os === os && p.cpu === values.arch);
if (target === undefined) {
  console.error(
    `platform: no package for ${os}-${values.arch}; known: ${PLATFORMS.map((p) => p.id).join(", ")}`,
  );
  process.exit(2);
}
const cache = join(ROOT, "dist", ".portable", target.id);
const env: Record<string, string | undefined> = { ...process.env, MM_PORTABLE: "1", MM_CACHE_DIR: cache };
if (values.arch !== process.arch) {
  // Debian 12's aarch64-linux-gnu-g++ is GCC 12, which lacks _Float16 for aarch64 C++ (GCC 13 has it), so
  // the cross build uses clang-16 --target=aarch64-linux-gnu with that GCC's sysroot and libstdc++.
  const triple = values.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  const wrapper = join(ROOT, "dist", ".portable", `${triple}-clang++`);
  mkdirSync(dirname(wrapper), { recursive: true });
  writeFileSync(wrapper, `#!/bin/sh\nexec clang++-16 --target=${triple} "$@"\n`);
  chmodSync(wrapper, 0o755);
  env.MM_CXX = wrapper;
  env.MM_TARGET_ARCH = values.arch;
}
const script = join(ROOT, "scripts", "build.ts");
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
execFileSync(process.execPath, isBun ? [script, "--quiet"] : ["run", "-A", script, "--quiet"], {
  cwd: ROOT,
  env,
  stdio: "inherit",
});
const built = execFileSync("find", [cache, "-name", target.file, "-path", "*/fast/*"], { encoding: "utf8" })
  .trim();
const out = join(ROOT, "dist", "platform", target.id);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(built, join(out, target.file));
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const pkg = {
  name: `@metal-marlin/${target.id}`,
  version,
  description:
    `Prebuilt metal-marlin native library for ${target.id} (portable flags; loaded by metal-marlin)`,
  license: "MIT",
  os: [target.os],
  cpu: [target.cpu],
  files: [target.file],
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
console.error(`platform: dist/platform/${target.id}/${target.file}`);
