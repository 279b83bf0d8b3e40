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
//       return { read: text, write: `denied by policy [${err.policy_ids.join(", ")}]` };
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

/**
 * A Cordon call failed: the base class of every error the SDK throws.
 *
 * `err.message` is `"<kind, dash as space>: <detail>"` (`io`: `"i/o error: ..."`), e.g.
 * ``"not found: `a.txt` does not exist"``, the same text as Python's `str(err)` and Rust's
 * `Display`. Throwing a `CordonError` from `run` hands it to the host as the run's typed error.
 *
 * @param {string} kind the WIT case name.
 * @param {string} message the host's text without the kind.
 * @param {object} [payload] the WIT error value (defaults to `{ tag: kind, val: message }`).
 * @property {string} kind the WIT case: `access-denied`, `not-found`, `invalid`, `limit-exceeded`, `io` or `unsupported`.
 * @property {string} message the whole text, kind first.
 * @property {string} detail the host's text without the kind (Python: `err.detail`, also `err.message`).
 * @example
 * try {
 *   fs.readText("config.json");
 * } catch (err) {
 *   if (!(err instanceof CordonError)) throw err;
 *   return { error: err.toJSON() };
 * }
 */
export class CordonError extends Error {
  constructor(kind, message, payload) {
    super(`${kind === "io" ? "i/o error" : kind.replace("-", " ")}: ${message}`);
    this.name = "CordonError";
    this.kind = kind;
    this.detail = message;
    // An own `payload` property is what the component glue hands to the host when `run` throws.
    Object.defineProperty(this, "payload", { value: payload ?? { tag: kind, val: message } });
  }

  /**
   * The error as a JSON-ready object, the same shape in Rust, Python and JavaScript
   * (`JSON.stringify(err)` uses it).
   *
   * @returns {{kind: string, message: string}} an `AccessDenied` adds `action`, `resource`, `policy_ids` and `decision_id`.
   * @example
   * catch (err) { return { error: err.toJSON() }; }
   * // {"error": {"kind": "not-found", "message": "not found: `a.txt` does not exist"}}
   */
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

// Read-only, non-enumerable camelCase aliases of snake_case fields (kept for agents written
// before the names were made the same in every language; JSON.stringify leaves them out).
function aliases(target, names) {
  for (const [alias, field] of Object.entries(names)) {
    Object.defineProperty(target, alias, { get() { return this[field]; }, enumerable: false });
  }
  return target;
}

/**
 * The host owner's policy refused the call; nothing was touched. `kind`: `access-denied`.
 *
 * `err.message` names the action, the resource as the policy saw it, the deciding policies and
 * the decision's number in the log:
 * ``access denied: `fs:write` on `Cordon::File::"/hello.txt"` (by policy hello-is-read-only, decision 1)``.
 * With no policy ids, `(no policy permits it, decision N)`; refused by the host's egress guard,
 * `(by the host's egress guard cordon:egress, decision N)` and a hint naming
 * `cordon run --allow-egress-range CIDR`.
 *
 * @param {{action: string, resource: string, policyIds: string[], decisionId: bigint}} denial the WIT `denial` (`policy_ids`/`decision_id` are read too).
 * @property {string} action the refused Cedar action, e.g. `fs:write`, `http:send`.
 * @property {string} resource the resource as the policy saw it, e.g. `Cordon::File::"/hello.txt"`.
 * @property {string[]} policy_ids the `@id` of each policy that decided the refusal; empty when no policy permits the call; a host guard's name when the host refused what the policy allowed (`cordon:egress`: a special-purpose address; `cordon:rename`: a rename that would grant more under the new names). Alias: `policyIds`.
 * @property {number} decision_id the decision's sequence number in the run's log (the report's `decisions[].seq`). Alias: `decisionId`.
 * @example
 * try {
 *   fs.write("hello.txt", "bye");
 * } catch (err) {
 *   if (!(err instanceof AccessDenied)) throw err;
 *   console.log(err.action, err.resource, err.policy_ids, err.decision_id);
 * }
 */
export class AccessDenied extends CordonError {
  constructor(denial) {
    const ids = denial.policyIds ?? denial.policy_ids ?? [];
    const egress = ids.length === 1 && ids[0] === EGRESS_GUARD;
    const by = egress
      ? `by the host's egress guard ${EGRESS_GUARD}`
      : ids.length ? `by policy ${ids.join(", ")}` : "no policy permits it";
    const decisionId = BigInt(denial.decisionId ?? denial.decision_id ?? 0);
    super(
      "access-denied",
      `\`${denial.action}\` on \`${denial.resource}\` (${by}, decision ${decisionId})` +
        (egress ? EGRESS_HINT : ""),
      {
        tag: "access-denied",
        val: { action: denial.action, resource: denial.resource, policyIds: ids, decisionId },
      },
    );
    this.name = "AccessDenied";
    this.action = denial.action;
    this.resource = denial.resource;
    this.policy_ids = ids;
    this.decision_id = Number(decisionId);
    aliases(this, { policyIds: "policy_ids", decisionId: "decision_id" });
  }

  /**
   * The denial as a JSON-ready object.
   *
   * @returns {{kind: string, message: string, action: string, resource: string, policy_ids: string[], decision_id: number}} the denial's fields.
   * @example
   * catch (err) { skipped[path] = err.toJSON(); }
   */
  toJSON() {
    return {
      ...super.toJSON(),
      action: this.action,
      resource: this.resource,
      policy_ids: this.policy_ids,
      decision_id: this.decision_id,
    };
  }
}

/**
 * The named thing does not exist: a file, a directory, a collection. `kind`: `not-found`.
 *
 * @param {string} message what does not exist.
 * @example
 * let config = "{}";
 * try { config = fs.readText("config.json"); } catch (err) { if (!(err instanceof NotFound)) throw err; }
 */
export class NotFound extends CordonError {
  constructor(message) { super("not-found", message); this.name = "NotFound"; }
}
/**
 * The call's arguments are malformed, or the input was not the expected JSON. `kind`: `invalid`.
 *
 * A bad path (`..`, a symlink on the way, over 4,096 bytes), a URL that is not http(s), an
 * unknown field or operator, text that is not UTF-8. An agent may throw it for bad input.
 *
 * @param {string} message what is wrong.
 * @example
 * if (typeof input?.path !== "string") throw new Invalid('expected {"path": ...}');
 */
export class Invalid extends CordonError {
  constructor(message) { super("invalid", message); this.name = "Invalid"; }
}
/**
 * A per-call limit was hit; the run goes on. `kind`: `limit-exceeded`.
 *
 * A file larger than one read may return, a write past `--max-write`, a response past
 * `--max-response` or slower than `--http-timeout`. (A run past its fuel, memory or time is
 * stopped instead, not told.)
 *
 * @param {string} message which limit.
 * @example
 * try { page = http.get(url); } catch (err) { if (!(err instanceof LimitExceeded)) throw err; }
 */
export class LimitExceeded extends CordonError {
  constructor(message) { super("limit-exceeded", message); this.name = "LimitExceeded"; }
}
/**
 * The host's operating system refused the operation. `kind`: `io`.
 *
 * A file that already exists, a directory that is not empty, a path that is a directory, a
 * connection that failed.
 *
 * @param {string} message what the operating system said.
 * @example
 * try { fs.createDir("out"); } catch (err) { if (!(err instanceof IoError)) throw err; }
 */
export class IoError extends CordonError {
  constructor(message) { super("io", message); this.name = "IoError"; }
}
/**
 * The capability is not provided by this host. `kind`: `unsupported`.
 *
 * A run without `--root` (no files), a host without a records store or without HTTP.
 *
 * @param {string} message what is missing.
 * @example
 * let rows = [];
 * try { rows = records.query("tickets", [], ["title"]).rows; } catch (err) { if (!(err instanceof Unsupported)) throw err; }
 */
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

/**
 * Files under the run's root: every call is one decision of an `fs:*` action.
 *
 * Paths are relative to the root the operator gave the run (`cordon run --root DIR`):
 * `notes/a.txt` and `/notes/a.txt` name the same file, which the policy sees as
 * `Cordon::File::"/notes/a.txt"` (a directory as `Cordon::Dir::"/notes"`). Empty segments and
 * `.` are dropped; `..`, an empty path, a NUL byte or a symlink anywhere on the way are
 * `Invalid`. A run without a root gets `Unsupported`. Every call throws `AccessDenied` when the
 * policy refuses it (nothing was touched), `NotFound` for a path that does not exist, `Invalid`
 * for a bad path, `LimitExceeded` past a per-call limit and `IoError` when the operating system
 * refuses.
 *
 * @example
 * for (const e of fs.listDir("logs")) {
 *   if (e.kind === "file") console.log(fs.readText(`logs/${e.name}`).length);
 * }
 */
export const fs = {
  /**
   * Read a whole file (action `fs:read` on `Cordon::File::"/<path>"`).
   *
   * @param {string} path the file, relative to the run's root.
   * @returns {Uint8Array} the file's content.
   * @throws {AccessDenied} the policy refused the read.
   * @throws {NotFound} there is no such file.
   * @throws {Invalid} a bad path (`..`, a symlink on the way).
   * @throws {LimitExceeded} the file is larger than one read may return.
   * @throws {IoError} the path is a directory, or the operating system refused.
   * @example
   * const data = fs.read("data.bin");
   */
  read: (path) => call(wfs.read, path),
  /**
   * Read a whole file as UTF-8 text (action `fs:read`). Python: `fs.read_text`; Rust: `fs::read_to_string`.
   *
   * @param {string} path the file, relative to the run's root.
   * @returns {string} the file's content.
   * @throws {Invalid} the file is not UTF-8 text, or a bad path.
   * @throws {AccessDenied} the policy refused the read.
   * @throws {NotFound} there is no such file.
   * @throws {LimitExceeded} the file is larger than one read may return.
   * @throws {IoError} the operating system refused.
   * @example
   * const text = fs.readText("hello.txt");
   */
  readText: (path) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(fs.read(path));
    } catch (err) {
      if (err instanceof CordonError) throw err;
      throw new Invalid(`\`${path}\` is not UTF-8 text`);
    }
  },
  /**
   * Create or truncate a file and write `data` to it (action `fs:write`). The decision is
   * durable in the log before the file is touched.
   *
   * @param {string} path the file, relative to the run's root; its directory must exist.
   * @param {string|Uint8Array|ArrayBuffer|number[]} data a string is written as UTF-8.
   * @returns {undefined}
   * @throws {AccessDenied} the policy refused the write.
   * @throws {NotFound} the file's directory does not exist.
   * @throws {LimitExceeded} the run's `--max-write` would be passed (nothing is written).
   * @throws {Invalid} a bad path.
   * @throws {IoError} the path is a directory, or the operating system refused.
   * @example
   * fs.write("out.txt", "hi");
   */
  write: (path, data) => call(wfs.write, path, bytes(data)),
  /**
   * Append `data` to a file, creating it if needed (action `fs:append`).
   *
   * @param {string} path the file, relative to the run's root.
   * @param {string|Uint8Array|ArrayBuffer|number[]} data a string is written as UTF-8.
   * @returns {undefined}
   * @throws {AccessDenied} the policy refused the append.
   * @throws {NotFound} the file's directory does not exist.
   * @throws {LimitExceeded} the run's `--max-write` would be passed (nothing is written).
   * @throws {Invalid} a bad path.
   * @throws {IoError} the operating system refused.
   * @example
   * fs.append("log.txt", "one more line\n");
   */
  append: (path, data) => call(wfs.append, path, bytes(data)),
  /**
   * List a directory (action `fs:list` on `Cordon::Dir::"/<path>"`). Python: `fs.list_dir`.
   *
   * @param {string} path the directory, relative to the run's root (`""` or `"/"`: the root).
   * @returns {{name: string, kind: string}[]} names (not paths); `kind` is `file`, `directory`, `symlink` or `other`.
   * @throws {AccessDenied} the policy refused the listing.
   * @throws {NotFound} there is no such directory.
   * @throws {LimitExceeded} the directory has more entries than one listing may return.
   * @throws {Invalid} a bad path.
   * @throws {IoError} the path is not a directory, or the operating system refused.
   * @example
   * const names = fs.listDir("logs").filter((e) => e.kind === "file").map((e) => e.name);
   */
  listDir: (path) => call(wfs.listDir, path).map(entry),
  /**
   * Describe a path (action `fs:stat`; a `Dir` when the path is a directory, else a `File`).
   * A symlink is described, not followed.
   *
   * @param {string} path relative to the run's root.
   * @returns {{kind: string, size: number, modified_ms: number|null}} `modified_ms`: milliseconds since the Unix epoch, `null` when unknown (alias: `modifiedMs`).
   * @throws {AccessDenied} the policy refused the stat.
   * @throws {NotFound} nothing is at the path.
   * @throws {Invalid} a bad path.
   * @throws {IoError} the operating system refused.
   * @example
   * const size = fs.stat("a.txt").size;
   */
  stat: (path) => {
    const meta = call(wfs.stat, path);
    return aliases(
      {
        kind: meta.kind,
        size: Number(meta.size),
        modified_ms: meta.modifiedMs === undefined || meta.modifiedMs === null ? null : Number(meta.modifiedMs),
      },
      { modifiedMs: "modified_ms" },
    );
  },
  /**
   * Create a directory whose parent exists (action `fs:create-dir` on `Cordon::Dir`). Python: `fs.create_dir`.
   *
   * @param {string} path the new directory, relative to the run's root.
   * @returns {undefined}
   * @throws {AccessDenied} the policy refused it.
   * @throws {NotFound} the parent does not exist.
   * @throws {IoError} the path already exists, or the operating system refused.
   * @throws {Invalid} a bad path.
   * @example
   * fs.createDir("out");
   */
  createDir: (path) => call(wfs.createDir, path),
  /**
   * Remove a file or an empty directory (action `fs:remove`; a directory is decided as `Cordon::Dir`).
   *
   * @param {string} path relative to the run's root.
   * @returns {undefined}
   * @throws {AccessDenied} the policy refused it.
   * @throws {NotFound} nothing is at the path.
   * @throws {IoError} the directory is not empty, or the operating system refused.
   * @throws {Invalid} a bad path.
   * @example
   * fs.remove("scratch.txt");
   */
  remove: (path) => call(wfs.remove, path),
  /**
   * Rename a file or directory (`fs:rename` on `from`, `fs:write` on `to`; a directory's `to`
   * needs `fs:create-dir`). The host also refuses a rename that would let the policy allow
   * more on the new names than on the old ones (decided by `cordon:rename`).
   *
   * @param {string} from what to rename, relative to the run's root.
   * @param {string} to its new path.
   * @returns {undefined}
   * @throws {AccessDenied} the policy (or `cordon:rename`) refused it.
   * @throws {NotFound} `from` does not exist.
   * @throws {LimitExceeded} the directory holds more entries than the check walks.
   * @throws {IoError} `to` exists as a non-empty directory, or the operating system refused.
   * @throws {Invalid} a bad path.
   * @example
   * fs.rename("draft.md", "final.md");
   */
  rename: (from, to) => call(wfs.rename, from, to),
};

// Header pairs from an array of `[name, value]` or an object `{name: value}`.
function headerList(headers) {
  if (headers === undefined || headers === null) return [];
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return pairs.map(([name, value]) => [String(name), String(value)]);
}

const REQUEST_KEYS = new Set(["method", "url", "headers", "body"]);

/**
 * Outbound HTTP (action `http:send`), whole request and whole response.
 *
 * Each request (and each redirect the host follows) is decided as `http:send` on
 * `Cordon::Url::"<scheme>://<host>:<port><path>"` — the query and fragment are not part of the
 * id, the port is always written — with `context.method`. A refusal by the policy, or by the
 * host's egress guard for a special-purpose address (policy id `cordon:egress`), throws
 * `AccessDenied` before any connection is made.
 *
 * @example
 * const response = http.get("https://example.com/");
 * if (response.status >= 200 && response.status < 300) {
 *   const text = new TextDecoder().decode(response.body);
 * }
 */
export const http = {
  /**
   * Send a request and wait for the whole response.
   *
   * Two forms, the same request (Python's `http.send` takes both too): one request object,
   * `send({ method, url, headers, body })` (the fields of the WIT `request`; all but `url`
   * optional), or positional arguments, `send(method, url, headers, body)`.
   *
   * @param {{method?: string, url: string, headers?: Array<[string, string]>|Object<string, string>, body?: string|Uint8Array}|string} request the request, or its method (`GET`, `POST`, ...; any case, the host upper-cases it).
   * @param {string} [url] with a method: an absolute `http` or `https` URL.
   * @param {Array<[string, string]>|Object<string, string>} [headers] with a method: `[[name, value]]` or `{name: value}`; `Host` and the other headers the host sets may not be given.
   * @param {string|Uint8Array} [body] with a method: a string is sent as UTF-8.
   * @returns {{status: number, headers: Array<[string, string]>, body: Uint8Array}} the response.
   * @throws {AccessDenied} the policy refused `http:send` on the URL, or the egress guard did (`policy_ids` `["cordon:egress"]`; the message names the flag that allows it).
   * @throws {Invalid} not an http(s) URL, an unknown method, a header the host sets, or no `url`.
   * @throws {LimitExceeded} the response is larger than `--max-response`, or the request took longer than `--http-timeout`.
   * @throws {IoError} the connection failed.
   * @throws {Unsupported} this host offers no HTTP.
   * @example
   * const response = http.send({
   *   method: "POST",
   *   url: "https://api.example/notes",
   *   headers: [["content-type", "application/json"]],
   *   body: JSON.stringify({ text: "hi" }),
   * });
   * const same = http.send("POST", "https://api.example/notes", { "content-type": "application/json" }, '{"text":"hi"}');
   */
  send: (request = {}, ...rest) => {
    let method, url, headers, body;
    if (typeof request === "string") {
      method = request;
      [url, headers, body] = rest;
    } else {
      if (rest.length) throw new Invalid("give `http.send` a request object or separate arguments, not both");
      const unknown = Object.keys(request ?? {}).find((key) => !REQUEST_KEYS.has(key));
      if (unknown !== undefined) throw new Invalid(`unknown request key \`${unknown}\``);
      ({ method = "GET", url, headers, body } = request ?? {});
    }
    if (url === undefined || url === null) throw new Invalid("`http.send` needs a `url`");
    const response = call(whttp.send, {
      method: String(method),
      url: String(url),
      headers: headerList(headers),
      body: body === undefined || body === null ? undefined : bytes(body),
    });
    return { status: response.status, headers: response.headers, body: response.body };
  },
  /**
   * `GET` a URL: `send({ method: "GET", url, headers })`.
   *
   * @param {string} url an absolute `http` or `https` URL.
   * @param {Array<[string, string]>|Object<string, string>} [headers] `[[name, value]]` or `{name: value}`.
   * @returns {{status: number, headers: Array<[string, string]>, body: Uint8Array}} the response, as `send`.
   * @throws {AccessDenied} the policy or the egress guard refused it.
   * @throws {Invalid} a bad URL or header.
   * @throws {LimitExceeded} the response was too large or too slow.
   * @throws {IoError} the connection failed.
   * @throws {Unsupported} this host offers no HTTP.
   * @example
   * const status = http.get("https://example.com/").status;
   */
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

/**
 * Records held by the host (actions `records:read` and `records:read-field`).
 *
 * Each record is decided as `Cordon::Record::"<collection>/<id>"` (`in`
 * `Cordon::Collection::"<collection>"`) and each requested field as
 * `Cordon::Field::"<collection>/<name>"`. A record the policy withholds takes no part in the
 * read (it is not counted: `withheld_records` is always 0); a requested field it withholds is
 * left out of every row and named in `withheld_fields`. A filter on a withheld field refuses the
 * whole read with `AccessDenied` (resource `Cordon::Collection::"<collection>"`, no policy ids).
 *
 * @example
 * const result = records.query("tickets", [["status", "==", "open"]], ["title", "priority"], 20);
 * for (const row of result.rows) console.log(row.id, row.fields.title);
 */
export const records = {
  /**
   * Records of `collection` meeting every condition of `filter`, with the named `fields`.
   *
   * @param {string} collection the collection's name.
   * @param {Array<[string, string, *]>} filter `[field, op, value]` triples that must all hold; `op` is one of `== != < <= > >=` with a value, or `in` with an array of values. Values are `null`, booleans, numbers (integers are sent as integers), bigints or strings.
   * @param {string[]} fields the names of the fields each row should carry.
   * @param {number} [limit=100] at most this many rows (the purpose's row cap may be lower).
   * @returns {{rows: Array<{id: string, fields: Object}>, withheld_records: number, withheld_fields: string[], truncated: boolean}} `truncated`: more visible records met the filter than were returned.
   * @throws {AccessDenied} the filter tests a field the policy withholds.
   * @throws {NotFound} there is no such collection.
   * @throws {Invalid} an unknown field or operator, or a value of another type.
   * @throws {Unsupported} this host has no records store.
   * @throws {IoError} the store failed.
   * @example
   * const result = records.query("orders", [["total", ">", 100], ["region", "in", ["eu", "uk"]]], ["customer", "total"], 10);
   */
  query: (collection, filter, fields, limit = 100) =>
    result(call(wrecords.query, collection, filter.map(condition), fields, limit)),
  /**
   * One record by id, in the same shape as `query`. A record that does not exist and one the
   * policy withholds give the same answer: no row.
   *
   * @param {string} collection the collection's name.
   * @param {string} id the record's id (trimmed and put in Unicode NFC, as at import).
   * @param {string[]} fields the names of the fields the row should carry.
   * @returns {{rows: Array<{id: string, fields: Object}>, withheld_records: number, withheld_fields: string[], truncated: boolean}} at most one row.
   * @throws {NotFound} there is no such collection.
   * @throws {Invalid} an unknown field.
   * @throws {Unsupported} this host has no records store.
   * @throws {IoError} the store failed.
   * @example
   * const [row] = records.get("orders", "o-42", ["status"]).rows;
   * const status = row ? row.fields.status : null;
   */
  get: (collection, id, fields) => result(call(wrecords.get, collection, id, fields)),
};

/**
 * Wrap an agent's `run(input)` into the component's `run(input: string) -> result<string, error>`
 * (`componentize.mjs` does this).
 *
 * The host's input text is parsed as JSON (empty input is `null`) and handed to `agentRun`;
 * what it returns (or the promise's value) is written with `JSON.stringify` (`undefined` as
 * `null`) and becomes the report's `output`. A `CordonError` thrown from it becomes the WIT
 * error it stands for (the report's `status` is then `error` and its `error.kind` that error's
 * kind, e.g. `access-denied` with `policy_ids`); any other exception ends the run with an error
 * of kind `exception` at the agent's own line.
 *
 * @param {function(*): *} agentRun the agent's `run(input)`, sync or async.
 * @returns {function(string): Promise<string>} the component's export.
 * @throws {Invalid} (to the host) the input is not JSON, or the output cannot be serialised.
 * @example
 * import { run as agentRun } from "./agent.js";
 * export const run = exportRun(agentRun);
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
