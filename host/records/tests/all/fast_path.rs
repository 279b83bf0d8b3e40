//! The fast path (decisions cached per attribute class) returns exactly what naive per-record
//! Cedar returns, on random records and random policies.

use std::collections::BTreeMap;

use cordon_policy::{PolicyBundle, Principal, RecordsContext, RunContext};
use cordon_records::{Collection, FieldDef, Path, Plan, ReadSpec, Record, Value, evaluate};
use proptest::prelude::*;

const ATOMS: &[&str] = &[
    "resource.classification <= 1",
    "resource.classification > 2",
    "resource.jurisdiction == \"EU\"",
    "resource.jurisdiction != \"US\"",
    "resource.consent.contains(\"a\")",
    "resource.consent.contains(context.purpose)",
    "resource.consent.isEmpty()",
    "resource.held",
    "!resource.held",
    "context.host_region like \"eu-*\"",
    "context.purpose == \"a\"",
    "resource.collection == \"c\"",
    "resource in Cordon::Collection::\"c\"",
];

/// Names a record: the fast path must notice and fall back to per-record Cedar.
const IDENTITY_ATOM: &str = "resource == Cordon::Record::\"c/r3\"";

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => proptest::sample::select(ATOMS).prop_map(str::to_owned),
        1 => Just(IDENTITY_ATOM.to_owned()),
    ]
}

fn policy(i: usize) -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        proptest::collection::vec(atom(), 1..4),
        any::<bool>(),
    )
        .prop_map(move |(permit, atoms, conj)| {
            let effect = if permit { "permit" } else { "forbid" };
            let op = if conj { " && " } else { " || " };
            format!(
                "@id(\"p{i}\") {effect}(principal, action == Cordon::Action::\"records:read\", resource) when {{ {} }};",
                atoms.join(op)
            )
        })
}

fn policies() -> impl Strategy<Value = String> {
    (1usize..5).prop_flat_map(|n| {
        (0..n)
            .map(policy)
            .collect::<Vec<_>>()
            .prop_map(|ps| ps.join("\n"))
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        0u32..8,
        0u32..4,
        proptest::sample::select(&["EU", "US", "UK"][..]),
        proptest::sample::subsequence(&["a", "b", "p"][..], 0..=3),
        proptest::collection::vec(proptest::sample::select(&["h1", "h2"][..]), 0..2),
    )
        .prop_map(
            |(id, classification, jurisdiction, consent, holds)| Record {
                id: format!("r{id}"),
                subject: format!("s{id}"),
                classification,
                jurisdiction: jurisdiction.to_owned(),
                consent: consent.into_iter().map(str::to_owned).collect(),
                holds: holds.into_iter().map(str::to_owned).collect(),
                retain_until: None,
                erasure_pending: false,
                fields: BTreeMap::from([("f".to_owned(), Value::Integer(i64::from(id)))]),
            },
        )
}

fn collection() -> Collection {
    Collection {
        name: "c".into(),
        levels: vec!["0".into(), "1".into(), "2".into(), "3".into()],
        fields: vec![FieldDef {
            name: "f".into(),
            category: "x".into(),
            index: false,
        }],
        row_caps: BTreeMap::new(),
        strict_fields: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_returns_exactly_what_naive_cedar_returns(
        text in policies(),
        records in proptest::collection::vec(record(), 0..40),
        purpose in proptest::sample::select(&["a", "b", "p"][..]),
        region in proptest::sample::select(&["eu-west", "us-east"][..]),
    ) {
        let fields = "@id(\"fields\") permit(principal, action == Cordon::Action::\"records:read-field\", resource);";
        let bundle = PolicyBundle::from_sources([("p.cedar", format!("{text}\n{fields}"))]).unwrap();
        let session = bundle
            .session(&Principal::unattended("t", "d"), &RunContext::new(purpose, "e"))
            .unwrap();
        let rc = RecordsContext { host_region: region.into(), requested_fields: vec!["f".into()] };
        let mut fast = session.records("c", &rc).unwrap();
        prop_assert_eq!(fast.is_cached(), !text.contains(IDENTITY_ATOM));
        let naive = session.records("c", &rc).unwrap();
        for r in &records {
            let attrs = cordon_policy::RecordAttrs {
                id: &r.id,
                classification: i64::from(r.classification),
                jurisdiction: &r.jurisdiction,
                consent: &r.consent,
                held: r.held(),
            };
            let want = naive.record_naive(attrs);
            let got = fast.record(attrs).clone();
            prop_assert_eq!(got, want, "record {:?}\npolicies:\n{}", r, text);
        }
        let spec = ReadSpec { fields: vec!["f".into()], filter: vec![], limit: 0 };
        let c = collection();
        let plan = Plan::new(&c, &spec, purpose, &fast).unwrap();
        let got = evaluate(&plan, &records, 0, &mut fast, Path::Fast);
        let mut naive = session.records("c", &rc).unwrap();
        let want = evaluate(&plan, &records, 0, &mut naive, Path::Naive);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn equal_records_cost_one_cedar_evaluation_on_the_fast_path() {
    let bundle = PolicyBundle::from_sources([(
        "p.cedar",
        r#"@id("eu") permit(principal, action == Cordon::Action::"records:read", resource) when { resource.jurisdiction == "EU" };"#,
    )])
    .unwrap();
    let session = bundle
        .session(&Principal::unattended("t", "d"), &RunContext::new("a", "e"))
        .unwrap();
    let mut auth = session.records("c", &RecordsContext::default()).unwrap();
    let consent = vec!["a".to_owned()];
    for i in 0..100 {
        let id = format!("r{i}");
        let j = if i % 2 == 0 { "EU" } else { "US" };
        let attrs = cordon_policy::RecordAttrs {
            id: &id,
            classification: 1,
            jurisdiction: j,
            consent: &consent,
            held: false,
        };
        assert_eq!(auth.record(attrs).allowed, j == "EU");
    }
    assert_eq!(auth.evaluations(), 2);
}

#[test]
fn a_policy_naming_a_record_turns_the_cache_off() {
    let bundle = PolicyBundle::from_sources([(
        "p.cedar",
        r#"@id("one") permit(principal, action == Cordon::Action::"records:read", resource) when { resource == Cordon::Record::"c/r1" };"#,
    )])
    .unwrap();
    let session = bundle
        .session(&Principal::unattended("t", "d"), &RunContext::new("a", "e"))
        .unwrap();
    let mut auth = session.records("c", &RecordsContext::default()).unwrap();
    assert!(!auth.is_cached());
    let attrs = |id| cordon_policy::RecordAttrs::<String> {
        id,
        classification: 0,
        jurisdiction: "EU",
        consent: &[],
        held: false,
    };
    assert!(auth.record(attrs("r1")).allowed);
    assert!(!auth.record(attrs("r2")).allowed);
}
