//! Withheld is invisible: no answer depends on records or fields the caller may not see.

use cordon_policy::{RecordsContext, Session};
use cordon_records::{CompareOp, Condition, ReadResult, ReadSpec, RecordStore, Value};
use proptest::prelude::*;

use crate::support::{PATIENTS, ids, query, session, spec, store};

/// What a guest (and its taint) gets of a read: everything but the log-only parts.
fn guest_view(r: &Result<ReadResult, cordon_records::ReadError>) -> String {
    match r {
        Ok(r) => format!(
            "{:?} {:?} {:?} {} {:?} {:?} {:?} {:?}",
            r.rows,
            r.fields_returned,
            r.fields_withheld,
            r.truncated,
            r.max_classification,
            r.jurisdictions,
            r.categories,
            r.policy_ids
        ),
        Err(e) => format!("error: {e}"),
    }
}

fn get(s: &Session, store: &RecordStore, id: &str, fields: &[&str]) -> ReadResult {
    let spec = spec(fields);
    let rc = RecordsContext {
        host_region: "eu-west".into(),
        requested_fields: spec.fields.clone(),
    };
    let mut auth = s.records("patients", &rc).unwrap();
    store
        .read("patients", Some(id), &spec, "treatment", &mut auth)
        .unwrap()
}

#[test]
fn a_caller_without_consent_learns_nothing_not_even_a_count() {
    let f = store();
    // Clinicians read for treatment; p5 consented only to billing. Filtering on a field the
    // caller may see (age) selects p5 alone, which the caller may not see.
    let s = ReadSpec {
        fields: vec!["name".into()],
        filter: vec![Condition::Compare {
            field: "age".into(),
            op: CompareOp::Eq,
            value: Value::Integer(70),
        }],
        limit: 0,
    };
    let r = query(&f, "clinician", "treatment", "eu-west", &s).unwrap();
    assert!(r.rows.is_empty());
    assert!(!r.truncated);
    // The log, not the guest, learns which withheld record met the filter.
    assert_eq!(r.withheld_ids, ["p5"]);
    assert_eq!(r.records_withheld, 1);
    let other = ReadSpec {
        filter: vec![Condition::Compare {
            field: "age".into(),
            op: CompareOp::Eq,
            value: Value::Integer(71),
        }],
        ..s
    };
    let none = query(&f, "clinician", "treatment", "eu-west", &other).unwrap();
    assert_eq!(guest_view(&Ok(r)), guest_view(&Ok(none)));
}

#[test]
fn withheld_records_do_not_use_up_the_limit_or_set_truncated() {
    let f = store();
    // On a US host, EU records (p1, p2, p4) are withheld: p3 is the only visible one.
    let mut s = spec(&["name"]);
    s.limit = 1;
    let r = query(&f, "clinician", "treatment", "us-east", &s).unwrap();
    assert_eq!(ids(&r), ["p3"]);
    assert!(!r.truncated, "only withheld records were left over");
}

#[test]
fn get_answers_a_withheld_record_as_an_absent_one() {
    let f = store();
    let s = session("clinician", "treatment");
    let withheld = get(&s, &f.store, "p5", &["name"]);
    let absent = get(&s, &f.store, "p404", &["name"]);
    assert!(withheld.rows.is_empty());
    assert_eq!(guest_view(&Ok(withheld.clone())), guest_view(&Ok(absent)));
    assert_eq!(withheld.withheld_ids, ["p5"], "the log still names it");
}

#[test]
fn the_filter_reaches_the_log_with_fields_and_operators() {
    let f = store();
    let s = ReadSpec {
        fields: vec!["name".into()],
        filter: vec![Condition::OneOf {
            field: "name".into(),
            values: vec![Value::Text("Ada".into()), Value::Integer(3)],
        }],
        limit: 0,
    };
    let r = query(&f, "clinician", "treatment", "eu-west", &s).unwrap();
    assert_eq!(r.filter.len(), 1);
    assert_eq!(r.filter[0].field, "name");
    assert_eq!(r.filter[0].op, "one-of");
    assert_eq!(r.filter[0].values, [r#""Ada""#, "3"]);
}

/// One visible record: its visible fields, and the value of the withheld field (`balance`,
/// financial) in each of the two stores.
#[derive(Debug, Clone)]
struct Visible {
    name: &'static str,
    email: Option<&'static str>,
    diagnosis: &'static str,
    age: i64,
    balance: (i64, i64),
    classification: &'static str,
    jurisdiction: &'static str,
}

/// One withheld record (no consent to treatment): anything at all.
#[derive(Debug, Clone)]
struct Withheld {
    slot: usize,
    name: &'static str,
    email: Option<&'static str>,
    diagnosis: &'static str,
    age: i64,
    consent: &'static str,
}

const NAMES: &[&str] = &["Ada", "Bob", "Cy", "Dee"];
const EMAILS: &[&str] = &["ada@example.org", "bob@example.org", "cy@example.org"];
const DIAGNOSES: &[&str] = &["asthma", "flu", "hiv", "sprain"];
const LEVELS: &[&str] = &["public", "internal", "confidential", "restricted"];

fn visible() -> impl Strategy<Value = Visible> {
    (
        prop::sample::select(NAMES),
        prop::option::of(prop::sample::select(EMAILS)),
        prop::sample::select(DIAGNOSES),
        20i64..60,
        (any::<i64>(), any::<i64>()),
        prop::sample::select(LEVELS),
        prop::sample::select(&["EU", "US"][..]),
    )
        .prop_map(
            |(name, email, diagnosis, age, balance, classification, jurisdiction)| Visible {
                name,
                email,
                diagnosis,
                age,
                balance,
                classification,
                jurisdiction,
            },
        )
}

fn withheld() -> impl Strategy<Value = Withheld> {
    (
        0usize..40,
        prop::sample::select(NAMES),
        prop::option::of(prop::sample::select(EMAILS)),
        prop::sample::select(DIAGNOSES),
        20i64..60,
        prop::sample::select(&["billing", "research", ""][..]),
    )
        .prop_map(|(slot, name, email, diagnosis, age, consent)| Withheld {
            slot,
            name,
            email,
            diagnosis,
            age,
            consent,
        })
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(NAMES).prop_map(|s| Value::Text(s.into())),
        prop::sample::select(EMAILS).prop_map(|s| Value::Text(s.into())),
        prop::sample::select(DIAGNOSES).prop_map(|s| Value::Text(s.into())),
        (20i64..60).prop_map(Value::Integer),
        Just(Value::Null),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    // `balance` is withheld from treatment: a filter on it must be refused in both stores.
    let field = prop::sample::select(&["name", "email", "diagnosis", "age", "balance"][..]);
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
    prop_oneof![
        3 => (field.clone(), op, value()).prop_map(|(f, op, value)| Condition::Compare {
            field: f.into(),
            op,
            value,
        }),
        1 => (field, prop::collection::vec(value(), 0..3)).prop_map(|(f, values)| {
            Condition::OneOf {
                field: f.into(),
                values,
            }
        }),
    ]
}

fn line(id: &str, consent: &str, fields: serde_json::Value, level: &str, j: &str) -> String {
    serde_json::json!({
        "id": id,
        "subject": format!("subject-of-{id}"),
        "classification": level,
        "jurisdiction": j,
        "consent": if consent.is_empty() { vec![] } else { vec![consent] },
        "fields": fields,
    })
    .to_string()
}

/// A store with `visible` records (the `pick`ed balance) and `withheld` ones, ids interleaved.
/// Every field of the collection is indexed when `indexed`.
fn build_with(
    visible: &[Visible],
    pick: fn(&(i64, i64)) -> i64,
    withheld: &[Withheld],
    indexed: bool,
) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    let mut patients: cordon_records::Collection = serde_json::from_str(PATIENTS).unwrap();
    for f in &mut patients.fields {
        f.index = indexed;
    }
    store.define_collection(&patients).unwrap();
    let mut lines = Vec::new();
    for (i, v) in visible.iter().enumerate() {
        let mut fields = serde_json::json!({
            "name": v.name, "diagnosis": v.diagnosis, "age": v.age, "balance": pick(&v.balance),
        });
        if let Some(e) = v.email {
            fields["email"] = e.into();
        }
        lines.push(line(
            &format!("r{:03}", 2 * i),
            "treatment",
            fields,
            v.classification,
            v.jurisdiction,
        ));
    }
    let mut slots = std::collections::BTreeSet::new();
    for w in withheld {
        if !slots.insert(w.slot) {
            continue;
        }
        let mut fields = serde_json::json!({
            "name": w.name, "diagnosis": w.diagnosis, "age": w.age, "balance": 1,
        });
        if let Some(e) = w.email {
            fields["email"] = e.into();
        }
        lines.push(line(
            &format!("r{:03}", 2 * w.slot + 1),
            w.consent,
            fields,
            "internal",
            "EU",
        ));
    }
    store
        .import("patients", lines.join("\n").as_bytes())
        .unwrap();
    Built { _dir: dir, store }
}

struct Built {
    _dir: tempfile::TempDir,
    store: RecordStore,
}

fn read(
    s: &Session,
    store: &RecordStore,
    spec: &ReadSpec,
) -> Result<ReadResult, cordon_records::ReadError> {
    let rc = RecordsContext {
        host_region: "eu-west".into(),
        requested_fields: spec.fields.clone(),
    };
    let mut auth = s.records("patients", &rc).unwrap();
    store.read("patients", None, spec, "treatment", &mut auth)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Two stores that differ only in withheld content — which records the caller may not see
    /// exist and what they hold, and the values of a field withheld from it — give identical
    /// answers to every generated query and `get`, whether the filtered fields are indexed or
    /// scanned (withheld_content_does_not_change_indexed_results).
    #[test]
    fn withheld_content_never_changes_an_answer(
        visible in prop::collection::vec(visible(), 0..8),
        withheld_a in prop::collection::vec(withheld(), 0..12),
        withheld_b in prop::collection::vec(withheld(), 0..12),
        filters in prop::collection::vec(prop::collection::vec(condition(), 0..3), 1..6),
        limit in 0u32..4,
        fields in prop::sample::subsequence(&["name", "email", "diagnosis", "age", "balance"][..], 0..5),
        indexed in any::<bool>(),
    ) {
        let a = build_with(&visible, |b| b.0, &withheld_a, indexed);
        let b = build_with(&visible, |b| b.1, &withheld_b, indexed);
        let s = session("clinician", "treatment");
        let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        for filter in filters {
            let spec = ReadSpec { fields: fields.clone(), filter, limit };
            let (ra, rb) = (read(&s, &a.store, &spec), read(&s, &b.store, &spec));
            prop_assert_eq!(guest_view(&ra), guest_view(&rb), "spec {:?}", spec);
        }
        let field_refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        for slot in 0..(2 * visible.len().max(40) + 2) {
            let id = format!("r{slot:03}");
            let (ga, gb) = (get(&s, &a.store, &id, &field_refs), get(&s, &b.store, &id, &field_refs));
            prop_assert_eq!(guest_view(&Ok(ga)), guest_view(&Ok(gb)), "get {}", id);
        }
    }
}
