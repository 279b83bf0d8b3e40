//! The canonical entry encoding.

use cordon_audit::{DecisionLog, DecodeError, encoding};

use crate::common;

/// The bytes version 4 wrote for an entry that names no code: version 5's without the empty
/// code tag at the end.
pub fn as_version_4(v5: &[u8]) -> Vec<u8> {
    assert_eq!(v5[0], 5);
    assert_eq!(
        v5.last(),
        Some(&0),
        "version 5 ends with the empty code tag"
    );
    let mut v4 = v5[..v5.len() - 1].to_vec();
    v4[0] = 4;
    v4
}

#[test]
fn decodes_what_it_stored_and_rejects_anything_else() {
    let dir = common::filled(4);
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    let bytes = store.entry_bytes(3).unwrap().unwrap();
    let entry = encoding::decode_entry(&bytes).unwrap();
    let original = common::entry(3);
    assert_eq!(entry.seq, 3);
    assert_eq!(entry.resource, original.resource);
    assert_eq!(entry.policy_ids, original.policy_ids);
    assert_eq!(
        entry.records.as_ref().unwrap().fields_withheld,
        vec!["diagnosis"]
    );
    assert_eq!(entry.records.as_ref().unwrap().record_commitments.len(), 2);
    assert_eq!(bytes[0], encoding::ENTRY_VERSION);

    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        encoding::decode_entry(&longer),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    assert!(matches!(
        encoding::decode_entry(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { .. })
    ));
    let mut version = bytes.clone();
    version[0] = 9;
    assert_eq!(
        encoding::decode_entry(&version),
        Err(DecodeError::UnknownVersion { version: 9 })
    );
}

#[test]
fn the_same_entry_always_encodes_to_the_same_bytes() {
    // Two logs sharing the same subject keys would produce identical bytes; here, the same log
    // encodes equal entries identically apart from seq and time.
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let a = log.append(&common::entry(7)).unwrap();
    let b = log.append(&common::entry(7)).unwrap();
    log.sync(b.seq).unwrap();
    let store = log.store();
    let x = store.entry_bytes(a.seq).unwrap().unwrap();
    let y = store.entry_bytes(b.seq).unwrap().unwrap();
    assert_eq!(x.len(), y.len());
    assert_eq!(x[17..], y[17..]);
}

#[test]
fn stores_the_taint_labels_of_an_egress_decision() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let labels = cordon_audit::TaintLabels {
        classification: Some(2),
        jurisdictions: vec!["EU".into()],
        collections: vec!["patients".into()],
        categories: vec!["contact".into(), "health".into()],
    };
    let receipt = log
        .append(&cordon_audit::Entry {
            action: "http:send".into(),
            records: None,
            taint: Some(labels.clone()),
            ..common::entry(1)
        })
        .unwrap();
    log.sync(receipt.seq).unwrap();
    let bytes = log.store().entry_bytes(receipt.seq).unwrap().unwrap();
    let entry = encoding::decode_entry(&bytes).unwrap();
    assert_eq!(entry.taint, Some(labels));

    // A different label is a different leaf: the labels are covered by the hash.
    let other = log
        .append(&cordon_audit::Entry {
            action: "http:send".into(),
            records: None,
            taint: Some(cordon_audit::TaintLabels {
                classification: Some(1),
                ..Default::default()
            }),
            ..common::entry(1)
        })
        .unwrap();
    log.sync(other.seq).unwrap();
    let other_bytes = log.store().entry_bytes(other.seq).unwrap().unwrap();
    assert_ne!(bytes[17..], other_bytes[17..]);
}

#[test]
fn reads_version_1_entries_which_have_no_taint() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let receipt = log
        .append(&cordon_audit::Entry {
            taint: None,
            records: None,
            ..common::entry(3)
        })
        .unwrap();
    log.sync(receipt.seq).unwrap();
    // Without records and roles, versions 2 and 3 encode the same bytes after the version
    // byte, and version 4 adds the empty list of roles.
    let v4 = as_version_4(&log.store().entry_bytes(receipt.seq).unwrap().unwrap());
    assert_eq!(v4[v4.len() - 4..], [0; 4]);
    let mut v2 = v4[..v4.len() - 4].to_vec();
    v2[0] = 2;
    assert_eq!(
        v2.last(),
        Some(&0),
        "version 2 ends with the empty taint tag"
    );

    // The same entry as version 1 wrote it: no taint tag at all.
    let mut v1 = v2[..v2.len() - 1].to_vec();
    v1[0] = 1;
    let old = encoding::decode_entry(&v1).unwrap();
    let new = encoding::decode_entry(&v2).unwrap();
    assert_eq!(old, new);
    assert_eq!(old.taint, None);

    // Each version has exactly one encoding: a taint tag in version 1 is trailing bytes, and
    // version 2 without one is truncated.
    let mut v1_with_tag = v2.clone();
    v1_with_tag[0] = 1;
    assert_eq!(
        encoding::decode_entry(&v1_with_tag),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    let mut v2_without_tag = v1.clone();
    v2_without_tag[0] = 2;
    assert!(matches!(
        encoding::decode_entry(&v2_without_tag),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn reads_version_2_entries_which_have_no_filter_and_no_withheld_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let receipt = log
        .append(&cordon_audit::Entry {
            taint: None,
            ..common::entry(3)
        })
        .unwrap();
    log.sync(receipt.seq).unwrap();
    let v4 = as_version_4(&log.store().entry_bytes(receipt.seq).unwrap().unwrap());
    assert_eq!(v4[0], 4);
    // Version 4 adds the list of roles at the end (empty here).
    assert_eq!(v4[v4.len() - 4..], [0; 4]);
    let mut v3 = v4[..v4.len() - 4].to_vec();
    v3[0] = 3;
    // Version 3 ends the records with two empty lists (withheld ids, filter), then the taint tag.
    let end = v3.len() - 1;
    assert_eq!(v3[end - 8..end], [0; 8]);
    let mut v2 = [&v3[..end - 8], &v3[end..]].concat();
    v2[0] = 2;
    let old = encoding::decode_entry(&v2).unwrap();
    let new = encoding::decode_entry(&v3).unwrap();
    assert_eq!(old, new);
    let records = old.records.unwrap();
    assert!(records.withheld_commitments.is_empty());
    assert!(records.filter.is_empty());
    // One encoding per version: version 3 without the lists is truncated.
    let mut v3_short = v2.clone();
    v3_short[0] = 3;
    assert_eq!(encoding::decode_entry(&v4).unwrap(), new);
    assert!(matches!(
        encoding::decode_entry(&v3_short),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn stores_a_reads_filter_and_withheld_records_only_as_commitments() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let read = |value: &str| cordon_audit::Entry {
        records: Some(cordon_audit::RecordAccess {
            collection: "patients".into(),
            record_ids: vec![],
            fields_returned: vec!["name".into()],
            fields_withheld: vec![],
            records_withheld: 2,
            withheld_ids: vec!["withheld-record-77".into(), "withheld-record-78".into()],
            filter: vec![cordon_audit::FilterCondition {
                field: "email".into(),
                op: "eq".into(),
                values: vec![format!("{value:?}")],
            }],
        }),
        ..common::entry(1)
    };
    let a = log.append(&read("needle-ada@example.org")).unwrap();
    let b = log.append(&read("needle-ada@example.org")).unwrap();
    let c = log.append(&read("needle-bob@example.org")).unwrap();
    log.sync(c.seq).unwrap();
    let store = log.store();
    let decoded = |seq| {
        let bytes = store.entry_bytes(seq).unwrap().unwrap();
        encoding::decode_entry(&bytes).unwrap().records.unwrap()
    };
    let (ra, rb, rc) = (decoded(a.seq), decoded(b.seq), decoded(c.seq));
    assert_eq!(ra.records_withheld, 2);
    assert_eq!(ra.withheld_commitments.len(), 2);
    assert_eq!(ra.filter[0].field, "email");
    assert_eq!(ra.filter[0].op, "eq");
    assert_eq!(ra.filter[0].value_commitments.len(), 1);
    // Equal values commit equally (a read can be found by value), different ones differently.
    assert_eq!(ra.filter, rb.filter);
    assert_ne!(ra.filter, rc.filter);
    assert_eq!(ra.withheld_commitments, rc.withheld_commitments);
    drop(store);
    log.close().unwrap();
    // No filter value and no record id is anywhere in the log file (the key table is keyed
    // by hashes too).
    let file = std::fs::read(common::log_path(dir.path())).unwrap();
    for plain in ["needle-ada", "needle-bob", "withheld-record-7"] {
        assert!(
            !file.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "`{plain}` is in the log file"
        );
    }
}

#[test]
fn stores_the_runs_roles_and_reads_version_3_entries_which_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let with_roles = log
        .append(&cordon_audit::Entry {
            roles: vec!["billing".into(), "clinician".into()],
            ..common::entry(3)
        })
        .unwrap();
    let without = log.append(&common::entry(3)).unwrap();
    log.sync(without.seq).unwrap();
    let store = log.store();
    let v5 = store.entry_bytes(with_roles.seq).unwrap().unwrap();
    assert_eq!(v5[0], encoding::ENTRY_VERSION);
    let decoded = encoding::decode_entry(&v5).unwrap();
    let v4 = as_version_4(&v5);
    assert_eq!(encoding::decode_entry(&v4).unwrap(), decoded);
    assert_eq!(decoded.roles, ["billing", "clinician"]);

    // The same entry as version 3 wrote it: no list of roles at the end.
    let bare = as_version_4(&store.entry_bytes(without.seq).unwrap().unwrap());
    let mut v3 = bare[..bare.len() - 4].to_vec();
    v3[0] = 3;
    let old = encoding::decode_entry(&v3).unwrap();
    assert!(old.roles.is_empty());
    assert_eq!(old.records, decoded.records);
    // One encoding per version: version 3 with a list of roles has trailing bytes, version 4
    // without one is truncated.
    let mut v3_with_roles = v4.clone();
    v3_with_roles[0] = 3;
    assert!(matches!(
        encoding::decode_entry(&v3_with_roles),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let mut v4_without = v3.clone();
    v4_without[0] = 4;
    assert!(matches!(
        encoding::decode_entry(&v4_without),
        Err(DecodeError::Truncated { .. })
    ));

    // `audit query` shows them: the roles are in the query's answer, with the user.
    let found = store
        .query(&cordon_audit::Query {
            user: Some("user-3".into()),
            ..cordon_audit::Query::default()
        })
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].entry.roles, ["billing", "clinician"]);
    assert_eq!(found[0].user.as_deref(), Some("user-3"));
    let json = serde_json::to_value(&found[0]).unwrap();
    assert_eq!(json["roles"], serde_json::json!(["billing", "clinician"]));
}
