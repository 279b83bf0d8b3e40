//! Every limit has a test that hits it and asserts the exact outcome; the engine stays healthy.

use cordon_runtime::{LimitExceeded, RunLimits, RunStatus};
use cordon_testkit::{
    append_loop_guest, echo_guest, host_call_flood_guest, memory_hog_guest, output_flood_guest,
    read_guest, spin_guest, trap_guest,
};

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

fn limited(l: impl FnOnce(&mut RunLimits)) -> RunLimits {
    let mut limits = RunLimits::default();
    l(&mut limits);
    limits
}

/// After any limit, the same engine still runs a healthy guest.
fn assert_engine_healthy(sb: &Sandbox) {
    assert!(engine().is_healthy());
    let r = sb.run(&load(echo_guest()), ALLOW_ALL, "still alive");
    assert_eq!(r.output.as_deref(), Some("still alive"));
}

#[test]
fn traps_when_fuel_runs_out() {
    let sb = Sandbox::new();
    let r = sb.run_with(
        &load(spin_guest()),
        ALLOW_ALL,
        "",
        limited(|l| l.fuel = 1_000_000),
    );
    assert_eq!(r.status, RunStatus::LimitExceeded);
    assert_eq!(r.limit, Some(LimitExceeded::Fuel));
    assert_eq!(r.fuel_used, 1_000_000);
    assert_engine_healthy(&sb);
}

#[test]
fn stops_an_infinite_loop_at_the_deadline() {
    let sb = Sandbox::new();
    let limits = limited(|l| {
        l.fuel = RunLimits::BOUNDS[0].2;
        l.timeout_ms = 100;
    });
    let r = sb.run_with(&load(spin_guest()), ALLOW_ALL, "", limits);
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Timeout));
    assert!(r.wall_ms >= 100.0, "stopped early: {} ms", r.wall_ms);
    assert_engine_healthy(&sb);
}

#[test]
fn stops_memory_growth_at_the_limit() {
    let sb = Sandbox::new();
    let r = sb.run_with(
        &load(memory_hog_guest()),
        ALLOW_ALL,
        "",
        limited(|l| l.memory_bytes = 4 << 20),
    );
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Memory));
    assert!(
        r.peak_memory_bytes <= 4 << 20,
        "peak {}",
        r.peak_memory_bytes
    );
    assert!(
        r.peak_memory_bytes > 3 << 20,
        "peak {}",
        r.peak_memory_bytes
    );
    assert_engine_healthy(&sb);
}

#[test]
fn withholds_output_past_the_limit() {
    let sb = Sandbox::new();
    let r = sb.run_with(
        &load(output_flood_guest()),
        ALLOW_ALL,
        "",
        limited(|l| l.max_output_bytes = 1000),
    );
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Output));
    assert_eq!(r.output, None);
    // The same guest within a large enough limit returns all of it.
    let r = sb.run_with(
        &load(output_flood_guest()),
        ALLOW_ALL,
        "",
        limited(|l| l.max_output_bytes = 100_000),
    );
    assert_eq!(r.output.map(|o| o.len()), Some(100_000));
}

#[test]
fn stops_a_host_call_flood_at_the_limit() {
    let sb = Sandbox::new();
    let r = sb.run_with(
        &load(host_call_flood_guest()),
        ALLOW_ALL,
        "x",
        limited(|l| l.max_host_calls = 50),
    );
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::HostCalls));
    assert_eq!(
        r.decisions.len(),
        50,
        "the call past the limit is not decided"
    );
    assert_engine_healthy(&sb);
}

#[test]
fn a_write_past_the_write_quota_is_limit_exceeded_and_writes_nothing() {
    let sb = Sandbox::new();
    // Each append writes `line\n` (5 bytes): three fit in 17 bytes, the fourth does not.
    let r = sb.run_with(
        &load(append_loop_guest(100)),
        ALLOW_ALL,
        "out.txt",
        limited(|l| l.max_write_bytes = 17),
    );
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.kind, "limit-exceeded", "{r:?}");
    assert!(error.message.contains("write quota"), "{error:?}");
    assert_eq!(
        sb.read("out.txt").as_deref(),
        Some("line\n".repeat(3).as_str())
    );
    assert_eq!(
        r.decisions.len(),
        3,
        "the write past the quota is refused before deciding"
    );
    assert_engine_healthy(&sb);
}

#[test]
fn a_guest_trap_is_reported_as_a_trap() {
    let sb = Sandbox::new();
    let r = sb.run(&load(trap_guest()), ALLOW_ALL, "");
    assert_eq!(r.status, RunStatus::Trap);
    assert!(r.trap.unwrap().contains("unreachable"));
    assert_engine_healthy(&sb);
}

#[test]
fn limits_outside_their_bounds_are_refused_before_running() {
    let sb = Sandbox::new();
    let c = load(echo_guest());
    let inv = cordon_runtime::Invocation {
        limits: limited(|l| l.memory_bytes = 1),
        ..sb.invocation(ALLOW_ALL, "")
    };
    let err = engine().run(&c, inv).unwrap_err();
    assert!(
        matches!(err, cordon_runtime::RunError::Limits(ref e) if e.name == "memory_bytes"),
        "{err:?}"
    );
}

#[test]
fn a_cancelled_run_stops_promptly_and_says_so() {
    let sb = Sandbox::new();
    let c = load(spin_guest());
    let cancel = cordon_runtime::CancelToken::new();
    let killer = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let started = std::time::Instant::now();
    let inv = cordon_runtime::Invocation {
        limits: limited(|l| {
            l.fuel = RunLimits::BOUNDS[0].2;
            l.timeout_ms = 60_000;
        }),
        cancel: Some(cancel),
        ..sb.invocation(ALLOW_ALL, "")
    };
    let r = engine().run(&c, inv).unwrap();
    killer.join().unwrap();
    assert_eq!(r.status, RunStatus::Cancelled, "{r:?}");
    // Cancelled at ~100 ms; the kill switch must act within 50 ms of that.
    assert!(
        started.elapsed() < std::time::Duration::from_millis(150 + 100),
        "{:?}",
        started.elapsed()
    );
    assert_engine_healthy(&sb);
}

#[test]
fn a_read_of_a_file_larger_than_the_memory_limit_is_limit_exceeded() {
    let sb = Sandbox::new();
    let limits = || limited(|l| l.memory_bytes = 4 << 20);
    let guest = load(read_guest());
    // One byte past the bound, and a sparse file far past it: neither is read into the host.
    sb.write("big.txt", &"x".repeat((4 << 20) + 1));
    let sparse = std::fs::File::create(sb.dir.path().join("root/sparse.bin")).unwrap();
    sparse.set_len(1 << 40).unwrap();
    for path in ["big.txt", "sparse.bin"] {
        let r = sb.run_with(&guest, ALLOW_ALL, path, limits());
        assert_eq!(r.status, RunStatus::Error, "{path}: {r:?}");
        let e = r.error.unwrap();
        assert_eq!(e.kind, "limit-exceeded", "{path}: {}", e.message);
        assert!(
            e.message
                .contains("larger than the 4194304 bytes one read may return"),
            "{path}: {}",
            e.message
        );
    }
    // A file within the bound is read whole.
    sb.write("small.txt", &"y".repeat(100_000));
    let r = sb.run_with(&guest, ALLOW_ALL, "small.txt", limits());
    assert_eq!(r.output.map(|o| o.len()), Some(100_000), "{:?}", r.error);
    assert_engine_healthy(&sb);
}
