//! Erasure requests, legal holds.

use cordon_records::HoldError;

use crate::support::{ids, query, spec, store};

#[test]
fn an_erased_subject_disappears_at_once() {
    let f = store();
    let report = f.store.erase_subject("ada").unwrap();
    assert_eq!(report.erased, 2);
    assert!(report.refused.is_empty());
    let r = query(&f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["p2", "p3"]);
    assert_eq!(r.records_withheld, 1, "erased records are not even counted");
    assert!(f.store.records("patients", Some("p1")).unwrap().is_empty());
}

#[test]
fn a_legal_hold_refuses_erasure_with_a_reason_and_keeps_the_record_unserved() {
    let f = store();
    f.store.hold("patients", "p1", "litigation-7").unwrap();
    let report = f.store.erase_subject("ada").unwrap();
    assert_eq!(report.erased, 1);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].id, "p1");
    assert_eq!(report.refused[0].reason, "under legal hold `litigation-7`");
    // Kept for the hold...
    let kept = f.store.records("patients", Some("p1")).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].erasure_pending);
    // ...but never served.
    let r = query(&f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    assert!(!ids(&r).contains(&"p1"));
}

#[test]
fn lifting_the_last_hold_makes_a_pending_erasure_effective() {
    let f = store();
    f.store.hold("patients", "p1", "a").unwrap();
    f.store.hold("patients", "p1", "b").unwrap();
    f.store.erase_subject("ada").unwrap();
    let first = f.store.release("patients", "p1", "a").unwrap();
    assert!(!first.erased);
    assert_eq!(first.remaining_holds, ["b"]);
    assert_eq!(f.store.records("patients", Some("p1")).unwrap().len(), 1);
    let last = f.store.release("patients", "p1", "b").unwrap();
    assert!(last.erased);
    assert!(f.store.records("patients", Some("p1")).unwrap().is_empty());
}

#[test]
fn an_erased_subject_cannot_be_imported_again() {
    let f = store();
    f.store.erase_subject("ada").unwrap();
    let err = f
        .store
        .import(
            "patients",
            r#"{"id": "p9", "subject": "ada", "classification": "public"}"#.as_bytes(),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1: subject `ada` asked to be erased"),
        "{err}"
    );
}

#[test]
fn releasing_a_hold_the_record_does_not_carry_is_refused() {
    let f = store();
    let err = f.store.release("patients", "p2", "nope").unwrap_err();
    assert!(matches!(err, HoldError::NotHeld { .. }));
    assert_eq!(err.to_string(), "record `p2` is not under hold `nope`");
}
