// js-errors: one call per kind of refusal and error, each caught and described by what the SDK
// shows the agent (class, text, fields, toJSON()); python-errors does the same calls in Python
// and must describe them identically. With {"uncaught": true} the denied write is not caught:
// the run ends with the SDK's typed error.
import { AccessDenied, CordonError, fs, http } from "./cordon-guest.js";

const URL = "https://api.example/upload?draft=1";

function describe(err) {
  const out = { class: err.name, kind: err.kind, text: err.message, json: err.toJSON() };
  if (err instanceof AccessDenied) {
    out.fields = [err.action, err.resource, err.policy_ids, err.decision_id];
    // The camelCase names of earlier versions still read the same fields.
    if (err.policyIds !== err.policy_ids || err.decisionId !== err.decision_id) {
      out.aliases = "differ";
    }
  }
  return out;
}

const CASES = [
  ["write-forbidden", () => fs.write("hello.txt", "overwritten by js-errors\n")],
  ["read-not-permitted", () => fs.readText("secret.txt")],
  ["post-positional", () => http.send("POST", URL, [["content-type", "text/plain"]], "hi")],
  ["post-request", () => http.send({ method: "POST", url: URL, body: "hi" })],
  ["read-missing", () => fs.readText("public/missing.txt")],
  ["path-escapes", () => fs.read("../outside.txt")],
];

export function run(input) {
  if (input && input.uncaught) fs.write("hello.txt", "overwritten by js-errors\n");
  const results = {};
  for (const [name, call] of CASES) {
    try {
      call();
      results[name] = "allowed";
    } catch (err) {
      if (!(err instanceof CordonError)) throw err;
      results[name] = describe(err);
    }
  }
  return results;
}
