// Writes the README's ```ts blocks to <dir>/example<N>.ts with "metal-marlin" imports pointed at <specifier>
// (e.g. npm:metal-marlin@0.1.0 for Deno), plus the small checkpoint stand-ins the "Loading real models"
// examples open by their real names (the same ones tests/readme.test.ts writes), and prints how many
// examples it wrote. Used by scripts/install-test.sh.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "../../lib/build/stamp.ts";
import { writeReadmeFixtures } from "../../tests/util/readme_fixtures.ts";

const [dir, spec] = process.argv.slice(2);
if (dir === undefined || spec === undefined) {
  console.error("usage: readme-examples.ts <dir> <import specifier>");
  process.exit(2);
}
const md = readFileSync(join(ROOT, "README.md"), "utf8");
const blocks = [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
blocks.forEach((b, i) => {
  writeFileSync(join(dir, `example${i + 1}.ts`), b.replaceAll(`from "metal-marlin"`, `from "${spec}"`));
});
writeReadmeFixtures(dir);
console.log(blocks.length);
