//! The seed corpus of the fuzz targets (`host/audit/fuzz/seeds/<target>/`): stored entries and
//! checkpoints for `log_reader`, evidence bundles for `bundle`, all from a real log signed
//! with the fixed key the targets use.
//!
//! `CORDON_WRITE_FUZZ_SEEDS=1 cargo test -p cordon-audit --test all fuzz_seeds` rewrites the
//! corpus; otherwise the committed seeds are checked to be what the targets expect (entries
//! and checkpoints that decode, bundles that verify with the fixed key).

use std::path::{Path, PathBuf};

use cordon_audit::{
    Bundle, Checkpoint, DecisionLog, Query, Subject, TaintLabels, encoding, verify_bundle,
};
use redb::{ReadableDatabase, ReadableTable};

use crate::common::{self, CHECKPOINTS, ENTRIES};

/// The seed of the signing key the fuzz targets verify with.
const SEED_KEY: [u8; 32] = [7u8; 32];

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

fn public_key() -> cordon_audit::PublicKey {
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED_KEY);
    let hex: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cordon_audit::PublicKey::from_hex(&hex).unwrap()
}

/// The seeds, as (target, file name, bytes).
fn generate() -> Vec<(&'static str, String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join(cordon_audit::SIGNING_KEY_FILE);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .unwrap();
        let hex: String = SEED_KEY.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(file, "{hex}").unwrap();
    }
    let log = common::open(dir.path());
    for i in 0..12u64 {
        let mut entry = common::entry(i);
        if i == 5 {
            entry.taint = Some(TaintLabels {
                classification: Some(2),
                jurisdictions: vec!["eu".into()],
                collections: vec!["patients".into()],
                categories: vec!["health".into()],
            });
            entry.roles = vec!["clinician".into(), "on-call".into()];
        }
        if i == 7 {
            entry.user = None;
        }
        log.append(&entry).unwrap();
    }
    log.checkpoint().unwrap();
    let store = log.store();
    let mut out = Vec::new();
    for (name, query) in [
        (
            "user",
            Query {
                user: Some("user-3".into()),
                ..Query::default()
            },
        ),
        (
            "record",
            Query {
                record: Some(("patients".into(), "p-1".into())),
                since_ms: Some(1),
                ..Query::default()
            },
        ),
        (
            "purpose",
            Query {
                purpose: Some("billing".into()),
                tenant: Some("acme".into()),
                ..Query::default()
            },
        ),
    ] {
        let bundle = store.export_bundle(&query).unwrap();
        out.push((
            "bundle",
            format!("{name}.json"),
            serde_json::to_vec(&bundle).unwrap(),
        ));
    }
    drop(store);
    log.erase_subject(&Subject::User("user-3".into())).unwrap();
    log.close().unwrap();

    let db = common::raw(dir.path());
    let txn = db.begin_read().unwrap();
    let entries = txn.open_table(ENTRIES).unwrap();
    for seq in [0u64, 3, 5, 7] {
        let value = entries.get(seq).unwrap().unwrap().value().to_vec();
        out.push((
            "log_reader",
            format!("entry-{seq}.bin"),
            value[32..].to_vec(),
        ));
    }
    let checkpoints = txn.open_table(CHECKPOINTS).unwrap();
    for row in checkpoints.iter().unwrap() {
        let (k, v) = row.unwrap();
        out.push((
            "log_reader",
            format!("checkpoint-{}.bin", k.value()),
            v.value().to_vec(),
        ));
    }
    out
}

#[test]
fn fuzz_seeds_decode_and_verify() {
    if std::env::var_os("CORDON_WRITE_FUZZ_SEEDS").is_some() {
        for (target, name, bytes) in generate() {
            let dir = seeds_dir().join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    let key = public_key();
    let mut checked = 0;
    for target in ["log_reader", "bundle"] {
        let dir = seeds_dir().join(target);
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if target == "bundle" {
                let bundle = Bundle::from_json(std::str::from_utf8(&bytes).unwrap()).unwrap();
                let report = verify_bundle(&bundle, &key)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!report.entries.is_empty(), "{}", path.display());
            } else {
                let decodes = encoding::decode_entry(&bytes).is_ok()
                    || Checkpoint::from_stored(&bytes).is_some_and(|c| c.verify(&key).is_ok());
                assert!(decodes, "{}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} seeds");
}
