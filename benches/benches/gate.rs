//! The gate's cost: the same guest doing N fs reads, gated under an allow-all policy (Cedar
//! decision + log append per call, log commit at the end) versus with the gate bypassed, in
//! one run. The difference divided by N is the per-call overhead.
//!
//! Distinct files: the same number of `fs.read` calls, each of a file the run has not named
//! before (`d/f00000`, `d/f00001`, …), gated under allow-all and under a policy that looks at
//! the directories above the file, beside the same reads with the gate bypassed: what deciding
//! a never-seen resource costs. A third policy also reads each file's name, so that no two
//! files share a decision: the cost of a full Cedar evaluation per call.
//!
//! Effects: `fs.append` calls, whose decisions are made durable before the append, by one run
//! alone and by 8 runs at once sharing the log's group commit (the same number of appends in
//! all), beside the same appends with the gate bypassed.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use cordon_audit::AuditLog;
use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{CordonEngine, EngineOptions, Invocation, RunLimits, RunStatus};
use criterion::{Criterion, criterion_group, criterion_main};

const READS: u32 = 10_000;
/// Distinct files read per sample.
const DISTINCT: u32 = 10_000;
/// Reads of the distinct-file guest allowed by the directories above each file.
const READ_UNDER_D: &str = r#"@id("read-d") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d");"#;
/// Like [`READ_UNDER_D`], with a policy that reads each file's name: no two files share a
/// decision, so every read is a full Cedar evaluation.
const READ_UNDER_D_BUT_SECRET: &str = r#"@id("read-d") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d");
@id("no-secret") forbid(principal, action, resource is Cordon::File) when { resource.name == "secret" };"#;
/// Appends per sample, in all.
const APPENDS: u32 = 800;
/// Runs appending at once in the concurrent case.
const WRITERS: u32 = 8;

fn gate(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("root")).expect("mkdir");
    std::fs::write(dir.path().join("root/a.txt"), "hello").expect("write");
    std::fs::create_dir(dir.path().join("root/d")).expect("mkdir");
    for i in 0..DISTINCT {
        std::fs::write(dir.path().join(format!("root/d/f{i:05}")), "hello").expect("write");
    }
    let engine = CordonEngine::new(EngineOptions::default()).expect("engine");
    let guest = engine
        .load(&cordon_testkit::read_n_guest(READS).expect("guest"))
        .expect("load");
    let bundle = PolicyBundle::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/examples/allow-all.cedar"
        )
        .as_ref(),
    )
    .expect("bundle");
    let log = Arc::new(AuditLog::open_in(dir.path()).expect("log"));
    let limits = RunLimits {
        max_host_calls: u64::from(READS),
        ..RunLimits::default()
    };
    let invocation = || Invocation {
        run_id: "bench".into(),
        tenant: "bench".into(),
        human: None,
        context: RunContext::new("benchmark", "none"),
        bundle: bundle.clone(),
        root: Some(
            Dir::open_ambient_dir(dir.path().join("root"), ambient_authority()).expect("root"),
        ),
        limits,
        log: log.clone(),
        input: "a.txt".into(),
        egress: cordon_runtime::EgressPolicy::default(),
        taint: cordon_policy::Taint::default(),
        shadow: None,
        cancel: None,
        records: None,
    };

    let mut group = c.benchmark_group(format!("fs_read_x{READS}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("gate_bypassed", |b| {
        b.iter(|| {
            let r = engine
                .run_bypassing_gate_for_bench(&guest, invocation())
                .expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            black_box(r)
        })
    });
    group.bench_function("gated_allow_all", |b| {
        b.iter(|| {
            let r = engine.run(&guest, invocation()).expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            assert_eq!(r.decisions.len(), READS as usize);
            black_box(r)
        })
    });
    group.finish();

    let distinct = engine
        .load(&cordon_testkit::read_distinct_guest(DISTINCT).expect("guest"))
        .expect("load");
    let under_d = PolicyBundle::from_sources([("read-d.cedar", READ_UNDER_D)]).expect("bundle");
    let by_name =
        PolicyBundle::from_sources([("read-d.cedar", READ_UNDER_D_BUT_SECRET)]).expect("bundle");
    let reading = |bundle: &PolicyBundle| Invocation {
        input: "d/f".into(),
        bundle: bundle.clone(),
        limits: RunLimits {
            max_host_calls: u64::from(DISTINCT),
            ..RunLimits::default()
        },
        ..invocation()
    };
    let mut group = c.benchmark_group(format!("fs_read_distinct_x{DISTINCT}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("gate_bypassed", |b| {
        b.iter(|| {
            let r = engine
                .run_bypassing_gate_for_bench(&distinct, reading(&bundle))
                .expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            black_box(r)
        })
    });
    for (name, policy) in [
        ("gated_allow_all", &bundle),
        ("gated_read_under_dir", &under_d),
        ("gated_read_under_dir_policy_reads_name", &by_name),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = engine.run(&distinct, reading(policy)).expect("run");
                assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
                assert_eq!(r.decisions.len(), DISTINCT as usize);
                assert!(r.decisions.iter().all(|d| d.decision == "allow"));
                black_box(r)
            })
        });
    }
    group.finish();

    let alone = engine
        .load(&cordon_testkit::append_loop_guest(APPENDS).expect("guest"))
        .expect("load");
    let shared = engine
        .load(&cordon_testkit::append_loop_guest(APPENDS / WRITERS).expect("guest"))
        .expect("load");
    let appending = |input: String| Invocation {
        input,
        limits: RunLimits {
            max_host_calls: u64::from(APPENDS),
            max_write_bytes: 1 << 30,
            ..RunLimits::default()
        },
        ..invocation()
    };
    let mut group = c.benchmark_group(format!("fs_append_x{APPENDS}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("gate_bypassed", |b| {
        b.iter(|| {
            let r = engine
                .run_bypassing_gate_for_bench(&alone, appending("out.txt".into()))
                .expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            black_box(r)
        })
    });
    group.bench_function("gated_one_run", |b| {
        b.iter(|| {
            let r = engine
                .run(&alone, appending("out.txt".into()))
                .expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            black_box(r)
        })
    });
    group.bench_function(format!("gated_{WRITERS}_runs_at_once"), |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for w in 0..WRITERS {
                    let (engine, shared, appending) = (&engine, &shared, &appending);
                    scope.spawn(move || {
                        let r = engine
                            .run(shared, appending(format!("out-{w}.txt")))
                            .expect("run");
                        assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
                        black_box(r)
                    });
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
