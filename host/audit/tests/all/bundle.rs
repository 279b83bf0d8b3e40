//! Evidence bundles: exported, then verified offline with only the public key.

use cordon_audit::{Bundle, BundleVerifyError, PublicKey, Query, verify_bundle};

use crate::common;

fn export_for_user(user: &str) -> (Bundle, PublicKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 60);
    log.checkpoint().unwrap();
    let bundle = log
        .store()
        .export_bundle(&Query {
            user: Some(user.into()),
            ..Query::default()
        })
        .unwrap();
    let key = log.public_key();
    log.close().unwrap();
    (bundle, key, dir)
}

#[test]
fn verifies_a_bundle_after_the_store_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 60);
    log.checkpoint().unwrap();
    let bundle_path = dir.path().join("user-3.bundle.json");
    log.store()
        .export_bundle(&Query {
            user: Some("user-3".into()),
            purpose: Some("billing".into()),
            ..Query::default()
        })
        .unwrap()
        .write(&bundle_path)
        .unwrap();
    let public_key_text =
        std::fs::read_to_string(dir.path().join(cordon_audit::PUBLIC_KEY_FILE)).unwrap();
    log.close().unwrap();

    // Keep only the bundle and the public key; the store and the signing key are gone.
    let offline = tempfile::tempdir().unwrap();
    let moved = offline.path().join("bundle.json");
    std::fs::copy(&bundle_path, &moved).unwrap();
    drop(dir);

    let key = PublicKey::from_hex(public_key_text.trim()).unwrap();
    let report = verify_bundle(&Bundle::read(&moved).unwrap(), &key).unwrap();
    // user-3 is entries 3, 10, 17, ...; billing is the odd ones: 3, 17, 31, 45, 59.
    let seqs: Vec<u64> = report.entries.iter().map(|e| e.entry.seq).collect();
    assert_eq!(seqs, vec![3, 17, 31, 45, 59]);
    assert!(
        report
            .entries
            .iter()
            .all(|e| e.user.as_deref() == Some("user-3") && e.entry.purpose == "billing")
    );
    assert_eq!(report.checkpoint.tree_size, 60);
}

#[test]
fn reveals_record_ids_only_for_the_disclosed_record() {
    let dir = common::filled(30);
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    let bundle = store
        .export_bundle(&Query {
            record: Some(("patients".into(), "p-2".into())),
            ..Query::default()
        })
        .unwrap();
    let report = verify_bundle(&bundle, &common::public_key(dir.path())).unwrap();
    assert!(!report.entries.is_empty());
    for e in &report.entries {
        assert_eq!(e.record_ids, vec!["p-2".to_string()]);
        // Users are not disclosed by a record bundle.
        assert_eq!(e.user, None);
        assert!(e.entry.user_commitment.is_some());
    }
}

#[test]
fn locates_a_tampered_entry_in_a_bundle() {
    let (mut bundle, key, _dir) = export_for_user("user-2");
    let victim = bundle.entries[2].seq;
    let bytes = &mut bundle.entries[2].entry;
    let at = bytes.windows(6).position(|w| w == b"needle").unwrap();
    bytes[at] = b'N';
    let err = verify_bundle(&bundle, &key).unwrap_err();
    assert!(
        matches!(err, BundleVerifyError::NotIncluded { seq, .. } if seq == victim),
        "{err}"
    );
    assert_eq!(err.seq(), Some(victim));
}

#[test]
fn rejects_a_bundle_with_a_forged_checkpoint() {
    let (mut bundle, key, _dir) = export_for_user("user-2");
    bundle.checkpoint.tree_size += 1;
    let err = verify_bundle(&bundle, &key).unwrap_err();
    assert!(
        matches!(err, BundleVerifyError::BadSignature { .. }),
        "{err}"
    );
}

#[test]
fn rejects_a_bundle_checked_with_another_key() {
    let (bundle, _key, _dir) = export_for_user("user-2");
    let (_, other_key, _other) = export_for_user("user-1");
    let err = verify_bundle(&bundle, &other_key).unwrap_err();
    assert!(
        matches!(err, BundleVerifyError::BadSignature { .. }),
        "{err}"
    );
}

#[test]
fn rejects_an_entry_smuggled_in_from_outside_the_query() {
    let (mut bundle, key, dir) = export_for_user("user-2");
    // A genuine, provable entry of another user is still not an answer to this query.
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    let seq = 3; // user-3
    let proof = store
        .inclusion_proof(seq, bundle.checkpoint.tree_size)
        .unwrap();
    bundle.entries.insert(
        0,
        cordon_audit::BundleEntry {
            seq,
            entry: store.entry_bytes(seq).unwrap().unwrap(),
            proof: proof.path,
        },
    );
    bundle.entries.sort_by_key(|e| e.seq);
    let err = verify_bundle(&bundle, &key).unwrap_err();
    assert!(
        matches!(err, BundleVerifyError::OutsideQuery { seq: 3 }),
        "{err}"
    );
}

#[test]
fn round_trips_a_bundle_through_json() {
    let (bundle, key, _dir) = export_for_user("user-4");
    let text = bundle.to_json().unwrap();
    let parsed = Bundle::from_json(&text).unwrap();
    assert_eq!(parsed, bundle);
    verify_bundle(&parsed, &key).unwrap();
}

#[test]
fn discloses_the_users_of_the_exported_entries_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    log.checkpoint().unwrap();
    let record = Query {
        record: Some(("patients".into(), "p-3".into())),
        ..Query::default()
    };
    let key = log.public_key();
    let store = log.store();

    // Pseudonymous by default: the record opens, the users do not.
    let bundle = store.export_bundle(&record).unwrap();
    assert_eq!(bundle.disclosures.len(), 1);
    let report = verify_bundle(&bundle, &key).unwrap();
    assert!(report.entries.iter().all(|e| e.user.is_none()));

    // Asked to disclose who: exactly the users of the exported entries open.
    let bundle = store.export_bundle_disclosing_users(&record).unwrap();
    let report = verify_bundle(&bundle, &key).unwrap();
    let users: Vec<Option<&str>> = report.entries.iter().map(|e| e.user.as_deref()).collect();
    assert_eq!(
        users,
        [
            Some("user-3"),
            Some("user-5"),
            Some("user-4"),
            Some("user-6")
        ]
    );
    assert_eq!(bundle.disclosures.len(), 5);
    let text = bundle.to_json().unwrap();
    for other in ["user-0", "user-1", "user-2"] {
        assert!(!text.contains(other), "{other} disclosed");
    }
}
