//! Record reads (cordon-records): authorization + projection, naive beside fast, in one run.
//!
//! - `records_read/naive`: Cedar per record (`RecordAuthorizer::record_naive`) over the first
//!   20,000 records of the collection — at microseconds per record, the full million would take
//!   tens of seconds per sample; the rate per record is what compares.
//! - `records_read/fast`: the fast path (decisions cached per attribute class, sound because the
//!   bundle names no record) over all 1,000,000 records.
//!
//! - `records_import/jsonl_streamed`: `RecordStore::import` of 100,000 JSONL records (from a
//!   file, streamed) into a fresh store with two indexed fields. Target ≥ 100,000 records/s.
//! - `records_store_query/*` against a real redb store holding 1,000,000 records (imported once,
//!   timed and printed):
//!   - `baseline_load_whole_collection`: what every query cost before reads streamed — load and
//!     decode the whole collection, then evaluate (the baseline of the others).
//!   - `full_scan_decided`: a read whose filter (on an unindexed field) no record meets, so every
//!     record is decoded and decided: the scan rate. Target ≥ 1,000,000 records/s.
//!   - `eq_limit_100_indexed`, `range_limit_100_indexed`: a filtered query with limit 100 through
//!     the `diagnosis` (equality, 1,000 matches) and `age` (range, ~11,000 matches) indexes.
//!     Target ≤ 100 ms (throughput counts the 100 rows).
//!
//! Measured 2026-11-30, 17:35-17:40 UTC, on the 2-core machine with nothing else running
//! (mimalloc, 1,000,000 records, two indexed fields), records in the binary format read in
//! place (`cordon_records` codec) and the two-thread batched import:
//! full_scan_decided **1,600,000 records/s** [1.58M-1.63M] against
//! baseline_load_whole_collection 656,000/s in the same run (2.4x); eq_limit_100_indexed
//! 0.85 ms and range_limit_100_indexed 2.26 ms; jsonl_streamed **125,500 records/s**
//! [121k-129k] and the 1M import 105,500 records/s. Before this format (JSON records, one
//! thread; same machine, busier): full scan 360,000-483,000/s, import 54,000/s.
//!
//! All evaluate the same plan (three fields requested, one withheld by policy) under
//! policies/examples/healthcare.cedar, for a clinician reading for treatment on an EU host, and
//! report records per second. Target: fast ≥ 1,000,000 records/s. Measured (2 cores, idle,
//! mimalloc): naive 53,400/s, fast 3,750,000/s, decode_each_query 205,000/s, cached
//! 2,910,000/s; with glibc's malloc the cached query ran at 596,000/s.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::path::Path as FsPath;
use std::time::{Duration, Instant};

use cordon_policy::{Human, PolicyBundle, Principal, RecordsContext, RunContext};
use cordon_records::{
    Collection, CompareOp, Condition, FieldDef, Path, Plan, ReadSpec, Record, RecordStore, Value,
    evaluate,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 1_000_000;
const NAIVE_SAMPLE: usize = 20_000;
const IMPORT_BATCH: usize = 100_000;

fn collection() -> Collection {
    let field = |name: &str, category: &str| FieldDef {
        name: name.into(),
        category: category.into(),
        index: false,
    };
    Collection {
        name: "patients".into(),
        levels: ["public", "internal", "confidential", "restricted"]
            .map(String::from)
            .to_vec(),
        fields: vec![
            field("name", "identifier"),
            field("email", "contact"),
            field("diagnosis", "health"),
            field("balance", "financial"),
        ],
        row_caps: BTreeMap::new(),
        strict_fields: false,
    }
}

fn records() -> Vec<Record> {
    let consents: [&[&str]; 4] = [
        &["treatment"],
        &["billing", "treatment"],
        &["billing"],
        &["research", "treatment"],
    ];
    (0..RECORDS)
        .map(|i| Record {
            id: format!("p{i:07}"),
            subject: format!("s{}", i / 3),
            classification: (i % 4) as u32,
            jurisdiction: ["EU", "US", "UK"][i % 3].to_owned(),
            consent: consents[i % 4].iter().map(|c| (*c).to_owned()).collect(),
            holds: if i % 101 == 0 {
                vec!["case-1".into()]
            } else {
                vec![]
            },
            retain_until: None,
            erasure_pending: false,
            fields: BTreeMap::from([
                ("name".to_owned(), Value::Text(format!("Patient {i}"))),
                ("email".to_owned(), Value::Text(format!("p{i}@example.org"))),
                ("diagnosis".to_owned(), Value::Text("J45".into())),
                ("balance".to_owned(), Value::Integer((i % 500) as i64)),
            ]),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let bundle = PolicyBundle::load(
        &FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../policies/examples/healthcare.cedar"),
    )
    .expect("healthcare bundle");
    let session = bundle
        .session(
            &Principal::for_human("clinic", "c0ffee", Human::new("dr-ada", ["clinician"])),
            &RunContext::new("treatment", "ward-3"),
        )
        .expect("session");
    let spec = ReadSpec {
        fields: vec!["name".into(), "diagnosis".into(), "balance".into()],
        filter: vec![],
        limit: 0,
    };
    let rc = RecordsContext {
        host_region: "eu-west".into(),
        requested_fields: spec.fields.clone(),
    };
    let coll = collection();
    let records = records();
    let plan = {
        let auth = session.records("patients", &rc).expect("authorizer");
        Plan::new(&coll, &spec, "treatment", &auth).expect("plan")
    };

    let mut group = c.benchmark_group("records_read");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));

    group.throughput(Throughput::Elements(NAIVE_SAMPLE as u64));
    group.bench_function("naive", |b| {
        b.iter(|| {
            let mut auth = session.records("patients", &rc).expect("authorizer");
            black_box(evaluate(
                &plan,
                &records[..NAIVE_SAMPLE],
                0,
                &mut auth,
                Path::Naive,
            ))
        })
    });

    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("fast", |b| {
        b.iter(|| {
            // A fresh authorizer per read: the cache starts empty, as in a real read.
            let mut auth = session.records("patients", &rc).expect("authorizer");
            assert!(auth.is_cached());
            black_box(evaluate(&plan, &records, 0, &mut auth, Path::Fast))
        })
    });
    group.finish();

    drop(records);
    store_benches(c, &session, &rc, &spec, &plan);
}

/// One record as an operator's JSONL import carries it (the same records as [`records`]).
fn jsonl_line(i: usize) -> String {
    let consents: [&[&str]; 4] = [
        &["treatment"],
        &["billing", "treatment"],
        &["billing"],
        &["research", "treatment"],
    ];
    let level = ["public", "internal", "confidential", "restricted"][i % 4];
    serde_json::json!({
        "id": format!("p{i:07}"),
        "subject": format!("s{}", i / 3),
        "classification": level,
        "jurisdiction": (["EU", "US", "UK"][i % 3]),
        "consent": consents[i % 4],
        "holds": if i.is_multiple_of(101) { vec!["case-1"] } else { vec![] },
        "fields": {
            "name": format!("Patient {i}"),
            "email": format!("p{i}@example.org"),
            "diagnosis": format!("D{:03}", i % 1000),
            "balance": i % 500,
            "age": i % 90,
        }
    })
    .to_string()
        + "\n"
}

/// Write `n` records starting at `from` as JSONL to `path`.
fn write_jsonl(path: &FsPath, from: usize, n: usize) {
    let f = std::fs::File::create(path).expect("jsonl file");
    let mut w = std::io::BufWriter::new(f);
    for i in from..from + n {
        w.write_all(jsonl_line(i).as_bytes()).expect("write");
    }
    w.flush().expect("flush");
}

/// The collection of the store benches: `diagnosis` and `age` are indexed.
fn indexed_collection() -> Collection {
    let mut c = collection();
    for f in &mut c.fields {
        f.index = f.name == "diagnosis";
    }
    c.fields.push(FieldDef {
        name: "age".into(),
        category: "identifier".into(),
        index: true,
    });
    c
}

fn store_benches(
    c: &mut Criterion,
    session: &cordon_policy::Session,
    rc: &RecordsContext,
    spec: &ReadSpec,
    plan: &Plan,
) {
    let coll = indexed_collection();
    let dir = tempfile::tempdir().expect("temp dir");

    // Import: 100,000 records into a fresh store per sample, streamed from a file.
    let batch = dir.path().join("batch.jsonl");
    write_jsonl(&batch, 0, IMPORT_BATCH);
    let mut group = c.benchmark_group("records_import");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(IMPORT_BATCH as u64));
    group.bench_function("jsonl_streamed", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().expect("temp dir");
                let s = RecordStore::open_in(d.path()).expect("store");
                s.define_collection(&coll).expect("collection");
                (d, s)
            },
            |(d, s)| {
                let f = std::fs::File::open(&batch).expect("batch");
                black_box(
                    s.import("patients", std::io::BufReader::new(f))
                        .expect("import"),
                );
                (d, s)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // The 1,000,000 records in one store, imported once as an operator would.
    let all = dir.path().join("all.jsonl");
    write_jsonl(&all, 0, RECORDS);
    let store = RecordStore::open_in(dir.path()).expect("store");
    store.define_collection(&coll).expect("collection");
    let started = Instant::now();
    let f = std::fs::File::open(&all).expect("jsonl");
    store
        .import("patients", std::io::BufReader::new(f))
        .expect("import");
    let took = started.elapsed();
    eprintln!(
        "records: imported {RECORDS} records in {took:.2?} ({:.0} records/s)",
        RECORDS as f64 / took.as_secs_f64()
    );
    std::fs::remove_file(&all).expect("remove jsonl");

    let query = |filter: Vec<Condition>, limit: u32| ReadSpec {
        fields: spec.fields.clone(),
        filter,
        limit,
    };
    let eq = query(
        vec![Condition::Compare {
            field: "diagnosis".into(),
            op: CompareOp::Eq,
            value: Value::Text("D500".into()),
        }],
        100,
    );
    let range = query(
        vec![Condition::Compare {
            field: "age".into(),
            op: CompareOp::Ge,
            value: Value::Integer(89),
        }],
        100,
    );
    // Met by no record: every record is decided, read to the end.
    let none = query(
        vec![Condition::Compare {
            field: "name".into(),
            op: CompareOp::Eq,
            value: Value::Text("nobody".into()),
        }],
        0,
    );
    let read = |s: &ReadSpec| {
        let mut auth = session.records("patients", rc).expect("authorizer");
        let r = store
            .read("patients", None, s, "treatment", &mut auth)
            .expect("read");
        black_box(r)
    };
    assert_eq!(read(&eq).rows.len(), 100);
    assert_eq!(read(&range).rows.len(), 100);
    assert!(read(&none).rows.is_empty());

    let mut group = c.benchmark_group("records_store_query");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    // What every query cost before: load and decode the whole collection, then evaluate.
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("baseline_load_whole_collection", |b| {
        b.iter(|| {
            let records = store.records("patients", None).expect("records");
            let mut auth = session.records("patients", rc).expect("authorizer");
            black_box(evaluate(plan, &records, 0, &mut auth, Path::Fast))
        })
    });
    group.bench_function("full_scan_decided", |b| b.iter(|| read(&none)));
    group.throughput(Throughput::Elements(100));
    group.bench_function("eq_limit_100_indexed", |b| b.iter(|| read(&eq)));
    group.bench_function("range_limit_100_indexed", |b| b.iter(|| read(&range)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
