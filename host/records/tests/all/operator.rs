//! Operator actions: done on the store and appended to the decision log; erasure reports name
//! the records; lines that are not UTF-8 are bad lines like any other.

use cordon_audit::{AuditLog, DecisionLog};
use cordon_records::{ActionError, ImportError, Operator, RecordRef, Select};

use crate::support::store;

#[test]
fn a_line_that_is_not_utf8_is_reported_by_number_and_nothing_is_imported() {
    let f = store();
    let before = f.store.records("patients", None).unwrap();
    let mut input =
        br#"{"id": "n1", "subject": "s", "classification": "public", "fields": {"name": "ok"}}"#
            .to_vec();
    input.extend_from_slice(b"\r\n{\"id\": \"n2\xff\"}\n");
    input.extend_from_slice(br#"{"id": "n3", "subject": "s", "classification": "public"}"#);
    let err = f.store.import("patients", input.as_slice()).unwrap_err();
    let ImportError::BadLines { errors, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].line, 2);
    assert_eq!(errors[0].message, "not UTF-8 text");
    assert_eq!(f.store.records("patients", None).unwrap(), before);
}

#[test]
fn an_erasure_report_names_the_erased_records_and_the_refused_ones() {
    let f = store();
    f.store.hold("patients", "p4", "case-1").unwrap();
    let report = f.store.erase_subject("ada").unwrap();
    assert_eq!(
        report.erased_records,
        [RecordRef {
            collection: "patients".into(),
            id: "p1".into()
        }]
    );
    assert_eq!(report.refused[0].id, "p4");
}

#[test]
fn operator_actions_are_appended_to_the_decision_log_and_refusals_are_not() {
    let f = store();
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_in(dir.path()).unwrap();
    let op = Operator::new(&f.store, &log, "clinic");
    op.hold("patients", "p1", "case-1").unwrap();
    let bad = op.import("patients", &b"not json\n"[..]).unwrap_err();
    assert!(matches!(
        bad,
        ActionError::Refused(ImportError::BadLines { .. })
    ));
    let missing = op.hold("patients", "nope", "case-1").unwrap_err();
    assert!(matches!(missing, ActionError::Refused(_)), "{missing}");
    op.release("patients", "p1", "case-1").unwrap();
    op.erase("bob").unwrap();
    let (_, shown) = op.inspect("patients", Select::One("p3")).unwrap();
    assert_eq!(shown.len(), 1);
    let (_, none) = op.inspect("patients", Select::One("nope")).unwrap();
    assert!(none.is_empty(), "showing nothing is not logged");
    assert_eq!(
        log.head().map(|r| r.seq),
        Some(3),
        "hold, release, erase, inspect"
    );
    let store = log.store();
    let entries: Vec<_> = (0..4).map(|i| store.entry(i).unwrap().unwrap()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "records:hold",
            "records:release",
            "records:erase",
            "records:inspect"
        ]
    );
    assert!(entries.iter().all(|e| e.tenant == "clinic"));
    drop(store);
    log.close().unwrap();
}

#[test]
fn pages_of_records_follow_id_order_from_a_cursor() {
    let f = store();
    let ids = |after, limit| -> Vec<String> {
        f.store
            .records_page("patients", after, limit)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(None, 2), ["p1", "p2"]);
    assert_eq!(ids(Some("p2"), 2), ["p3", "p4"]);
    assert_eq!(ids(Some("p4"), 10), ["p5"]);
    assert!(ids(Some("p5"), 10).is_empty());
    assert!(f.store.records_page("other", None, 10).unwrap().is_empty());
}

#[test]
fn erased_records_can_no_longer_be_linked_to_the_log_entries_about_them() {
    let f = store();
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_in(dir.path()).unwrap();
    let op = Operator::new(&f.store, &log, "clinic");
    op.inspect("patients", Select::One("p1")).unwrap();
    op.hold("patients", "p4", "case-1").unwrap();
    let about = |id: &str| {
        let query = cordon_audit::Query {
            record: Some(("patients".into(), id.into())),
            ..Default::default()
        };
        log.store().query(&query).unwrap().len()
    };
    assert_eq!(about("p1"), 1, "the inspection names p1");
    assert_eq!(about("p4"), 1, "the hold names p4");

    op.erase("ada").unwrap(); // p1 erased; p4 kept for its hold
    assert_eq!(
        about("p1"),
        0,
        "p1's key is gone: its entries are unlinkable"
    );
    assert_eq!(about("p4"), 1, "a held record stays linkable");
    op.release("patients", "p4", "case-1").unwrap(); // the pending erasure takes effect
    assert_eq!(about("p4"), 0);

    // Every entry is still there and the log verifies.
    assert_eq!(log.head().map(|r| r.seq), Some(3));
    log.close().unwrap();
    let key =
        cordon_audit::PublicKey::read(&dir.path().join(cordon_audit::PUBLIC_KEY_FILE)).unwrap();
    let report = cordon_audit::verify(&dir.path().join(cordon_audit::LOG_FILE), &key).unwrap();
    assert_eq!(report.entries, 4);
}
