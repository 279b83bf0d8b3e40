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

/// Every file under `dir`, recursively.
#[test]
fn no_byte_of_any_file_keeps_an_erased_subjects_key_or_id() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let ada = Subject::User("needle-user-ada".into());
    let rec = Subject::Record {
        collection: "patients".into(),
        id: "needle-record-77".into(),
    };
    for i in 0..40u64 {
        let mut entry = common::entry(i);
        if i % 4 == 0 {
            entry.user = Some("needle-user-ada".into());
            entry.records = Some(cordon_audit::RecordAccess {
                collection: "patients".into(),
                record_ids: vec!["needle-record-77".into(), format!("p-{i}")],
                fields_returned: vec!["name".into()],
                fields_withheld: vec![],
                records_withheld: 1,
                withheld_ids: vec!["needle-record-77".into()],
                filter: vec![],
            });
        }
        log.append(&entry).unwrap();
    }
    log.checkpoint().unwrap();
    let store = log.store();
    let keys: Vec<[u8; 32]> = [&ada, &rec]
        .iter()
        .map(|s| store.subject_key(s).unwrap().unwrap())
        .collect();
    drop(store);
    let needles: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| k.to_vec())
        .chain([b"needle-user-ada".to_vec(), b"needle-record-77".to_vec()])
        .collect();
    let scan = |when: &str| {
        let files = common::files_under(dir.path());
        assert!(files.len() >= 3, "{files:?}");
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{when}: {} keeps {:?}",
                    file.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    };
    // The user's id is in a file before the erasure (the check can find what it looks for).
    let before = common::files_under(dir.path()).iter().any(|f| {
        let bytes = std::fs::read(f).unwrap();
        bytes.windows(15).any(|w| w == b"needle-user-ada")
    });
    assert!(before);
    log.erase_subjects(&[ada.clone(), rec.clone()]).unwrap();
    // From the moment the erasure returns, with the log still open...
    scan("after the erasure");
    // ...and after it closes.
    log.close().unwrap();
    scan("after close");
    // The proofs stay valid, and the key table is still checked against its signed log.
    let key = common::public_key(dir.path());
    let report = verify(&common::log_path(dir.path()), &key).unwrap();
    assert_eq!(report.entries, 40);
    assert!(report.subject_keys_signed);
    assert!(report.subject_keys > 0);
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert!(store.query(&user("needle-user-ada")).unwrap().is_empty());
    // user-2: entries 2, 9, 23, 30, 37 (16 was ada's).
    assert_eq!(store.query(&user("user-2")).unwrap().len(), 5);
}

#[test]
fn the_writer_repairs_a_key_file_a_crash_left_behind_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::log_path(dir.path());
    let keys = cordon_audit::keyfile::keys_path(&path);
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    log.close().unwrap();
    let key = common::public_key(dir.path());
    let before = verify(&path, &key).unwrap();

    // A crash after an erasure was committed to the log but before the key file was
    // rewritten: the key file still holds the destroyed key.
    let stale = std::fs::read(&keys).unwrap();
    let log = common::open(dir.path());
    let destroyed = log
        .store()
        .subject_key(&Subject::User("user-3".into()))
        .unwrap()
        .unwrap();
    log.erase_subject(&Subject::User("user-3".into())).unwrap();
    log.close().unwrap();
    std::fs::write(&keys, &stale).unwrap();
    assert!(matches!(
        verify(&path, &key),
        Err(cordon_audit::VerifyError::SubjectKeyChanged { .. })
    ));
    let log = common::open(dir.path());
    log.close().unwrap();
    let report = verify(&path, &key).unwrap();
    assert_eq!(report.subject_keys + 1, before.subject_keys);
    let bytes = std::fs::read(&keys).unwrap();
    assert!(!bytes.windows(32).any(|w| w == destroyed));

    // A crash after new keys were written to the key file but before the log commit that
    // records them: a row the log never created.
    {
        let db = redb::Builder::new().open(&keys).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn
                .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("subject_keys"))
                .unwrap();
            t.insert([0xffu8; 33].as_slice(), [7u8; 32].as_slice())
                .unwrap();
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("events", u64::MAX).unwrap();
        }
        txn.commit().unwrap();
    }
    assert!(verify(&path, &key).is_err());
    let log = common::open(dir.path());
    log.close().unwrap();
    let after = verify(&path, &key).unwrap();
    assert_eq!(after.subject_keys, report.subject_keys);
}
