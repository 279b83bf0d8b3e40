//! Every kind of tampering with a stored log is detected and located.

use cordon_audit::{VerifyError, merkle, verify};

use crate::common::{self, CHECKPOINTS, ENTRIES, MERKLE};

fn verify_err(dir: &std::path::Path) -> VerifyError {
    match verify(&common::log_path(dir), &common::public_key(dir)) {
        Ok(report) => panic!("tampered log verified: {report:?}"),
        Err(e) => e,
    }
}

#[test]
fn verifies_an_untouched_log() {
    let dir = common::filled(40);
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, 40);
    // Every 16 entries, plus the final one on close.
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.unanchored, 0);
    let latest = report.latest_checkpoint.unwrap();
    assert_eq!(latest.tree_size, 40);
    assert_eq!(latest.root, report.root);
    assert_eq!(Some(latest.chain_head), report.head);
}

#[test]
fn locates_a_flip_of_any_byte_of_an_entry() {
    let dir = common::filled(40);
    let original = common::get(dir.path(), ENTRIES, 20);
    for at in 0..original.len() {
        common::tamper(dir.path(), ENTRIES, |t| {
            let mut value = original.clone();
            value[at] ^= 0x01;
            t.insert(20, value.as_slice()).unwrap();
        });
        let err = verify_err(dir.path());
        assert_eq!(err.first_bad_seq(), Some(20), "byte {at}: {err}");
    }
    common::tamper(dir.path(), ENTRIES, |t| {
        t.insert(20, original.as_slice()).unwrap();
    });
    verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
}

#[test]
fn locates_a_byte_flipped_in_the_raw_file() {
    let dir = common::filled(40);
    let path = common::log_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = b"needle-resource-000020";
    let mut flipped = 0;
    let mut at = 0;
    while let Some(pos) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
        let pos = at + pos;
        bytes[pos + needle.len() - 1] ^= 0x01; // "...20" becomes "...21"
        flipped += 1;
        at = pos + needle.len();
    }
    assert!(flipped > 0, "entry bytes not found in the file");
    std::fs::write(&path, bytes).unwrap();
    let err = verify_err(dir.path());
    assert!(matches!(err, VerifyError::Changed { seq: 20 }), "{err}");
}

#[test]
fn locates_a_deleted_entry() {
    let dir = common::filled(40);
    common::tamper(dir.path(), ENTRIES, |t| {
        t.remove(20).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(matches!(err, VerifyError::Missing { seq: 20 }), "{err}");
}

#[test]
fn locates_reordered_entries() {
    let dir = common::filled(40);
    let a = common::get(dir.path(), ENTRIES, 20);
    let b = common::get(dir.path(), ENTRIES, 21);
    common::tamper(dir.path(), ENTRIES, |t| {
        t.insert(20, b.as_slice()).unwrap();
        t.insert(21, a.as_slice()).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(err, VerifyError::Reordered { seq: 20, found: 21 }),
        "{err}"
    );
}

#[test]
fn detects_truncation_behind_a_checkpoint() {
    let dir = common::filled(40);
    common::tamper(dir.path(), ENTRIES, |t| {
        for seq in 30..40 {
            t.remove(seq).unwrap();
        }
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(
            err,
            VerifyError::Truncated {
                tree_size: 32,
                entries: 30
            }
        ),
        "{err}"
    );
    assert_eq!(err.first_bad_seq(), Some(30));
}

#[test]
fn detects_a_bad_checkpoint_signature() {
    let dir = common::filled(40);
    let mut stored = common::get(dir.path(), CHECKPOINTS, 32);
    let last = stored.len() - 1;
    stored[last] ^= 0x80;
    common::tamper(dir.path(), CHECKPOINTS, |t| {
        t.insert(32, stored.as_slice()).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(err, VerifyError::BadSignature { tree_size: 32 }),
        "{err}"
    );
}

#[test]
fn detects_signatures_swapped_between_checkpoints() {
    let dir = common::filled(40);
    let a = common::get(dir.path(), CHECKPOINTS, 16);
    let b = common::get(dir.path(), CHECKPOINTS, 32);
    let (body_a, sig_a) = a.split_at(a.len() - 64);
    let (body_b, sig_b) = b.split_at(b.len() - 64);
    common::tamper(dir.path(), CHECKPOINTS, |t| {
        t.insert(16, [body_a, sig_b].concat().as_slice()).unwrap();
        t.insert(32, [body_b, sig_a].concat().as_slice()).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(err, VerifyError::BadSignature { tree_size: 16 }),
        "{err}"
    );
}

/// Changes entry 20 and recomputes every later chain hash, as an attacker with file access
/// and the (public) hashing rules can.
fn rewrite_entry_20_and_chain(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut values: Vec<Vec<u8>> = (0..40).map(|s| common::get(dir, ENTRIES, s)).collect();
    let needle = b"needle-resource-000020";
    let pos = values[20]
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    values[20][pos] = b'N';
    let mut chain = values[19][..32].try_into().unwrap();
    for value in values.iter_mut().skip(20) {
        let leaf = merkle::leaf_hash(&value[32..]);
        chain = merkle::chain_hash(&chain, &leaf);
        value[..32].copy_from_slice(&chain);
    }
    common::tamper(dir, ENTRIES, |t| {
        for (seq, value) in values.iter().enumerate().skip(20) {
            t.insert(seq as u64, value.as_slice()).unwrap();
        }
    });
    values
}

#[test]
fn locates_a_rewritten_chain_through_the_stored_tree() {
    let dir = common::filled(40);
    rewrite_entry_20_and_chain(dir.path());
    let err = verify_err(dir.path());
    // The chain is consistent again, but the stored Merkle node over entries 20 and 21 is not.
    assert!(
        matches!(
            err,
            VerifyError::BadNode {
                level: 1,
                index: 10,
                first_seq: 20
            }
        ),
        "{err}"
    );
}

#[test]
fn detects_a_rewritten_chain_and_tree_through_the_signed_checkpoint() {
    // The attacker also rebuilds every stored Merkle node: only the signature stops them.
    let dir = common::filled(40);
    let values = rewrite_entry_20_and_chain(dir.path());
    let level: Vec<[u8; 32]> = values.iter().map(|v| merkle::leaf_hash(&v[32..])).collect();
    store_tree_of(dir.path(), level);
    let err = verify_err(dir.path());
    assert!(
        matches!(
            err,
            VerifyError::CheckpointMismatch {
                tree_size: 32,
                first_seq: 16
            }
        ),
        "{err}"
    );
    assert_eq!(err.first_bad_seq(), Some(16));
}

#[test]
fn detects_a_corrupted_merkle_node() {
    let dir = common::filled(40);
    // Level 2, index 3: the subtree over entries 12..16, stored in entry 15's row.
    let (seq, at) = common::node_at(2, 3);
    assert_eq!((seq, at), (15, 32));
    let mut row = common::get(dir.path(), MERKLE, seq);
    row[at] ^= 0xff;
    common::tamper(dir.path(), MERKLE, |t| {
        t.insert(seq, row.as_slice()).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(
            err,
            VerifyError::BadNode {
                level: 2,
                index: 3,
                first_seq: 12
            }
        ),
        "{err}"
    );
}

#[test]
fn detects_a_missing_merkle_row() {
    let dir = common::filled(40);
    // Entry 23 completes levels 1 to 3: the subtree over entries 16..24 is the highest.
    common::tamper(dir.path(), MERKLE, |t| {
        t.remove(23).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(
            err,
            VerifyError::MissingNode {
                level: 1,
                index: 11,
                first_seq: 22
            }
        ),
        "{err}"
    );
    assert_eq!(err.first_bad_seq(), Some(22));
}

#[test]
fn detects_a_truncated_merkle_row() {
    let dir = common::filled(40);
    let row = common::get(dir.path(), MERKLE, 23);
    assert_eq!(row.len(), 3 * 32);
    common::tamper(dir.path(), MERKLE, |t| {
        t.insert(23, &row[..64]).unwrap();
    });
    let err = verify_err(dir.path());
    assert!(
        matches!(
            err,
            VerifyError::MissingNode {
                level: 3,
                index: 2,
                first_seq: 16
            }
        ),
        "{err}"
    );
}

#[test]
fn detects_merkle_nodes_stored_where_no_entry_completes_them() {
    // Under an entry that completes none, after an entry's own nodes, and past the last entry.
    for (seq, row) in [
        (20u64, vec![7u8; 32]),
        (23, vec![7u8; 4 * 32]),
        (41, vec![7u8; 32]),
    ] {
        let dir = common::filled(40);
        let mut row = row;
        if seq == 23 {
            let stored = common::get(dir.path(), MERKLE, 23);
            row[..stored.len()].copy_from_slice(&stored);
        }
        common::tamper(dir.path(), MERKLE, |t| {
            t.insert(seq, row.as_slice()).unwrap();
        });
        let err = verify_err(dir.path());
        assert!(
            matches!(err, VerifyError::StrayNodes { seq: found } if found == seq),
            "row {seq}: {err}"
        );
    }
}

#[test]
fn rejects_a_checkpoint_signed_by_another_key() {
    let dir = common::filled(20);
    let other = common::filled(1);
    let err = verify(
        &common::log_path(dir.path()),
        &common::public_key(other.path()),
    )
    .unwrap_err();
    assert!(
        matches!(err, VerifyError::BadSignature { tree_size: 16 }),
        "{err}"
    );
}

/// Verification splits the log into windows of 16384 entries checked in parallel; failures
/// in a later window, at a checkpoint inside one, and in the nodes above the windows are
/// found and located as in a small log.
#[test]
fn locates_tampering_across_verification_windows() {
    const N: u64 = 32_768 + 1_000;
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, N);
    log.close().unwrap();
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let report = verify(&path, &key).unwrap();
    assert_eq!(report.entries, N);
    assert_eq!(report.unanchored, 0);
    let store = cordon_audit::Store::open(&path).unwrap();
    assert_eq!(report.root.0, store.root(N).unwrap());
    drop(store);

    // An entry in the second window.
    let original = common::get(dir.path(), ENTRIES, 20_000);
    let mut changed = original.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    common::tamper(dir.path(), ENTRIES, |t| {
        t.insert(20_000, changed.as_slice()).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
    assert_eq!(err.first_bad_seq(), Some(20_000), "{err}");
    common::tamper(dir.path(), ENTRIES, |t| {
        t.remove(20_000).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
    assert!(matches!(err, VerifyError::Missing { seq: 20_000 }), "{err}");
    common::tamper(dir.path(), ENTRIES, |t| {
        t.insert(20_000, original.as_slice()).unwrap();
    });

    // The node over the first two windows (level 15), above what one window computes.
    let (seq, at) = common::node_at(15, 0);
    let row = common::get(dir.path(), MERKLE, seq);
    let mut bad = row.clone();
    bad[at] ^= 1;
    common::tamper(dir.path(), MERKLE, |t| {
        t.insert(seq, bad.as_slice()).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::BadNode {
                level: 15,
                index: 0,
                first_seq: 0
            }
        ),
        "{err}"
    );
    common::tamper(dir.path(), MERKLE, |t| {
        t.insert(seq, row.as_slice()).unwrap();
    });

    // A signed checkpoint inside the second window no longer matches once entries under it
    // are rewritten with a consistent chain: found at that checkpoint, not at the window's end.
    let mut rewritten: Vec<Vec<u8>> = {
        use common::ReadableDatabase;
        let db = common::raw(dir.path());
        let txn = db.begin_read().unwrap();
        let entries = txn.open_table(ENTRIES).unwrap();
        entries
            .range(20_000..N)
            .unwrap()
            .map(|row| row.unwrap().1.value().to_vec())
            .collect()
    };
    let mut chain: [u8; 32] = common::get(dir.path(), ENTRIES, 19_999)[..32]
        .try_into()
        .unwrap();
    let needle = b"needle-resource-020000";
    let pos = rewritten[0]
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    rewritten[0][pos] = b'N';
    for value in &mut rewritten {
        chain = merkle::chain_hash(&chain, &merkle::leaf_hash(&value[32..]));
        value[..32].copy_from_slice(&chain);
    }
    common::tamper(dir.path(), ENTRIES, |t| {
        for (i, value) in rewritten.iter().enumerate() {
            t.insert(20_000 + i as u64, value.as_slice()).unwrap();
        }
    });
    let err = verify(&path, &key).unwrap_err();
    // The node over entries 20000 and 20001 is the first thing that no longer matches.
    assert!(
        matches!(
            err,
            VerifyError::BadNode {
                level: 1,
                index: 10_000,
                first_seq: 20_000
            }
        ),
        "{err}"
    );

    // With every Merkle node rebuilt as well, only the signature over size 20016 (inside the
    // second window) stops it.
    let level: Vec<[u8; 32]> = {
        use common::ReadableDatabase;
        let db = common::raw(dir.path());
        let txn = db.begin_read().unwrap();
        let entries = txn.open_table(ENTRIES).unwrap();
        entries
            .range(0..N)
            .unwrap()
            .map(|row| merkle::leaf_hash(&row.unwrap().1.value()[32..]))
            .collect()
    };
    store_tree_of(dir.path(), level);
    let err = verify(&path, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::CheckpointMismatch {
                tree_size: 20_016,
                first_seq: 20_000
            }
        ),
        "{err}"
    );
}

/// Rebuild every complete Merkle node over `leaves` and store them, one row per entry, as an
/// attacker who rewrote entries would.
fn store_tree_of(dir: &std::path::Path, mut level: Vec<[u8; 32]>) {
    let mut rows = std::collections::BTreeMap::<u64, Vec<u8>>::new();
    for height in 1u32.. {
        level = level
            .chunks_exact(2)
            .map(|pair| merkle::node_hash(&pair[0], &pair[1]))
            .collect();
        if level.is_empty() {
            break;
        }
        for (index, hash) in level.iter().enumerate() {
            let (seq, _) = common::node_at(height, index as u64);
            rows.entry(seq).or_default().extend_from_slice(hash);
        }
    }
    common::tamper(dir, MERKLE, |t| {
        for (seq, row) in &rows {
            t.insert(*seq, row.as_slice()).unwrap();
        }
    });
}
