//! The canonical entry encoding.

use cordon_audit::{DecisionLog, DecodeError, encoding};

use crate::common;

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
    let a = log.append(common::entry(7)).unwrap();
    let b = log.append(common::entry(7)).unwrap();
    log.sync(b.seq).unwrap();
    let store = log.store();
    let x = store.entry_bytes(a.seq).unwrap().unwrap();
    let y = store.entry_bytes(b.seq).unwrap().unwrap();
    assert_eq!(x.len(), y.len());
    assert_eq!(x[17..], y[17..]);
}
