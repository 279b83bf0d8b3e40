// js-hello: hello-fs in JavaScript. Reads `hello.txt` (permitted), tries to overwrite it
// (forbidden), and reports both; the denial is caught, so the run succeeds.
import { AccessDenied, fs } from "./cordon-guest.js";

export function run(_input) {
  const read = fs.readText("hello.txt");
  let write = "written";
  try {
    fs.write("hello.txt", "overwritten by js-hello\n");
  } catch (err) {
    if (!(err instanceof AccessDenied)) throw err;
    write = `denied by policy [${err.policy_ids.join(", ")}]`;
  }
  return { read, write };
}
