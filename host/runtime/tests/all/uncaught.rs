//! An agent's own code failing — a Rust panic, an uncaught Python or JavaScript exception — is
//! reported in the agent's terms: the report's error has the type, message and the line of the
//! agent's file, not the wasm trap it ended in; and code that reaches for authority an agent
//! does not have (`open`, `urllib`, `socket`, `requests`, `fetch`) is told the SDK call to use.
//!
//! The first tests use a hermetic WAT guest that writes what an SDK writes (`cordon:uncaught
//! {...}` last on stderr) and then traps, spins or returns; the others run the example agents
//! `uncaught`, `python-uncaught` and `js-uncaught` built by scripts/build-guests.sh (ignored by a
//! plain `cargo test`; scripts/test.sh runs them).

use std::sync::OnceLock;

use cordon_runtime::{GuestError, LimitExceeded, LoadedComponent, RunLimits, RunReport, RunStatus};
use cordon_testkit::{AfterStderr, stderr_guest};

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

/// What an SDK writes for a `ZeroDivisionError` raised in `helper.py`, line 5.
const PYTHON_LAST_WORDS: &str = "Traceback (most recent call last):\n  File \"/2/helper.py\", \
    line 5, in ratio\nZeroDivisionError: division by zero\ncordon:uncaught {\"kind\": \"exception\", \
    \"type\": \"ZeroDivisionError\", \"message\": \"division by zero\", \"traceback\": [{\"file\": \
    \"agent.py\", \"line\": 11, \"function\": \"run\"}, {\"file\": \"helper.py\", \"line\": 5, \
    \"function\": \"ratio\"}]}\n";

fn error(r: &RunReport) -> &GuestError {
    r.error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {r:?}"))
}

#[test]
fn a_trap_after_the_sdks_last_words_is_the_agents_exception_not_the_trap() {
    let sb = Sandbox::new();
    let r = sb.run(
        &load(stderr_guest(AfterStderr::Trap)),
        ALLOW_ALL,
        PYTHON_LAST_WORDS,
    );
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(r.trap, None, "no wasm backtrace at the top: {r:?}");
    let e = error(&r);
    assert_eq!(e.kind, "exception");
    assert_eq!(e.message, "ZeroDivisionError: division by zero");
    let at = e.location.clone().unwrap();
    assert_eq!((at.file.as_deref(), at.line), (Some("helper.py"), 5));
    assert_eq!(e.traceback.as_ref().map(Vec::len), Some(2));
    // The readable traceback stays; the line the host read does not.
    assert!(
        r.stderr.ends_with("ZeroDivisionError: division by zero\n"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("cordon:uncaught"), "{}", r.stderr);
}

#[test]
fn a_trap_without_the_sdks_last_words_stays_a_trap() {
    let sb = Sandbox::new();
    let text = "cordon:uncaught {\"type\": \"E\"}\n"; // no message: not a description
    let r = sb.run(&load(stderr_guest(AfterStderr::Trap)), ALLOW_ALL, text);
    assert_eq!(r.status, RunStatus::Trap, "{r:?}");
    assert!(r.trap.as_deref().unwrap().contains("unreachable"), "{r:?}");
    assert_eq!(r.error, None);
    assert_eq!(r.stderr, text, "stderr as written");
}

#[test]
fn fuel_and_memory_limits_after_the_sdks_last_words_keep_their_outcome() {
    let sb = Sandbox::new();
    let fuel = RunLimits {
        fuel: 2_000_000,
        ..RunLimits::default()
    };
    let r = sb.run_with(
        &load(stderr_guest(AfterStderr::Spin)),
        ALLOW_ALL,
        PYTHON_LAST_WORDS,
        fuel,
    );
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Fuel));
    assert_eq!((r.error.as_ref(), r.trap.as_ref()), (None, None), "{r:?}");
    assert_eq!(r.stderr, PYTHON_LAST_WORDS, "stderr as written");

    let memory = RunLimits {
        memory_bytes: 4 << 20,
        ..RunLimits::default()
    };
    let r = sb.run_with(
        &load(stderr_guest(AfterStderr::GrowMemory)),
        ALLOW_ALL,
        PYTHON_LAST_WORDS,
        memory,
    );
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Memory));
    assert_eq!(r.error, None, "{r:?}");
}

#[test]
fn the_sdks_last_words_in_a_run_that_returns_are_only_stderr() {
    let sb = Sandbox::new();
    let r = sb.run(
        &load(stderr_guest(AfterStderr::Return)),
        ALLOW_ALL,
        PYTHON_LAST_WORDS,
    );
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("ok"));
    assert_eq!(r.error, None);
    assert_eq!(r.stderr, PYTHON_LAST_WORDS);
}

/// An example agent from build/guests, compiled once per test binary.
fn guest(name: &str) -> &'static LoadedComponent {
    static GUESTS: [(&str, OnceLock<LoadedComponent>); 3] = [
        ("uncaught", OnceLock::new()),
        ("python-uncaught", OnceLock::new()),
        ("js-uncaught", OnceLock::new()),
    ];
    let (_, slot) = GUESTS.iter().find(|(n, _)| *n == name).unwrap();
    slot.get_or_init(|| {
        let path = repo().join("build/guests").join(format!("{name}.wasm"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-guests.sh", path.display()));
        engine().load(&bytes).unwrap()
    })
}

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The 1-based line of `file` (under examples/) that contains `needle`, once.
fn line_of(file: &str, needle: &str) -> u32 {
    let text = std::fs::read_to_string(repo().join("examples").join(file)).unwrap();
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "`{needle}` in {file}: {lines:?}");
    u32::try_from(lines[0]).unwrap()
}

/// What the run's `error` says, checked to be an uncaught failure of the agent at `file:line`.
fn assert_at(r: &RunReport, kind: &str, message: &str, file: &str, line: u32) -> GuestError {
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(r.trap, None, "{r:?}");
    let e = error(r).clone();
    assert_eq!((e.kind, e.message.as_str()), (kind, message), "{e:?}");
    let at = e
        .location
        .clone()
        .unwrap_or_else(|| panic!("no location: {e:?}"));
    assert_eq!(at.line, line, "{e:?}");
    let named = at.file.clone().unwrap_or_default();
    assert!(named.ends_with(file), "{named} is not {file}: {e:?}");
    // Nothing of the wasm trap or of the toolchain's dying words.
    let shown = serde_json::to_string(&r).unwrap();
    for noise in [
        "wasm backtrace",
        "RUST_BACKTRACE",
        "cordon:uncaught",
        "invalid variant tag",
        "mozalloc",
    ] {
        assert!(!shown.contains(noise), "{noise} in {shown}");
    }
    e
}

fn run_guest(name: &str, input: &str) -> RunReport {
    let sb = Sandbox::new();
    sb.run(guest(name), ALLOW_ALL, input)
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn a_rust_panic_is_the_report_error_with_its_message_and_the_agents_line() {
    let r = run_guest("uncaught", r#"{"do": "panic"}"#);
    let line = line_of("uncaught/src/lib.rs", "panic!(\"asked to panic\")");
    let e = assert_at(&r, "panic", "asked to panic", "uncaught/src/lib.rs", line);
    assert!(e.location.unwrap().column.is_some());
    assert!(
        r.stderr.contains("panicked at uncaught/src/lib.rs:"),
        "{}",
        r.stderr
    );

    // A panic of Rust's own (a division by zero) is told the same way.
    let r = run_guest("uncaught", r#"{"do": "divide", "by": 0}"#);
    let line = line_of("uncaught/src/lib.rs", "100 / by");
    assert_at(
        &r,
        "panic",
        "attempt to divide by zero",
        "uncaught/src/lib.rs",
        line,
    );
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn a_rust_agent_prints_to_the_reports_stdout_and_stderr() {
    let r = run_guest("uncaught", r#"{"do": "print"}"#);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("\"printed\""));
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("to stdout\n", "to stderr\n")
    );
}

/// `{"do": <fault>}` makes example `guest` raise in its `helper.<ext>` at the line with `raise`,
/// called from `agent.<ext>`'s `return ratio(`: the report's error is there, with both frames
/// and nothing of the SDK. Returns the report.
fn assert_raised_in_helper(
    guest: &str,
    fault: &str,
    ext: &str,
    raise: &str,
    message: &str,
) -> RunReport {
    let r = run_guest(guest, &format!(r#"{{"do": "{fault}"}}"#));
    let (agent, helper) = (format!("agent.{ext}"), format!("helper.{ext}"));
    let line = line_of(&format!("{guest}/{helper}"), raise);
    let e = assert_at(&r, "exception", message, &helper, line);
    let frames: Vec<(String, u32)> = e
        .traceback
        .unwrap()
        .into_iter()
        .map(|f| (f.file.unwrap_or_default(), f.line))
        .collect();
    let call = line_of(&format!("{guest}/{agent}"), "return ratio(");
    assert_eq!(frames, [(agent, call), (helper, line)]);
    assert_eq!(
        e.hint, None,
        "a failure of the agent's own making gets no hint"
    );
    r
}

/// Each `(fault, needle, message)` makes example `guest` fail at the line of its `agent.<ext>`
/// with `needle`, reaching for authority it does not have: the error says so there, with a
/// hint containing `sdk`, and nothing reached the gate.
fn assert_hinted(guest: &str, ext: &str, sdk: &str, cases: &[(&str, &str, &str)]) {
    for (fault, needle, message) in cases {
        let r = run_guest(guest, &format!(r#"{{"do": "{fault}"}}"#));
        let line = line_of(&format!("{guest}/agent.{ext}"), needle);
        let e = assert_at(&r, "exception", message, &format!("agent.{ext}"), line);
        let hint = e.hint.unwrap_or_else(|| panic!("{fault}: no hint: {r:?}"));
        assert!(hint.contains(sdk), "{fault}: {hint}");
        assert!(r.decisions.is_empty(), "nothing reached the gate: {r:?}");
    }
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn an_uncaught_python_exception_is_the_report_error_at_the_agents_line() {
    let r = assert_raised_in_helper(
        "python-uncaught",
        "raise",
        "py",
        "return a / b",
        "ZeroDivisionError: division by zero",
    );
    // The full traceback is in stderr.
    assert!(
        r.stderr.starts_with("Traceback (most recent call last):"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn python_open_urllib_socket_and_requests_are_told_the_sdk_call_to_use() {
    let open = "FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'";
    assert_hinted(
        "python-uncaught",
        "py",
        "from cordon_guest import fs",
        &[("open", "open(\"/etc/passwd\")", open)],
    );
    assert_hinted(
        "python-uncaught",
        "py",
        "from cordon_guest import http",
        &[
            (
                "urllib",
                "import urllib.request",
                "ModuleNotFoundError: No module named 'urllib'",
            ),
            (
                "socket",
                "import socket",
                "ModuleNotFoundError: No module named 'socket'",
            ),
            (
                "requests",
                "import requests",
                "ModuleNotFoundError: No module named 'requests'",
            ),
        ],
    );
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn an_uncaught_javascript_error_is_the_report_error_at_the_agents_line() {
    let r = assert_raised_in_helper(
        "js-uncaught",
        "throw",
        "js",
        "throw new RangeError",
        "RangeError: division by zero",
    );
    // The full stack is in stderr.
    assert!(r.stderr.contains("ratio@helper.js:"), "{}", r.stderr);
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn javascript_fetch_and_xhr_are_told_to_use_http_send() {
    assert_hinted(
        "js-uncaught",
        "js",
        "http.send(",
        &[
            (
                "fetch",
                "await fetch(",
                "TypeError: fetch is not available in Cordon",
            ),
            (
                "xhr",
                "new XMLHttpRequest()",
                "ReferenceError: XMLHttpRequest is not defined",
            ),
        ],
    );
}
