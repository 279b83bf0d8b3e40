//! A guest never chooses how long the host waits: WASI clock pollables, blocked on or polled,
//! end at the run's deadline or when the run is cancelled, however long the guest asked for.
//!
//! Every guest here asks to wait 30 s; bounds are generous (well under that), not timings.

use std::time::{Duration, Instant};

use cordon_runtime::{CancelToken, Invocation, LimitExceeded, RunLimits, RunStatus};
use cordon_testkit::{ClockWait, clock_guest};

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

/// What each guest asks for.
const ASKED: Duration = Duration::from_secs(30);

fn short_deadline() -> RunLimits {
    RunLimits {
        timeout_ms: 200,
        ..RunLimits::default()
    }
}

fn assert_ends_at_the_deadline(wait: ClockWait) {
    let sb = Sandbox::new();
    let guest = load(clock_guest(wait, ASKED.as_secs()));
    let started = Instant::now();
    let r = sb.run_with(&guest, ALLOW_ALL, "", short_deadline());
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Timeout), "{r:?}");
    assert!(
        started.elapsed() < ASKED / 3,
        "{wait:?} held the host for {:?}",
        started.elapsed()
    );
}

#[test]
fn blocking_on_a_long_clock_pollable_ends_at_the_deadline() {
    assert_ends_at_the_deadline(ClockWait::Block);
}

#[test]
fn polling_a_list_of_long_clock_pollables_ends_at_the_deadline() {
    assert_ends_at_the_deadline(ClockWait::Poll);
}

#[test]
fn blocking_on_a_far_instant_ends_at_the_deadline() {
    assert_ends_at_the_deadline(ClockWait::Instant);
}

#[test]
fn a_short_clock_wait_within_the_deadline_still_completes() {
    let sb = Sandbox::new();
    let guest = load(clock_guest(ClockWait::Block, 0));
    let r = sb.run(&guest, ALLOW_ALL, "");
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("ok"));
}

fn assert_cancel_ends_the_wait(wait: ClockWait) {
    let sb = Sandbox::new();
    let guest = load(clock_guest(wait, ASKED.as_secs()));
    let cancel = CancelToken::new();
    let started = Instant::now();
    let r = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let inv = Invocation {
                limits: RunLimits {
                    timeout_ms: 600_000,
                    ..RunLimits::default()
                },
                cancel: Some(cancel.clone()),
                ..sb.invocation(ALLOW_ALL, "")
            };
            engine().run(&guest, inv).unwrap()
        });
        // Whether the cancel lands before or during the wait, the run must end Cancelled; the
        // pause only makes "during" the likely case.
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        run.join().unwrap()
    });
    assert_eq!(r.status, RunStatus::Cancelled, "{r:?}");
    assert!(
        started.elapsed() < ASKED / 3,
        "{wait:?} held the host for {:?} after cancel",
        started.elapsed()
    );
}

#[test]
fn cancel_from_another_thread_ends_a_run_blocked_on_a_pollable() {
    assert_cancel_ends_the_wait(ClockWait::Block);
}

#[test]
fn cancel_from_another_thread_ends_a_run_polling_pollables() {
    assert_cancel_ends_the_wait(ClockWait::Poll);
}
