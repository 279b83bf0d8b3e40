//! Where a gated call's time goes: one Cedar decision through a run's session, and one
//! decision-log append, each measured alone (the gate does both per call).
#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::hint::black_box;

use cordon_audit::{AuditLog, DecisionLog, Entry, LogOptions};
use cordon_policy::{Action, Human, PolicyBundle, Principal, Request, Resource, RunContext};
use criterion::{Criterion, criterion_group, criterion_main};

fn decide(c: &mut Criterion) {
    let bundle = PolicyBundle::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/examples/reports.cedar"
        )
        .as_ref(),
    )
    .expect("bundle");
    let principal = Principal::for_human("acme", "c0ffee", Human::new("alice", ["analyst"]));
    let session = bundle
        .session(&principal, &RunContext::new("reporting", "q3"))
        .expect("session");
    let request = Request::new(
        Action::FsRead,
        Resource::file("/reports/2026/q3.csv").expect("path"),
    );
    // The gate's case for a run that touches the same file again: remembered by the session.
    c.bench_function("cedar_decision_repeated_resource", |b| {
        b.iter(|| black_box(session.authorize(black_box(&request))))
    });
    // A new file every call: a full Cedar evaluation each time.
    let mut n = 0u64;
    c.bench_function("cedar_decision_new_resource", |b| {
        b.iter(|| {
            n += 1;
            let r = Request::new(
                Action::FsRead,
                Resource::file(format!("/reports/2026/f{n}.csv")).expect("path"),
            );
            black_box(session.authorize(&r))
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let log = AuditLog::open(
        &dir.path().join("audit.redb"),
        LogOptions::in_dir(dir.path()),
    )
    .expect("log");
    let entry = Entry {
        tenant: "acme".into(),
        run_id: "bench".into(),
        component_digest: "c0ffee".repeat(10),
        policy_digest: "beef".repeat(16),
        agent: "acme/c0ffee".into(),
        user: Some("alice".into()),
        purpose: "reporting".into(),
        engagement: "q3".into(),
        action: "fs:read".into(),
        resource: r#"Cordon::File::"/reports/2026/q3.csv""#.into(),
        decision: cordon_audit::Decision::Allow,
        policy_ids: vec!["reports-read-only".into()],
        records: None,
        taint: None,
        roles: Vec::new(),
        code: None,
    };
    c.bench_function("log_append_per_call", |b| {
        b.iter(|| black_box(log.append(&entry.clone()).expect("append")))
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
