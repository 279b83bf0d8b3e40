// Write Cordon agents in JavaScript.
//
// An agent is an ES module that exports `run(input)`: `input` is the run's parsed JSON input
// (`null` when empty) and the return value (or a promise of it) is written back as JSON.
//
//   import { AccessDenied, fs } from "./cordon-guest.js";
//
//   export function run(input) {
//     const text = fs.readText("hello.txt");
//     try {
//       fs.write("hello.txt", "bye");
//     } catch (err) {
//       if (!(err instanceof AccessDenied)) throw err;
//       return { read: text, write: `denied by policy [${err.policyIds.join(", ")}]` };
//     }
//     return { read: text, write: "written" };
//   }
//
// `guest-sdk/js/componentize.mjs agent.js -o agent.wasm` builds the component (it places this
// file and cordon-uncaught.js beside the agent). Every fs, http and records call is decided by the
// host's Cedar policy; a refusal throws `AccessDenied`, which the agent may catch. Throwing a
// `CordonError` from `run` hands it to the host as the run's typed error; any other exception is
// a bug and ends the run: the report's error is then of kind `exception`, with its type, message
// and the line of the agent's file it was thrown at (`location`, `traceback`). `fetch` (and
// `Request`, `Response`, `Headers`) throw a `TypeError` whose `hint` names `http.send`: an agent
// reaches the network only through this SDK. `console.log` writes to the report's `stdout`,
// `console.error` to its `stderr`, where the full stack of an uncaught exception also is.

import * as wfs from "cordon:agent/fs@0.1.0";
import * as whttp from "cordon:agent/http@0.1.0";
import * as wrecords from "cordon:agent/records@0.1.0";
import { MARKER, describe, disableNetworkGlobals } from "./cordon-uncaught.js";

disableNetworkGlobals();

/** A Cordon call failed. `kind` is the WIT case name; `payload` is the WIT error value. */
export class CordonError extends Error {
  constructor(kind, message, payload) {
    super(`${kind.replace("-", " ")}: ${message}`);
    this.name = "CordonError";
    this.kind = kind;
    this.detail = message;
    // An own `payload` property is what the component glue hands to the host when `run` throws.
    Object.defineProperty(this, "payload", { value: payload ?? { tag: kind, val: message } });
  }

  /** The error as a JSON-ready object: `kind`, `message` and any details. */
  toJSON() {
    return { kind: this.kind, message: this.message };
  }
}

// A refusal by the host's egress guard: the policy allowed the request, but the host's address
// is special-purpose and the operator has not allowed its range.
const EGRESS_GUARD = "cordon:egress";
const EGRESS_HINT =
  ": the address is special-purpose (loopback, private, link-local, ...); the operator allows" +
  " its range with `cordon run --allow-egress-range CIDR` or `egress.allow_ranges` of" +
  " `cordon serve`";

/** The host owner's policy refused the call; nothing was touched. */
export class AccessDenied extends CordonError {
  constructor(denial) {
    const ids = denial.policyIds ?? [];
    const egress = ids.length === 1 && ids[0] === EGRESS_GUARD;
    const by = egress
      ? `by the host's egress guard ${EGRESS_GUARD}`
      : ids.length ? `by policy ${ids.join(", ")}` : "no policy permits it";
    const decisionId = BigInt(denial.decisionId ?? 0);
    super(
      "access-denied",
      `\`${denial.action}\` on \`${denial.resource}\` (${by}, decision ${decisionId})` +
        (egress ? EGRESS_HINT : ""),
      { tag: "access-denied", val: { ...denial, policyIds: ids, decisionId } },
    );
    this.name = "AccessDenied";
    this.action = denial.action;
    this.resource = denial.resource;
    this.policyIds = ids;
    this.decisionId = Number(decisionId);
  }

  toJSON() {
    return {
      ...super.toJSON(),
      action: this.action,
      resource: this.resource,
      policy_ids: this.policyIds,
      decision_id: this.decisionId,
    };
  }
}

/** The named thing does not exist. */
export class NotFound extends CordonError {
  constructor(message) { super("not-found", message); this.name = "NotFound"; }
}
/** The call's arguments are malformed, or the input was not the expected JSON. */
export class Invalid extends CordonError {
  constructor(message) { super("invalid", message); this.name = "Invalid"; }
}
/** A per-call limit was hit. */
export class LimitExceeded extends CordonError {
  constructor(message) { super("limit-exceeded", message); this.name = "LimitExceeded"; }
}
/** The host's operating system refused the operation. */
export class IoError extends CordonError {
  constructor(message) { super("io", message); this.name = "IoError"; }
}
/** The capability is not provided by this host. */
export class Unsupported extends CordonError {
  constructor(message) { super("unsupported", message); this.name = "Unsupported"; }
}

const CASES = {
  "not-found": NotFound,
  invalid: Invalid,
  "limit-exceeded": LimitExceeded,
  io: IoError,
  unsupported: Unsupported,
};

function fromWit(error) {
  if (error && error.tag === "access-denied") return new AccessDenied(error.val);
  const Case = error && CASES[error.tag];
  return Case ? new Case(String(error.val)) : null;
}

// Call an import; turn the error it throws into the matching CordonError.
function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (err) {
    const mapped = err && Object.prototype.hasOwnProperty.call(err, "payload") ? fromWit(err.payload) : null;
    throw mapped ?? err;
  }
}

const encoder = new TextEncoder();
const bytes = (data) => (typeof data === "string" ? encoder.encode(data) : new Uint8Array(data));
const entry = (e) => ({ name: e.name, kind: e.kind });

/** Files under the run's root. Paths are relative to it (`notes/a.txt` == `/notes/a.txt`). */
export const fs = {
  /** Read a whole file as a Uint8Array. `fs.read("data.bin")` */
  read: (path) => call(wfs.read, path),
  /** Read a whole file as UTF-8 text. `fs.readText("hello.txt")` */
  readText: (path) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(fs.read(path));
    } catch (err) {
      if (err instanceof CordonError) throw err;
      throw new Invalid(`\`${path}\` is not UTF-8 text`);
    }
  },
  /** Create or truncate a file with `data` (string or bytes). `fs.write("out.txt", "hi")` */
  write: (path, data) => call(wfs.write, path, bytes(data)),
  /** Append `data`, creating the file if needed. `fs.append("log.txt", "x\n")` */
  append: (path, data) => call(wfs.append, path, bytes(data)),
  /** List a directory: `[{ name, kind }]`, kind `file`, `directory`, `symlink` or `other`. */
  listDir: (path) => call(wfs.listDir, path).map(entry),
  /** Describe a path: `{ kind, size, modifiedMs }` (numbers). `fs.stat("a.txt").size` */
  stat: (path) => {
    const meta = call(wfs.stat, path);
    return {
      kind: meta.kind,
      size: Number(meta.size),
      modifiedMs: meta.modifiedMs === undefined ? undefined : Number(meta.modifiedMs),
    };
  },
  /** Create a directory whose parent exists. `fs.createDir("out")` */
  createDir: (path) => call(wfs.createDir, path),
  /** Remove a file or an empty directory. `fs.remove("scratch.txt")` */
  remove: (path) => call(wfs.remove, path),
  /** Rename a file or directory. `fs.rename("draft.md", "final.md")` */
  rename: (from, to) => call(wfs.rename, from, to),
};

/** Outbound HTTP, whole request and whole response. */
export const http = {
  /** `http.send({ method, url, headers: [[name, value]], body })` → `{ status, headers, body }` */
  send: ({ method = "GET", url, headers = [], body } = {}) => {
    const response = call(whttp.send, {
      method,
      url,
      headers: headers.map(([name, value]) => [String(name), String(value)]),
      body: body === undefined || body === null ? undefined : bytes(body),
    });
    return { status: response.status, headers: response.headers, body: response.body };
  },
  /** `http.get("https://example.com/")` */
  get: (url, headers = []) => http.send({ method: "GET", url, headers }),
};

const OPS = { "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge" };

function toValue(value) {
  if (value === null || value === undefined) return { tag: "null" };
  if (typeof value === "boolean") return { tag: "boolean", val: value };
  if (typeof value === "bigint") return { tag: "integer", val: value };
  if (typeof value === "number") {
    return Number.isInteger(value) ? { tag: "integer", val: BigInt(value) } : { tag: "float", val: value };
  }
  if (typeof value === "string") return { tag: "text", val: value };
  throw new Invalid(`cannot use a ${typeof value} as a field value`);
}

const fromValue = (v) => (v.tag === "null" ? null : v.tag === "integer" ? Number(v.val) : v.val);

function condition([field, op, value]) {
  if (op === "in") return { tag: "one-of", val: { field, values: value.map(toValue) } };
  if (!(op in OPS)) throw new Invalid(`unknown operator \`${op}\``);
  return { tag: "compare", val: { field, op: OPS[op], value: toValue(value) } };
}

function result(r) {
  return {
    rows: r.rows.map((row) => ({
      id: row.id,
      fields: Object.fromEntries(row.fields.map((f) => [f.name, fromValue(f.value)])),
    })),
    withheld_records: r.withheldRecords,
    withheld_fields: r.withheldFields,
    truncated: r.truncated,
  };
}

/** Records held by the host; withheld records and fields are counted, never shown. */
export const records = {
  /** `records.query("tickets", [["status", "==", "open"]], ["title"], 20)`; ops `== != < <= > >= in` */
  query: (collection, filter, fields, limit = 100) =>
    result(call(wrecords.query, collection, filter.map(condition), fields, limit)),
  /** `records.get("tickets", "T-17", ["title"])` */
  get: (collection, id, fields) => result(call(wrecords.get, collection, id, fields)),
};

/**
 * Wrap an agent's `run(input)` into the component's `run(input: string) -> result<string, error>`
 * (the build helper does this). A `CordonError` becomes the WIT error it stands for; any other
 * exception ends the run, described for the report in the agent's terms (`endRun`).
 */
export function exportRun(agentRun) {
  return async function run(input) {
    let value;
    try {
      value = input.trim() === "" ? null : JSON.parse(input);
    } catch (err) {
      throw new Invalid(`input is not JSON: ${err.message}`);
    }
    let output;
    try {
      output = await agentRun(value);
    } catch (err) {
      if (err instanceof CordonError) throw err;
      endRun(err);
    }
    let text;
    try {
      text = JSON.stringify(output === undefined ? null : output);
    } catch (err) {
      throw new Invalid(`cannot serialise the output as JSON: ${err.message}`);
    }
    if (text === undefined) throw new Invalid(`cannot serialise a ${typeof output} as JSON`);
    return text;
  };
}

// The files componentize.mjs puts beside the agent's: frames in them are not the agent's.
const SDK_FILES = new Set(["cordon-guest.js", "cordon-uncaught.js", "cordon-entry.js", "initializer.js"]);

// A frame's file as the report names it: its name in the agent's folder, or null when it is not
// one of the agent's files (the SDK's, the glue's).
function agentFile(file) {
  const name = file.slice(file.lastIndexOf("/") + 1);
  return !name || SDK_FILES.has(name) ? null : name;
}

/**
 * End the run on `err`, which the agent's `run` did not catch: write its stack (and hint) and
 * then the marker line to stderr, and throw it on, which traps. Whatever the component glue says
 * after the marker line (it cannot hand a non-Cordon exception to the host) is not the agent's:
 * the host drops it with the line.
 */
function endRun(err) {
  const report = { kind: "exception", ...describe(err, agentFile) };
  let stack = "";
  try {
    stack = typeof err?.stack === "string" ? err.stack : "";
  } catch {
    // a `stack` getter of the agent's that throws
  }
  let text = `${report.type}: ${report.message}\n${stack}`;
  if (!text.endsWith("\n")) text += "\n";
  if (report.hint) text += `hint: ${report.hint}\n`;
  console.error(text + MARKER + JSON.stringify(report));
  throw err;
}
