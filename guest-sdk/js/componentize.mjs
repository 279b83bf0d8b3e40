#!/usr/bin/env node
// Turn an ES module that exports `run(input)` into a Cordon component:
//
//   node guest-sdk/js/componentize.mjs path/to/agent.js -o agent.wasm [--wit DIR]
//
// The agent imports helpers from "./cordon-guest.js"; this script builds it in a scratch folder
// where that file (and cordon-uncaught.js, which it imports) sits beside the agent (with the
// agent's other .js files), behind an entry that wraps `run` for JSON. componentize-js comes from $CORDON_GUEST_TOOLS/node_modules
// (scripts/install-guest-toolchain.sh).
//
// Reproducible: componentize-js records the scratch folder's path (and one of its own, named
// from Math.random) in the component, so both are derived from what is built: the scratch
// folder is /tmp/cordon-js-<hash of the files staged in it>, and componentize-js's folder is
// made inside it under a fixed name. Two builds of the same files, from any folder, give the
// same bytes; a build waits while another builds the same files.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const tools = process.env.CORDON_GUEST_TOOLS ?? join(root, "build/tools");

const args = process.argv.slice(2);
let src, out, wit = process.env.CORDON_WIT_DIR ?? join(root, "wit");
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-o") out = args[++i];
  else if (args[i] === "--wit") wit = args[++i];
  else if (!src) src = args[i];
  else src = undefined, i = args.length;
}
if (!src || !out) {
  console.error("usage: componentize.mjs AGENT.js -o OUT.wasm [--wit DIR]");
  process.exit(2);
}

const cjs = join(tools, "node_modules/@bytecodealliance/componentize-js/src/componentize.js");
let componentize;
try {
  ({ componentize } = await import(pathToFileURL(cjs).href));
} catch (err) {
  console.error(`componentize: componentize-js not found at ${cjs}; run scripts/install-guest-toolchain.sh`);
  process.exit(1);
}

// What goes into the scratch folder: the agent's .js files, the SDK's, and the entry.
const srcDir = dirname(resolve(src));
const files = new Map();
for (const name of (await readdir(srcDir)).sort()) {
  if (/\.(m?js)$/.test(name)) files.set(name, await readFile(join(srcDir, name)));
}
for (const sdk of ["cordon-guest.js", "cordon-uncaught.js"]) files.set(sdk, await readFile(join(here, sdk)));
files.set(
  "cordon-entry.js",
  `import { run as agentRun } from "./${basename(src)}";\n` +
    `import { exportRun } from "./cordon-guest.js";\n` +
    `export const run = exportRun(agentRun);\n`,
);
const hash = createHash("sha256");
for (const [name, bytes] of files) hash.update(`${name}\0${bytes.length}\0`).update(bytes);
const work = `/tmp/cordon-js-${hash.digest("hex").slice(0, 16)}`;
await claim(work);
const savedTmp = process.env.TMPDIR;
const cwd = process.cwd();
const savedRandom = Math.random;
try {
  for (const [name, bytes] of files) await writeFile(join(work, name), bytes);
  // componentize-js makes its folder at join(tmpdir(), <hash of Math.random()>).
  process.env.TMPDIR = work;
  Math.random = () => 0.5;
  // It also records the source's folder, or the working directory when that holds it.
  process.chdir(work);
  const { component } = await componentize({
    sourcePath: join(work, "cordon-entry.js"),
    witPath: resolve(wit),
    worldName: "cordon:agent/agent",
    // No fetch(), no incoming HTTP: a Cordon agent reaches the network only through http.send.
    disableFeatures: ["http", "fetch-event"],
  });
  Math.random = savedRandom;
  process.chdir(cwd);
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await mkdir(dirname(resolve(out)), { recursive: true });
  await writeFile(resolve(out), component);
  console.error(`componentize: wrote ${out} (${component.length} bytes)`);
} finally {
  Math.random = savedRandom;
  process.chdir(cwd);
  await rm(work, { recursive: true, force: true });
}

// Make `dir`, waiting while another build of the same files holds it (one left behind by a
// build that died is taken over after ten minutes).
async function claim(dir) {
  const deadline = Date.now() + 15 * 60 * 1000;
  for (;;) {
    try {
      await mkdir(dir);
      return;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
    }
    const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > 10 * 60 * 1000) await rm(dir, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`componentize: ${dir} stays in use`);
    else await new Promise((done) => setTimeout(done, 250));
  }
}
