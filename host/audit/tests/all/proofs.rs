//! Inclusion and consistency proofs against signed checkpoints.

use cordon_audit::{ConsistencyProof, DecisionLog, ProofError, merkle};

use crate::common;

#[test]
fn proves_every_entry_against_every_checkpoint() {
    let dir = common::filled(50);
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    let key = common::public_key(dir.path());
    for checkpoint in store.checkpoints().unwrap() {
        checkpoint.verify(&key).unwrap();
        for seq in 0..checkpoint.tree_size {
            let proof = store.inclusion_proof(seq, checkpoint.tree_size).unwrap();
            let leaf = merkle::leaf_hash(&store.entry_bytes(seq).unwrap().unwrap());
            proof.verify(&leaf, &checkpoint.root.0).unwrap();
            // The same proof does not prove a neighbouring entry.
            let other = merkle::leaf_hash(&store.entry_bytes((seq + 1) % 50).unwrap().unwrap());
            assert!(proof.verify(&other, &checkpoint.root.0).is_err());
        }
    }
}

#[test]
fn refuses_a_proof_for_an_entry_outside_the_tree() {
    let dir = common::filled(10);
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    assert!(matches!(
        store.inclusion_proof(10, 10),
        Err(ProofError::LeafOutOfRange { .. })
    ));
    assert!(matches!(
        store.inclusion_proof(3, 11),
        Err(ProofError::LeafOutOfRange { .. })
    ));
}

#[test]
fn proves_consistency_across_appends_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut checkpoints = Vec::new();
    let mut next = 0;
    for round in 0..4u64 {
        let log = common::open(dir.path());
        let to = next + 7 + round * 5;
        common::append_range(&log, next, to);
        next = to;
        checkpoints.push(log.checkpoint().unwrap().unwrap());
        log.close().unwrap();
    }
    let store = cordon_audit::Store::open(&common::log_path(dir.path())).unwrap();
    let key = common::public_key(dir.path());
    let all = store.checkpoints().unwrap();
    for old in &all {
        for new in all.iter().filter(|c| c.tree_size >= old.tree_size) {
            old.verify(&key).unwrap();
            new.verify(&key).unwrap();
            let proof = store
                .consistency_proof(old.tree_size, new.tree_size)
                .unwrap();
            proof.verify(&old.root.0, &new.root.0).unwrap();
        }
    }
    assert!(checkpoints.iter().all(|c| all.contains(c)));
}

#[test]
fn rejects_a_consistency_proof_for_a_forked_log() {
    // Two logs share their first 20 entries and then differ: the later tree of one does not
    // extend the earlier tree of the other.
    let a = common::filled(20);
    let b = tempfile::tempdir().unwrap();
    {
        let log = common::open(b.path());
        common::append_range(&log, 0, 20);
        let mut forked = common::entry(20);
        forked.resource = "forked".into();
        let receipt = log.append(&forked).unwrap();
        log.sync(receipt.seq).unwrap();
        log.close().unwrap();
    }
    let store_a = cordon_audit::Store::open(&common::log_path(a.path())).unwrap();
    let store_b = cordon_audit::Store::open(&common::log_path(b.path())).unwrap();
    // Same entries but different keys and times: roots differ already at 20.
    let root_a = store_a.root(20).unwrap();
    let proof = store_b.consistency_proof(20, 21).unwrap();
    let root_b21 = store_b.root(21).unwrap();
    assert!(proof.verify(&root_a, &root_b21).is_err());
    let root_b20 = store_b.root(20).unwrap();
    proof.verify(&root_b20, &root_b21).unwrap();
    let bad = ConsistencyProof {
        old_size: 20,
        new_size: 21,
        path: proof.path[1..].to_vec(),
    };
    assert!(bad.verify(&root_b20, &root_b21).is_err());
}
