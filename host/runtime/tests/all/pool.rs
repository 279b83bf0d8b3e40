//! The pooling allocator: each run takes a preallocated instance slot; a run that finds every
//! slot taken is refused before anything runs, and a finished run's slot is reused.

use cordon_runtime::{
    CancelToken, CordonEngine, EngineOptions, Invocation, LimitExceeded, PoolOptions, RunError,
    RunLimits, RunReport, RunStatus,
};
use cordon_testkit::{echo_guest, spin_guest};

use crate::support::{ALLOW_ALL, Sandbox};

fn limits(timeout_ms: u64) -> RunLimits {
    RunLimits {
        fuel: RunLimits::BOUNDS[0].2,
        timeout_ms,
        ..RunLimits::default()
    }
}

#[test]
fn a_run_beyond_the_pool_is_refused_at_capacity_and_its_slot_is_reused_after() {
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: None,
        pool: Some(PoolOptions { max_runs: 1 }),
        ..EngineOptions::default()
    })
    .unwrap();
    let spin = engine.load(&spin_guest().unwrap()).unwrap();
    let echo = engine.load(&echo_guest().unwrap()).unwrap();
    let sb = Sandbox::new();
    let cancel = CancelToken::new();
    let (held, refusal) = std::thread::scope(|scope| {
        // The holder spins in the only slot until cancelled. Until it has the slot, a probe
        // may take it first (and end at its own short deadline): both sides retry.
        let holder = scope.spawn(|| {
            loop {
                let inv = Invocation {
                    limits: limits(60_000),
                    cancel: Some(cancel.clone()),
                    ..sb.invocation(ALLOW_ALL, "")
                };
                match engine.run(&spin, inv) {
                    Err(RunError::AtCapacity(_)) => continue,
                    other => break other,
                }
            }
        });
        let mut refusal = None;
        for _ in 0..10_000 {
            let probe = Invocation {
                limits: limits(20),
                ..sb.invocation(ALLOW_ALL, "")
            };
            match engine.run(&spin, probe) {
                Err(RunError::AtCapacity(message)) => {
                    refusal = Some(message);
                    break;
                }
                Ok(r) => assert_eq!(r.limit, Some(LimitExceeded::Timeout), "{r:?}"),
                Err(e) => panic!("unexpected run error: {e}"),
            }
        }
        cancel.cancel();
        (holder.join().unwrap(), refusal)
    });
    let refusal = refusal.expect("a second run while the slot was held was never refused");
    assert!(refusal.contains("concurrent"), "{refusal}");
    assert_eq!(held.unwrap().status, RunStatus::Cancelled);

    // The slot is back: the next run gets it and completes.
    let r: RunReport = engine
        .run(&echo, sb.invocation(ALLOW_ALL, "hello"))
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("hello"));
}

/// `cordon run` allocates on demand (one run gains nothing from a pool), so the guests the
/// SDK builds are checked here against the slot `cordon serve` gives each run: a component
/// that needs more instances, memories or table elements than a slot holds fails to
/// instantiate.
#[test]
#[ignore = "needs build/guests and build/runners: scripts/build-guests.sh"]
fn the_sdk_guests_run_in_one_slot_of_the_pool() {
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: None,
        pool: Some(PoolOptions { max_runs: 1 }),
        ..EngineOptions::default()
    })
    .unwrap();
    let guests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/guests");
    for name in ["hello-fs", "python-hello", "js-hello"] {
        let path = guests.join(format!("{name}.wasm"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-guests.sh", path.display()));
        let component = engine.load(&bytes).unwrap();
        let sb = Sandbox::new();
        sb.write("hello.txt", "from the pool\n");
        let report = engine
            .run(&component, sb.invocation(ALLOW_ALL, "{}"))
            .unwrap();
        assert_eq!(report.status, RunStatus::Ok, "{name}: {report:?}");
        assert!(
            report
                .output
                .as_deref()
                .unwrap_or("")
                .contains("from the pool"),
            "{name}: {report:?}"
        );
    }
    // The runners of source runs too, running source that reads through the SDK.
    let runners = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/runners");
    for (language, code) in [
        (
            cordon_runtime::Language::Python,
            "from cordon_guest import fs\ndef main(input):\n    return fs.read_text('hello.txt')\n",
        ),
        (
            cordon_runtime::Language::Javascript,
            "function main(input) {\n  return cordon.fs.readText('hello.txt');\n}\n",
        ),
    ] {
        let path = runners.join(language.runner_file());
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: run scripts/build-guests.sh", path.display()));
        let runner = engine.load(&bytes).unwrap();
        let sb = Sandbox::new();
        sb.write("hello.txt", "from the pool\n");
        let source = cordon_runtime::Source::new(language, code).unwrap();
        let report = engine
            .run_source(&runner, &source, sb.invocation(ALLOW_ALL, "{}"))
            .unwrap();
        assert_eq!(report.status, RunStatus::Ok, "{language:?}: {report:?}");
        assert_eq!(
            report.output.as_deref(),
            Some("\"from the pool\\n\""),
            "{language:?}"
        );
    }
}
