//! Erasing a data subject leaves every proof valid and the subject unlinkable.

use cordon_audit::{DecisionLog, Query, Store, Subject, verify, verify_bundle};

use crate::common;

fn user(name: &str) -> Query {
    Query {
        user: Some(name.into()),
        ..Query::default()
    }
}

#[test]
fn erasing_a_user_keeps_verify_green_and_makes_them_unlinkable() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 35);
    let before = log.store().query(&user("user-1")).unwrap();
    assert_eq!(before.len(), 5); // 1, 8, 15, 22, 29
    let old_commitment = before[0].entry.user_commitment.unwrap();
    assert!(
        before
            .iter()
            .all(|e| e.entry.user_commitment == Some(old_commitment))
    );
    // A bundle exported before erasure stays provable after it.
    log.checkpoint().unwrap();
    let bundle = log.store().export_bundle(&user("user-1")).unwrap();

    log.erase_subject(&Subject::User("user-1".into())).unwrap();

    assert!(log.store().query(&user("user-1")).unwrap().is_empty());
    assert_eq!(
        log.store()
            .subject_key(&Subject::User("user-1".into()))
            .unwrap(),
        None
    );
    // Other subjects are untouched.
    assert_eq!(log.store().query(&user("user-2")).unwrap().len(), 5);
    // The erased user's entries are still there, with their commitment and nothing else.
    let stored = log.store().entry(8).unwrap().unwrap();
    assert_eq!(stored.user_commitment, Some(old_commitment));
    let bytes = log.store().entry_bytes(8).unwrap().unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"user-1"));

    // The subject comes back: a new key, so the new entries cannot be linked to the old.
    common::append_range(&log, 35, 40); // 36 is user-1
    let after = log.store().query(&user("user-1")).unwrap();
    assert_eq!(
        after.iter().map(|e| e.entry.seq).collect::<Vec<_>>(),
        vec![36]
    );
    assert_ne!(after[0].entry.user_commitment, Some(old_commitment));
    log.close().unwrap();

    let key = common::public_key(dir.path());
    let report = verify(&common::log_path(dir.path()), &key).unwrap();
    assert_eq!(report.entries, 40);
    let verified = verify_bundle(&bundle, &key).unwrap();
    assert_eq!(verified.entries.len(), 5);

    // After a restart (no in-memory key cache) the erasure holds.
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    let found = store.query(&user("user-1")).unwrap();
    assert_eq!(
        found.iter().map(|e| e.entry.seq).collect::<Vec<_>>(),
        vec![36]
    );
}

#[test]
fn erasing_a_record_subject_hides_it_from_queries() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    let record = Query {
        record: Some(("patients".into(), "p-1".into())),
        ..Query::default()
    };
    assert!(!log.store().query(&record).unwrap().is_empty());
    log.erase_subject(&Subject::Record {
        collection: "patients".into(),
        id: "p-1".into(),
    })
    .unwrap();
    assert!(log.store().query(&record).unwrap().is_empty());
    log.close().unwrap();
    verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
}

#[test]
fn exporting_for_an_erased_user_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    log.erase_subject(&Subject::User("user-0".into())).unwrap();
    log.checkpoint().unwrap();
    let bundle = log.store().export_bundle(&user("user-0")).unwrap();
    assert!(bundle.entries.is_empty());
    assert!(bundle.disclosures.is_empty());
    let head = log.head().unwrap();
    log.sync(head.seq).unwrap();
}

#[test]
fn erases_a_data_subject_and_their_records_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    let record = |id: &str| Subject::Record {
        collection: "patients".into(),
        id: id.into(),
    };
    log.erase_subjects(&[Subject::User("user-3".into()), record("p-3"), record("p-4")])
        .unwrap();
    let store = log.store();
    assert!(store.query(&user("user-3")).unwrap().is_empty());
    for id in ["p-3", "p-4"] {
        let query = Query {
            record: Some(("patients".into(), id.into())),
            ..Query::default()
        };
        assert!(store.query(&query).unwrap().is_empty(), "{id}");
    }
    let still = Query {
        record: Some(("patients".into(), "p-2".into())),
        ..Query::default()
    };
    assert!(!store.query(&still).unwrap().is_empty());
    drop(store); // a store handle keeps the file open
    log.close().unwrap();
    verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
}
