//! Source runs with the real runners (`build/runners/<language>.wasm`, built from the guest SDK
//! by scripts/build-guests.sh): agent-written Python and JavaScript, sent as text, under the
//! same gate, limits and log as a component. Ignored by a plain `cargo test`; scripts/test.sh
//! runs them with `--include-ignored`.

use std::sync::OnceLock;

use cordon_audit::Query;
use cordon_runtime::{Language, LoadedComponent, RunLimits, RunReport, RunStatus, Source};

use crate::support::{Sandbox, engine};

/// Reads anything, writes nothing: the write in each hello source is denied by name.
const HELLO_POLICY: &str = r#"
@id("read-anything") permit(principal, action == Cordon::Action::"fs:read", resource);
@id("hello-is-read-only") forbid(principal, action == Cordon::Action::"fs:write", resource == Cordon::File::"/hello.txt");
"#;

/// Each runner, compiled once per test binary.
pub(crate) fn runner(language: Language) -> &'static LoadedComponent {
    static RUNNERS: [OnceLock<LoadedComponent>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = &RUNNERS[Language::ALL.iter().position(|l| *l == language).unwrap()];
    slot.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../build/runners")
            .join(language.runner_file());
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-guests.sh", path.display()));
        engine().load(&bytes).unwrap()
    })
}

fn run(sb: &Sandbox, language: Language, code: &str, policy: &str, input: &str) -> RunReport {
    run_limited(sb, language, code, policy, input, RunLimits::default())
}

fn run_limited(
    sb: &Sandbox,
    language: Language,
    code: &str,
    policy: &str,
    input: &str,
    limits: RunLimits,
) -> RunReport {
    let source = Source::new(language, code).unwrap();
    let inv = cordon_runtime::Invocation {
        limits,
        ..sb.invocation(policy, input)
    };
    engine().run_source(runner(language), &source, inv).unwrap()
}

pub(crate) fn output(r: &RunReport) -> serde_json::Value {
    serde_json::from_str(
        r.output
            .as_deref()
            .unwrap_or_else(|| panic!("no output: {r:?}")),
    )
    .unwrap()
}

/// The sources of one language for each behaviour.
struct Cases {
    language: Language,
    hello: &'static str,
    constant: &'static str,
    echo: &'static str,
    syntax_error: &'static str,
    /// (line, column) the error must name.
    syntax_at: (u32, u32),
    raises: &'static str,
    /// The exception's type, and the line of the innermost frame.
    raised: (&'static str, u32),
    unhandled_denial: &'static str,
    spin: &'static str,
    /// Returns, for each unauthorised reach, what happened (never the host's data).
    no_authority: &'static str,
}

const PYTHON: Cases = Cases {
    language: Language::Python,
    hello: r#"
from cordon_guest import AccessDenied, fs

def main(input):
    text = fs.read_text("hello.txt")
    try:
        fs.write("hello.txt", "overwritten")
        wrote = "written"
    except AccessDenied as denied:
        wrote = "denied by policy [" + ", ".join(denied.policy_ids) + "]"
    return {"read": text, "write": wrote}
"#,
    constant: "def main(input):\n    return 42\n",
    echo: "def main(input):\n    return input\n",
    syntax_error: "def main(input):\n    x = 1\n    return (x +\n\n",
    syntax_at: (3, 12),
    raises: "def helper(d):\n    return 1 / d\n\ndef main(input):\n    return helper(0)\n",
    raised: ("ZeroDivisionError", 2),
    unhandled_denial: "from cordon_guest import fs\n\ndef main(input):\n    fs.write(\"hello.txt\", \"x\")\n",
    spin: "def main(input):\n    while True:\n        pass\n",
    no_authority: r#"
def attempt(f):
    try:
        f()
        return "succeeded"
    except BaseException as e:
        return type(e).__name__

def main(input):
    import os
    def sock():
        import socket
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    def system():
        if os.system("cat /etc/passwd") != 0:
            raise OSError("os.system failed")
    def sub():
        import subprocess
        subprocess.run(["cat", "/etc/passwd"])
    def read_passwd():
        open("/etc/passwd").read()
    def read_root():
        open("hello.txt").read()
    def env():
        if os.environ.get("HOME") or os.environ.get("PATH"):
            raise RuntimeError("environment leaked")
        raise KeyError("no environment")
    return {"socket": attempt(sock), "os.system": attempt(system), "subprocess": attempt(sub),
            "open /etc/passwd": attempt(read_passwd), "open hello.txt": attempt(read_root),
            "environ": attempt(env)}
"#,
};

const JAVASCRIPT: Cases = Cases {
    language: Language::Javascript,
    hello: r#"
import { fs, AccessDenied } from "cordon";

export function main(input) {
  const text = fs.readText("hello.txt");
  let wrote;
  try {
    fs.write("hello.txt", "overwritten");
    wrote = "written";
  } catch (e) {
    if (!(e instanceof AccessDenied)) throw e;
    wrote = "denied by policy [" + e.policyIds.join(", ") + "]";
  }
  return { read: text, write: wrote };
}
"#,
    constant: "function main(input) {\n  return 42;\n}\n",
    echo: "function main(input) {\n  return input;\n}\n",
    syntax_error: "function main(input) {\n  const x = 1;\n  return x +* 2;\n}\n",
    syntax_at: (3, 13),
    raises: "function helper(o) {\n  return o.missing.field;\n}\n\nfunction main(input) {\n  return helper({});\n}\n",
    raised: ("TypeError", 2),
    unhandled_denial: "function main(input) {\n  cordon.fs.write(\"hello.txt\", \"x\");\n}\n",
    spin: "function main(input) {\n  for (;;) {}\n}\n",
    no_authority: r#"
function attempt(f) {
  try {
    f();
    return "succeeded";
  } catch (e) {
    return (e && e.name) || String(e);
  }
}

function main(input) {
  return {
    "fetch": attempt(() => fetch("http://93.184.216.34/")),
    "headers": attempt(() => new Headers({ a: "b" })),
    "require": attempt(() => require("fs")),
    "process": attempt(() => process.env.PATH.length),
  };
}
"#,
};

const RHAI: Cases = Cases {
    language: Language::Rhai,
    hello: r#"
let text = cat("hello.txt");
let wrote = "";
try {
    write("hello.txt", "overwritten");
    wrote = "written";
} catch (denied) {
    wrote = "denied by policy [" + denied.policy_ids[0] + "]";
}
#{ read: text, write: wrote }
"#,
    constant: "42\n",
    echo: "input\n",
    syntax_error: "let x = 1;\nlet y = (x +\n;\n",
    syntax_at: (3, 1),
    raises: "fn helper(d) {\n    1 / d\n}\n\nhelper(0)\n",
    raised: ("ArithmeticError", 2),
    unhandled_denial: "write(\"hello.txt\", \"x\");\n",
    spin: "loop { }\n",
    no_authority: r#"
fn attempt(f) {
    try {
        f.call();
        return "succeeded";
    } catch (e) {
        return "refused";
    }
}
#{
    "ps": attempt(|| ps()),
    "exec": attempt(|| exec("cat /etc/passwd")),
    "open": attempt(|| open_file("/etc/passwd")),
    "import": attempt(|| eval("import \"fs\" as fs; fs::read(\"/etc/passwd\")")),
}
"#,
};

fn assert_hello(c: &Cases) {
    let sb = Sandbox::new();
    sb.write("hello.txt", "Hello from the root!\n");
    let r = run(&sb, c.language, c.hello, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::DeniedAndHandled, "{r:?}");
    let out = output(&r);
    assert_eq!(out["read"], "Hello from the root!\n");
    assert_eq!(out["write"], "denied by policy [hello-is-read-only]");
    assert_eq!(
        sb.read("hello.txt").as_deref(),
        Some("Hello from the root!\n")
    );
    let source = Source::new(c.language, c.hello).unwrap();
    let code = r.code.clone().unwrap();
    assert_eq!(
        (code.language.as_str(), code.digest.as_str()),
        (c.language.name(), source.digest())
    );
    // Both decisions, in the log, name the source and the runner.
    let entries = sb.log.store().query(&Query::default()).unwrap();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.entry.action.as_str(), e.entry.resource.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("fs:read", r#"Cordon::File::"/hello.txt""#),
            ("fs:write", r#"Cordon::File::"/hello.txt""#)
        ]
    );
    for e in &entries {
        assert_eq!(
            e.entry.code.as_ref().map(|c| c.digest.as_str()),
            Some(source.digest())
        );
        assert_eq!(e.entry.component_digest, runner(c.language).digest());
    }
}

fn assert_round_trip(c: &Cases) {
    let sb = Sandbox::new();
    let input = serde_json::json!({
        "name": "Zoë Ångström", "emoji": "🦀✓", "nested": {"list": [1, 2.5, null, true, {"k": "ü"}]},
        "quote": "a \"quoted\" \\ back\\slash\n"
    });
    let r = run(&sb, c.language, c.echo, HELLO_POLICY, &input.to_string());
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(output(&r), input);
    let r = run(&sb, c.language, c.constant, HELLO_POLICY, "");
    assert_eq!(output(&r), serde_json::json!(42));
}

fn assert_syntax_error(c: &Cases) {
    let sb = Sandbox::new();
    let r = run(&sb, c.language, c.syntax_error, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "invalid", "{e:?}");
    let at = e
        .location
        .clone()
        .unwrap_or_else(|| panic!("no location: {e:?}"));
    assert_eq!(
        (at.line, at.column),
        (c.syntax_at.0, Some(c.syntax_at.1)),
        "{e:?}"
    );
}

fn assert_exception(c: &Cases) {
    let sb = Sandbox::new();
    let r = run(&sb, c.language, c.raises, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "exception", "{e:?}");
    assert!(e.message.starts_with(c.raised.0), "{e:?}");
    let frames = e.traceback.clone().unwrap();
    assert!(!frames.is_empty(), "{e:?}");
    assert_eq!(frames.last().unwrap().line, c.raised.1, "{e:?}");
    // The top-level error is at the source's own line (the source is one text: no file).
    let at = e.location.clone().unwrap();
    assert_eq!((at.file, at.line), (None, c.raised.1), "{e:?}");
    // Only the agent's own lines: no runner or SDK internals.
    let shown = serde_json::to_string(&e).unwrap();
    for internal in ["cordon_runner", "cordon_guest", "runner", "componentize"] {
        assert!(!shown.contains(internal), "{internal} in {shown}");
    }
}

fn assert_unhandled_denial(c: &Cases) {
    let sb = Sandbox::new();
    sb.write("hello.txt", "keep\n");
    let r = run(&sb, c.language, c.unhandled_denial, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "access-denied", "{e:?}");
    assert_eq!(
        e.policy_ids.as_deref(),
        Some(&["hello-is-read-only".to_owned()][..])
    );
    assert_eq!(sb.read("hello.txt").as_deref(), Some("keep\n"));
}

fn assert_spin_is_stopped(c: &Cases) {
    let sb = Sandbox::new();
    let limits = RunLimits {
        timeout_ms: 2_000,
        ..RunLimits::default()
    };
    let r = run_limited(&sb, c.language, c.spin, HELLO_POLICY, "{}", limits);
    // Cordon's fuel or deadline, or (Rhai) the engine's own operation limit, whichever first.
    let engine_limit = r
        .error
        .as_ref()
        .is_some_and(|e| e.kind == "exception" && e.message.starts_with("LimitExceeded"));
    assert!(
        r.status == RunStatus::LimitExceeded || engine_limit,
        "{r:?}"
    );
}

fn assert_no_authority(c: &Cases) {
    let sb = Sandbox::new();
    sb.write("hello.txt", "only through the SDK\n");
    let r = run(&sb, c.language, c.no_authority, HELLO_POLICY, "{}");
    assert!(r.status.succeeded(), "{r:?}");
    let out = output(&r);
    for (reach, outcome) in out.as_object().unwrap() {
        assert_ne!(outcome, "succeeded", "{reach} worked: {out}");
    }
    let shown = serde_json::to_string(&r).unwrap();
    assert!(!shown.contains("root:x:0"), "/etc/passwd leaked: {shown}");
    assert!(
        !shown.contains("only through the SDK"),
        "the root was read around the gate"
    );
    assert!(
        r.decisions.is_empty(),
        "nothing went through the gate: {:?}",
        r.decisions
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_source_reads_and_handles_a_denied_write_and_the_log_names_it() {
    assert_hello(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_source_round_trips_nested_unicode_json() {
    assert_round_trip(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_syntax_error_is_invalid_with_line_and_column() {
    assert_syntax_error(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_uncaught_exception_shows_only_the_sources_frames() {
    assert_exception(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_unhandled_denial_ends_the_run_as_access_denied() {
    assert_unhandled_denial(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_infinite_loop_is_stopped_by_a_limit() {
    assert_spin_is_stopped(&PYTHON);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_sockets_processes_files_and_environment_have_no_authority() {
    assert_no_authority(&PYTHON);
}

/// Runs `code` (which fails on line `line` without catching) and returns the hint of its error.
fn uncaught_hint(language: Language, code: &str, line: u32) -> String {
    let sb = Sandbox::new();
    let r = run(&sb, language, code, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert!(r.decisions.is_empty(), "nothing reached the gate: {r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "exception", "{e:?}");
    assert_eq!(e.location.as_ref().map(|l| l.line), Some(line), "{e:?}");
    e.hint.clone().unwrap_or_else(|| panic!("no hint: {e:?}"))
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn python_open_urllib_socket_and_requests_are_told_the_sdk_call_to_use() {
    let open = "def main(input):\n    with open(\"/etc/passwd\") as f:\n        return f.read()\n";
    assert!(uncaught_hint(Language::Python, open, 2).contains("from cordon_guest import fs"));
    for import in ["urllib.request", "socket", "requests"] {
        let code = format!("def main(input):\n    import {import}\n    return 1\n");
        let hint = uncaught_hint(Language::Python, &code, 2);
        assert!(
            hint.contains("from cordon_guest import http"),
            "{import}: {hint}"
        );
    }
    // A failure of the agent's own making gets no hint.
    let sb = Sandbox::new();
    let r = run(&sb, Language::Python, PYTHON.raises, HELLO_POLICY, "{}");
    assert_eq!(r.error.unwrap().hint, None);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_fetch_is_told_to_use_cordon_http_send() {
    let code = "async function main(input) {\n  const r = await fetch(\"https://example.com/\");\n  return r.status;\n}\n";
    let hint = uncaught_hint(Language::Javascript, code, 2);
    assert!(hint.contains("cordon.http"), "{hint}");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_reads_and_handles_a_denied_write_and_the_log_names_it() {
    assert_hello(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_round_trips_nested_unicode_json() {
    assert_round_trip(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_syntax_error_is_invalid_with_line_and_column() {
    assert_syntax_error(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_uncaught_exception_shows_only_the_sources_frames() {
    assert_exception(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_unhandled_denial_ends_the_run_as_access_denied() {
    assert_unhandled_denial(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_infinite_loop_is_stopped_by_a_limit() {
    assert_spin_is_stopped(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn javascript_fetch_modules_and_environment_have_no_authority() {
    assert_no_authority(&JAVASCRIPT);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_reads_and_handles_a_denied_write_and_the_log_names_it() {
    assert_hello(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_round_trips_nested_unicode_json() {
    assert_round_trip(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_syntax_error_is_invalid_with_line_and_column() {
    assert_syntax_error(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_uncaught_error_shows_the_scripts_own_lines() {
    assert_exception(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_unhandled_denial_ends_the_run_as_access_denied() {
    assert_unhandled_denial(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_infinite_loop_is_stopped_by_a_limit() {
    assert_spin_is_stopped(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_processes_files_network_and_modules_have_no_authority() {
    assert_no_authority(&RHAI);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_log_lines_land_in_the_reports_stdout() {
    let sb = Sandbox::new();
    let r = run(
        &sb,
        Language::Rhai,
        "info(\"starting\");\nwarn(\"careful: ü\");\nprint(\"printed\");\n1\n",
        HELLO_POLICY,
        "{}",
    );
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(
        r.stdout,
        "info: starting\nwarn: careful: ü\nprint: printed\n"
    );
    assert_eq!(output(&r), serde_json::json!(1));
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_rex_file_functions_act_through_the_gate_and_rex_only_functions_are_unsupported() {
    let sb = Sandbox::new();
    let script = r#"
touch("a.txt");
write("a.txt", "one two\nthree\n");
cp("a.txt", "b.txt");
mkdir("d");
mv("b.txt", "d/b.txt");
let counts = wc("d/b.txt");
let last = tail("d/b.txt");
rm("a.txt");
let listed = ls("d");
let unsupported = "";
try { ps(); } catch (e) { unsupported = e.kind; }
let sysctl = "";
try { sysctl_read("kernel.hostname"); } catch (e) { sysctl = e.message; }
#{ counts: counts, last: last, listed: listed, nums: seq(3, 5), none: seq(5, 3),
   unsupported: unsupported, sysctl: sysctl }
"#;
    let all = r#"@id("all") permit(principal, action, resource);"#;
    let r = run(&sb, Language::Rhai, script, all, "{}");
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    let out = output(&r);
    assert_eq!(
        out["counts"],
        serde_json::json!({"lines": 2, "words": 3, "bytes": 14})
    );
    assert_eq!(out["last"], serde_json::json!(["one two", "three"]));
    assert_eq!(
        out["listed"],
        serde_json::json!({"b.txt": {"name": "b.txt", "type": "file", "path": "/d/b.txt"}})
    );
    assert_eq!(out["nums"], serde_json::json!([3, 4, 5]));
    assert_eq!(out["none"], serde_json::json!([]));
    assert_eq!(out["unsupported"], "unsupported");
    assert!(
        out["sysctl"]
            .as_str()
            .unwrap()
            .contains("`sysctl_read` is not available"),
        "{out}"
    );
    // The effects happened, each decided first.
    assert_eq!(sb.read("a.txt"), None);
    assert_eq!(sb.read("d/b.txt").as_deref(), Some("one two\nthree\n"));
    let actions: Vec<&str> = r.decisions.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "fs:append",
            "fs:write",
            "fs:read",
            "fs:write",
            "fs:create-dir",
            // A rename is decided on both ends.
            "fs:rename",
            "fs:write",
            "fs:read",
            "fs:read",
            "fs:remove",
            "fs:list"
        ],
        "{r:?}"
    );
    assert!(r.decisions.iter().all(|d| d.decision == "allow"));
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_curl_is_an_http_send_the_policy_decides() {
    let sb = Sandbox::new();
    let script = r#"
let got = "";
try {
    curl("http://93.184.216.34/");
    got = "fetched";
} catch (e) {
    got = e.kind + " " + e.action;
}
got
"#;
    let r = run(&sb, Language::Rhai, script, HELLO_POLICY, "{}");
    assert_eq!(r.status, RunStatus::DeniedAndHandled, "{r:?}");
    assert_eq!(output(&r), serde_json::json!("access-denied http:send"));
    assert_eq!(r.decisions.len(), 1);
    assert_eq!(r.decisions[0].action, "http:send");
    assert_eq!(r.decisions[0].decision, "deny");
}
