//! The records interface: per-record and per-field decisions through the gate, one log entry
//! per read, guests that see only what the policy allows.

use std::sync::Arc;

use cordon_policy::{Human, PolicyBundle, RunContext};
use cordon_records::{Collection, RecordStore};
use cordon_runtime::{Invocation, RecordsGrant, RunReport, RunStatus};
use cordon_testkit::{RecordsCall, records_guest};

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

const PATIENTS: &str = r#"{"name": "patients", "levels": ["public", "internal", "confidential", "restricted"],
  "fields": [{"name": "name", "category": "identifier"}, {"name": "diagnosis", "category": "health"},
             {"name": "balance", "category": "financial"}],
  "row_caps": {"billing": 1}}"#;

const ROWS: &str = r#"{"id": "p1", "subject": "ada", "classification": "confidential", "jurisdiction": "EU", "consent": ["treatment", "billing"], "fields": {"name": "Ada", "diagnosis": "asthma", "balance": "120"}}
{"id": "p2", "subject": "bob", "classification": "internal", "jurisdiction": "EU", "consent": ["treatment"], "fields": {"name": "Bob", "diagnosis": "flu", "balance": "0"}}
{"id": "p3", "subject": "cy", "classification": "internal", "jurisdiction": "US", "consent": ["treatment", "billing"], "fields": {"name": "Cy", "diagnosis": "hiv", "balance": "75"}}
"#;

fn store(sb: &Sandbox) -> Arc<RecordStore> {
    let store = RecordStore::open_in(sb.dir.path()).unwrap();
    store
        .define_collection(&serde_json::from_str::<Collection>(PATIENTS).unwrap())
        .unwrap();
    store.import("patients", ROWS.as_bytes()).unwrap();
    Arc::new(store)
}

fn healthcare() -> PolicyBundle {
    PolicyBundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies/examples/healthcare.cedar"),
    )
    .unwrap()
}

/// Run `guest` as a `role` for `purpose` on a host in `region`.
fn run(
    sb: &Sandbox,
    store: &Arc<RecordStore>,
    guest: anyhow::Result<Vec<u8>>,
    role: &str,
    purpose: &str,
    region: &str,
    input: &str,
) -> RunReport {
    let inv = Invocation {
        human: Some(Human::new("u-1", [role])),
        context: RunContext::new(purpose, "e-1"),
        bundle: healthcare(),
        records: Some(RecordsGrant {
            store: store.clone(),
            region: region.into(),
        }),
        ..sb.invocation(ALLOW_ALL, input)
    };
    engine().run(&load(guest), inv).unwrap()
}

fn query(fields: &[&str]) -> anyhow::Result<Vec<u8>> {
    records_guest(RecordsCall::Query { limit: 0 }, "patients", fields)
}

#[test]
fn two_purposes_see_different_fields_of_the_same_records() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let fields = ["name", "diagnosis", "balance"];
    let treat = run(
        &sb,
        &s,
        query(&fields),
        "clinician",
        "treatment",
        "eu-west",
        "",
    );
    assert_eq!(treat.status, RunStatus::Ok, "{treat:?}");
    assert_eq!(
        treat.output.as_deref(),
        Some("p1:Ada,asthma,;p2:Bob,flu,;p3:Cy,hiv,;#|balance,")
    );
    let bill = run(&sb, &s, query(&fields), "billing", "billing", "eu-west", "");
    // billing: p2 did not consent (invisible, not counted); the cap is one row.
    assert_eq!(bill.output.as_deref(), Some("p1:Ada,120,;#|diagnosis,T"));
}

#[test]
fn a_field_of_a_denied_category_never_reaches_output_or_stdout() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let r = run(
        &sb,
        &s,
        query(&["diagnosis", "name"]),
        "billing",
        "billing",
        "eu-west",
        "",
    );
    let seen = format!("{:?}{}{}", r.output, r.stdout, r.stderr);
    for secret in ["asthma", "flu", "hiv"] {
        assert!(!seen.contains(secret), "{secret} leaked: {seen}");
    }
}

#[test]
fn wrong_jurisdiction_is_withheld_and_not_even_counted() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let r = run(
        &sb,
        &s,
        query(&["name"]),
        "clinician",
        "treatment",
        "us-east",
        "",
    );
    assert_eq!(r.output.as_deref(), Some("p3:Cy,;#|"));
}

#[test]
fn each_read_is_one_log_entry_naming_what_was_returned_and_withheld() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let r = run(
        &sb,
        &s,
        query(&["name", "balance"]),
        "clinician",
        "treatment",
        "us-east",
        "",
    );
    assert_eq!(r.decisions.len(), 1);
    let d = &r.decisions[0];
    assert_eq!((d.action.as_str(), d.decision), ("records:read", "allow"));
    assert_eq!(d.resource, r#"Cordon::Collection::"patients""#);
    assert_eq!(
        d.policy_ids,
        ["clinicians-read-for-treatment", "treatment-fields"]
    );
    let entry = sb.log.store().entry(d.seq).unwrap().unwrap();
    let access = entry.records.unwrap();
    assert_eq!(access.collection, "patients");
    assert_eq!(access.record_commitments.len(), 1);
    assert_eq!(access.fields_returned, ["name"]);
    assert_eq!(access.fields_withheld, ["balance"]);
    assert_eq!(access.records_withheld, 2);
}

#[test]
fn get_returns_one_allowed_record_and_withholds_a_denied_one() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let guest = || records_guest(RecordsCall::Get, "patients", &["name"]);
    let ok = run(&sb, &s, guest(), "clinician", "treatment", "eu-west", "p2");
    assert_eq!(ok.output.as_deref(), Some("p2:Bob,;#|"));
    let withheld = run(&sb, &s, guest(), "billing", "billing", "eu-west", "p2");
    let absent = run(&sb, &s, guest(), "billing", "billing", "eu-west", "p404");
    assert_eq!(withheld.output.as_deref(), Some("#|"));
    assert_eq!(
        withheld.output, absent.output,
        "a withheld record is answered as an absent one"
    );
    // The log tells them apart: the withheld record is named (as a commitment).
    let entry = |r: &RunReport| {
        sb.log
            .store()
            .entry(r.decisions[0].seq)
            .unwrap()
            .unwrap()
            .records
            .unwrap()
    };
    assert_eq!(entry(&withheld).withheld_commitments.len(), 1);
    assert!(entry(&absent).withheld_commitments.is_empty());
}

#[test]
fn an_erased_subject_is_never_returned() {
    let sb = Sandbox::new();
    let s = store(&sb);
    s.erase_subject("ada").unwrap();
    let r = run(
        &sb,
        &s,
        query(&["name"]),
        "clinician",
        "treatment",
        "eu-west",
        "",
    );
    assert_eq!(r.output.as_deref(), Some("p2:Bob,;p3:Cy,;#|"));
}

#[test]
fn a_strict_collection_denies_a_read_of_withheld_fields_and_logs_the_denial() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let mut c = s.collection("patients").unwrap().unwrap();
    c.strict_fields = true;
    s.define_collection(&c).unwrap();
    let r = run(
        &sb,
        &s,
        query(&["name", "diagnosis"]),
        "billing",
        "billing",
        "eu-west",
        "",
    );
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(r.error.unwrap().kind, "access-denied");
    assert_eq!(r.decisions[0].decision, "deny");
}

#[test]
fn an_unknown_collection_is_not_found() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let guest = records_guest(RecordsCall::Query { limit: 0 }, "nope", &["name"]);
    let r = run(&sb, &s, guest, "clinician", "treatment", "eu-west", "");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "not-found");
    assert_eq!(e.message, "collection `nope` is not defined");
}

#[test]
fn without_a_store_records_calls_stay_unsupported() {
    let sb = Sandbox::new();
    let r = sb.run(&load(query(&["name"])), ALLOW_ALL, "");
    assert_eq!(r.error.unwrap().kind, "unsupported");
}

#[test]
fn each_decision_of_a_run_names_the_roles_its_user_acted_in() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let inv = Invocation {
        human: Some(Human::new("u-1", ["nurse", "clinician", "nurse"])),
        context: RunContext::new("treatment", "e-1"),
        bundle: healthcare(),
        records: Some(RecordsGrant {
            store: s.clone(),
            region: "eu-west".into(),
        }),
        ..sb.invocation(ALLOW_ALL, "")
    };
    let r = engine().run(&load(query(&["name"])), inv).unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    let store = sb.log.store();
    let entry = store.entry(r.decisions[0].seq).unwrap().unwrap();
    // Sorted, once each: an auditor reads who (the user, while not erased), in which roles,
    // for what purpose.
    assert_eq!(entry.roles, ["clinician", "nurse"]);
    assert_eq!(entry.purpose, "treatment");
    let found = store
        .query(&cordon_audit::Query {
            user: Some("u-1".into()),
            ..cordon_audit::Query::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user.as_deref(), Some("u-1"));
    assert_eq!(found[0].entry.roles, ["clinician", "nurse"]);

    // An unattended run acts in no role.
    let inv = Invocation {
        human: None,
        context: RunContext::new("treatment", "e-1"),
        bundle: healthcare(),
        records: Some(RecordsGrant {
            store: s.clone(),
            region: "eu-west".into(),
        }),
        ..sb.invocation(ALLOW_ALL, "")
    };
    let unattended = engine().run(&load(query(&["name"])), inv).unwrap();
    let seq = unattended.decisions[0].seq;
    assert!(store.entry(seq).unwrap().unwrap().roles.is_empty());
}

#[test]
fn a_read_refused_as_a_whole_is_logged_with_the_filter_an_allowed_one_logs() {
    let sb = Sandbox::new();
    let s = store(&sb);
    let guest = || {
        records_guest(
            RecordsCall::QueryWhere {
                field: "diagnosis",
                value: "asthma",
                limit: 0,
            },
            "patients",
            &["name"],
        )
    };
    // Treatment may see diagnoses: the filter runs. Billing may not: the whole read is refused.
    let allowed = run(&sb, &s, guest(), "clinician", "treatment", "eu-west", "");
    assert_eq!(allowed.output.as_deref(), Some("p1:Ada,;#|"), "{allowed:?}");
    let refused = run(&sb, &s, guest(), "billing", "billing", "eu-west", "");
    assert_eq!(refused.error.as_ref().unwrap().kind, "access-denied");
    let logged = |r: &RunReport| {
        let d = &r.decisions[0];
        let entry = sb.log.store().entry(d.seq).unwrap().unwrap();
        (d.decision, entry.records.unwrap())
    };
    let (yes, a) = logged(&allowed);
    let (no, b) = logged(&refused);
    assert_eq!((yes, no), ("allow", "deny"));
    assert_eq!(b.collection, "patients");
    assert_eq!(b.filter.len(), 1);
    assert_eq!(
        (b.filter[0].field.as_str(), b.filter[0].op.as_str()),
        ("diagnosis", "eq")
    );
    // The same value, committed under the same key: the refused read is found beside the
    // allowed one by what it asked for.
    assert_eq!(a.filter, b.filter);
    assert!(b.record_commitments.is_empty() && b.withheld_commitments.is_empty());
}
