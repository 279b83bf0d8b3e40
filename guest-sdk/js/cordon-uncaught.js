// An exception the agent's code did not catch, told in the agent's terms: its type, message,
// the frames of the agent's own files (outermost first; the SDK's, the runner's and the glue's
// are left out), and a `hint` when the code reached for authority an agent does not have (the
// network through `fetch`, `XMLHttpRequest`, `WebSocket`): the SDK call to use instead.
//
// The source runner answers it as `{"exception": ...}`. A component cannot answer once its `run`
// has failed, so `endRun` writes the readable stack and then this description as one last line
// of stderr, `cordon:uncaught {...}`, and ends the run; the host reads that line back into the
// report's error (host/runtime/src/uncaught.rs). Used by cordon-guest.js and cordon-runner.js.

/** What starts the last line of stderr that describes an uncaught exception (the host reads it). */
export const MARKER = "cordon:uncaught ";
/** A run of one frame repeated (recursion) keeps this many of its frames. */
const REPEATS = 3;
/** At most this many frames are kept: the outermost and innermost halves. */
const MAX_FRAMES = 100;

export const NETWORK_HINT =
  "an agent reaches the network only through the SDK, where the policy decides each request: " +
  "`http.send({ method, url, headers, body })` or `http.get(url)` (`cordon.http` in source; " +
  '`import { http } from "./cordon-guest.js"` in a component)';

/** Globals that would reach the network; in Cordon they throw a `TypeError` with the hint. */
const NETWORK_GLOBALS = ["fetch", "Request", "Response", "Headers"];
/** Globals a browser or Node has and Cordon has not. */
const ABSENT_NETWORK = /^(XMLHttpRequest|WebSocket|EventSource) is not defined/;

/** Replace `fetch` and its kin by functions that throw a `TypeError` naming the SDK call. */
export function disableNetworkGlobals() {
  for (const name of NETWORK_GLOBALS) {
    const refuse = function () {
      const err = new TypeError(`${name} is not available in Cordon`);
      err.hint = NETWORK_HINT;
      throw err;
    };
    Object.defineProperty(globalThis, name, {
      value: refuse,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

// SpiderMonkey stack lines look like `name@file:line:column` (`@file:...` at top level,
// `async*name@...` across an await); innermost first.
const FRAME = /^(?:async\*)?(.*?)@(.*):(\d+):(\d+)$/;

/**
 * The frames of `err`'s stack in the agent's files, outermost first: `agentFile(file)` names a
 * frame's file as the report shows it (`null`: not the agent's; `""`: the agent's, named by no
 * file), `sourceLine(file, line)` gives a line's text.
 */
export function agentFrames(err, agentFile, sourceLine) {
  const stack = err && typeof err.stack === "string" ? err.stack : "";
  const frames = [];
  for (const entry of stack.split("\n")) {
    const m = FRAME.exec(entry.trim());
    if (!m) continue;
    const file = agentFile(m[2]);
    if (file === null || file === undefined) continue;
    const line = Number(m[3]);
    const frame = file ? { file, line } : { line };
    frame.function = m[1] || "<top level>";
    const text = sourceLine ? sourceLine(m[2], line) : "";
    if (text) frame.text = text;
    frames.push(frame);
  }
  return frames.reverse();
}

const same = (a, b) => a.file === b.file && a.line === b.line && a.function === b.function;

// Keep REPEATS frames of each run of one repeated frame and at most MAX_FRAMES in all; also
// say how many were left out.
function shorten(frames) {
  let kept = [];
  for (const frame of frames) {
    if (kept.length >= REPEATS && kept.slice(-REPEATS).every((f) => same(f, frame))) continue;
    kept.push(frame);
  }
  if (kept.length > MAX_FRAMES) kept = [...kept.slice(0, MAX_FRAMES / 2), ...kept.slice(-MAX_FRAMES / 2)];
  return [kept, frames.length - kept.length];
}

// What a thrown value says, even when its own getters or toString throw.
function say(err) {
  try {
    if (err instanceof Error) return [String(err.name), String(err.message)];
    return [err === null ? "null" : typeof err, String(err)];
  } catch {
    return [typeof err, "<unprintable>"];
  }
}

/** The SDK call to use instead, when `err` came of reaching for the network. */
export function hint(err) {
  try {
    if (err && typeof err.hint === "string") return err.hint;
    if (err instanceof ReferenceError && ABSENT_NETWORK.test(err.message)) return NETWORK_HINT;
  } catch {
    // a getter of the agent's that throws: no hint
  }
  return undefined;
}

/** `{type, message, traceback, omitted_frames?, hint?}` for `err` (see `agentFrames`). */
export function describe(err, agentFile, sourceLine) {
  const [type, message] = say(err);
  let frames = [];
  try {
    frames = agentFrames(err, agentFile, sourceLine);
  } catch {
    // a `stack` getter of the agent's that throws: no frames
  }
  const [traceback, omitted] = shorten(frames);
  const out = { type, message, traceback };
  if (omitted) out.omitted_frames = omitted;
  const advice = hint(err);
  if (advice) out.hint = advice;
  return out;
}
