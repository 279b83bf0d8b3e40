// The JavaScript runner: runs an agent's JavaScript source, sent as text, under Cordon.
//
// The host calls the component's `run` with `{"language": "javascript", "code": "...", "input": ...}`
// (the protocol of issue #15) and gets back exactly one envelope: `{"result": value}`,
// `{"invalid": {message, line?, column?}}` or `{"exception": {type, message, traceback, hint?}}`
// (cordon-uncaught.js). A `CordonError` (`AccessDenied`...) the source does not catch is not an
// envelope: it reaches the host as the WIT error, as for any component.
//
// The convention for source (guest-sdk/README.md, "Source runs"):
// - the source is a classic script, evaluated in the global scope as `agent.js`; it defines
//   `function main(input)` (or `async function`, or `const main = ...`), whose return value is
//   the run's output;
// - the SDK is the global `cordon` (`cordon.fs`, `cordon.http`, `cordon.records`,
//   `cordon.AccessDenied`, ...); an import of it on its own line, `import { fs } from "cordon"`
//   (or `"cordon-guest"`, `"./cordon-guest.js"`; also `* as c` and a default name), is rewritten
//   to `const { fs } = cordon;`, and `export` before a declaration is blanked, so a module
//   written for the SDK runs too; both keep every line (and the columns of other lines) in place;
// - `fetch` (and `Request`, `Response`, `Headers`) throw a `TypeError` with a `hint` (the SDK, as
//   for components: cordon-uncaught.js): the network is reached only through `cordon.http`,
//   where every request is decided by policy.
//
// `scripts/build-guests.sh` builds this into `build/runners/javascript.wasm` with
// `componentize.mjs`; componentize-js snapshots the engine after this module (and the SDK) have
// been evaluated, so a run pays for neither.

import * as sdk from "./cordon-guest.js";
import { CordonError } from "./cordon-guest.js";
import { agentFrames, describe } from "./cordon-uncaught.js";

/** The name the source is evaluated under (`//# sourceURL`); stack frames with it are the agent's. */
const FILENAME = "agent.js";

// The SDK for the source: everything of cordon-guest.js but the component glue.
const { exportRun: _glue, ...api } = sdk;
globalThis.cordon = Object.freeze(api);

const SDK_MODULE = String.raw`(["'])(?:cordon|cordon-guest|\.\/cordon-guest\.js)\3`;
const IMPORT = new RegExp(
  String.raw`^([ \t]*)import\s*(\{[^}]*\}|\*\s*as\s+[A-Za-z_$][\w$]*|[A-Za-z_$][\w$]*)\s*from\s*` +
    SDK_MODULE + String.raw`[ \t]*;?`,
  "gm",
);
const EXPORT = /^([ \t]*)export(\s+)(?=(?:async\s+)?function\b|const\b|let\b|var\b|class\b)/gm;

/** Make SDK imports and exported declarations valid in a script, keeping every line in place. */
export function rewrite(code) {
  return code
    .replace(IMPORT, (_all, indent, binding) => {
      if (binding.startsWith("{")) return `${indent}const ${binding.replace(/\bas\b/g, ":")} = cordon;`;
      if (binding.startsWith("*")) return `${indent}const ${binding.replace(/^\*\s*as\s+/, "")} = cordon;`;
      return `${indent}const ${binding} = cordon;`;
    })
    .replace(EXPORT, (_all, indent, space) => `${indent}      ${space}`);
}

function invalid(message, line, column) {
  const out = { message };
  if (Number.isInteger(line) && line > 0) out.line = line;
  if (Number.isInteger(column) && column > 0) out.column = column;
  return { invalid: out };
}

// The source's own frames, named by no file (the source is one text), with their lines' text.
const ownFile = (file) => (file === FILENAME ? "" : null);
const lineOf = (lines) => (_file, line) => (line > 0 && line <= lines.length ? lines[line - 1].trim() : "");

function exception(err, lines) {
  return { exception: describe(err, ownFile, lineOf(lines)) };
}

/** Run one protocol request (already parsed from JSON) and return its envelope. */
export async function run(request) {
  if (!request || typeof request !== "object" || typeof request.code !== "string") {
    return invalid("the runner's input must be an object with a string `code`");
  }
  const language = request.language ?? "javascript";
  if (language !== "javascript") return invalid(`this runner runs javascript, not \`${language}\``);
  const code = request.code;
  const lines = code.split(/\r\n|\r|\n|\u2028|\u2029/);

  let main;
  try {
    // Indirect eval: global scope, no wrapper, so lines and columns are the source's own.
    // The last line's completion value is `main` (found also under "use strict", where the
    // source's declarations stay in the eval's own scope).
    main = (0, eval)(
      `${rewrite(code)}\n;typeof main === "function" ? main : undefined\n//# sourceURL=${FILENAME}`,
    );
  } catch (err) {
    if (err instanceof CordonError) throw err;
    // A syntax error of the source itself has no frame in it (nothing of it ran); one thrown
    // while its top level ran (`JSON.parse`, an `eval` of its own) is an exception.
    if (err instanceof SyntaxError && agentFrames(err, ownFile).length === 0) {
      // Past the end (an unclosed block) is the runner's trailer: point at the source's end.
      const past = err.lineNumber > lines.length;
      return invalid(
        `SyntaxError: ${err.message}`,
        past ? lines.length : err.lineNumber,
        past ? undefined : err.columnNumber,
      );
    }
    return exception(err, lines);
  }
  if (typeof main !== "function") return invalid("the source defines no function `main(input)`");

  let result;
  try {
    result = await main(request.input ?? null);
  } catch (err) {
    if (err instanceof CordonError) throw err;
    return exception(err, lines);
  }
  if (result === undefined) result = null;
  try {
    if (JSON.stringify(result) === undefined) throw new TypeError(`a ${typeof result} is not JSON`);
  } catch (err) {
    return invalid(`the result of \`main\` is not JSON: ${err.message}`);
  }
  return { result };
}
