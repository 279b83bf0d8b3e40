//! An agent's own code failing — a Rust panic, an uncaught Python or JavaScript exception — is
//! reported in the agent's terms: the report's error has the type, message and the line of the
//! agent's file, not the wasm trap it ended in.
//!
//! These tests use a hermetic WAT guest that writes what an SDK writes (`cordon:uncaught {...}`
//! last on stderr) and then traps, spins or returns.

use cordon_runtime::{GuestError, LimitExceeded, RunLimits, RunReport, RunStatus};
use cordon_testkit::{AfterStderr, stderr_guest};

use crate::support::{ALLOW_ALL, Sandbox, load};

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
