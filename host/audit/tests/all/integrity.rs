//! Every table the verifier trusts is verified: a change to any row of any table of the log
//! file is either detected by `verify` or changes no answer a reader gets (no query result, no
//! exported bundle); and `verify` never panics, whatever bytes of the file are flipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use cordon_audit::{DecisionLog, Query, Store, Subject, VerifyError, verify};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use crate::common::{self, CHECKPOINTS, ENTRIES, MERKLE};

const SUBJECT_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subject_keys");
const SUBJECT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("subject_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The key file's bookkeeping (see `cordon_audit::keyfile`).
const KEY_META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The key file beside the log file at `path`.
fn keys_of(path: &Path) -> PathBuf {
    cordon_audit::keyfile::keys_path(path)
}

/// Every table a log file holds, by name.
const TABLES: [&str; 6] = [
    "entries",
    "merkle",
    "checkpoints",
    "subject_keys",
    "subject_log",
    "meta",
];

fn u64_table(name: &str) -> TableDefinition<'static, u64, &'static [u8]> {
    match name {
        "entries" => ENTRIES,
        "merkle" => MERKLE,
        "checkpoints" => CHECKPOINTS,
        "subject_log" => SUBJECT_LOG,
        other => panic!("`{other}` is not keyed by u64"),
    }
}

fn user(name: &str) -> Query {
    Query {
        user: Some(name.into()),
        ..Query::default()
    }
}

fn record(id: &str) -> Query {
    Query {
        record: Some(("patients".into(), id.into())),
        ..Query::default()
    }
}

/// The queries whose answers must never change silently.
fn queries() -> Vec<Query> {
    let mut out: Vec<Query> = (0..7).map(|i| user(&format!("user-{i}"))).collect();
    out.extend((0..5).map(|i| record(&format!("p-{i}"))));
    out.push(Query {
        purpose: Some("billing".into()),
        tenant: Some("globex".into()),
        ..Query::default()
    });
    out.push(Query::default());
    out
}

/// Everything a reader of the log gets: each query's entries (with the subjects revealed) and
/// the bundle exported for one user, as JSON.
fn answers(path: &Path) -> Result<Vec<String>, String> {
    let store = Store::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for query in queries() {
        let found = store.query(&query).map_err(|e| e.to_string())?;
        out.push(serde_json::to_string(&found).map_err(|e| e.to_string())?);
    }
    let bundle = store
        .export_bundle(&user("user-3"))
        .map_err(|e| e.to_string())?;
    out.push(serde_json::to_string(&bundle).map_err(|e| e.to_string())?);
    Ok(out)
}

/// A closed log of 48 entries in which a user and a record were erased along the way, so that
/// every table has rows, the subject-key log has erasures, and some subjects came back.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    log.erase_subjects(&[
        Subject::User("user-6".into()),
        Subject::Record {
            collection: "patients".into(),
            id: "p-4".into(),
        },
    ])
    .unwrap();
    common::append_range(&log, 20, 48);
    log.close().unwrap();
    dir
}

/// What a change did.
#[derive(Debug)]
enum Outcome {
    /// `verify` reported an error.
    Detected,
    /// `verify` passed but its report differs from the untouched log's: with the latest
    /// checkpoint deleted, the report says its entries are no longer covered by a signature
    /// (as after a crash; `--trusted-checkpoint` turns this into an error).
    Reported,
    /// `verify` passed with the same report, and every answer is unchanged.
    Harmless,
}

/// What readers get from the untouched log: the verification report and every answer.
struct Baseline {
    report: String,
    answers: Vec<String>,
}

impl Baseline {
    fn of(path: &Path, key: &cordon_audit::PublicKey) -> Baseline {
        Baseline {
            report: serde_json::to_string(&verify(path, key).unwrap()).unwrap(),
            answers: answers(path).unwrap(),
        }
    }
}

/// Verifies the log at `path` and, if it verifies with the untouched log's report, requires
/// every answer to be the untouched log's. Panics (failing the test) if verification panics
/// or an answer changed silently.
fn detect_or_harmless(
    path: &Path,
    key: &cordon_audit::PublicKey,
    baseline: &Baseline,
    what: &str,
) -> Outcome {
    let verified = catch_unwind(AssertUnwindSafe(|| verify(path, key)))
        .unwrap_or_else(|_| panic!("verify panicked after {what}"));
    let report = match verified {
        Err(e) => {
            // A report names where: a table (and a key) or a sequence number.
            assert!(
                e.place().is_some() || matches!(e, VerifyError::Read(_)),
                "{what}: no place in {e}"
            );
            return Outcome::Detected;
        }
        Ok(report) => report,
    };
    if serde_json::to_string(&report).unwrap() != baseline.report {
        return Outcome::Reported;
    }
    let now = catch_unwind(AssertUnwindSafe(|| answers(path)))
        .unwrap_or_else(|_| panic!("reading panicked after {what}, which verified"));
    let now = now.unwrap_or_else(|e| panic!("{what} verified but reading failed: {e}"));
    let expected = &baseline.answers;
    if let Some(i) = (0..expected.len()).find(|&i| now.get(i) != expected.get(i)) {
        let short = |s: Option<&String>| s.map(|s| s.chars().take(400).collect::<String>());
        panic!(
            "{what} verified but changed answer {i}: {:?} instead of {:?}",
            short(now.get(i)),
            short(expected.get(i))
        );
    }
    Outcome::Harmless
}

/// The byte positions flipped in a value of `len` bytes: all of a short one; both ends, the
/// middle and the boundary after a leading 32-byte hash of a longer one.
fn positions(len: usize) -> Vec<usize> {
    if len <= 8 {
        return (0..len).collect();
    }
    let mut out: Vec<usize> = [0, 1, 31, 32, 33, len / 2, len - 2, len - 1]
        .into_iter()
        .filter(|&at| at < len)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// One change to one row of the log's file.
enum Change {
    /// Flip a byte of the value.
    Flip(usize),
    /// Flip a byte of the key (tables keyed by bytes).
    FlipKey(usize),
    /// Delete the row.
    Delete,
}

/// A row of some table.
#[derive(Clone, Debug)]
enum Row {
    Seq(&'static str, u64),
    /// A row of the key file's `subject_keys`.
    Subject(Vec<u8>),
    Meta(String),
    /// A row of the key file's `meta`.
    KeyMeta(String),
}

fn rows(path: &Path) -> Vec<(Row, usize, usize)> {
    let db = redb::Builder::new().open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    for name in &names {
        assert!(
            TABLES.contains(&name.as_str()),
            "table `{name}` is not covered by this test"
        );
    }
    for name in TABLES {
        assert!(
            names.iter().any(|n| n == name),
            "the sample has no `{name}` table"
        );
    }
    let mut out = Vec::new();
    for name in ["entries", "merkle", "checkpoints", "subject_log"] {
        let table = txn.open_table(u64_table(name)).unwrap();
        for row in table.iter().unwrap() {
            let (k, v) = row.unwrap();
            out.push((Row::Seq(name, k.value()), 8, v.value().len()));
        }
    }
    // The log file's own `subject_keys` is empty: the keys are in the key file.
    let legacy = txn.open_table(SUBJECT_KEYS).unwrap();
    assert_eq!(legacy.iter().unwrap().count(), 0);
    let meta = txn.open_table(META).unwrap();
    for row in meta.iter().unwrap() {
        let (k, v) = row.unwrap();
        out.push((Row::Meta(k.value().to_owned()), 1, v.value().len()));
    }
    let db = redb::Builder::new().open(keys_of(path)).unwrap();
    let txn = db.begin_read().unwrap();
    let keys = txn.open_table(SUBJECT_KEYS).unwrap();
    for row in keys.iter().unwrap() {
        let (k, v) = row.unwrap();
        out.push((
            Row::Subject(k.value().to_vec()),
            k.value().len(),
            v.value().len(),
        ));
    }
    let meta = txn.open_table(KEY_META).unwrap();
    for row in meta.iter().unwrap() {
        let (k, _) = row.unwrap();
        out.push((Row::KeyMeta(k.value().to_owned()), 1, 8));
    }
    out
}

/// Applies `change` to `row` of the log at `path`, as someone with write access to the file.
fn apply(path: &Path, row: &Row, change: &Change) {
    let file = match row {
        Row::Subject(_) | Row::KeyMeta(_) => keys_of(path),
        _ => path.to_owned(),
    };
    let db = redb::Builder::new().open(file).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let flip = |bytes: &mut Vec<u8>, at: usize| bytes[at] ^= 0x01;
        match row {
            Row::Seq(name, key) => {
                let mut t = txn.open_table(u64_table(name)).unwrap();
                let mut value = t.get(*key).unwrap().unwrap().value().to_vec();
                match change {
                    Change::Flip(at) => {
                        flip(&mut value, *at);
                        t.insert(*key, value.as_slice()).unwrap();
                    }
                    Change::FlipKey(at) => {
                        t.remove(*key).unwrap();
                        t.insert(*key ^ (1u64 << (8 * (7 - *at % 8))), value.as_slice())
                            .unwrap();
                    }
                    Change::Delete => {
                        t.remove(*key).unwrap();
                    }
                }
            }
            Row::Subject(key) => {
                let mut t = txn.open_table(SUBJECT_KEYS).unwrap();
                let mut value = t.get(key.as_slice()).unwrap().unwrap().value().to_vec();
                match change {
                    Change::Flip(at) => {
                        flip(&mut value, *at);
                        t.insert(key.as_slice(), value.as_slice()).unwrap();
                    }
                    Change::FlipKey(at) => {
                        let mut renamed = key.clone();
                        flip(&mut renamed, *at);
                        t.remove(key.as_slice()).unwrap();
                        t.insert(renamed.as_slice(), value.as_slice()).unwrap();
                    }
                    Change::Delete => {
                        t.remove(key.as_slice()).unwrap();
                    }
                }
            }
            Row::Meta(key) => {
                let mut t = txn.open_table(META).unwrap();
                let mut value = t.get(key.as_str()).unwrap().unwrap().value().to_vec();
                match change {
                    Change::Flip(at) => {
                        flip(&mut value, *at);
                        t.insert(key.as_str(), value.as_slice()).unwrap();
                    }
                    Change::FlipKey(_) | Change::Delete => {
                        t.remove(key.as_str()).unwrap();
                    }
                }
            }
            Row::KeyMeta(key) => {
                let mut t = txn.open_table(KEY_META).unwrap();
                let value = t.get(key.as_str()).unwrap().unwrap().value();
                match change {
                    Change::Flip(at) => {
                        t.insert(key.as_str(), value ^ (1u64 << (8 * (*at % 8))))
                            .unwrap();
                    }
                    Change::FlipKey(_) | Change::Delete => {
                        t.remove(key.as_str()).unwrap();
                    }
                }
            }
        }
    }
    txn.commit().unwrap();
}

/// A copy of the log file at `pristine` and of its key file in `scratch`.
fn copy_of(pristine: &Path, scratch: &Path) -> PathBuf {
    let path = scratch.join(cordon_audit::LOG_FILE);
    std::fs::copy(pristine, &path).unwrap();
    std::fs::copy(keys_of(pristine), keys_of(&path)).unwrap();
    path
}

#[test]
fn every_change_to_any_table_is_detected_or_changes_no_answer() {
    let dir = sample();
    let pristine = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let report = verify(&pristine, &key).unwrap();
    assert!(report.subject_keys_signed);
    assert!(report.subject_events > report.subject_keys, "{report:?}");
    assert_eq!(report.unanchored_subject_events, 0);
    let baseline = Baseline::of(&pristine, &key);

    let scratch = tempfile::tempdir().unwrap();
    let mut detected = std::collections::BTreeMap::<&str, usize>::new();
    let mut harmless = std::collections::BTreeMap::<&str, usize>::new();
    let mut reported = std::collections::BTreeMap::<&str, usize>::new();
    for (row, key_len, value_len) in rows(&pristine) {
        let table = match &row {
            Row::Seq(name, _) => *name,
            Row::Subject(_) => "subject_keys",
            Row::Meta(_) => "meta",
            Row::KeyMeta(_) => "key meta",
        };
        let mut changes: Vec<Change> = positions(value_len).into_iter().map(Change::Flip).collect();
        // A subject's bytes anywhere; a sequence number in its lowest byte.
        let key_positions = match &row {
            Row::Subject(_) => positions(key_len),
            _ => vec![key_len.saturating_sub(1)],
        };
        changes.extend(key_positions.into_iter().map(Change::FlipKey));
        changes.push(Change::Delete);
        for change in changes {
            let path = copy_of(&pristine, scratch.path());
            apply(&path, &row, &change);
            let what = match &change {
                Change::Flip(at) => format!("flipping value byte {at} of {row:?}"),
                Change::FlipKey(at) => format!("flipping key byte {at} of {row:?}"),
                Change::Delete => format!("deleting {row:?}"),
            };
            match detect_or_harmless(&path, &key, &baseline, &what) {
                Outcome::Detected => *detected.entry(table).or_default() += 1,
                Outcome::Reported => *reported.entry(table).or_default() += 1,
                Outcome::Harmless => *harmless.entry(table).or_default() += 1,
            }
        }
    }
    // Only deleting a checkpoint passes with a changed report (its entries left unsigned).
    assert_eq!(
        reported.keys().copied().collect::<Vec<_>>(),
        ["checkpoints"],
        "{reported:?}"
    );
    // Every table's changes are mostly caught (a harmless change is e.g. deleting a
    // checkpoint that a later one supersedes).
    for table in TABLES {
        assert!(
            detected.get(table).copied().unwrap_or(0) > 0,
            "{table}: {detected:?}"
        );
    }
    for table in ["entries", "merkle", "subject_keys", "subject_log"] {
        assert_eq!(harmless.get(table), None, "{table}: {harmless:?}");
    }
}

fn store_query(path: &Path, query: &Query) -> Vec<cordon_audit::RevealedEntry> {
    Store::open(path).unwrap().query(query).unwrap()
}

fn verify_err(path: &Path, key: &cordon_audit::PublicKey) -> VerifyError {
    match verify(path, key) {
        Ok(report) => panic!("tampered log verified: {report:?}"),
        Err(e) => e,
    }
}

#[test]
fn detects_a_subject_key_deleted_without_erasure() {
    let dir = sample();
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    assert_eq!(store_query(&path, &user("user-2")).len(), 7);
    let subject = Subject::User("user-2".into()).to_bytes();
    apply(&path, &Row::Subject(subject), &Change::Delete);
    // The change matters: the user's whole history is gone from queries...
    assert!(store_query(&path, &user("user-2")).is_empty());
    // ...and verification says so, and where.
    let err = verify_err(&path, &key);
    assert!(
        matches!(err, VerifyError::SubjectKeyDeleted { .. }),
        "{err}"
    );
    assert_eq!(err.place().unwrap().table, "subject_log");
}

#[test]
fn detects_a_changed_subject_key() {
    let dir = sample();
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let subject = Subject::Record {
        collection: "patients".into(),
        id: "p-1".into(),
    }
    .to_bytes();
    // A record's row is keyed by a hash of its subject bytes, so the table names no record.
    let mut row_key = vec![0xff];
    row_key.extend_from_slice(
        blake3::Hasher::new()
            .update(b"cordon.audit.subject-index.v1")
            .update(&subject)
            .finalize()
            .as_bytes(),
    );
    let described: String = std::iter::once("0x".to_owned())
        .chain(row_key.iter().map(|b| format!("{b:02x}")))
        .collect();
    apply(&path, &Row::Subject(row_key), &Change::Flip(7));
    assert!(store_query(&path, &record("p-1")).is_empty());
    let err = verify_err(&path, &key);
    assert!(
        matches!(&err, VerifyError::SubjectKeyChanged { subject } if *subject == described),
        "{err}"
    );
    let place = err.place().unwrap();
    assert_eq!(
        (place.table, place.key.as_deref()),
        ("subject_keys", Some(described.as_str()))
    );
}

#[test]
fn detects_a_forged_erasure_event() {
    // Deleting a key and appending an erasure event for it, with the chain recomputed (it has
    // no secret): no checkpoint signs that erasure, as every real one is signed when made.
    let dir = sample();
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let subject = Subject::User("user-2".into()).to_bytes();
    let value = {
        let db = redb::Builder::new().open(keys_of(&path)).unwrap();
        let txn = db.begin_write().unwrap();
        let value = {
            let mut keys = txn.open_table(SUBJECT_KEYS).unwrap();
            keys.remove(subject.as_slice())
                .unwrap()
                .unwrap()
                .value()
                .to_vec()
        };
        txn.commit().unwrap();
        value
    };
    let db = redb::Builder::new().open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut log = txn.open_table(SUBJECT_LOG).unwrap();
        let (last, head) = {
            let (k, v) = log.last().unwrap().unwrap();
            (k.value(), v.value()[..32].to_vec())
        };
        let mut row = blake3::Hasher::new();
        row.update(b"cordon.audit.subject-key.v1\0");
        row.update(&(subject.len() as u32).to_be_bytes());
        row.update(&subject);
        row.update(&value);
        let row = row.finalize();
        let mut chain = blake3::Hasher::new();
        chain.update(b"cordon.audit.subject-log.v1\0");
        chain.update(&head);
        chain.update(&[2]);
        chain.update(row.as_bytes());
        let event = [chain.finalize().as_bytes().as_slice(), &[2], row.as_bytes()].concat();
        log.insert(last + 1, event.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    assert!(store_query(&path, &user("user-2")).is_empty());
    let err = verify_err(&path, &key);
    assert!(matches!(err, VerifyError::UnsignedErasure { .. }), "{err}");
}

#[test]
fn an_erasure_verifies_and_its_tombstone_holds_neither_key_nor_subject() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    let subject = Subject::User("user-5".into());
    let old_key = log.store().subject_key(&subject).unwrap().unwrap();
    log.forget(std::slice::from_ref(&subject)).unwrap();
    // The erasure is signed when `forget` returns, with no entry after it.
    let checkpoint = log.latest_checkpoint().unwrap();
    assert_eq!(checkpoint.tree_size, 30);
    let events = checkpoint.subject_keys.unwrap().events;
    log.close().unwrap();

    let path = common::log_path(dir.path());
    let report = verify(&path, &common::public_key(dir.path())).unwrap();
    assert_eq!(report.subject_events, events);
    assert_eq!(report.unanchored_subject_events, 0);
    assert_eq!(report.subject_keys + 2, report.subject_events, "{report:?}");
    assert!(store_query(&path, &user("user-5")).is_empty());
    let store = Store::open(&path).unwrap();
    assert_eq!(store.subject_key(&subject).unwrap(), None);
    drop(store);
    // Nothing in the subject-key log names the subject or holds its key.
    let db = redb::Builder::new().open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(SUBJECT_LOG).unwrap();
    for row in table.iter().unwrap() {
        let (_, v) = row.unwrap();
        let v = v.value();
        assert!(!v.windows(32).any(|w| w == old_key));
        assert!(!v.windows(6).any(|w| w == b"user-5"));
    }
}

#[test]
fn detects_a_deleted_or_changed_subject_event() {
    let dir = sample();
    let pristine = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let scratch = tempfile::tempdir().unwrap();
    let path = copy_of(&pristine, scratch.path());
    apply(&path, &Row::Seq("subject_log", 3), &Change::Delete);
    let err = verify_err(&path, &key);
    assert!(
        matches!(err, VerifyError::SubjectEventMissing { index: 3 }),
        "{err}"
    );
    let path = copy_of(&pristine, scratch.path());
    apply(&path, &Row::Seq("subject_log", 3), &Change::Flip(40));
    let err = verify_err(&path, &key);
    assert!(
        matches!(err, VerifyError::SubjectEventChanged { index: 3 }),
        "{err}"
    );
}

#[test]
fn verify_never_panics_on_a_byte_flipped_anywhere_in_the_file() {
    let dir = sample();
    let pristine = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let baseline = Baseline::of(&pristine, &key);
    let scratch = tempfile::tempdir().unwrap();
    let path = copy_of(&pristine, scratch.path());
    // The log file and the key file beside it.
    for (original, target) in [
        (pristine.clone(), path.clone()),
        (keys_of(&pristine), keys_of(&path)),
    ] {
        let bytes = std::fs::read(&original).unwrap();
        // The first pages (redb's header and the first tree pages) byte by byte, then the
        // rest of the file at a stride.
        let stride = (bytes.len() / 800).max(1);
        let offsets = (0..bytes.len().min(512)).chain((512..bytes.len()).step_by(stride));
        let (mut detected, mut harmless) = (0, 0);
        for at in offsets {
            let mut changed = bytes.clone();
            changed[at] ^= 0x5a;
            std::fs::write(&target, &changed).unwrap();
            let what = format!("flipping byte {at} of {}", original.display());
            match detect_or_harmless(&path, &key, &baseline, &what) {
                Outcome::Detected | Outcome::Reported => detected += 1,
                Outcome::Harmless => harmless += 1,
            }
        }
        std::fs::write(&target, &bytes).unwrap();
        assert!(
            detected > 0 && harmless > 0,
            "{}: {detected} detected, {harmless} harmless",
            original.display()
        );
    }
}

#[test]
fn a_trusted_checkpoint_from_before_an_erasure_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    let before = log.checkpoint().unwrap().unwrap();
    log.erase_subject(&Subject::User("user-1".into())).unwrap();
    // The erasure is signed at the same tree size, with one more subject-key event.
    let after = log.latest_checkpoint().unwrap();
    assert_eq!(after.tree_size, before.tree_size);
    let events = |c: &cordon_audit::Checkpoint| c.subject_keys.unwrap().events;
    assert_eq!(events(&after), events(&before) + 1);
    log.close().unwrap();
    let path = common::log_path(dir.path());
    let key = common::public_key(dir.path());
    let store = Store::open(&path).unwrap();
    store.verify_with(&key, Some(&before)).unwrap();
    drop(store);

    // The trusted checkpoint is checked against the subject-key log too.
    let mut forged = before.clone();
    forged.subject_keys = Some(cordon_audit::SubjectKeys {
        events: events(&before) - 1,
        ..before.subject_keys.unwrap()
    });
    let store = Store::open(&path).unwrap();
    let err = store.verify_with(&key, Some(&forged)).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");
    let scratch = tempfile::tempdir().unwrap();
    let copy = copy_of(&path, scratch.path());
    apply(&copy, &Row::Seq("subject_log", 0), &Change::Flip(40));
    let store = Store::open(&copy).unwrap();
    let err = store.verify_with(&key, Some(&before)).unwrap_err();
    assert!(
        matches!(err, VerifyError::SubjectEventChanged { index: 0 }),
        "{err}"
    );
}

#[test]
fn a_log_written_before_subject_keys_were_signed_is_migrated_on_open() {
    // A log as older versions wrote it: keys, but no subject-key log and no checkpoint that
    // covers one.
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    log.close().unwrap();
    let path = common::log_path(dir.path());
    // Older versions kept the keys in the log file, and had no key file.
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let db = redb::Builder::new().open(keys_of(&path)).unwrap();
        let txn = db.begin_read().unwrap();
        let keys = txn.open_table(SUBJECT_KEYS).unwrap();
        keys.iter()
            .unwrap()
            .map(|row| {
                let (k, v) = row.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    };
    std::fs::remove_file(keys_of(&path)).unwrap();
    let db = redb::Builder::new().open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(SUBJECT_LOG).unwrap();
    {
        let mut checkpoints = txn.open_table(CHECKPOINTS).unwrap();
        checkpoints.retain(|_, _| false).unwrap();
        let mut keys = txn.open_table(SUBJECT_KEYS).unwrap();
        for (k, v) in &rows {
            keys.insert(k.as_slice(), v.as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
    drop(db);
    let key = common::public_key(dir.path());
    let report = verify(&path, &key).unwrap();
    assert!(!report.subject_keys_signed);
    assert_eq!(report.subject_events, 0);
    let keys = report.subject_keys;
    assert!(keys > 0);

    // The writer records the keys present as created, signs them at once, and moves them to
    // a key file.
    let log = common::open(dir.path());
    log.close().unwrap();
    assert!(keys_of(&path).exists());
    let report = verify(&path, &key).unwrap();
    assert!(report.subject_keys_signed);
    assert_eq!((report.subject_keys, report.subject_events), (keys, keys));
    assert_eq!(report.unanchored_subject_events, 0);
    // From then on a deleted key is found.
    let subject = Subject::User("user-2".into()).to_bytes();
    apply(&path, &Row::Subject(subject), &Change::Delete);
    let err = verify_err(&path, &key);
    assert!(
        matches!(err, VerifyError::SubjectKeyDeleted { .. }),
        "{err}"
    );
}
