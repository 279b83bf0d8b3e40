//! Promises that must hold against a hostile guest and a hostile world, on the real binary:
//! effects after durability (a `kill -9` mid-run leaves no effect without its logged
//! decision), the write quota, the component size limit, and concurrent runs sharing one data directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Scratch, s};

const ALLOW_ALL: &str = r#"@id("allow-all") permit(principal, action, resource);"#;

fn spawn_cordon(sc: &Scratch, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .current_dir(sc.dir.path())
        .env_remove("CORDON_DATA")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Poll `ready` every few ms until it holds; panic after `within`.
fn wait_for(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < within, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_run_killed_mid_write_leaves_no_effect_without_a_logged_decision() {
    let sc = Scratch::new();
    let guest = sc.file(
        "append.wasm",
        cordon_testkit::append_loop_guest(1_000_000).unwrap(),
    );
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let root = sc.path("root");
    // The guest uses its input as the path: `42` appends to `root/42`.
    let mut child = spawn_cordon(
        &sc,
        &[
            "run",
            s(&guest),
            "-p",
            s(&policy),
            "--root",
            s(&root),
            "--timeout",
            "600000",
            "--max-host-calls",
            "10000000",
            "--input",
            "42",
        ],
    );
    let out = root.join("42");
    let lines = || {
        std::fs::read(&out)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    };
    wait_for("200 appended lines", Duration::from_secs(120), || {
        lines() >= 200
    });
    child.kill().unwrap(); // SIGKILL: no clean shutdown, nothing flushed at exit
    child.wait().unwrap();

    // Every byte on disk is `line\n` written by one append: a partial line is an effect too.
    let bytes = std::fs::read(&out).unwrap().len();
    let effects = bytes.div_ceil(5);
    let logged = sc.cordon(&["audit", "query", "--tenant", "local"]).json();
    let allowed_appends = logged
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "fs:append" && e["decision"] == "allow")
        .count();
    assert!(
        allowed_appends >= effects,
        "{effects} appends reached the disk, {allowed_appends} allow decisions are in the log"
    );
    let verify = sc.cordon(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

#[test]
fn max_write_refuses_a_write_past_the_quota_and_writes_none_of_it() {
    let sc = Scratch::new();
    let guest = sc.file(
        "append.wasm",
        cordon_testkit::append_loop_guest(10).unwrap(),
    );
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let root = sc.path("root");
    let r = sc.cordon(&[
        "run",
        s(&guest),
        "-p",
        s(&policy),
        "--root",
        s(&root),
        "--max-write",
        "12",
        "--input",
        "42",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "error", "{j}");
    assert_eq!(j["error"]["kind"], "limit-exceeded", "{j}");
    assert_eq!(
        std::fs::read_to_string(root.join("42")).unwrap(),
        "line\nline\n"
    );
}

#[test]
fn a_component_larger_than_max_component_is_refused_naming_the_limit() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&["run", s(&guest), "-p", s(&policy), "--max-component", "1K"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("more than the 1024 bytes"),
        "{}",
        r.stderr
    );
}

#[test]
fn concurrent_runs_on_one_data_dir_wait_for_the_log_and_give_up_clearly() {
    let sc = Scratch::new();
    let clock = sc.file(
        "clock.wasm",
        cordon_testkit::clock_guest(cordon_testkit::ClockWait::Block, 30).unwrap(),
    );
    let echo = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    // The first run holds the log until its deadline ends its 30 s wait.
    let mut holder = spawn_cordon(
        &sc,
        &["run", s(&clock), "-p", s(&policy), "--timeout", "8000"],
    );
    wait_for(
        "the first run to hold the log",
        Duration::from_secs(60),
        || {
            sc.cordon(&["audit", "checkpoint"])
                .stderr
                .contains("held by another process")
        },
    );
    // A run that may not wait long gives up, saying why.
    let impatient = sc.cordon(&["run", s(&echo), "-p", s(&policy), "--log-wait", "50"]);
    assert_eq!(impatient.code, 2, "{}", impatient.stdout);
    assert!(
        impatient.stderr.contains("another process has the log"),
        "{}",
        impatient.stderr
    );
    // A patient one waits for the holder to finish, then runs.
    let patient = sc.cordon(&["run", s(&echo), "-p", s(&policy), "--log-wait", "120000"]);
    assert_eq!(patient.code, 0, "{}", patient.stderr);
    assert_eq!(patient.json()["status"], "ok");
    assert!(
        !holder.wait().unwrap().success(),
        "the holder ran into its deadline"
    );
}
