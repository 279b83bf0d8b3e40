//! Decision log benches (cordon-audit).
//!
//! - `audit_durable_append/{1,8,64}`: appenders that each append one entry and wait for it to be
//!   durable (`append` + `sync`), so every acknowledged entry is on disk. The single appender is
//!   the baseline in the same run: it gets one commit (fsync) per entry, which is what a log
//!   without group commit gives every appender; 8 and 64 show what sharing commits buys.
//! - `audit_durable_run_of_16/{1,8,64}`: the same appenders, each appending a run's 16
//!   decisions and then syncing once, as the runtime does before it returns a run's result.
//! - `audit_append_queued/one_entry`: `append` alone, not yet durable (the gate's hot path),
//!   in bursts of 1000 with the writer catching up between bursts.
//! - `audit_verify/entries`: full verification (chain, tree, checkpoint signatures, stored
//!   nodes) of a 1M-entry log, as entries per second.
//! - `audit_inclusion_proof/1m`: one inclusion proof against the latest checkpoint of that log.
//! - `audit_durable_run_of_16_identity_once/*` and `audit_verify/entries_identity_once`: the
//!   same with each decision stripped of the run's identity (tenant, run, digests, agent, user,
//!   purpose, engagement), beside the full entries in the same run: an upper bound on what
//!   logging the identity once per run instead of in every decision would buy.
//!
//! Targets: ≥ 50,000 durable appends/s, verify ≥ 1,000,000 entries/s, a proof in ≤ 1 ms.
//!
//! Measured on the 2-core development machine, four runs, entries/s (the single appender is
//! the baseline of its group; with 64, group commit gives it 11–15×):
//!
//! | run (1-min load; 4 KiB fdatasync) | `audit_durable_append` 1 / 8 / 64 | `audit_durable_run_of_16` 1 / 8 / 64 | verify      | proof   |
//! |-----------------------------------|-----------------------------------|--------------------------------------|-------------|---------|
//! | A (1.0–2.4; 0.11–0.15 ms)         | 3,630 / 12,900 / 53,500           | 18,600 / 100,500 / 135,000           | 2.25M/s     | 17.9 µs |
//! | B (1.6–3.0; 0.15 ms → 3.9 ms)     | 3,560 / 12,750 / 40,500           | 32,400 / 75,800 / 119,700            | 1.34M/s     | 21.0 µs |
//! | C (1.2–2.1; 0.08–0.13 ms)         | 4,070 / 13,680 / 46,500           | 29,800 / 90,400 / 128,700            | 1.16M/s     | 17.5 µs |
//! | D (0.9–1.2; 0.08 ms)              | 3,730 / 11,270 / 49,200           | (not run)                            | (not run)   |         |
//! | E (1.3–2.7; mimalloc)             | 2,990 / 12,700 / 52,600           | 18,900 / 103,700 / 175,000           | 2.25M/s     | 15.6 µs |
//!
//! Runs A–D used glibc's malloc, E the binary's allocator (mimalloc, now every bench's).
//! No other build ran during A, D and E; during B another engineer's tests loaded the disk, and
//! during C the load rose while verify ran (pinned to one core, verify runs at 1.19M/s). Most
//! of the load is this bench's own threads. `audit_append_queued/one_entry`: 1.9–3.2 µs. The
//! durable rates follow the disk's flush time and the free CPU.
//!
//! Where a durable append's time goes, at 64 appenders (writer thread, per commit, measured
//! with timers around each phase): each appender has one entry in flight, so they fall into
//! two groups that take turns, one committing while the other appends again; a commit holds
//! about 30 entries and takes 0.55–0.6 ms: 0.08–0.10 ms to insert them (redb B-tree inserts,
//! Merkle hashes), 0.41–0.50 ms in redb's commit, almost all of it writing and fdatasyncing
//! the ~15 pages it changed (the entries' ~4 leaves and their branch path, one `merkle` leaf,
//! the table tree, redb's allocator tables, the header; the fdatasync floor is 0.13 ms and each
//! page adds about 0.03 ms), and 0.05–0.10 ms waking threads. About 30 / 0.58 ms ≈ 52,000/s is
//! therefore the ceiling here; more would need fewer pages per commit than a copy-on-write
//! B-tree writes, or a disk with cheaper flushes. At 1 appender, a commit writes 8 pages in
//! 0.21–0.24 ms and the wakeups of the syncer and the writer add about 0.07 ms.
//!
//! Tried and not kept: holding the next commit for up to 100–400 µs until the syncers the last
//! one released had appended again (one group of 64 instead of two taking turns) gave 8
//! appenders 15–25% more but 64 appenders 10–20% less, as waking and re-appending 64 threads on
//! 2 cores takes longer than the commit it would save; waking a commit's syncers only once the
//! next batch was written into its transaction changed nothing measurable.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, LogOptions, PublicKey, RecordAccess};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

const LARGE_LOG: u64 = 1_000_000;

fn entry(i: u64) -> Entry {
    Entry {
        tenant: "acme".into(),
        run_id: format!("run-{}", i / 16),
        component_digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            .into(),
        policy_digest: "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
            .into(),
        agent: "claims-summariser".into(),
        user: Some(format!("user-{}", i % 1000)),
        purpose: "claims-review".into(),
        engagement: format!("case-{}", i % 97),
        action: "records:read".into(),
        resource: "records/claims".into(),
        decision: Decision::Allow,
        policy_ids: vec!["claims-reviewers-read".into()],
        records: Some(RecordAccess {
            collection: "claims".into(),
            record_ids: vec![format!("c-{}", i % 5000)],
            fields_returned: vec!["amount".into(), "status".into()],
            fields_withheld: vec!["diagnosis".into()],
            records_withheld: 0,
            withheld_ids: Vec::new(),
            filter: Vec::new(),
        }),
        taint: None,
        roles: Vec::new(),
        code: None,
    }
}

/// [`entry`] without the run's identity (tenant, run, digests, agent, user, purpose,
/// engagement): what each decision would carry if the identity were logged once per run. An
/// upper bound on what that would save, since the identity would still be logged once.
fn entry_identity_once(i: u64) -> Entry {
    Entry {
        tenant: String::new(),
        run_id: String::new(),
        component_digest: String::new(),
        policy_digest: String::new(),
        agent: String::new(),
        user: None,
        purpose: String::new(),
        engagement: String::new(),
        ..entry(i)
    }
}

fn open(dir: &std::path::Path) -> AuditLog {
    AuditLog::open(&dir.join(cordon_audit::LOG_FILE), LogOptions::in_dir(dir))
        .expect("open the log")
}

fn durable_append(c: &mut Criterion) {
    appenders_group(c, "audit_durable_append", 1, entry);
    appenders_group(c, "audit_durable_run_of_16", 16, entry);
    // The same, each decision without the run's identity: what logging it once per run
    // instead of in every decision could save (the question), in the same run.
    appenders_group(
        c,
        "audit_durable_run_of_16_identity_once",
        16,
        entry_identity_once,
    );
}

/// One group: 1, 8 and 64 appenders of runs of `run` entries made by `make`.
fn appenders_group(c: &mut Criterion, name: &str, run: u64, make: fn(u64) -> Entry) {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for threads in [1u64, 8, 64] {
        bench_appenders(&mut group, threads, run, make);
    }
    group.finish();
}

/// `threads` appenders, each appending `run` entries and then syncing the last, until each
/// has appended its share; throughput counts entries.
fn bench_appenders(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    threads: u64,
    run: u64,
    make: fn(u64) -> Entry,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open(dir.path()));
    // Enough entries per iteration for many commits, few enough to keep the bench short.
    let per_thread: u64 = match (threads, run) {
        (1, 1) => 50,
        (8, 1) => 64,
        (_, 1) => 32,
        (1, _) => 256,
        (8, _) => 128,
        _ => 64,
    };
    group.throughput(Throughput::Elements(threads * per_thread));
    group.bench_with_input(
        BenchmarkId::from_parameter(threads),
        &threads,
        |b, &threads| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let log = &log;
                            s.spawn(move || {
                                let mut i = 0;
                                while i < per_thread {
                                    let mut last = 0;
                                    for _ in 0..run {
                                        last = log
                                            .append(&make(t * 1_000_000 + i))
                                            .expect("append")
                                            .seq;
                                        i += 1;
                                    }
                                    log.sync(last).expect("sync");
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            });
        },
    );
}

/// `append` alone (no sync): the cost on the gate's hot path.
fn queued_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path());
    let mut group = c.benchmark_group("audit_append_queued");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(1));
    // Appends in bursts of 1000 (a few runs' worth), timed alone; between bursts the writer
    // catches up untimed, so this is the hot-path cost, not the writer's sustained rate.
    let mut next = 0u64;
    group.bench_function("one_entry", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let burst = left.min(1000);
                let entries: Vec<Entry> = (next..next + burst).map(entry).collect();
                next += burst;
                let start = Instant::now();
                for e in entries {
                    black_box(log.append(&e).expect("append"));
                }
                total += start.elapsed();
                log.checkpoint().expect("checkpoint");
                left -= burst;
            }
            total
        });
    });
    group.finish();
    log.close().expect("close");
}

fn large_log(make: fn(u64) -> Entry) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().expect("bench step");
    let log = open(dir.path());
    let start = Instant::now();
    for i in 0..LARGE_LOG {
        log.append(&make(i)).expect("bench step");
    }
    log.checkpoint().expect("bench step");
    eprintln!(
        "built a {LARGE_LOG}-entry log in {:.1} s ({:.0} entries/s appended and committed)",
        start.elapsed().as_secs_f64(),
        LARGE_LOG as f64 / start.elapsed().as_secs_f64()
    );
    (dir, log)
}

fn verify_and_prove(c: &mut Criterion) {
    let (dir, log) = large_log(entry);
    let key = log.public_key();
    let store = log.store();
    let size = log
        .latest_checkpoint()
        .map(|c| c.tree_size)
        .expect("a checkpoint");

    verify_group(c, "entries", &store, key);

    let mut group = c.benchmark_group("audit_inclusion_proof");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    let mut seq = 12_345u64;
    group.bench_function("1m", |b| {
        b.iter(|| {
            // A different leaf each time, spread over the log.
            seq = (seq + 7_919) % size;
            black_box(store.inclusion_proof(seq, size).expect("bench step"))
        });
    });
    group.finish();
    drop(log);
    drop(dir);

    // The same verify over a log whose decisions do not carry the run's identity.
    let (dir, log) = large_log(entry_identity_once);
    verify_group(c, "entries_identity_once", &log.store(), log.public_key());
    drop(log);
    drop(dir);
}

/// `audit_verify/<name>`: full verification of the 1M-entry log `store`.
fn verify_group(c: &mut Criterion, name: &str, store: &cordon_audit::Store, key: PublicKey) {
    let mut group = c.benchmark_group("audit_verify");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(LARGE_LOG));
    group.bench_function(name, |b| {
        b.iter(|| black_box(store.verify(&key).expect("bench step")));
    });
    group.finish();
}

criterion_group!(benches, queued_append, durable_append, verify_and_prove);
criterion_main!(benches);
