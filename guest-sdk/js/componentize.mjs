#!/usr/bin/env node
// Turn an ES module that exports `run(input)` into a Cordon component:
//
//   node guest-sdk/js/componentize.mjs path/to/agent.js -o agent.wasm [--wit DIR]
//
// The agent imports helpers from "./cordon-guest.js"; this script builds it in a scratch folder
// where that file (and cordon-uncaught.js, which it imports) sits beside the agent (with the
// agent's other .js files), behind an entry that wraps `run` for JSON. componentize-js comes from $CORDON_GUEST_TOOLS/node_modules
// (scripts/install-guest-toolchain.sh).
import { cp, mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
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

const work = await mkdtemp(join(tmpdir(), "cordon-js-"));
try {
  const srcDir = dirname(resolve(src));
  for (const name of await readdir(srcDir)) {
    if (/\.(m?js)$/.test(name)) await cp(join(srcDir, name), join(work, name));
  }
  for (const sdk of ["cordon-guest.js", "cordon-uncaught.js"]) await cp(join(here, sdk), join(work, sdk));
  const entry = join(work, "cordon-entry.js");
  await writeFile(
    entry,
    `import { run as agentRun } from "./${basename(src)}";\n` +
      `import { exportRun } from "./cordon-guest.js";\n` +
      `export const run = exportRun(agentRun);\n`,
  );
  const { component } = await componentize({
    sourcePath: entry,
    witPath: resolve(wit),
    worldName: "cordon:agent/agent",
    // No fetch(), no incoming HTTP: a Cordon agent reaches the network only through http.send.
    disableFeatures: ["http", "fetch-event"],
  });
  await mkdir(dirname(resolve(out)), { recursive: true });
  await writeFile(out, component);
  console.error(`componentize: wrote ${out} (${component.length} bytes)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
