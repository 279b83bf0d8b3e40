//! Stores written in format 1 (a row per Merkle node) stay readable, verifiable and appendable.

use cordon_audit::{Store, VerifyError, merkle, verify};
use redb::TableDefinition;

use crate::common::{self, MERKLE, NODES_V1, ReadableDatabase, ReadableTable};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Rewrites a closed format 2 log as format 1 wrote it: each node its own `nodes` row keyed
/// `level << 56 | index`, no `merkle` table, format byte 1.
fn downgrade_to_format_1(dir: &std::path::Path) {
    let db = common::raw(dir);
    let txn = db.begin_write().unwrap();
    {
        let rows: Vec<(u64, Vec<u8>)> = {
            let merkle = txn.open_table(MERKLE).unwrap();
            merkle
                .iter()
                .unwrap()
                .map(|row| {
                    let (k, v) = row.unwrap();
                    (k.value(), v.value().to_vec())
                })
                .collect()
        };
        let mut nodes = txn.open_table(NODES_V1).unwrap();
        for (seq, row) in rows {
            for (i, hash) in row.chunks_exact(32).enumerate() {
                let level = i as u64 + 1;
                nodes.insert((level << 56) | (seq >> level), hash).unwrap();
            }
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("format", [1u8].as_slice()).unwrap();
    }
    txn.delete_table(MERKLE).unwrap();
    txn.commit().unwrap();
}

fn has_table(dir: &std::path::Path, table: TableDefinition<u64, &[u8]>) -> bool {
    let db = common::raw(dir);
    let txn = db.begin_read().unwrap();
    txn.open_table(table).is_ok()
}

#[test]
fn a_format_1_store_verifies_proves_and_takes_appends_in_its_own_layout() {
    let dir = common::filled(40);
    downgrade_to_format_1(dir.path());
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    assert_eq!(verify(&path, &key).unwrap().entries, 40);

    let log = common::open(dir.path());
    common::append_range(&log, 40, 100);
    log.close().unwrap();
    assert!(!has_table(dir.path(), MERKLE), "the store changed format");
    let report = verify(&path, &key).unwrap();
    assert_eq!(report.entries, 100);
    assert_eq!(report.unanchored, 0);

    let store = Store::open(&path).unwrap();
    let checkpoint = store.latest_checkpoint().unwrap().unwrap();
    for seq in [0, 37, 63, 99] {
        let proof = store.inclusion_proof(seq, checkpoint.tree_size).unwrap();
        let leaf = merkle::leaf_hash(&store.entry_bytes(seq).unwrap().unwrap());
        proof.verify(&leaf, &checkpoint.root.0).unwrap();
    }
}

#[test]
fn a_format_1_store_locates_bad_missing_and_extra_nodes() {
    let dir = common::filled(40);
    downgrade_to_format_1(dir.path());
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    // Level 2, index 3: the subtree over entries 12..16.
    let node_key = (2u64 << 56) | 3;
    let node = common::get(dir.path(), NODES_V1, node_key);

    let mut bad = node.clone();
    bad[0] ^= 0xff;
    common::tamper(dir.path(), NODES_V1, |t| {
        t.insert(node_key, bad.as_slice()).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
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

    common::tamper(dir.path(), NODES_V1, |t| {
        t.remove(node_key).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::MissingNode {
                level: 2,
                index: 3,
                first_seq: 12
            }
        ),
        "{err}"
    );

    // Restored, plus a node past the tree's 20 level-1 nodes.
    common::tamper(dir.path(), NODES_V1, |t| {
        t.insert(node_key, node.as_slice()).unwrap();
        t.insert((1u64 << 56) | 20, node.as_slice()).unwrap();
    });
    let err = verify(&path, &key).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::ExtraNode {
                level: 1,
                index: 20
            }
        ),
        "{err}"
    );
}
