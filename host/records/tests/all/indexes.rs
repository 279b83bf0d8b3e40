//! Field indexes and streaming reads: an index narrows which records a read looks at, never
//! what it answers; a read looks at records until its page is full, not at the collection.

use cordon_records::{
    Collection, CompareOp, Condition, ImportError, ReadResult, ReadSpec, RecordStore, Value,
};
use proptest::prelude::*;

use crate::support::{PATIENTS, session};

/// The patients collection with `indexed` fields indexed.
fn patients(indexed: &[&str]) -> Collection {
    let mut c: Collection = serde_json::from_str(PATIENTS).unwrap();
    for f in &mut c.fields {
        f.index = indexed.contains(&f.name.as_str());
    }
    c
}

fn open(c: &Collection) -> (tempfile::TempDir, RecordStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    store.define_collection(c).unwrap();
    (dir, store)
}

/// Record `i` of a generated collection: diagnosis `d<i % 1000>`, age `i % 90`, consented to
/// treatment, in the EU.
fn numbered(i: usize) -> String {
    serde_json::json!({
        "id": format!("r{i:06}"), "subject": format!("s{i}"), "classification": "internal",
        "jurisdiction": "EU", "consent": ["treatment"],
        "fields": {"name": format!("N{i}"), "diagnosis": format!("d{}", i % 1000), "age": i % 90},
    })
    .to_string()
}

fn numbered_lines(n: usize) -> String {
    (0..n).map(numbered).collect::<Vec<_>>().join("\n")
}

fn read(store: &RecordStore, region: &str, spec: &ReadSpec) -> ReadResult {
    let s = session("clinician", "treatment");
    let rc = cordon_policy::RecordsContext {
        host_region: region.into(),
        requested_fields: spec.fields.clone(),
    };
    let mut auth = s.records("patients", &rc).unwrap();
    store
        .read("patients", None, spec, "treatment", &mut auth)
        .unwrap()
}

fn eq(field: &str, value: Value) -> Condition {
    Condition::Compare {
        field: field.into(),
        op: CompareOp::Eq,
        value,
    }
}

fn spec(filter: Vec<Condition>, limit: u32) -> ReadSpec {
    ReadSpec {
        fields: vec!["name".into()],
        filter,
        limit,
    }
}

fn ids(r: &ReadResult) -> Vec<&str> {
    r.rows.iter().map(|r| r.id.as_str()).collect()
}

#[test]
fn filtered_query_uses_index_and_stays_bounded() {
    const N: usize = 20_000;
    let (_d1, indexed) = open(&patients(&["diagnosis", "age"]));
    let (_d2, plain) = open(&patients(&[]));
    for s in [&indexed, &plain] {
        s.import("patients", numbered_lines(N).as_bytes()).unwrap();
    }
    let q = spec(vec![eq("diagnosis", Value::Text("d7".into()))], 5);
    let (a, b) = (read(&indexed, "eu-west", &q), read(&plain, "eu-west", &q));
    assert_eq!(
        ids(&a),
        ["r000007", "r001007", "r002007", "r003007", "r004007"]
    );
    assert!(a.truncated);
    assert_eq!(a.examined, 6, "five rows and the one that sets `truncated`");
    assert_eq!(
        b.examined, 5008,
        "without the index the scan reads up to the sixth match"
    );
    assert_eq!(
        ReadResult { examined: 0, ..a },
        ReadResult { examined: 0, ..b }
    );

    let range = spec(
        vec![Condition::Compare {
            field: "age".into(),
            op: CompareOp::Ge,
            value: Value::Float(88.5),
        }],
        3,
    );
    let r = read(&indexed, "eu-west", &range);
    assert_eq!(ids(&r), ["r000089", "r000179", "r000269"]);
    assert_eq!(r.examined, 4);

    // No filter: the read stops once the page is full, whatever the collection's size.
    let all = read(&plain, "eu-west", &spec(vec![], 10));
    assert_eq!(all.rows.len(), 10);
    assert_eq!(all.examined, 11);
    // Withheld records (EU ones on a US host) are looked at, never returned or counted.
    let us = read(&indexed, "us-east", &q);
    assert!(us.rows.is_empty() && !us.truncated);
    assert_eq!(us.examined, 20);
    assert_eq!(us.records_withheld, 20);
}

#[test]
fn import_streams_all_or_nothing_and_leaves_no_index_entry_when_refused() {
    const N: usize = 20_000;
    let (_d, store) = open(&patients(&["diagnosis"]));
    let mut input = numbered_lines(N);
    input.push_str("\n{\"id\": \"bad\"}\n");
    let Err(ImportError::BadLines { errors, .. }) = store.import("patients", input.as_bytes())
    else {
        panic!("a bad line refuses the import");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, N + 1);
    assert!(store.records_page("patients", None, 1).unwrap().is_empty());
    let q = spec(vec![eq("diagnosis", Value::Text("d7".into()))], 0);
    let r = read(&store, "eu-west", &q);
    assert_eq!(
        (r.rows.len(), r.examined),
        (0, 0),
        "no index entry survived"
    );

    let report = store
        .import("patients", numbered_lines(N).as_bytes())
        .unwrap();
    assert_eq!(report.inserted, N);
    let r = read(&store, "eu-west", &q);
    assert_eq!(r.rows.len(), N / 1000);
    assert_eq!(r.examined, (N / 1000) as u64);
}

#[test]
fn index_is_kept_on_update_erase_release_sweep_and_redefinition() {
    let (_d, store) = open(&patients(&["diagnosis"]));
    let line = |id: &str, subject: &str, diagnosis: &str, retain: Option<u64>| {
        serde_json::json!({"id": id, "subject": subject, "classification": "internal",
            "jurisdiction": "EU", "consent": ["treatment"], "retain_until": retain,
            "fields": {"name": id, "diagnosis": diagnosis, "age": 40}})
        .to_string()
    };
    let lines = [
        line("a", "ada", "flu", None),
        line("b", "bob", "flu", None),
        line("c", "cy", "flu", Some(1)),
        line("d", "dee", "flu", None),
    ];
    store
        .import("patients", lines.join("\n").as_bytes())
        .unwrap();
    let flu = spec(vec![eq("diagnosis", Value::Text("flu".into()))], 0);
    let cold = spec(vec![eq("diagnosis", Value::Text("cold".into()))], 0);
    // `c` is past retention: looked at, never served.
    assert_eq!(ids(&read(&store, "eu-west", &flu)), ["a", "b", "d"]);

    // An update moves the record to its new value.
    store
        .import("patients", line("a", "ada", "cold", None).as_bytes())
        .unwrap();
    assert_eq!(ids(&read(&store, "eu-west", &flu)), ["b", "d"]);
    assert_eq!(ids(&read(&store, "eu-west", &cold)), ["a"]);

    // An erasure, a release that completes a pending one, and a sweep drop the entries (a
    // stale entry would make the read fail: it names a record that no longer exists).
    store.erase_subject("ada").unwrap();
    store.hold("patients", "b", "case").unwrap();
    store.erase_subject("bob").unwrap();
    store.release("patients", "b", "case").unwrap();
    assert_eq!(store.sweep(cordon_records::now_unix()).unwrap().purged, 1);
    let r = read(&store, "eu-west", &flu);
    assert_eq!((ids(&r), r.examined), (vec!["d"], 1));
    assert_eq!(read(&store, "eu-west", &cold).examined, 0);

    // A redefinition that indexes another field builds its index from the stored records.
    store.define_collection(&patients(&["age"])).unwrap();
    let age = spec(vec![eq("age", Value::Integer(40))], 0);
    let r = read(&store, "eu-west", &age);
    assert_eq!((ids(&r), r.examined), (vec!["d"], 1));
    let r = read(&store, "eu-west", &flu);
    assert_eq!(ids(&r), ["d"], "no longer indexed: scanned");

    // The scrub after an erasure keeps the index.
    store.scrub().unwrap();
    let r = read(&store, "eu-west", &age);
    assert_eq!((ids(&r), r.examined), (vec!["d"], 1));
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(Value::Bool(b))),
        (-2i64..3).prop_map(|i| Some(Value::Integer(i))),
        prop::sample::select(&[-1.5, -0.0, 0.0, 0.5, 1.0, 2.0][..])
            .prop_map(|f| Some(Value::Float(f))),
        prop::sample::select(&["", "a", "a\u{0}", "ab", "b"][..])
            .prop_map(|t| Some(Value::Text(t.into()))),
    ]
}

#[derive(Debug, Clone)]
struct Generated {
    diagnosis: Option<Value>,
    age: Option<Value>,
    name: Option<Value>,
    consent: &'static str,
    jurisdiction: &'static str,
    expired: bool,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        value(),
        value(),
        value(),
        prop::sample::select(&["treatment", "billing"][..]),
        prop::sample::select(&["EU", "US"][..]),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(diagnosis, age, name, consent, jurisdiction, expired)| Generated {
                diagnosis,
                age,
                name,
                consent,
                jurisdiction,
                expired,
            },
        )
}

fn condition() -> impl Strategy<Value = Condition> {
    let field = prop::sample::select(&["diagnosis", "age", "name", "email"][..]);
    let op = prop::sample::select(
        &[
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ][..],
    );
    let value = || value().prop_map(|v| v.unwrap_or(Value::Null));
    prop_oneof![
        3 => (field.clone(), op, value()).prop_map(|(f, op, value)| Condition::Compare {
            field: f.into(),
            op,
            value,
        }),
        1 => (field, prop::collection::vec(value(), 0..3))
            .prop_map(|(f, values)| Condition::OneOf { field: f.into(), values }),
    ]
}

fn import_generated(store: &RecordStore, records: &[Generated]) {
    let lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut fields = serde_json::Map::new();
            for (name, v) in [
                ("diagnosis", &g.diagnosis),
                ("age", &g.age),
                ("name", &g.name),
            ] {
                if let Some(v) = v {
                    fields.insert(name.into(), serde_json::to_value(v).unwrap());
                }
            }
            serde_json::json!({"id": format!("g{i:03}"), "subject": format!("s{}", i % 7),
                "classification": "internal", "jurisdiction": g.jurisdiction,
                "consent": [g.consent], "retain_until": if g.expired { Some(1) } else { None },
                "fields": fields})
            .to_string()
        })
        .collect();
    if !lines.is_empty() {
        store
            .import("patients", lines.join("\n").as_bytes())
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A store whose filtered fields are indexed answers every read exactly as the same store
    /// without indexes (rows, `truncated`, labels, and what the log is told was withheld).
    #[test]
    fn index_results_match_full_scan(
        records in prop::collection::vec(generated(), 0..40),
        filters in prop::collection::vec(prop::collection::vec(condition(), 0..3), 1..6),
        limit in 0u32..5,
        region in prop::sample::select(&["eu-west", "us-east"][..]),
    ) {
        let (_d1, indexed) = open(&patients(&["diagnosis", "age", "name", "email"]));
        let (_d2, plain) = open(&patients(&[]));
        import_generated(&indexed, &records);
        import_generated(&plain, &records);
        for filter in filters {
            let q = spec(filter, limit);
            let (a, b) = (read(&indexed, region, &q), read(&plain, region, &q));
            prop_assert!(a.examined <= b.examined);
            prop_assert_eq!(
                ReadResult { examined: 0, ..a },
                ReadResult { examined: 0, ..b },
                "spec {:?}", q
            );
        }
    }
}
