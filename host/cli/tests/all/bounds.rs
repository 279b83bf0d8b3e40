//! A hostile guest's over-long arguments cost the `cordon` process little: its peak RSS,
//! measured from outside, stays bounded, the run ends well within its timeout, and the report
//! and the log name the refused values only in a bounded form.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::support::{Scratch, s};

const ALLOW_ALL: &str = r#"@id("allow-all") permit(principal, action, resource);"#;

/// Generous: the engine, one small component and the guest's ~5 MiB of memory fit in far less.
const MAX_RSS_KIB: u64 = 300 * 1024;

/// The peak resident set (`VmHWM`, KiB) of a live process.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    peak_rss_kib: u64,
}

/// Run `cordon` with `args`, sampling its peak RSS until it exits. `VmHWM` only grows, so the
/// last sample is the peak up to a few milliseconds before the exit.
fn cordon_measured(sc: &Scratch, args: &[&str]) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .current_dir(sc.dir.path())
        .env_remove("CORDON_DATA")
        .env("RUST_LOG", "warn")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).map(|_| s)
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            err.read_to_string(&mut s).map(|_| s)
        }),
    );
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // Sampling, not synchronisation: the exit is observed by `try_wait`.
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    Measured {
        code: status.code().unwrap_or(-1),
        stdout: readers.0.join().unwrap().unwrap(),
        stderr: readers.1.join().unwrap().unwrap(),
        peak_rss_kib: peak,
    }
}

fn run_hostile(unit: &str, repeat: u32, calls: u32) -> Measured {
    let sc = Scratch::new();
    let guest = sc.file(
        "hostile.wasm",
        cordon_testkit::stat_generated_path_guest(unit, repeat, calls).unwrap(),
    );
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let root = sc.path("root");
    cordon_measured(
        &sc,
        &[
            "run",
            s(&guest),
            "--policy",
            s(&policy),
            "--root",
            s(&root),
            "--timeout",
            "20000",
        ],
    )
}

fn assert_refused_cheaply(m: &Measured, calls: u64) {
    assert_eq!(m.code, 1, "{}\n{}", m.stdout, m.stderr);
    let j: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(j["status"], "error", "{j}");
    assert_eq!(j["error"]["kind"], "invalid", "{j}");
    assert!(
        j["limit"].is_null(),
        "the run ended by itself, not by its timeout: {j}"
    );
    assert_eq!(j["host_calls"], calls);
    // Each refusal is one bounded denial by `cordon:bounds` in the report and the log.
    let decisions = j["decisions"].as_array().unwrap();
    assert_eq!(decisions.len() as u64, calls, "{j}");
    assert!(
        decisions
            .iter()
            .all(|d| d["policy_ids"][0] == "cordon:bounds")
    );
    assert!(
        m.stdout.len() < 16 * 1024 + 512 * calls as usize,
        "report of {} bytes",
        m.stdout.len()
    );
    assert!(
        m.stderr.len() < 64 * 1024,
        "log of {} bytes",
        m.stderr.len()
    );
    assert!(m.peak_rss_kib > 0, "no RSS sample was taken");
    assert!(
        m.peak_rss_kib < MAX_RSS_KIB,
        "peak RSS {} KiB over {MAX_RSS_KIB} KiB",
        m.peak_rss_kib
    );
}

#[test]
fn a_path_of_ten_thousand_components_costs_the_host_little() {
    let m = run_hostile("a/", 10_000, 66);
    assert_refused_cheaply(&m, 66);
}

#[test]
fn sixty_six_four_mib_names_cost_the_host_little() {
    let m = run_hostile("n", 4 << 20, 66);
    assert_refused_cheaply(&m, 66);
}
