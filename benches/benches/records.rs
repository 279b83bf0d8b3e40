//! Record reads (cordon-records): authorization + projection, naive beside fast, in one run.
//!
//! - `records_read/naive`: Cedar per record (`RecordAuthorizer::record_naive`) over the first
//!   20,000 records of the collection — at microseconds per record, the full million would take
//!   tens of seconds per sample; the rate per record is what compares.
//! - `records_read/fast`: the fast path (decisions cached per attribute class, sound because the
//!   bundle names no record) over all 1,000,000 records.
//!
//! - `records_store_query/decode_each_query`: a whole query against a real redb store holding
//!   the 1,000,000 records: load and decode the collection, then the fast path — what every
//!   query cost before the store kept decoded collections (the baseline).
//! - `records_store_query/cached`: the same query through `RecordStore::read`, which reuses the
//!   decoded collection while nothing was written.
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
use std::path::Path as FsPath;
use std::time::Duration;

use cordon_policy::{Human, PolicyBundle, Principal, RecordsContext, RunContext};
use cordon_records::{
    Collection, FieldDef, Path, Plan, ReadSpec, Record, RecordStore, Value, evaluate,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 1_000_000;
const NAIVE_SAMPLE: usize = 20_000;

fn collection() -> Collection {
    let field = |name: &str, category: &str| FieldDef {
        name: name.into(),
        category: category.into(),
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

    // The same records in a real store, imported as an operator would.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RecordStore::open_in(dir.path()).expect("store");
    store.define_collection(&coll).expect("collection");
    let jsonl: String = records
        .iter()
        .map(|r| {
            let level = &coll.levels[r.classification as usize];
            let fields: serde_json::Map<String, serde_json::Value> = r
                .fields
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Text(t) => serde_json::json!(t),
                        Value::Integer(i) => serde_json::json!(i),
                        other => serde_json::to_value(other).expect("value"),
                    };
                    (k.clone(), v)
                })
                .collect();
            serde_json::json!({"id": r.id, "subject": r.subject, "classification": level,
                "jurisdiction": r.jurisdiction, "consent": r.consent, "fields": fields})
            .to_string()
                + "\n"
        })
        .collect();
    drop(records);
    store.import("patients", jsonl.as_bytes()).expect("import");
    drop(jsonl);

    let mut group = c.benchmark_group("records_store_query");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("decode_each_query", |b| {
        b.iter(|| {
            let records = store.records("patients", None).expect("records");
            let mut auth = session.records("patients", &rc).expect("authorizer");
            black_box(evaluate(&plan, &records, 0, &mut auth, Path::Fast))
        })
    });
    group.bench_function("cached", |b| {
        b.iter(|| {
            let mut auth = session.records("patients", &rc).expect("authorizer");
            black_box(
                store
                    .read("patients", None, &spec, "treatment", &mut auth)
                    .expect("read"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
