//! Full verification of a stored log.
//!
//! One pass over the entries recomputes every leaf hash, the hash chain and the Merkle tree,
//! and checks, in order of sequence number: that no entry is missing, that each entry carries
//! its own sequence number (else the entries were reordered), that time never goes backwards,
//! that each entry matches its stored chain hash, and that at every checkpoint the recomputed
//! root and chain head are the signed ones. Every checkpoint's signature is checked first, and
//! at the end every stored Merkle node (which proofs are built from) is compared with the
//! recomputed tree. The first failure is reported with the sequence number it concerns.
//!
//! Then the subject-key table, which decides what a query by user or record returns, is
//! checked against its own hash chain and the heads the checkpoints sign ([`crate::keylog`]),
//! and the `meta` table against the public key. Nothing a query, proof or bundle reads is left
//! unchecked.
//!
//! Last, the sources of source runs ([`crate::source`]): every stored source must hash to the
//! digest it is stored under, and every source an entry names must be stored, in the language
//! the entry names. A missing source is a failure, not a warning: the writer refuses an entry
//! whose source it does not hold, so in a log file a named source can only be missing if it
//! was deleted. (An exported [`crate::Bundle`] carries entries without their sources; its
//! entries still name each source's digest, so whoever holds the text can check it.)
//!
//! Verification never panics: a store so damaged that reading it fails (or that the storage
//! engine panics on) is a [`VerifyError::Corrupt`] naming the table and, where known, the key.
//!
//! What this cannot catch on its own: entries after the latest checkpoint removed together
//! with nothing else (a truncation back to a checkpoint), or the whole store replaced. Keep
//! the latest checkpoint somewhere else (`cordon audit checkpoint`) and pass it as trusted
//! ([`Store::verify_with`]) to rule those out.
//!
//! The pass runs on every core, a window of [`WINDOW`] entries at a time, and reports exactly
//! what one thread walking the entries in order would. A window needs nothing from the
//! windows before it but the stored chain hash and time of the entry just before it: each
//! entry's chain hash is recomputed from its predecessor's *stored* one, which equals the
//! recomputed one whenever every earlier entry passed, and the first entry whose chain hash
//! does not follow is the same either way. Windows are aligned to their size, so a window's
//! entries form perfect subtrees of the Merkle tree; a worker computes and checks those
//! nodes, and notes the window's partial frontier at every checkpoint inside it. This thread
//! then takes the windows in order: it joins each one's subtree into the whole tree (checking
//! the nodes above the window), checks the checkpoints against the frontier, and reports the
//! first failure in sequence order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use redb::{AccessGuard, Range, ReadOnlyTable, ReadTransaction, ReadableTable, TableError};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::encoding::{self, DecodeError};
use crate::keylog::{self, Event};
use crate::merkle::{self, Frontier};
use crate::source::{self, CodeRef, StoredSource};
use crate::store::{self, CHECKPOINTS, Layout, META, ReadError, SOURCES, SUBJECT_LOG, Store, Tree};
use crate::{Hash, PublicKey};

/// The level of a window's subtree: a window holds `2^WINDOW_LEVEL` entries.
const WINDOW_LEVEL: u32 = 14;
/// Entries per unit of parallel work; bounds memory whatever the log size.
const WINDOW: u64 = 1 << WINDOW_LEVEL;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many entries were checked.
    pub entries: u64,
    /// The chain hash of the last entry.
    pub head: Option<Hash>,
    /// The Merkle root of all entries.
    pub root: Hash,
    /// How many signed checkpoints were checked.
    pub checkpoints: u64,
    /// The latest checkpoint.
    pub latest_checkpoint: Option<Checkpoint>,
    /// Entries after the latest checkpoint: chained, but not yet covered by a signature.
    pub unanchored: u64,
    /// Live subject commitment keys checked against the subject-key log.
    pub subject_keys: u64,
    /// Events in the subject-key log (keys created and erased).
    pub subject_events: u64,
    /// Subject-key events after the latest checkpoint that covers the subject-key log.
    pub unanchored_subject_events: u64,
    /// Whether any checkpoint covers the subject-key log. A log written before subject keys
    /// were covered has none until its writer is next opened; until then its subject keys are
    /// checked for consistency with the event log only.
    pub subject_keys_signed: bool,
    /// Stored sources of source runs that can be read, each checked against its digest.
    pub sources: u64,
    /// Stored sources erased with a subject they named, each erasure signed (their text
    /// cannot be read, so not checked).
    pub erased_sources: u64,
    /// Entries that name a source (each found stored, readable or erased).
    pub source_entries: u64,
}

/// Where verification found the first problem: a table and, where one is known, its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The table.
    pub table: &'static str,
    /// The key in it (a sequence number, tree size, event number or subject), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The first thing found wrong with a log.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store could not be read at all.
    #[error("cannot read the log")]
    Read(#[from] ReadError),
    /// An entry is missing: the next stored entry has a higher sequence number.
    #[error("entry {seq} is missing")]
    Missing {
        /// The first missing sequence number.
        seq: u64,
    },
    /// The entry stored at one position carries another sequence number.
    #[error("entry {seq} is out of order: the entry stored there carries sequence number {found}")]
    Reordered {
        /// The position.
        seq: u64,
        /// The sequence number in the entry's bytes.
        found: u64,
    },
    /// An entry's bytes or chain hash were changed.
    #[error("entry {seq} was changed: it does not match its chain hash")]
    Changed {
        /// The entry.
        seq: u64,
    },
    /// An entry does not decode.
    #[error("entry {seq} is malformed")]
    Malformed {
        /// The entry.
        seq: u64,
        /// What is wrong.
        source: DecodeError,
    },
    /// An entry is dated before its predecessor.
    #[error("entry {seq} is dated before entry {}", seq - 1)]
    TimeReversed {
        /// The entry.
        seq: u64,
    },
    /// A checkpoint's signature does not verify.
    #[error("checkpoint at tree size {tree_size} has a bad signature")]
    BadSignature {
        /// The checkpoint's tree size.
        tree_size: u64,
    },
    /// A stored checkpoint cannot be parsed.
    #[error("checkpoint stored at tree size {tree_size} is malformed")]
    MalformedCheckpoint {
        /// The key it is stored under.
        tree_size: u64,
    },
    /// The entries do not produce a checkpoint's signed root and chain head.
    #[error(
        "entries {first_seq}..{tree_size} do not match the checkpoint at tree size {tree_size}"
    )]
    CheckpointMismatch {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// The first entry after the previous checkpoint that matched.
        first_seq: u64,
    },
    /// A checkpoint covers entries that are not in the store.
    #[error(
        "log truncated: the checkpoint at tree size {tree_size} covers entries from {entries} on, which are missing"
    )]
    Truncated {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// How many entries are present.
        entries: u64,
    },
    /// A trusted checkpoint passed in is not matched by the store.
    #[error("the store does not contain the trusted checkpoint at tree size {tree_size}")]
    TrustedMismatch {
        /// Its tree size.
        tree_size: u64,
    },
    /// A stored Merkle node differs from the recomputed tree (proofs would fail).
    #[error("merkle node at level {level}, index {index} (entries from {first_seq}) is wrong")]
    BadNode {
        /// Its level.
        level: u32,
        /// Its index.
        index: u64,
        /// The first entry under it.
        first_seq: u64,
    },
    /// A Merkle node that the entries complete is not stored.
    #[error("merkle node at level {level}, index {index} (entries from {first_seq}) is missing")]
    MissingNode {
        /// Its level.
        level: u32,
        /// Its index.
        index: u64,
        /// The first entry under it.
        first_seq: u64,
    },
    /// A stored Merkle node is not part of the tree the entries make.
    #[error("stored merkle node at level {level}, index {index} is not part of the tree")]
    ExtraNode {
        /// Its level.
        level: u32,
        /// Its index.
        index: u64,
    },
    /// Merkle node hashes are stored under an entry that does not complete them (a format 2
    /// store keeps the nodes an entry completes in one row under its sequence number).
    #[error("the merkle nodes stored under entry {seq} are not part of the tree")]
    StrayNodes {
        /// The sequence number they are stored under.
        seq: u64,
    },
    /// A verification thread panicked.
    #[error("a verification thread failed")]
    WorkerPanicked,
    /// The store could not be read at a place (its pages are damaged, or reading them made
    /// the storage engine fail).
    #[error("the `{table}` table is unreadable{}: {detail}", key.as_ref().map(|k| format!(" at `{k}`")).unwrap_or_default())]
    Corrupt {
        /// The table being read.
        table: &'static str,
        /// The key being read, if known.
        key: Option<String>,
        /// What failed.
        detail: String,
    },
    /// Looking a key up does not find the row that walking the table finds there: a damaged
    /// index page routes lookups elsewhere, so readers that look rows up (time bounds, proofs)
    /// would see another log than verification walked.
    #[error("looking up {key} in the `{table}` table does not find the row stored there")]
    LookupMismatch {
        /// The table.
        table: &'static str,
        /// The key.
        key: u64,
    },
    /// A `meta` row does not match: the store's recorded public key is missing or is not the
    /// one verification uses.
    #[error("the `meta` row `{name}` is missing or does not match")]
    Meta {
        /// The row.
        name: &'static str,
    },
    /// Checkpoints cover the subject-key log, but the store has no `subject_log` table.
    #[error(
        "the `subject_log` table is missing, but the checkpoint at tree size {tree_size} covers it"
    )]
    SubjectLogMissing {
        /// The first checkpoint that covers it.
        tree_size: u64,
    },
    /// An event of the subject-key log is missing: the next stored one has a higher number.
    #[error("subject-key event {index} is missing")]
    SubjectEventMissing {
        /// The first missing event.
        index: u64,
    },
    /// An event of the subject-key log does not parse.
    #[error("subject-key event {index} is malformed")]
    SubjectEventMalformed {
        /// The event.
        index: u64,
    },
    /// An event of the subject-key log does not match its chain hash.
    #[error("subject-key event {index} was changed: it does not match its chain hash")]
    SubjectEventChanged {
        /// The event.
        index: u64,
    },
    /// An event creates a key that is live, or erases one that is not.
    #[error("subject-key event {index} {}", if *created { "creates a key that already exists" } else { "erases a key that does not exist" })]
    SubjectEventInconsistent {
        /// The event.
        index: u64,
        /// Whether it is a creation (else an erasure).
        created: bool,
    },
    /// An erasure event not covered by a checkpoint: a real erasure is signed in the commit
    /// that makes it, so this one was added afterwards.
    #[error("subject-key event {index} erases a key but no checkpoint covers it")]
    UnsignedErasure {
        /// The event.
        index: u64,
    },
    /// The subject-key log does not produce a checkpoint's signed event count and head.
    #[error("the subject-key log does not match the checkpoint at tree size {tree_size}")]
    SubjectKeysMismatch {
        /// The checkpoint's tree size.
        tree_size: u64,
    },
    /// A `subject_keys` row is not one the subject-key log created: its subject or key was
    /// changed, or it was added.
    #[error("subject key of `{subject}` was changed or added outside the log")]
    SubjectKeyChanged {
        /// The row's subject.
        subject: String,
    },
    /// An entry names code that is not well formed (a digest that is not 64 lower-case hex
    /// digits, or a language that is not a plain short name): the writer never writes one.
    #[error("entry {seq} names malformed code")]
    BadCode {
        /// The entry.
        seq: u64,
        /// What is wrong.
        source: source::CodeRefError,
    },
    /// A source an entry names is not stored: the writer stores a source before any entry
    /// can name it, so it was deleted.
    #[error("source `{digest}`, named by entry {seq}, is not stored in the log")]
    SourceMissing {
        /// The source's digest.
        digest: String,
        /// The first entry that names it.
        seq: u64,
    },
    /// A stored source does not hash to the digest it is stored under, or its row does not
    /// parse: its text (or its key) was changed.
    #[error("stored source `{digest}` was changed: its text does not hash to its digest")]
    SourceChanged {
        /// The digest it is stored under.
        digest: String,
    },
    /// A stored source is sealed under a key that is gone, and no signed erasure names it: its
    /// key was deleted outside the log (or the row was replaced).
    #[error("stored source `{digest}` cannot be read: its key is gone and no erasure names it")]
    SourceKeyMissing {
        /// The digest it is stored under.
        digest: String,
    },
    /// A key the subject-key log created and never erased is not in `subject_keys`: it was
    /// deleted (or changed) outside the log.
    #[error("the subject key created by subject-key event {index} was deleted outside the log")]
    SubjectKeyDeleted {
        /// The event that created it.
        index: u64,
    },
}

impl VerifyError {
    /// The sequence number of the first entry found wrong, when one can be named.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            VerifyError::Missing { seq }
            | VerifyError::Reordered { seq, .. }
            | VerifyError::Changed { seq }
            | VerifyError::Malformed { seq, .. }
            | VerifyError::TimeReversed { seq }
            | VerifyError::LookupMismatch {
                table: "entries",
                key: seq,
            } => Some(*seq),
            VerifyError::CheckpointMismatch { first_seq, .. } => Some(*first_seq),
            VerifyError::BadNode { first_seq, .. } | VerifyError::MissingNode { first_seq, .. } => {
                Some(*first_seq)
            }
            VerifyError::Truncated { entries, .. } => Some(*entries),
            VerifyError::BadCode { seq, .. } => Some(*seq),
            VerifyError::SourceMissing { .. }
            | VerifyError::SourceChanged { .. }
            | VerifyError::SourceKeyMissing { .. } => None,
            VerifyError::Read(_)
            | VerifyError::BadSignature { .. }
            | VerifyError::MalformedCheckpoint { .. }
            | VerifyError::TrustedMismatch { .. }
            | VerifyError::ExtraNode { .. }
            | VerifyError::StrayNodes { .. }
            | VerifyError::WorkerPanicked
            | VerifyError::Corrupt { .. }
            | VerifyError::LookupMismatch { .. }
            | VerifyError::Meta { .. }
            | VerifyError::SubjectLogMissing { .. }
            | VerifyError::SubjectEventMissing { .. }
            | VerifyError::SubjectEventMalformed { .. }
            | VerifyError::SubjectEventChanged { .. }
            | VerifyError::SubjectEventInconsistent { .. }
            | VerifyError::UnsignedErasure { .. }
            | VerifyError::SubjectKeysMismatch { .. }
            | VerifyError::SubjectKeyChanged { .. }
            | VerifyError::SubjectKeyDeleted { .. } => None,
        }
    }

    /// The table and key where the problem was found, when one can be named.
    pub fn place(&self) -> Option<Place> {
        let at = |table: &'static str, key: String| {
            Some(Place {
                table,
                key: Some(key),
            })
        };
        match self {
            VerifyError::Read(e) => match e {
                ReadError::NotALog { table } => Some(Place { table, key: None }),
                ReadError::UnknownFormat { .. } => at("meta", "format".to_owned()),
                ReadError::Malformed { seq, .. } | ReadError::MissingEntry { seq } => {
                    at("entries", seq.to_string())
                }
                ReadError::BadNode { level, index } => {
                    at("merkle", format!("level {level} index {index}"))
                }
                ReadError::BadSubjectEvent { index } => at("subject_log", index.to_string()),
                ReadError::BadSource { digest } => at("sources", digest.clone()),
                ReadError::OpenKeys { .. } | ReadError::KeysClosed => Some(Place {
                    table: "subject_keys",
                    key: None,
                }),
                ReadError::Open { .. } | ReadError::Storage(_) => None,
            },
            VerifyError::WorkerPanicked => Some(Place {
                table: "entries",
                key: None,
            }),
            VerifyError::Missing { seq }
            | VerifyError::Reordered { seq, .. }
            | VerifyError::Changed { seq }
            | VerifyError::Malformed { seq, .. }
            | VerifyError::TimeReversed { seq } => at("entries", seq.to_string()),
            VerifyError::Truncated { entries, .. } => at("entries", entries.to_string()),
            VerifyError::CheckpointMismatch { first_seq, .. } => {
                at("entries", first_seq.to_string())
            }
            VerifyError::BadSignature { tree_size }
            | VerifyError::MalformedCheckpoint { tree_size }
            | VerifyError::TrustedMismatch { tree_size }
            | VerifyError::SubjectKeysMismatch { tree_size } => {
                at("checkpoints", tree_size.to_string())
            }
            VerifyError::BadNode { level, index, .. }
            | VerifyError::MissingNode { level, index, .. }
            | VerifyError::ExtraNode { level, index } => {
                at("merkle", format!("level {level} index {index}"))
            }
            VerifyError::StrayNodes { seq } => at("merkle", seq.to_string()),
            VerifyError::LookupMismatch { table, key } => at(table, key.to_string()),
            VerifyError::Corrupt { table, key, .. } => Some(Place {
                table,
                key: key.clone(),
            }),
            VerifyError::Meta { name } => at("meta", (*name).to_owned()),
            VerifyError::SubjectLogMissing { .. } => Some(Place {
                table: "subject_log",
                key: None,
            }),
            VerifyError::SubjectEventMissing { index }
            | VerifyError::SubjectEventMalformed { index }
            | VerifyError::SubjectEventChanged { index }
            | VerifyError::SubjectEventInconsistent { index, .. }
            | VerifyError::UnsignedErasure { index }
            | VerifyError::SubjectKeyDeleted { index } => at("subject_log", index.to_string()),
            VerifyError::SubjectKeyChanged { subject } => at("subject_keys", subject.clone()),
            VerifyError::BadCode { seq, .. } => at("entries", seq.to_string()),
            VerifyError::SourceMissing { digest, .. }
            | VerifyError::SourceChanged { digest }
            | VerifyError::SourceKeyMissing { digest } => at("sources", digest.clone()),
        }
    }
}

/// A storage failure while reading `table` (at `key`) as a report.
fn corrupt(table: &'static str, key: Option<u64>) -> impl Fn(redb::StorageError) -> VerifyError {
    move |e| VerifyError::Corrupt {
        table,
        key: key.map(|k| k.to_string()),
        detail: e.to_string(),
    }
}

/// A failure to open `table` as a report (a missing table is a store that is not a log).
fn open_failed(table: &'static str) -> impl Fn(TableError) -> VerifyError {
    move |e| match e {
        TableError::TableDoesNotExist(_) => VerifyError::Read(ReadError::from(e)),
        e => VerifyError::Corrupt {
            table,
            key: None,
            detail: e.to_string(),
        },
    }
}

/// What a panic carried, for a report.
fn panic_detail(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("reading it failed inside the storage engine ({message})")
}

impl From<redb::StorageError> for VerifyError {
    fn from(e: redb::StorageError) -> VerifyError {
        VerifyError::Read(ReadError::Storage(e.into()))
    }
}

/// Verifies the log at `path` (opened read-only) with the checkpoint public key `key`.
///
/// See [`Store::verify`]. Never panics: a file too damaged to open is a [`VerifyError`].
pub fn verify(path: &std::path::Path, key: &PublicKey) -> Result<VerifyReport, VerifyError> {
    verify_file(path, key, None)
}

/// Like [`verify`], and also requires the log to match `trusted` (see [`Store::verify_with`]).
pub fn verify_file(
    path: &std::path::Path,
    key: &PublicKey,
    trusted: Option<&Checkpoint>,
) -> Result<VerifyReport, VerifyError> {
    let store = std::panic::catch_unwind(|| Store::open(path)).map_err(|payload| {
        VerifyError::Corrupt {
            table: "meta",
            key: None,
            detail: panic_detail(payload.as_ref()),
        }
    })??;
    store.verify_with(key, trusted)
}

impl Store {
    /// Verifies the whole log: chain, tree, checkpoint signatures and stored nodes.
    pub fn verify(&self, key: &PublicKey) -> Result<VerifyReport, VerifyError> {
        self.verify_with(key, None)
    }

    /// Like [`Store::verify`], and also requires the store to match `trusted`, a checkpoint
    /// kept elsewhere (its signature is checked too).
    ///
    /// Never panics: should the storage engine panic on a damaged page, that is reported as
    /// [`VerifyError::Corrupt`] in the table being read.
    pub fn verify_with(
        &self,
        key: &PublicKey,
        trusted: Option<&Checkpoint>,
    ) -> Result<VerifyReport, VerifyError> {
        let reading = std::sync::Mutex::new("checkpoints");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.verify_inner(key, trusted, &reading)
        }));
        let table = *reading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match outcome {
            Ok(Err(VerifyError::Read(ReadError::Storage(e)))) => Err(VerifyError::Corrupt {
                table,
                key: None,
                detail: e.to_string(),
            }),
            Ok(result) => result,
            Err(payload) => Err(VerifyError::Corrupt {
                table,
                key: None,
                detail: panic_detail(payload.as_ref()),
            }),
        }
    }

    fn verify_inner(
        &self,
        key: &PublicKey,
        trusted: Option<&Checkpoint>,
        reading: &std::sync::Mutex<&'static str>,
    ) -> Result<VerifyReport, VerifyError> {
        let set_reading = |table: &'static str| {
            *reading
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = table;
        };
        let txn = self.begin_read()?;
        set_reading("checkpoints");
        let mut checkpoints = Vec::new();
        {
            let table = txn
                .open_table(CHECKPOINTS)
                .map_err(open_failed("checkpoints"))?;
            let mut previous = None;
            for row in table.iter().map_err(corrupt("checkpoints", None))? {
                let (k, v) = row.map_err(corrupt("checkpoints", previous))?;
                let tree_size = k.value();
                let checkpoint = Checkpoint::from_stored(v.value())
                    .filter(|c| c.tree_size == tree_size)
                    .ok_or(VerifyError::MalformedCheckpoint { tree_size })?;
                checkpoint
                    .verify(key)
                    .map_err(|_| VerifyError::BadSignature { tree_size })?;
                checkpoints.push(checkpoint);
                previous = Some(tree_size);
            }
        }
        if let Some(trusted) = trusted {
            trusted.verify(key).map_err(|_| VerifyError::BadSignature {
                tree_size: trusted.tree_size,
            })?;
            if !checkpoints.iter().any(|c| c.tree_size == trusted.tree_size) {
                checkpoints.push(trusted.clone());
                checkpoints.sort_by_key(|c| c.tree_size);
            }
        }

        set_reading("entries");
        let tree = self.tree(&txn)?;
        let len = tree
            .entries
            .last()
            .map_err(corrupt("entries", None))?
            .map_or(0, |(k, _)| k.value() + 1);
        let sizes: Vec<u64> = checkpoints.iter().map(|c| c.tree_size).collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(usize::try_from(len.div_ceil(WINDOW)).unwrap_or(usize::MAX))
            .max(1);
        let next_window = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let (send, receive) = mpsc::channel();
        let walked = std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tree, sizes, next_window, stop) = (&tree, &sizes, &next_window, &stop);
                let send = send.clone();
                handles.push(s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let start = next_window.fetch_add(WINDOW, Ordering::Relaxed);
                        if start >= len {
                            break;
                        }
                        let window = check_window(tree, sizes, start, len.min(start + WINDOW));
                        if send.send((start, window)).is_err() {
                            break;
                        }
                    }
                }));
            }
            drop(send);
            let mut walk = Walk {
                frontier: Frontier::default(),
                high: HighNodes::new(&tree),
                checkpoints: checkpoints.iter().peekable(),
                trusted,
                previous_checkpoint: 0,
                chain: [0u8; 32],
                codes: HashMap::new(),
                code_entries: 0,
            };
            // Windows finish out of order; each is joined once all before it are.
            let mut finished = BTreeMap::new();
            let mut start = 0u64;
            let result = loop {
                if start >= len {
                    break Ok(walk);
                }
                let Some(window) = finished.remove(&start) else {
                    match receive.recv() {
                        Ok((at, window)) => {
                            finished.insert(at, window);
                            continue;
                        }
                        // Every worker has stopped short of this window: one panicked.
                        Err(_) => break Err(VerifyError::WorkerPanicked),
                    }
                };
                if let Err(e) = walk.join(start, len.min(start + WINDOW), window) {
                    break Err(e);
                }
                start += WINDOW;
            };
            stop.store(true, Ordering::Relaxed);
            // Joined here, a worker's panic is an error rather than a panic of the scope.
            let panicked = handles.into_iter().any(|h| h.join().is_err());
            if panicked && result.is_ok() {
                return Err(VerifyError::WorkerPanicked);
            }
            result
        });
        let Walk {
            frontier,
            high,
            checkpoints: mut remaining,
            chain,
            codes,
            code_entries,
            ..
        } = walked?;
        let expected = frontier.size();
        if let Some(c) = remaining.next() {
            return Err(VerifyError::Truncated {
                tree_size: c.tree_size,
                entries: expected,
            });
        }
        if let Some(trusted) = trusted {
            let stored = checkpoints
                .iter()
                .find(|c| c.tree_size == trusted.tree_size);
            if stored.is_some_and(|c| c.root != trusted.root || c.chain_head != trusted.chain_head)
            {
                return Err(VerifyError::TrustedMismatch {
                    tree_size: trusted.tree_size,
                });
            }
        }
        set_reading("merkle");
        high.finish(expected)?;

        set_reading("subject_log");
        // A trusted checkpoint covers a prefix of the subject-key log even where a later one
        // (signed after an erasure, with no entry since) is stored at its tree size.
        let mut signed = checkpoints.clone();
        signed.extend(trusted.cloned());
        let subjects = check_subject_keys(self, &txn, &signed, &set_reading)?;
        set_reading("meta");
        check_meta(&txn, key)?;
        set_reading("sources");
        let sources = check_sources(self, &txn, &codes, &subjects.erased_sources)?;

        let latest = checkpoints.last().cloned();
        Ok(VerifyReport {
            subject_keys: subjects.keys,
            subject_events: subjects.events,
            unanchored_subject_events: subjects.unanchored,
            subject_keys_signed: subjects.signed,
            sources: sources.readable,
            erased_sources: sources.erased,
            source_entries: code_entries,
            entries: expected,
            head: (expected > 0).then_some(Hash(chain)),
            root: Hash(frontier.root()),
            checkpoints: checkpoints.len() as u64,
            unanchored: expected - latest.as_ref().map_or(0, |c| c.tree_size),
            latest_checkpoint: latest,
        })
    }
}

/// How many stored sources were checked, and how many are erased.
struct SourceCount {
    readable: u64,
    erased: u64,
}

/// Checks every stored source: a readable one against its digest, an unreadable (sealed,
/// key gone) one against the signed erasures (`erased_rows`); then that every source an
/// entry names (`codes`, with the first entry naming each) is well formed and stored, in the
/// order of those entries.
fn check_sources(
    store: &Store,
    txn: &ReadTransaction,
    codes: &HashMap<CodeRef, u64>,
    erased_rows: &HashSet<[u8; 32]>,
) -> Result<SourceCount, VerifyError> {
    let table = match txn.open_table(SOURCES) {
        Ok(table) => Some(table),
        // Created by the first source stored: a log that never ran source has none.
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(open_failed("sources")(e)),
    };
    let corrupt_at = |digest: &str| {
        let digest = digest.to_owned();
        move |e: redb::StorageError| VerifyError::Corrupt {
            table: "sources",
            key: Some(digest.clone()),
            detail: e.to_string(),
        }
    };
    let mut count = SourceCount {
        readable: 0,
        erased: 0,
    };
    if let Some(table) = &table {
        store.with_keys(|keys| -> Result<(), VerifyError> {
            for row in table.iter().map_err(corrupt("sources", None))? {
                let (k, v) = row.map_err(corrupt("sources", None))?;
                let digest = k.value();
                let key = if source::is_sealed(v.value()) {
                    crate::store::key_in(keys, &crate::subject::source_key_bytes(digest))?
                } else {
                    None
                };
                match source::open_stored(v.value(), key.as_ref()) {
                    Some(StoredSource::Text(code)) if source::digest(&code) == digest => {
                        count.readable += 1;
                    }
                    Some(StoredSource::Erased) => {
                        if !erased_rows.contains(&keylog::source_erased_row(digest)) {
                            return Err(VerifyError::SourceKeyMissing {
                                digest: digest.to_owned(),
                            });
                        }
                        count.erased += 1;
                    }
                    _ => {
                        return Err(VerifyError::SourceChanged {
                            digest: digest.to_owned(),
                        });
                    }
                }
            }
            Ok(())
        })?;
    }
    let mut named: Vec<(&CodeRef, u64)> = codes.iter().map(|(c, &seq)| (c, seq)).collect();
    named.sort_by(|a, b| (a.1, &a.0.language).cmp(&(b.1, &b.0.language)));
    for (code, seq) in named {
        code.check()
            .map_err(|source| VerifyError::BadCode { seq, source })?;
        let row = match &table {
            Some(table) => table
                .get(code.digest.as_str())
                .map_err(corrupt_at(&code.digest))?,
            None => None,
        };
        if row.is_none() {
            return Err(VerifyError::SourceMissing {
                digest: code.digest.clone(),
                seq,
            });
        }
    }
    Ok(count)
}

/// The `meta` rows: the recorded public key must be the one verification uses (the format was
/// read when the store was opened).
fn check_meta(txn: &ReadTransaction, key: &PublicKey) -> Result<(), VerifyError> {
    let meta = txn.open_table(META).map_err(open_failed("meta"))?;
    let recorded = meta
        .get("public_key")
        .map_err(corrupt("meta", None))?
        .is_some_and(|v| v.value() == key.0.as_bytes().as_slice());
    if !recorded {
        return Err(VerifyError::Meta { name: "public_key" });
    }
    Ok(())
}

/// What the check of the subject keys covered.
struct SubjectSummary {
    keys: u64,
    events: u64,
    unanchored: u64,
    signed: bool,
    /// The rows of the signed source-erasure events.
    erased_sources: HashSet<[u8; 32]>,
}

/// Replays the subject-key log (checking its chain and the heads the checkpoints sign) into
/// the set of live keys, and requires `subject_keys` to hold exactly those.
fn check_subject_keys(
    store: &Store,
    txn: &ReadTransaction,
    checkpoints: &[Checkpoint],
    set_reading: &dyn Fn(&'static str),
) -> Result<SubjectSummary, VerifyError> {
    // The signed (event count, head) pairs, in the order of the events they cover.
    let mut marks: Vec<(u64, [u8; 32], u64)> = checkpoints
        .iter()
        .filter_map(|c| c.subject_keys.map(|k| (k.events, k.head.0, c.tree_size)))
        .collect();
    marks.sort_unstable();
    let covered = marks.last().map_or(0, |m| m.0);
    let log = match txn.open_table(SUBJECT_LOG) {
        Ok(log) => Some(log),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(open_failed("subject_log")(e)),
    };
    let mut live: HashMap<[u8; 32], u64> = HashMap::new();
    let mut erased_sources = HashSet::new();
    let mut head = [0u8; 32];
    let mut next = 0u64;
    let mut marks = marks.into_iter().peekable();
    let mut check_marks = |next: u64, head: &[u8; 32]| -> Result<(), VerifyError> {
        while let Some((_, signed, tree_size)) = marks.next_if(|m| m.0 <= next) {
            if &signed != head {
                return Err(VerifyError::SubjectKeysMismatch { tree_size });
            }
        }
        Ok(())
    };
    if let Some(log) = &log {
        check_marks(0, &head)?;
        for row in log.iter().map_err(corrupt("subject_log", None))? {
            let (k, v) = row.map_err(corrupt("subject_log", Some(next)))?;
            let index = k.value();
            if index != next {
                return Err(VerifyError::SubjectEventMissing { index: next });
            }
            let event = Event::from_stored(v.value())
                .ok_or(VerifyError::SubjectEventMalformed { index })?;
            if keylog::chain(&head, event.kind, &event.row) != event.chain {
                return Err(VerifyError::SubjectEventChanged { index });
            }
            if event.kind != keylog::CREATED && index >= covered {
                return Err(VerifyError::UnsignedErasure { index });
            }
            let consistent = match event.kind {
                keylog::CREATED => live.insert(event.row, index).is_none(),
                keylog::ERASED => live.remove(&event.row).is_some(),
                // A source stored again after its erasure may be erased again.
                _ => {
                    erased_sources.insert(event.row);
                    true
                }
            };
            if !consistent {
                return Err(VerifyError::SubjectEventInconsistent {
                    index,
                    created: event.kind == keylog::CREATED,
                });
            }
            head = event.chain;
            next = index + 1;
            check_marks(next, &head)?;
        }
    }
    // A checkpoint covering more events than are stored: the log was cut back.
    if let Some((_, _, tree_size)) = marks.next() {
        return Err(match log {
            None => VerifyError::SubjectLogMissing { tree_size },
            Some(_) => VerifyError::SubjectKeysMismatch { tree_size },
        });
    }

    set_reading("subject_keys");
    // The table is in the key file (or, for a log written before key files, in the log file).
    let count = store.with_keys(|keys| check_key_rows(keys, log.is_some(), &mut live))?;
    if let Some(index) = live.values().min() {
        return Err(VerifyError::SubjectKeyDeleted { index: *index });
    }
    Ok(SubjectSummary {
        keys: count,
        events: next,
        unanchored: next - covered.min(next),
        signed: covered > 0 || checkpoints.iter().any(|c| c.subject_keys.is_some()),
        erased_sources,
    })
}

/// Requires every row of `keys` to be one the subject-key log made live (`live`, from which
/// each is removed); returns how many rows there are. Without a log, every row stands.
fn check_key_rows(
    keys: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    has_log: bool,
    live: &mut HashMap<[u8; 32], u64>,
) -> Result<u64, VerifyError> {
    let mut count = 0u64;
    for row in keys.iter().map_err(corrupt("subject_keys", None))? {
        let (subject, key) = row.map_err(|e| VerifyError::Corrupt {
            table: "subject_keys",
            key: Some(format!("after {count} rows")),
            detail: e.to_string(),
        })?;
        // Queries look keys up rather than walk the table: a lookup must find the row the
        // walk found (a damaged branch page could route it elsewhere).
        let found = keys
            .get(subject.value())
            .map_err(corrupt("subject_keys", None))?
            .is_some_and(|v| v.value() == key.value());
        if !found {
            return Err(VerifyError::SubjectKeyChanged {
                subject: crate::subject::describe(subject.value()),
            });
        }
        let row = keylog::row_hash(subject.value(), key.value());
        // In a log whose subject keys no event covers (written before they were), every row
        // stands on its own.
        if has_log && live.remove(&row).is_none() {
            return Err(VerifyError::SubjectKeyChanged {
                subject: crate::subject::describe(subject.value()),
            });
        }
        count += 1;
    }
    Ok(count)
}

/// What a worker found in one window of entries.
struct Window {
    /// The first failure, and the entry it is reported at: found checking that entry or the
    /// nodes it completes, or reading it.
    failure: Option<(u64, VerifyError)>,
    /// At each checkpoint size strictly inside the window and not after the failure: the
    /// window's frontier there and the chain hash of the entry before.
    marks: Vec<Mark>,
    /// The window's frontier at its end (when it has no failure).
    end: Frontier,
    /// The stored chain hash of its last entry.
    chain: [u8; 32],
    /// The code its entries name, each with the first entry that names it.
    codes: HashMap<CodeRef, u64>,
    /// How many of its entries name code.
    code_entries: u64,
}

struct Mark {
    size: u64,
    stack: Vec<(u32, [u8; 32])>,
    chain: [u8; 32],
}

/// Checks entries `start..end` (`start` a multiple of [`WINDOW`]) and the Merkle nodes they
/// complete up to the window's own level.
fn check_window(tree: &Tree, sizes: &[u64], start: u64, end: u64) -> Window {
    let mut window = Window {
        failure: None,
        marks: Vec::new(),
        end: Frontier::default(),
        chain: [0u8; 32],
        codes: HashMap::new(),
        code_entries: 0,
    };
    let mut at = start;
    let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        walk_window(tree, sizes, start, end, &mut at, &mut window)
    }));
    let failure = match walked {
        Ok(Ok(())) => None,
        Ok(Err(VerifyError::Read(ReadError::Storage(e)))) => Some(VerifyError::Corrupt {
            table: "entries",
            key: Some(at.to_string()),
            detail: e.to_string(),
        }),
        Ok(Err(e)) => Some(e),
        Err(payload) => Some(VerifyError::Corrupt {
            table: "entries",
            key: Some(at.to_string()),
            detail: panic_detail(payload.as_ref()),
        }),
    };
    if let Some(e) = failure {
        window.failure = Some((at, e));
    }
    window
}

fn walk_window(
    tree: &Tree,
    sizes: &[u64],
    start: u64,
    end: u64,
    at: &mut u64,
    window: &mut Window,
) -> Result<(), VerifyError> {
    // The predecessor's stored chain hash and time; if it is missing or malformed, an earlier
    // window reports that first.
    let (mut chain, mut last_time) = match start.checked_sub(1) {
        None => ([0u8; 32], 0),
        Some(before) => match tree.entries.get(before)? {
            None => ([0u8; 32], 0),
            Some(value) => match value.value().split_first_chunk::<32>() {
                Some((chain, bytes)) => (
                    *chain,
                    encoding::decode_header(bytes).map_or(0, |(_, time)| time),
                ),
                None => ([0u8; 32], 0),
            },
        },
    };
    let first_mark = sizes.partition_point(|&s| s <= start);
    let mut marks = sizes[first_mark..]
        .iter()
        .take_while(|&&s| s < end)
        .peekable();
    let mut nodes = WindowNodes::new(tree, start, end);
    let frontier = &mut window.end;
    for row in tree.entries.range(start..end)? {
        let (k, v) = row?;
        let seq = k.value();
        if seq != *at {
            return Err(VerifyError::Missing { seq: *at });
        }
        let value = v.value();
        let Some((stored, bytes)) = value.split_first_chunk::<32>() else {
            return Err(VerifyError::Malformed {
                seq,
                source: DecodeError::Truncated { at: value.len() },
            });
        };
        // Readers look entries up by sequence number (time bounds, proofs): the lookup must
        // find the row this walk found.
        let routed = tree
            .entries
            .get(seq)?
            .is_some_and(|found| found.value().get(..32) == Some(stored.as_slice()));
        if !routed {
            return Err(VerifyError::LookupMismatch {
                table: "entries",
                key: seq,
            });
        }
        let (found, time) = encoding::decode_header(bytes)
            .map_err(|source| VerifyError::Malformed { seq, source })?;
        if found != seq {
            return Err(VerifyError::Reordered { seq, found });
        }
        if time < last_time {
            return Err(VerifyError::TimeReversed { seq });
        }
        last_time = time;
        let leaf = merkle::leaf_hash(bytes);
        chain = merkle::chain_hash(&chain, &leaf);
        if &chain != stored {
            return Err(VerifyError::Changed { seq });
        }
        if let Some(code) =
            encoding::code_of(bytes).map_err(|source| VerifyError::Malformed { seq, source })?
        {
            window.codes.entry(code).or_insert(seq);
            window.code_entries += 1;
        }
        let mut failure = None;
        frontier.push(leaf, |level, index, hash| {
            if failure.is_none() {
                // Local index to the index in the whole tree.
                let index = (start >> level) + index;
                failure = nodes.check(level, index, &hash).err();
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        nodes.entry_done(seq)?;
        *at = seq + 1;
        while marks.next_if(|&&s| s == *at).is_some() {
            window.marks.push(Mark {
                size: *at,
                stack: frontier.stack().to_vec(),
                chain,
            });
        }
    }
    if *at < end {
        return Err(VerifyError::Missing { seq: *at });
    }
    // Reported with the window's last entry.
    *at = end - 1;
    nodes.window_done()?;
    window.chain = chain;
    Ok(())
}

/// The whole tree, grown a window at a time in sequence order by the joining thread.
struct Walk<'c, 't> {
    frontier: Frontier,
    high: HighNodes<'t>,
    checkpoints: std::iter::Peekable<std::slice::Iter<'c, Checkpoint>>,
    trusted: Option<&'c Checkpoint>,
    /// The tree size of the last checkpoint that matched.
    previous_checkpoint: u64,
    /// The chain hash of the last entry joined.
    chain: [u8; 32],
    /// The code the entries joined name, each with the first entry that names it.
    codes: HashMap<CodeRef, u64>,
    /// How many of the entries joined name code.
    code_entries: u64,
}

impl Walk<'_, '_> {
    /// Joins the window `start..end` (all windows before it joined): reports its failure, or
    /// a checkpoint before that, in sequence order.
    fn join(&mut self, start: u64, end: u64, window: Window) -> Result<(), VerifyError> {
        debug_assert_eq!(self.frontier.size(), start);
        // Checkpoints inside the window up to its failure (one at size `s` is checked after
        // entry `s - 1`, before entry `s`).
        let limit = window.failure.as_ref().map_or(end - 1, |(at, _)| *at);
        let mut marks = window.marks.iter();
        while let Some(c) = self.checkpoints.peek().copied() {
            if c.tree_size <= start || c.tree_size > limit {
                break;
            }
            let Some(mark) = marks.find(|m| m.size == c.tree_size) else {
                break;
            };
            self.check_checkpoint(c, self.frontier.root_with(&mark.stack), &mark.chain)?;
        }
        if let Some((_, e)) = window.failure {
            return Err(e);
        }
        let mut failure = None;
        for &(level, hash) in window.end.stack() {
            self.frontier
                .push_subtree(level, hash, |level, index, hash| {
                    if failure.is_none() {
                        failure = self.high.check(level, index, &hash).err();
                    }
                });
        }
        if let Some(e) = failure {
            return Err(e);
        }
        self.high.entry_done(end - 1)?;
        self.chain = window.chain;
        for (code, seq) in window.codes {
            self.codes.entry(code).or_insert(seq);
        }
        self.code_entries += window.code_entries;
        if let Some(c) = self.checkpoints.peek().copied()
            && c.tree_size == end
        {
            self.check_checkpoint(c, self.frontier.root(), &window.chain)?;
        }
        Ok(())
    }

    /// Checks the next checkpoint `c` against the root and chain head at its size.
    fn check_checkpoint(
        &mut self,
        c: &Checkpoint,
        root: [u8; 32],
        chain: &[u8; 32],
    ) -> Result<(), VerifyError> {
        self.checkpoints.next();
        if c.root.0 != root || &c.chain_head.0 != chain {
            if self.trusted == Some(c) {
                return Err(VerifyError::TrustedMismatch {
                    tree_size: c.tree_size,
                });
            }
            return Err(VerifyError::CheckpointMismatch {
                tree_size: c.tree_size,
                first_seq: self.previous_checkpoint,
            });
        }
        self.previous_checkpoint = c.tree_size;
        Ok(())
    }
}

type Table = ReadOnlyTable<u64, &'static [u8]>;
type Rows<'a> = Range<'a, u64, &'static [u8]>;
/// A format 2 row: the entry it is stored under, and the hashes.
type LeafRow<'a> = (u64, AccessGuard<'a, &'static [u8]>);

/// Compares the stored Merkle nodes of levels 1 to [`WINDOW_LEVEL`] under one window with
/// the recomputed ones, as the entries complete them.
enum WindowNodes<'a> {
    /// Format 1: a cursor per level over the window's nodes (nodes of a level complete in
    /// index order).
    PerLevel {
        table: &'a Table,
        start: u64,
        end: u64,
        levels: Vec<Rows<'a>>,
    },
    /// Format 2: a cursor over the window's rows.
    PerLeaf(Box<LeafRows<'a>>),
}

impl<'a> WindowNodes<'a> {
    fn new(tree: &'a Tree, start: u64, end: u64) -> WindowNodes<'a> {
        match tree.layout {
            Layout::NodePerRow => WindowNodes::PerLevel {
                table: &tree.nodes,
                start,
                end,
                levels: Vec::new(),
            },
            Layout::RowPerLeaf => WindowNodes::PerLeaf(Box::new(LeafRows {
                table: &tree.nodes,
                range: start..end,
                rows: None,
                row: None,
            })),
        }
    }

    fn check(&mut self, level: u32, index: u64, hash: &[u8; 32]) -> Result<(), VerifyError> {
        match self {
            WindowNodes::PerLevel {
                table,
                start,
                end,
                levels,
            } => {
                let at = (level - 1) as usize;
                while levels.len() <= at {
                    let next = u32::try_from(levels.len()).unwrap_or(u32::MAX) + 1;
                    // The nodes of this level over the window's entries.
                    let first = store::node_key(next, *start >> next);
                    let last = store::node_key(next, (*end - 1) >> next);
                    levels.push(table.range(first..=last)?);
                }
                check_level_node(&mut levels[at], level, index, hash)
            }
            WindowNodes::PerLeaf(rows) => rows.check(level, index, hash),
        }
    }

    /// After the nodes entry `seq` completes (within the window) are checked.
    fn entry_done(&mut self, seq: u64) -> Result<(), VerifyError> {
        match self {
            WindowNodes::PerLevel { .. } => Ok(()),
            // Entries completing nodes above the window have their row finished by the
            // joining thread.
            WindowNodes::PerLeaf(rows) if seq.trailing_ones() <= WINDOW_LEVEL => {
                rows.entry_done(seq)
            }
            WindowNodes::PerLeaf(_) => Ok(()),
        }
    }

    /// After the window's last entry: no rows may be left under it. (Format 1 nodes beyond
    /// the tree are looked for at the end, as their cursors cover the window's index range.)
    fn window_done(&mut self) -> Result<(), VerifyError> {
        match self {
            WindowNodes::PerLevel { .. } => Ok(()),
            WindowNodes::PerLeaf(rows) => rows.rest(),
        }
    }
}

/// The next node of a level's cursor must be the recomputed one.
fn check_level_node(
    rows: &mut Rows<'_>,
    level: u32,
    index: u64,
    hash: &[u8; 32],
) -> Result<(), VerifyError> {
    let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
    let Some(row) = rows.next() else {
        return Err(VerifyError::MissingNode {
            level,
            index,
            first_seq,
        });
    };
    let (k, v) = row?;
    let (_, stored_index) = store::split_node_key(k.value());
    if stored_index < index {
        return Err(VerifyError::ExtraNode {
            level,
            index: stored_index,
        });
    }
    if stored_index > index {
        return Err(VerifyError::MissingNode {
            level,
            index,
            first_seq,
        });
    }
    if v.value() != hash.as_slice() {
        return Err(VerifyError::BadNode {
            level,
            index,
            first_seq,
        });
    }
    Ok(())
}

/// Format 2 rows under a range of entries, read in order as the entries complete nodes.
struct LeafRows<'a> {
    table: &'a Table,
    range: std::ops::Range<u64>,
    rows: Option<Rows<'a>>,
    /// The row of the entry whose nodes are being checked.
    row: Option<LeafRow<'a>>,
}

impl<'a> LeafRows<'a> {
    fn next_row(&mut self) -> Result<Option<LeafRow<'a>>, VerifyError> {
        let rows = match &mut self.rows {
            Some(rows) => rows,
            None => self.rows.insert(self.table.range(self.range.clone())?),
        };
        match rows.next() {
            None => Ok(None),
            Some(row) => {
                let (k, v) = row?;
                // Proofs look rows up: the lookup must find the row this walk found.
                let key = k.value();
                let routed = self
                    .table
                    .get(key)?
                    .is_some_and(|found| found.value() == v.value());
                if !routed {
                    return Err(VerifyError::LookupMismatch {
                        table: "merkle",
                        key,
                    });
                }
                Ok(Some((key, v)))
            }
        }
    }

    fn check(&mut self, level: u32, index: u64, hash: &[u8; 32]) -> Result<(), VerifyError> {
        let seq = store::last_leaf(level, index);
        let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
        let missing = VerifyError::MissingNode {
            level,
            index,
            first_seq,
        };
        if self.row.as_ref().is_none_or(|(key, _)| *key != seq) {
            // The entry's first node: its row is the next one, and none may come before it.
            self.row = None;
            match self.next_row()? {
                Some((key, _)) if key < seq => return Err(VerifyError::StrayNodes { seq: key }),
                Some((key, row)) if key == seq => self.row = Some((key, row)),
                _ => return Err(missing),
            }
        }
        let Some((_, row)) = &self.row else {
            return Err(missing);
        };
        check_row_node(row.value(), level, index, hash)
    }

    /// Entry `seq`'s row, if it has one, holds its nodes and nothing more.
    fn entry_done(&mut self, seq: u64) -> Result<(), VerifyError> {
        if let Some((key, row)) = self.row.take()
            && key == seq
            && row.value().len() != 32 * seq.trailing_ones() as usize
        {
            return Err(VerifyError::StrayNodes { seq });
        }
        Ok(())
    }

    /// No row may follow the last one checked.
    fn rest(&mut self) -> Result<(), VerifyError> {
        self.row = None;
        match self.next_row()? {
            Some((key, _)) => Err(VerifyError::StrayNodes { seq: key }),
            None => Ok(()),
        }
    }
}

/// The Merkle nodes above the windows' level, checked by the joining thread, and at the end
/// every stored node beyond the tree.
enum HighNodes<'a> {
    /// Format 1: a cursor per level, from index 0 (levels above the window's only).
    PerLevel {
        table: &'a Table,
        levels: Vec<Option<Rows<'a>>>,
    },
    /// Format 2: the rows of the entries that complete such nodes, read one by one.
    PerLeaf {
        table: &'a Table,
        row: Option<LeafRow<'a>>,
    },
}

impl<'a> HighNodes<'a> {
    fn new(tree: &'a Tree) -> HighNodes<'a> {
        match tree.layout {
            Layout::NodePerRow => HighNodes::PerLevel {
                table: &tree.nodes,
                levels: Vec::new(),
            },
            Layout::RowPerLeaf => HighNodes::PerLeaf {
                table: &tree.nodes,
                row: None,
            },
        }
    }

    fn check(&mut self, level: u32, index: u64, hash: &[u8; 32]) -> Result<(), VerifyError> {
        let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
        match self {
            HighNodes::PerLevel { table, levels } => {
                let at = (level - 1) as usize;
                while levels.len() <= at {
                    levels.push(None);
                }
                let rows = match &mut levels[at] {
                    Some(rows) => rows,
                    slot @ None => slot.insert(
                        table.range(store::node_key(level, 0)..store::node_key(level + 1, 0))?,
                    ),
                };
                check_level_node(rows, level, index, hash)
            }
            HighNodes::PerLeaf { table, row } => {
                let seq = store::last_leaf(level, index);
                if row.as_ref().is_none_or(|(key, _)| *key != seq) {
                    *row = table.get(seq)?.map(|value| (seq, value));
                }
                let Some((_, value)) = row else {
                    return Err(VerifyError::MissingNode {
                        level,
                        index,
                        first_seq,
                    });
                };
                check_row_node(value.value(), level, index, hash)
            }
        }
    }

    /// After the nodes the last entry of a window completes are all checked.
    fn entry_done(&mut self, seq: u64) -> Result<(), VerifyError> {
        match self {
            HighNodes::PerLevel { .. } => Ok(()),
            HighNodes::PerLeaf { row, .. } => {
                // Rows of entries completing no node above the window are the worker's.
                if seq.trailing_ones() > WINDOW_LEVEL
                    && let Some((key, value)) = row.take()
                    && key == seq
                    && value.value().len() != 32 * seq.trailing_ones() as usize
                {
                    return Err(VerifyError::StrayNodes { seq });
                }
                Ok(())
            }
        }
    }

    /// Fails if nodes are stored beyond the tree of `len` entries.
    fn finish(self, len: u64) -> Result<(), VerifyError> {
        match self {
            HighNodes::PerLevel { table, .. } => {
                // Each level's nodes past the last complete one; then level 0 (leaves are not
                // stored) and the levels above the tallest.
                let tallest = if len < 2 { 0 } else { 63 - len.leading_zeros() };
                for level in 1..=tallest {
                    let mut rows = table.range(
                        store::node_key(level, len >> level)..store::node_key(level + 1, 0),
                    )?;
                    if let Some(row) = rows.next() {
                        let (k, _) = row?;
                        let (level, index) = store::split_node_key(k.value());
                        return Err(VerifyError::ExtraNode { level, index });
                    }
                }
                let mut stray = table.range(..store::node_key(1, 0))?;
                let mut high = table.range(store::node_key(tallest + 1, 0)..)?;
                if let Some(row) = stray.next().or_else(|| high.next()) {
                    let (k, _) = row?;
                    let (level, index) = store::split_node_key(k.value());
                    return Err(VerifyError::ExtraNode { level, index });
                }
                Ok(())
            }
            HighNodes::PerLeaf { table, .. } => {
                if let Some(row) = table.range(len..)?.next() {
                    let (k, _) = row?;
                    return Err(VerifyError::StrayNodes { seq: k.value() });
                }
                Ok(())
            }
        }
    }
}

/// Node (`level`, `index`) where an entry's row of nodes (store format 2) keeps it: the row
/// of the last entry under the node holds its nodes from level 1 up, 32 bytes each.
fn check_row_node(row: &[u8], level: u32, index: u64, hash: &[u8; 32]) -> Result<(), VerifyError> {
    let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
    let at = 32 * (level as usize - 1);
    match row.get(at..at + 32) {
        None => Err(VerifyError::MissingNode {
            level,
            index,
            first_seq,
        }),
        Some(stored) if stored != hash.as_slice() => Err(VerifyError::BadNode {
            level,
            index,
            first_seq,
        }),
        Some(_) => Ok(()),
    }
}
