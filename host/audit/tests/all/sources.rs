//! Source runs: entries name the source that ran, and the log keeps that source.

use cordon_audit::{
    AppendError, CodeRef, DecisionLog, Query, SourceError, Store, StoredSource, Subject,
    VerifyError, encoding, merkle, verify,
};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::common::{self, CHECKPOINTS, ENTRIES, MERKLE};

const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("sources");

const PY: &str = "def main(input):\n    return {'sum': 1 + 2, 'name': 'Zoë'}\n";

/// A closed log of two decisions of one source run of `PY`, and the source's reference.
fn source_run_log() -> (tempfile::TempDir, CodeRef) {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let code = log.put_source("python", PY).unwrap();
    for i in 0..2 {
        log.append(&cordon_audit::Entry {
            code: Some(code.clone()),
            ..common::entry(i)
        })
        .unwrap();
    }
    log.close().unwrap();
    (dir, code)
}

fn verify_dir(dir: &std::path::Path) -> Result<cordon_audit::VerifyReport, VerifyError> {
    verify(&common::log_path(dir), &common::public_key(dir))
}

/// Runs `f` on the closed log's `sources` table in a committed write transaction.
fn tamper_sources(dir: &std::path::Path, f: impl FnOnce(&mut redb::Table<&str, &[u8]>)) {
    let db = common::raw(dir);
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(SOURCES).unwrap();
        f(&mut table);
    }
    txn.commit().unwrap();
}

#[test]
fn names_the_source_in_version_5_entries_and_reads_them_back_with_and_without_code() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let code = log.put_source("python", PY).unwrap();
    assert_eq!(code.language, "python");
    assert_eq!(
        code.digest,
        blake3::hash(PY.as_bytes()).to_hex().to_string()
    );
    let with = log
        .append(&cordon_audit::Entry {
            code: Some(code.clone()),
            ..common::entry(1)
        })
        .unwrap();
    let without = log.append(&common::entry(1)).unwrap();
    log.sync(without.seq).unwrap();
    let store = log.store();

    let bytes = store.entry_bytes(with.seq).unwrap().unwrap();
    assert_eq!(bytes[0], 5);
    let decoded = encoding::decode_entry(&bytes).unwrap();
    assert_eq!(decoded.code.as_ref(), Some(&code));
    let plain = encoding::decode_entry(&store.entry_bytes(without.seq).unwrap().unwrap()).unwrap();
    assert_eq!(plain.code, None);
    // Apart from the code, the same entry.
    assert_eq!(
        cordon_audit::LoggedEntry {
            seq: plain.seq,
            time_ms: plain.time_ms,
            code: None,
            ..decoded.clone()
        },
        plain
    );

    // The code is covered by the leaf hash, and one encoding only: no trailing bytes, a bad
    // tag is refused.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        encoding::decode_entry(&longer),
        Err(cordon_audit::DecodeError::TrailingBytes { extra: 1 })
    ));
    let tag_at = bytes.len() - (1 + 4 + "python".len() + 4 + 64);
    assert_eq!(bytes[tag_at], 1);
    let mut bad_tag = bytes.clone();
    bad_tag[tag_at] = 2;
    assert!(matches!(
        encoding::decode_entry(&bad_tag),
        Err(cordon_audit::DecodeError::BadTag { tag: 2, .. })
    ));

    // Shown with the entry (query output), absent when there is none.
    let json = serde_json::to_value(&decoded).unwrap();
    assert_eq!(json["code"]["language"], "python");
    assert_eq!(json["code"]["digest"], code.digest.as_str());
    assert!(serde_json::to_value(&plain).unwrap().get("code").is_none());
    drop(store);
    log.close().unwrap();
    assert_eq!(verify_dir(dir.path()).unwrap().source_entries, 1);
}

#[test]
fn reads_and_verifies_version_4_entries_which_name_no_code() {
    let dir = common::filled(2);
    // Rewrite both entries as version 4 wrote them (no code tag), with the chain and the Merkle
    // node recomputed over those bytes; the checkpoints, signed over the version 5 bytes, go
    // (a log can be verified without one: its entries are then unanchored).
    let old: Vec<Vec<u8>> = (0..2)
        .map(|seq| crate::encoding::as_version_4(&common::get(dir.path(), ENTRIES, seq)[32..]))
        .collect();
    let leaves: Vec<[u8; 32]> = old.iter().map(|b| merkle::leaf_hash(b)).collect();
    let db = common::raw(dir.path());
    let txn = db.begin_write().unwrap();
    {
        let mut entries = txn.open_table(ENTRIES).unwrap();
        let mut chain = [0u8; 32];
        for (seq, (bytes, leaf)) in old.iter().zip(&leaves).enumerate() {
            chain = merkle::chain_hash(&chain, leaf);
            let value = [chain.as_slice(), bytes].concat();
            entries.insert(seq as u64, value.as_slice()).unwrap();
        }
        let mut nodes = txn.open_table(MERKLE).unwrap();
        let node = merkle::node_hash(&leaves[0], &leaves[1]);
        nodes.insert(1, node.as_slice()).unwrap();
        let mut checkpoints = txn.open_table(CHECKPOINTS).unwrap();
        checkpoints.retain(|_, _| false).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let report = verify_dir(dir.path()).unwrap();
    assert_eq!(report.entries, 2);
    assert_eq!(report.source_entries, 0);
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    let entry = store.entry(1).unwrap().unwrap();
    assert_eq!(store.entry_bytes(1).unwrap().unwrap()[0], 4);
    assert_eq!(entry.code, None);
    assert_eq!(entry.resource, common::entry(1).resource);
}

#[test]
fn refuses_an_entry_whose_code_is_malformed_or_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let stored = log.put_source("python", PY).unwrap();
    let append = |language: &str, digest: &str| {
        log.append(&cordon_audit::Entry {
            code: Some(CodeRef {
                language: language.into(),
                digest: digest.into(),
            }),
            ..common::entry(1)
        })
    };
    let upper = stored.digest.to_uppercase();
    let short = &stored.digest[..63];
    let not_hex = format!("{}g", &stored.digest[..63]);
    for digest in [upper.as_str(), short, not_hex.as_str(), ""] {
        assert!(
            matches!(
                append("python", digest),
                Err(AppendError::BadCode(
                    cordon_audit::CodeRefError::BadDigest { .. }
                ))
            ),
            "`{digest}` was accepted"
        );
    }
    let long = "x".repeat(33);
    for language in ["", long.as_str(), "Python", "py thon"] {
        assert!(
            matches!(
                append(language, &stored.digest),
                Err(AppendError::BadCode(
                    cordon_audit::CodeRefError::BadLanguage { .. }
                ))
            ),
            "`{language}` was accepted"
        );
    }
    // Well formed, but not a source the log holds: the log could not show it.
    let other = cordon_audit::source::digest("print('hi')");
    assert!(matches!(
        append("python", &other),
        Err(AppendError::UnknownSource { digest, .. }) if digest == other
    ));
    assert_eq!(log.head(), None, "nothing was appended");
    append("python", &stored.digest).unwrap();
}

#[test]
fn stores_a_source_once_and_reads_it_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let first = log.put_source("python", PY).unwrap();
    let again = log.put_source("python", PY).unwrap();
    assert_eq!(first, again);
    assert_eq!(
        log.source(&first.digest)
            .unwrap()
            .and_then(StoredSource::text),
        Some(PY.to_owned())
    );
    assert_eq!(
        log.source(&cordon_audit::source::digest("x")).unwrap(),
        None
    );
    // Bounded.
    let big = "#".repeat(cordon_audit::MAX_SOURCE_LEN + 1);
    assert!(matches!(
        log.put_source("python", &big),
        Err(SourceError::TooLarge { .. })
    ));
    assert!(matches!(
        log.put_source("", PY),
        Err(SourceError::BadLanguage(_))
    ));
    log.close().unwrap();

    // Read-only, as `cordon audit` reads it.
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store
            .source(&first.digest)
            .unwrap()
            .and_then(StoredSource::text),
        Some(PY.to_owned())
    );
    drop(store);

    // A writer again: the source is known (an entry may name it at once), stored once.
    let log = common::open(dir.path());
    assert_eq!(log.put_source("python", PY).unwrap(), first);
    log.append(&cordon_audit::Entry {
        code: Some(first.clone()),
        ..common::entry(1)
    })
    .unwrap();
    log.close().unwrap();
    let db = common::raw(dir.path());
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.open_table(SOURCES).unwrap().len().unwrap(), 1);
    drop(txn);
    drop(db);
    let report = verify_dir(dir.path()).unwrap();
    assert_eq!((report.sources, report.source_entries), (1, 1));
}

#[test]
fn a_log_that_never_ran_source_has_no_source_table_and_verifies() {
    let dir = common::filled(3);
    let report = verify_dir(dir.path()).unwrap();
    assert_eq!((report.sources, report.source_entries), (0, 0));
    let db = common::raw(dir.path());
    let txn = db.begin_read().unwrap();
    assert!(
        txn.open_table(SOURCES).is_err(),
        "opening created the table"
    );
    drop(txn);
    drop(db);
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store.source(&cordon_audit::source::digest(PY)).unwrap(),
        None
    );
}

#[test]
fn verify_fails_when_a_stored_source_is_changed() {
    let (dir, code) = source_run_log();
    assert_eq!(verify_dir(dir.path()).unwrap().source_entries, 2);
    tamper_sources(dir.path(), |t| {
        let value = [
            &[6u8][..],
            b"python",
            b"def main(input):\n    return 'evil'\n",
        ]
        .concat();
        t.insert(code.digest.as_str(), value.as_slice()).unwrap();
    });
    let err = verify_dir(dir.path()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::SourceChanged { digest } if *digest == code.digest),
        "{err:?}"
    );
    let place = err.place().unwrap();
    assert_eq!(
        (place.table, place.key.as_deref()),
        ("sources", Some(code.digest.as_str()))
    );
}

#[test]
fn verify_fails_when_a_source_an_entry_names_is_deleted() {
    let (dir, code) = source_run_log();
    tamper_sources(dir.path(), |t| {
        t.remove(code.digest.as_str()).unwrap();
    });
    let err = verify_dir(dir.path()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::SourceMissing { digest, seq: 0 } if *digest == code.digest),
        "{err:?}"
    );
}

#[test]
fn the_same_text_runs_as_two_languages_without_either_run_failing() {
    // A polyglot (or an empty file) is one text: a run of it as JavaScript must not fail
    // because another tenant ran it as Python first, and each entry says which it ran as.
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let text = "1";
    let py = log.put_source("python", text).unwrap();
    let js = log.put_source("javascript", text).unwrap();
    assert_eq!(py.digest, js.digest);
    assert_eq!(
        (py.language.as_str(), js.language.as_str()),
        ("python", "javascript")
    );
    for code in [&py, &js] {
        log.append(&cordon_audit::Entry {
            code: Some(code.clone()),
            ..common::entry(1)
        })
        .unwrap();
    }
    log.close().unwrap();
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store.source(&py.digest).unwrap(),
        Some(StoredSource::Text(text.into()))
    );
    assert_eq!(store.entry(0).unwrap().unwrap().code, Some(py.clone()));
    assert_eq!(store.entry(1).unwrap().unwrap().code, Some(js));
    drop(store);
    let report = verify_dir(dir.path()).unwrap();
    assert_eq!((report.sources, report.source_entries), (1, 2));
}

#[test]
fn reads_and_verifies_a_source_row_that_names_its_language() {
    // Rows written before sources were stored by text alone hold a language: still read.
    let (dir, code) = source_run_log();
    tamper_sources(dir.path(), |t| {
        let value = [&[6u8][..], b"python", PY.as_bytes()].concat();
        t.insert(code.digest.as_str(), value.as_slice()).unwrap();
    });
    assert_eq!(verify_dir(dir.path()).unwrap().source_entries, 2);
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store.source(&code.digest).unwrap(),
        Some(StoredSource::Text(PY.into()))
    );
    drop(store);
    // A row whose language part is not a name is a changed row.
    tamper_sources(dir.path(), |t| {
        let value = [&[3u8][..], b"P Y", PY.as_bytes()].concat();
        t.insert(code.digest.as_str(), value.as_slice()).unwrap();
    });
    assert!(matches!(
        verify_dir(dir.path()).unwrap_err(),
        VerifyError::SourceChanged { .. }
    ));
}

#[test]
fn finds_the_entries_of_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let py = log.put_source("python", PY).unwrap();
    let js = log
        .put_source("javascript", "function main(input) { return 1; }")
        .unwrap();
    for (i, code) in [Some(&py), Some(&js), None, Some(&py)]
        .into_iter()
        .enumerate()
    {
        log.append(&cordon_audit::Entry {
            code: code.cloned(),
            ..common::entry(i as u64)
        })
        .unwrap();
    }
    log.close().unwrap();
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    let found = store
        .query(&Query {
            code_digest: Some(py.digest.clone()),
            ..Query::default()
        })
        .unwrap();
    let seqs: Vec<u64> = found.iter().map(|e| e.entry.seq).collect();
    assert_eq!(seqs, [0, 3]);
}

/// Whether any byte of any file under `dir` holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    common::files_under(dir).iter().any(|f| {
        let bytes = std::fs::read(f).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

const NAMES_PATIENT: &str = "from cordon_guest import records\n\ndef main(input):\n    return records.get(\"patients\", \"p-1042\")\n";
const NAMES_ANOTHER: &str = "from cordon_guest import records\n\ndef main(input):\n    return records.get(\"patients\", \"p-10420\")\n";

#[test]
fn no_file_holds_a_source_text_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let code = log.put_source("python", NAMES_PATIENT).unwrap();
    log.append(&cordon_audit::Entry {
        code: Some(code.clone()),
        ..common::entry(1)
    })
    .unwrap();
    log.close().unwrap();
    for needle in [&b"p-1042"[..], b"records.get", NAMES_PATIENT.as_bytes()] {
        assert!(
            !any_file_holds(dir.path(), needle),
            "{:?} is in a file",
            String::from_utf8_lossy(needle)
        );
    }
    // Yet it reads back exactly, and verifies.
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store.source(&code.digest).unwrap(),
        Some(StoredSource::Text(NAMES_PATIENT.into()))
    );
    drop(store);
    assert_eq!(verify_dir(dir.path()).unwrap().sources, 1);
}

#[test]
fn erasing_a_subject_erases_the_sources_that_name_it_and_every_proof_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let named = log.put_source("python", NAMES_PATIENT).unwrap();
    let longer = log.put_source("python", NAMES_ANOTHER).unwrap();
    let unrelated = log.put_source("python", PY).unwrap();
    for (i, code) in [&named, &longer, &unrelated].into_iter().enumerate() {
        log.append(&cordon_audit::Entry {
            code: Some(code.clone()),
            ..common::entry(i as u64)
        })
        .unwrap();
    }
    log.erase_subjects(&[Subject::Record {
        collection: "patients".into(),
        id: "p-1042".into(),
    }])
    .unwrap();
    // At once, with the log open: the source that named the record cannot be read...
    assert_eq!(
        log.source(&named.digest).unwrap(),
        Some(StoredSource::Erased)
    );
    // ...one naming a longer id, and one naming none, can.
    assert_eq!(
        log.source(&longer.digest).unwrap(),
        Some(StoredSource::Text(NAMES_ANOTHER.into()))
    );
    assert_eq!(
        log.source(&unrelated.digest).unwrap(),
        Some(StoredSource::Text(PY.into()))
    );
    // A run of it after the erasure names it again: it is stored afresh, under a new key.
    let again = log.put_source("python", NAMES_PATIENT).unwrap();
    assert_eq!(again, named);
    assert_eq!(
        log.source(&named.digest).unwrap(),
        Some(StoredSource::Text(NAMES_PATIENT.into()))
    );
    log.erase_subject(&Subject::User("p-1042".into())).unwrap();
    log.close().unwrap();

    let report = verify_dir(dir.path()).unwrap();
    assert_eq!(
        (report.sources, report.erased_sources, report.source_entries),
        (2, 1, 3)
    );
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(
        store.source(&named.digest).unwrap(),
        Some(StoredSource::Erased)
    );
    // Every decision naming it is still there, still naming its digest.
    let found = store
        .query(&Query {
            code_digest: Some(named.digest.clone()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[test]
fn verify_fails_when_a_sources_key_is_deleted_or_a_sealed_row_is_forged() {
    // The key deleted outside the log: the subject-key log says it is live.
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let code = log.put_source("python", PY).unwrap();
    log.close().unwrap();
    assert_eq!(verify_dir(dir.path()).unwrap().sources, 1);
    let keys = redb::Database::open(dir.path().join(cordon_audit::KEYS_FILE)).unwrap();
    let txn = keys.begin_write().unwrap();
    {
        let mut table = txn
            .open_table(TableDefinition::<&[u8], &[u8]>::new("subject_keys"))
            .unwrap();
        assert_eq!(table.len().unwrap(), 1, "the source's key is the only one");
        table.retain(|_, _| false).unwrap();
    }
    txn.commit().unwrap();
    drop(keys);
    let err = verify_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, VerifyError::SubjectKeyDeleted { .. }),
        "{err:?}"
    );

    // A sealed row no key opens, which no signed erasure names: not passed off as erased.
    let (dir, code2) = source_run_log();
    assert_eq!(code, code2);

    let forged = cordon_audit::source::digest("forged");
    tamper_sources(dir.path(), |t| {
        t.insert(forged.as_str(), [0xE5u8, 1, 2, 3].as_slice())
            .unwrap();
    });
    let err = verify_dir(dir.path()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::SourceKeyMissing { digest } if *digest == forged),
        "{err:?}"
    );

    // A sealed row changed in place: it opens to another text.
    let (dir, code) = source_run_log();
    tamper_sources(dir.path(), |t| {
        let mut value = t
            .get(code.digest.as_str())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        value[5] ^= 1;
        t.insert(code.digest.as_str(), value.as_slice()).unwrap();
    });
    assert!(matches!(
        verify_dir(dir.path()).unwrap_err(),
        VerifyError::SourceChanged { .. }
    ));
}
