//! Shared fixtures: sample entries, logs in temporary directories, raw store access.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_audit::{
    AuditLog, Decision, DecisionLog, Entry, LOG_FILE, LogOptions, PUBLIC_KEY_FILE, PublicKey,
    RecordAccess,
};
use redb::{ConcurrencyMode, Database, TableDefinition};

pub const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// Merkle nodes: one row per entry that completes any, keyed by its seq, holding their hashes
/// lowest level first.
pub const MERKLE: TableDefinition<u64, &[u8]> = TableDefinition::new("merkle");
/// The Merkle nodes of a format 1 store: one row per node, keyed `level << 56 | index`.
pub const NODES_V1: TableDefinition<u64, &[u8]> = TableDefinition::new("nodes");

/// The `merkle` row and the offset in it of the node at `level`, `index`.
pub fn node_at(level: u32, index: u64) -> (u64, usize) {
    (
        (index << level) | ((1u64 << level) - 1),
        32 * (level as usize - 1),
    )
}
pub const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");

/// A varied entry: users cycle through 7, purposes through 2, every third reads a record.
pub fn entry(i: u64) -> Entry {
    Entry {
        tenant: if i % 4 == 3 { "globex" } else { "acme" }.into(),
        run_id: format!("run-{}", i / 10),
        component_digest: "sha256:0f0f".into(),
        policy_digest: "sha256:a1a1".into(),
        agent: "summariser".into(),
        user: Some(format!("user-{}", i % 7)),
        purpose: if i.is_multiple_of(2) {
            "support"
        } else {
            "billing"
        }
        .into(),
        engagement: format!("case-{}", i % 3),
        action: if i.is_multiple_of(3) {
            "records:read"
        } else {
            "fs:read"
        }
        .into(),
        resource: format!("needle-resource-{i:06}"),
        decision: if i % 5 == 4 {
            Decision::Deny
        } else {
            Decision::Allow
        },
        policy_ids: vec![format!("policy-{}", i % 2)],
        records: i.is_multiple_of(3).then(|| RecordAccess {
            collection: "patients".into(),
            record_ids: vec![format!("p-{}", i % 5), format!("p-{}", (i + 1) % 5)],
            fields_returned: vec!["name".into(), "dob".into()],
            fields_withheld: vec!["diagnosis".into()],
            records_withheld: i % 2,
            withheld_ids: Vec::new(),
            filter: Vec::new(),
        }),
        taint: None,
        roles: Vec::new(),
        code: None,
    }
}

pub fn options(dir: &Path) -> LogOptions {
    LogOptions {
        checkpoint_every: 16,
        checkpoint_interval: Duration::from_secs(3600),
        ..LogOptions::in_dir(dir)
    }
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_FILE)
}

pub fn open(dir: &Path) -> AuditLog {
    AuditLog::open(&log_path(dir), options(dir)).unwrap()
}

pub fn public_key(dir: &Path) -> PublicKey {
    PublicKey::read(&dir.join(PUBLIC_KEY_FILE)).unwrap()
}

/// Appends entries `from..to`, syncing at the end.
pub fn append_range(log: &AuditLog, from: u64, to: u64) {
    let mut last = None;
    for i in from..to {
        let receipt = log.append(&entry(i)).unwrap();
        assert_eq!(receipt.seq, i);
        last = Some(receipt.seq);
    }
    if let Some(last) = last {
        log.sync(last).unwrap();
    }
}

/// A closed log of `n` entries (checkpoints at every 16 and at `n`).
pub fn filled(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    append_range(&log, 0, n);
    log.close().unwrap();
    dir
}

/// Opens the closed log's redb file directly, as an attacker with file access would.
pub fn raw(dir: &Path) -> Database {
    redb::Builder::new()
        .set_concurrency_mode(ConcurrencyMode::SingleWriter)
        .open(log_path(dir))
        .unwrap()
}

/// Runs `f` on one table of the closed log in a committed write transaction.
pub fn tamper<F>(dir: &Path, table: TableDefinition<u64, &[u8]>, f: F)
where
    F: FnOnce(&mut redb::Table<u64, &[u8]>),
{
    let db = raw(dir);
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(table).unwrap();
        f(&mut t);
    }
    txn.commit().unwrap();
}

/// The stored value of one row.
pub fn get(dir: &Path, table: TableDefinition<u64, &[u8]>, key: u64) -> Vec<u8> {
    let db = raw(dir);
    let txn = db.begin_read().unwrap();
    let t = txn.open_table(table).unwrap();
    t.get(key).unwrap().unwrap().value().to_vec()
}

pub use redb::{ReadableDatabase, ReadableTable};

/// Every file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}
