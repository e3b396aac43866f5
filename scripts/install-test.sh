#!/usr/bin/env bash
# Install test (issue #10): the npm package as a user gets it. Builds dist/ (tsc) and the portable
# @metal-marlin/linux-x64 library, starts a verdaccio registry on loopback (temp config + storage; uplink to
# the npm registry only for third-party dependencies), publishes both, then in fresh temp projects:
#   Bun:  bun add metal-marlin  -> README examples (the first with no compiler on PATH), strict tsc, bin
#   Deno: import "npm:metal-marlin" via NPM_CONFIG_REGISTRY -> README examples, deno check (strict flags)
#   Node: the bin tells a Node-only user what to install.
# Ends with "install-test: N passed, 0 failed". Needs bun, deno, node/npm, g++ on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="$REPO/node_modules/.bin:$PATH"
T=$(mktemp -d /tmp/mm-install-XXXXXX)
VPID=""
cleanup() { [ -n "$VPID" ] && kill "$VPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
passed=0
ok() { passed=$((passed + 1)); echo "install-test: ok - $1"; }
start=$(date +%s)

echo "== build: dist/metal-marlin (tsc) and dist/platform/linux-x64 (portable library)"
bun scripts/npm/build.ts
bun scripts/npm/platform.ts
if command -v aarch64-linux-gnu-g++ >/dev/null && command -v clang++-16 >/dev/null; then
  bun scripts/npm/platform.ts --arch arm64 # clang-16 --target=aarch64-linux-gnu, Debian's cross sysroot
  readelf -h dist/platform/linux-arm64/libmetal_marlin.so | grep -q "AArch64"
  arm64=built
else
  rm -rf dist/platform/linux-arm64
  arm64="stub (no g++-aarch64-linux-gnu or clang++-16)"
fi

echo "== registry: verdaccio on 127.0.0.1"
npm install --prefix "$T/verdaccio" --no-audit --no-fund --silent verdaccio@6 >/dev/null
PORT=$(( 20000 + RANDOM % 20000 ))
REG="http://127.0.0.1:$PORT/"
cat > "$T/verdaccio.yaml" <<YAML
storage: $T/storage
auth:
  htpasswd:
    file: $T/htpasswd
uplinks:
  npmjs:
    url: https://registry.npmjs.org/
packages:
  'metal-marlin':
    access: \$all
    publish: \$authenticated
  '@metal-marlin/*':
    access: \$all
    publish: \$authenticated
  '**':
    access: \$all
    proxy: npmjs
listen: 127.0.0.1:$PORT
log: { type: file, path: $T/verdaccio.log, level: warn }
YAML
"$T/verdaccio/node_modules/.bin/verdaccio" --config "$T/verdaccio.yaml" >"$T/verdaccio.out" 2>&1 &
VPID=$!
# node's fetch, not curl: the CI machine may have no curl.
ping() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$REG-/ping"; }
for _ in $(seq 1 100); do ping && break; sleep 0.3; done
ping || { cat "$T/verdaccio.out"; exit 1; }
TOKEN=$(node -e '
  fetch(process.argv[1], { method: "PUT", headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "ci", password: "ci-install-test" }) })
    .then((r) => r.json()).then((j) => console.log(j.token));' "$REG-/user/org.couchdb.user:ci")
NPMRC="$T/npmrc"
printf 'registry=%s\n//127.0.0.1:%s/:_authToken=%s\n' "$REG" "$PORT" "$TOKEN" > "$NPMRC"
export NPM_CONFIG_USERCONFIG="$NPMRC"
npm publish ./dist/platform/linux-x64 --registry "$REG" >/dev/null
# Every optionalDependency must exist in the registry (Deno's resolver refuses a missing one). The packages
# this machine cannot build (darwin-arm64 always: the macOS workflow makes it; linux-arm64 without the cross
# compiler) are published as library-less layout stubs, to this throwaway registry only.
for id in linux-arm64 darwin-arm64; do
  if [ ! -f "dist/platform/$id/package.json" ]; then
    mkdir -p "$T/stub/$id"
    bun -e "const [os, cpu] = '$id'.split('-'); console.log(JSON.stringify({ name: '@metal-marlin/$id',
      version: '$(node -p 'require("./package.json").version')', os: [os], cpu: [cpu],
      description: 'install-test layout stub (no library)' }))" > "$T/stub/$id/package.json"
    npm publish "$T/stub/$id" --registry "$REG" >/dev/null
  else
    npm publish "./dist/platform/$id" --registry "$REG" >/dev/null
  fi
done
npm publish ./dist/metal-marlin --registry "$REG" >/dev/null
ok "published metal-marlin and @metal-marlin/{linux-x64,linux-arm64: $arm64, darwin-arm64: stub} to $REG"

# A PATH with the runtimes and node but no C++ compiler, to prove the prebuilt library needs none.
NOCC="$T/nocc-bin"
mkdir -p "$NOCC"
for t in bun deno node; do ln -s "$(command -v $t)" "$NOCC/$t"; done

examples() { bun "$REPO/scripts/npm/readme-examples.ts" "$1" "$2"; } # README ts blocks -> $1/example<N>.ts
STRICT='"strict": true, "noUncheckedIndexedAccess": true, "exactOptionalPropertyTypes": true,
  "noImplicitOverride": true, "noPropertyAccessFromIndexSignature": true, "noImplicitReturns": true'

echo "== Bun: bun add metal-marlin from the local registry"
B="$T/bun-app"
mkdir -p "$B" && cd "$B"
echo '{ "name": "bun-app", "private": true, "type": "module" }' > package.json
BUN_INSTALL_CACHE_DIR="$T/bun-cache" bun add metal-marlin --registry "$REG" >/dev/null
test -f node_modules/@metal-marlin/linux-x64/libmetal_marlin.so
ok "bun add metal-marlin installed the linux-x64 prebuilt package"
n=$(examples "$B" metal-marlin)
XDG_CACHE_HOME="$T/cache-bun" PATH="$NOCC" bun example1.ts > out1.txt
grep -q . out1.txt
ok "Bun: README example 1 runs with no compiler on PATH (prebuilt library)"
for i in $(seq 1 "$n"); do XDG_CACHE_HOME="$T/cache-bun" bun "example$i.ts" >/dev/null; done
ok "Bun: all $n README examples run from the installed package"
cat > tsconfig.json <<JSON
{ "compilerOptions": { "target": "ES2022", "module": "ESNext", "moduleResolution": "Bundler",
  "lib": ["ESNext", "DOM"], "types": [], "noEmit": true, "skipLibCheck": false, $STRICT },
  "include": ["example*.ts"] }
JSON
"$REPO/node_modules/.bin/tsc" -p .
ok "Bun project: strict tsc (no skipLibCheck) over the README examples and the package's .d.ts"
PATH="$NOCC" bun x metal-marlin --help | grep -q "usage: metal-marlin"
ok "Bun: bunx metal-marlin --help"
ND="$T/node-only"
mkdir -p "$ND" && ln -s "$(command -v node)" "$ND/node"
out=$(PATH="$ND" node node_modules/metal-marlin/bin.js --help 2>&1 || true)
echo "$out" | grep -q "runs on Bun or Deno, not Node.js" || { echo "$out"; exit 1; }
ok "Node: the bin names what to install"

echo "== Deno: npm:metal-marlin from the local registry"
D="$T/deno-app"
mkdir -p "$D" && cd "$D"
# minimumDependencyAge 0: Deno 2.9 skips versions younger than 24 h, and ours was published seconds ago.
cat > deno.json <<JSON
{ "minimumDependencyAge": 0, "compilerOptions": { $STRICT } }
JSON
examples "$D" npm:metal-marlin@0.1.0 >/dev/null
export DENO_DIR="$T/deno-dir"
NPM_CONFIG_REGISTRY="$REG" XDG_CACHE_HOME="$T/cache-deno" PATH="$NOCC" deno run -A example1.ts > out1.txt
grep -q . out1.txt
ok "Deno: README example 1 via npm:metal-marlin runs with no compiler on PATH"
for i in $(seq 1 "$n"); do NPM_CONFIG_REGISTRY="$REG" XDG_CACHE_HOME="$T/cache-deno" deno run -A "example$i.ts" >/dev/null; done
ok "Deno: all $n README examples run from npm:metal-marlin"
NPM_CONFIG_REGISTRY="$REG" deno check example*.ts
ok "Deno: deno check (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes) of the examples"
NPM_CONFIG_REGISTRY="$REG" PATH="$NOCC" deno run -A npm:metal-marlin@0.1.0 --help | grep -q "usage: metal-marlin"
ok "Deno: deno run -A npm:metal-marlin --help (the bin)"

echo "== Deno with node_modules (nodeModulesDir auto)"
DN="$T/deno-nm-app"
mkdir -p "$DN" && cd "$DN"
echo '{ "minimumDependencyAge": 0, "nodeModulesDir": "auto" }' > deno.json
examples "$DN" npm:metal-marlin@0.1.0 >/dev/null
NPM_CONFIG_REGISTRY="$REG" XDG_CACHE_HOME="$T/cache-deno-nm" PATH="$NOCC" deno run -A example1.ts > out1.txt
test -f node_modules/.deno/metal-marlin@0.1.0/node_modules/metal-marlin/mod.js && grep -q . out1.txt
ok "Deno (node_modules): README example 1 runs with no compiler on PATH"

echo "== JSR layout (TypeScript sources, no csrc/): the error's advice works"
J="$T/jsr-like"
mkdir -p "$J"
cp -r "$REPO/mod.ts" "$REPO/lib" "$REPO/deno.json" "$J/"
cd "$D"
sed "s#npm:metal-marlin@0.1.0#$J/mod.ts#" example1.ts > jsr1.ts
if MM_LIBRARY_PATH="" deno run -A jsr1.ts 2> jsr-err.txt; then echo "expected a load error"; exit 1; fi
grep -q "deno run -A npm:metal-marlin build" jsr-err.txt
line=$(NPM_CONFIG_REGISTRY="$REG" XDG_CACHE_HOME="$T/cache-deno" PATH="$NOCC" deno run -A npm:metal-marlin@0.1.0 build)
eval "$line" # export MM_LIBRARY_PATH=...
PATH="$NOCC" deno run -A jsr1.ts > jsr-out.txt
grep -q . jsr-out.txt
ok "JSR layout: no sources -> error names MM_LIBRARY_PATH + 'npm:metal-marlin build'; that command's line makes it run"
unset MM_LIBRARY_PATH

echo "install-test: took $(( $(date +%s) - start ))s"
echo "install-test: $passed passed, 0 failed"
