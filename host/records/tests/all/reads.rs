//! Per-record and per-field authorization, filters, caps, retention.

use cordon_records::{CompareOp, Condition, ReadError, ReadSpec, Value};

use crate::support::{ids, query, spec, store};

#[test]
fn two_purposes_see_different_fields() {
    let f = store();
    let treat = query(
        &f,
        "clinician",
        "treatment",
        "eu-west",
        &spec(&["name", "diagnosis", "balance"]),
    )
    .unwrap();
    assert_eq!(treat.fields_returned, ["name", "diagnosis"]);
    assert_eq!(treat.fields_withheld, ["balance"]);
    let bill = query(
        &f,
        "billing",
        "billing",
        "eu-west",
        &spec(&["name", "diagnosis", "balance"]),
    )
    .unwrap();
    assert_eq!(bill.fields_returned, ["name", "balance"]);
    assert_eq!(bill.fields_withheld, ["diagnosis"]);
}

#[test]
fn a_field_of_a_denied_category_never_appears_in_a_row() {
    let f = store();
    let r = query(
        &f,
        "billing",
        "billing",
        "eu-west",
        &spec(&["diagnosis", "name"]),
    )
    .unwrap();
    assert!(!r.rows.is_empty());
    let text = serde_json::to_string(&r.rows).unwrap();
    for secret in ["asthma", "flu", "hiv", "sprain", "diagnosis"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn a_record_without_consent_for_the_purpose_is_withheld_and_named_to_the_log_only() {
    let f = store();
    // p5 consented only to billing.
    let r = query(&f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["p1", "p2", "p3", "p4"]);
    assert_eq!(r.records_withheld, 1);
    assert_eq!(r.withheld_ids, ["p5"]);
}

#[test]
fn eu_records_are_withheld_from_a_host_outside_the_eu() {
    let f = store();
    let r = query(&f, "clinician", "treatment", "us-east", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["p3"]);
    assert_eq!(r.records_withheld, 4);
}

#[test]
fn the_purpose_row_cap_truncates() {
    let f = store();
    // billing may read p1, p4, p5 (p3 is restricted, p2 has no consent); the cap is 2.
    let r = query(&f, "billing", "billing", "eu-west", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["p1", "p4"]);
    assert!(r.truncated);
    assert_eq!(r.records_withheld, 2);
}

#[test]
fn the_guest_limit_truncates_below_the_cap() {
    let f = store();
    let mut s = spec(&["name"]);
    s.limit = 1;
    let r = query(&f, "clinician", "treatment", "eu-west", &s).unwrap();
    assert_eq!(ids(&r), ["p1"]);
    assert!(r.truncated);
}

#[test]
fn filters_compare_and_test_membership() {
    let f = store();
    let s = ReadSpec {
        fields: vec!["name".into()],
        filter: vec![
            Condition::Compare {
                field: "age".into(),
                op: CompareOp::Lt,
                value: Value::Integer(40),
            },
            Condition::OneOf {
                field: "name".into(),
                values: vec![Value::Text("Ada".into()), Value::Text("Cy".into())],
            },
        ],
        limit: 0,
    };
    let r = query(&f, "clinician", "treatment", "eu-west", &s).unwrap();
    assert_eq!(ids(&r), ["p1", "p3"]);
}

#[test]
fn a_filter_on_a_withheld_field_is_refused() {
    let f = store();
    let s = ReadSpec {
        fields: vec!["name".into()],
        filter: vec![Condition::Compare {
            field: "diagnosis".into(),
            op: CompareOp::Eq,
            value: Value::Text("hiv".into()),
        }],
        limit: 0,
    };
    let err = query(&f, "billing", "billing", "eu-west", &s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the filter tests field `diagnosis`, which the policy withholds"
    );
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let f = store();
    let err = query(&f, "clinician", "treatment", "eu-west", &spec(&["ssn"])).unwrap_err();
    assert!(matches!(err, ReadError::Plan(_)));
    assert_eq!(err.to_string(), "collection `patients` has no field `ssn`");
}

#[test]
fn a_strict_collection_fails_instead_of_omitting_fields() {
    let f = store();
    let mut c = f.store.collection("patients").unwrap().unwrap();
    c.strict_fields = true;
    f.store.define_collection(&c).unwrap();
    let err = query(
        &f,
        "billing",
        "billing",
        "eu-west",
        &spec(&["name", "diagnosis"]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("[\"diagnosis\"]"), "{err}");
}

#[test]
fn records_past_retention_are_never_served() {
    let f = store();
    f.store
        .import(
            "patients",
            r#"{"id": "old", "subject": "eve", "classification": "public", "jurisdiction": "US", "consent": ["treatment"], "retain_until": 1000, "fields": {"name": "Eve"}}
{"id": "new", "subject": "fay", "classification": "public", "jurisdiction": "US", "consent": ["treatment"], "retain_until": 99999999999, "fields": {"name": "Fay"}}"#
                .as_bytes(),
        )
        .unwrap();
    let r = query(&f, "clinician", "treatment", "us-east", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["new", "p3"]);
}

#[test]
fn labels_describe_only_what_was_returned() {
    let f = store();
    let r = query(
        &f,
        "billing",
        "billing",
        "us-east",
        &spec(&["name", "diagnosis"]),
    )
    .unwrap();
    // Only p5 (public, US): p3 is restricted, EU records stay in the EU.
    assert_eq!(ids(&r), ["p5"]);
    assert_eq!(r.max_classification, Some(0));
    assert_eq!(r.jurisdictions.iter().collect::<Vec<_>>(), ["US"]);
    assert_eq!(r.categories.iter().collect::<Vec<_>>(), ["identifier"]);
}
