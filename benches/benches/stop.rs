//! How late a run ends after its deadline or its cancel, measured from outside the run: a
//! guest blocked in a host wait (a 30 s `wasi:clocks` pollable, which the host races against
//! the run's stop) beside the baseline of a guest spinning in wasm code (stopped by the
//! engine's epoch interruption), in one run. Each sample is the overshoot: the time from the
//! deadline (or the `cancel()` call) to the run's return.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::AuditLog;
use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{
    CancelToken, CordonEngine, EngineOptions, Invocation, LoadedComponent, RunLimits, RunStatus,
};
use cordon_testkit::{ClockWait, clock_guest, spin_guest};
use criterion::{Criterion, criterion_group, criterion_main};

/// The run's deadline in the deadline case; the cancel comes this long after the start.
const AFTER: Duration = Duration::from_millis(50);

fn stop(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = CordonEngine::new(EngineOptions::default()).expect("engine");
    let bundle = PolicyBundle::from_sources([(
        "allow.cedar",
        r#"@id("allow-all") permit(principal, action, resource);"#,
    )])
    .expect("bundle");
    let log = Arc::new(AuditLog::open_in(dir.path()).expect("log"));
    let invocation = |timeout: Duration, cancel: Option<CancelToken>| Invocation {
        run_id: "bench".into(),
        tenant: "bench".into(),
        human: None,
        context: RunContext::new("benchmark", "none"),
        bundle: bundle.clone(),
        root: None,
        limits: RunLimits {
            timeout_ms: u64::try_from(timeout.as_millis()).expect("ms"),
            ..RunLimits::default()
        },
        log: log.clone(),
        input: String::new(),
        egress: cordon_runtime::EgressPolicy::default(),
        taint: cordon_policy::Taint::default(),
        shadow: None,
        cancel,
        records: None,
    };
    let blocked = engine
        .load(&clock_guest(ClockWait::Block, 30).expect("guest"))
        .expect("load");
    let spinning = engine.load(&spin_guest().expect("guest")).expect("load");
    let guests: [(&str, &LoadedComponent); 2] =
        [("host-wait", &blocked), ("spin-baseline", &spinning)];

    overshoot(c, "overshoot_after_deadline", &guests, |guest| {
        let started = Instant::now();
        let r = engine.run(guest, invocation(AFTER, None)).expect("run");
        assert_eq!(r.status, RunStatus::LimitExceeded);
        started.elapsed().saturating_sub(AFTER)
    });
    overshoot(c, "overshoot_after_cancel", &guests, |guest| {
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(AFTER);
                token.cancel();
                Instant::now()
            })
        };
        let r = engine
            .run(guest, invocation(Duration::from_secs(30), Some(token)))
            .expect("run");
        let ended = Instant::now();
        let cancelled = canceller.join().expect("canceller");
        assert_eq!(r.status, RunStatus::Cancelled);
        ended.saturating_duration_since(cancelled)
    });
}

/// One group: for each guest, the sum of `late(guest)` over the iterations criterion asks for.
fn overshoot(
    c: &mut Criterion,
    group: &str,
    guests: &[(&str, &LoadedComponent)],
    late: impl Fn(&LoadedComponent) -> Duration,
) {
    let mut g = c.benchmark_group(group);
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    for (name, guest) in guests {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| late(guest)).sum());
        });
    }
    g.finish();
}

criterion_group!(benches, stop);
criterion_main!(benches);
