//! The records store: one redb file (`<data>/records.redb`) holding collections, records, the
//! subject index, erasure tombstones and the operator log.
//!
//! **Erased is gone.** An erasure (of a subject, or a pending one when its last hold is lifted)
//! and a retention sweep delete the records in one transaction and then *scrub* the file: every
//! live table is copied into a fresh file, the old file is overwritten with zeros and replaced.
//! redb is copy-on-write, so without the scrub the deleted records would linger in free pages.
//! What must outlive an erasure — the tombstones that refuse a re-import, the operator log —
//! names subjects, records and holds only by keyed commitments ([`crate::ident`]).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use cordon_policy::RecordAuthorizer;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::{self, Decoded, encode_record};
use crate::ident::{commitment, normalise_record_id, normalise_subject};
use crate::index::{self, Access, INDEX};
use crate::model::{Collection, Record};
use crate::read::{Evaluation, Path as EvalPath, Plan, PlanError, ReadResult, ReadSpec};

/// The store's file name inside a data directory.
pub const RECORDS_FILE: &str = "records.redb";

const COLLECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("collections");
/// `<collection>\0<id>` → record ([`crate::codec`]).
pub(crate) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// `<subject>\0<collection>\0<id>` → nothing.
pub(crate) const SUBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("subjects");
/// Commitment to an erased subject → erasure tombstone (JSON, counts only).
pub(crate) const ERASURES: TableDefinition<&str, &[u8]> = TableDefinition::new("erasures");
/// Commitment to an erased record (collection and id) → nothing: a re-import is refused.
pub(crate) const ERASED_RECORDS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("erased_records");
/// Sequence → operator action (JSON).
const OPERATOR_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("operator_log");
/// The store's own settings: `commitment-key` (32 random bytes).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const COMMITMENT_KEY: &str = "commitment-key";

/// redb's page cache (reads and the write buffer of a transaction, which spills to the file
/// beyond half of it): what bounds the store's memory on a read of any size or an import.
const CACHE_BYTES: usize = 64 << 20;

fn create_db(path: &Path) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(CACHE_BYTES).create(path)
}

pub(crate) fn record_key(collection: &str, id: &str) -> String {
    format!("{collection}\0{id}")
}

pub(crate) fn subject_key(subject: &str, collection: &str, id: &str) -> String {
    format!("{subject}\0{collection}\0{id}")
}

/// The current unix time in seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The store's file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// redb failed.
    #[error("records store: {0}")]
    Redb(#[from] redb::Error),
    /// A stored value does not decode (the file was changed outside Cordon).
    #[error("records store: stored value under `{key}` does not decode: {message}")]
    Corrupt {
        /// The key.
        key: String,
        /// What serde said.
        message: String,
    },
    /// The file could not be scrubbed (copied afresh) after an erasure.
    #[error("records store: cannot scrub `{path}` after an erasure")]
    Scrub {
        /// The store's file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A scrub failed half-way and the store could not be reopened; restart the process.
    #[error("records store: closed after a failed scrub")]
    Closed,
    /// No random key could be made for a new store.
    #[error("records store: no randomness for the commitment key")]
    Random(#[from] getrandom::Error),
}

pub(crate) fn st<E: Into<redb::Error>>(e: E) -> StorageError {
    StorageError::Redb(e.into())
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        key: key.replace('\0', "/"),
        message: e.to_string(),
    }
}

/// The record stored under `key`, copied out.
pub(crate) fn decode_record(key: &str, bytes: &[u8]) -> Result<Record, StorageError> {
    codec::decode_record(bytes).map_err(|e| corrupt(key, e))
}

/// Offer the record stored under `key` to a read, decoded in place. Returns whether the read
/// wants more.
fn offer_stored(
    eval: &mut Evaluation<'_>,
    key: &str,
    bytes: &[u8],
    auth: &mut RecordAuthorizer<'_>,
) -> Result<bool, StorageError> {
    match codec::decode_stored(bytes).map_err(|e| corrupt(key, e))? {
        Decoded::Stored(r) => eval.offer(&r, auth).map_err(|e| corrupt(key, e)),
        Decoded::Json(r) => match eval.offer(&r, auth) {
            Ok(more) => Ok(more),
            Err(never) => match never {},
        },
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain data structs to JSON cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the records store `{path}`")]
pub struct OpenError {
    path: String,
    #[source]
    source: StorageError,
}

/// A collection definition was refused.
#[derive(Debug, thiserror::Error)]
pub enum DefineError {
    /// The definition is inconsistent.
    #[error("collection `{collection}` is invalid: {reason}")]
    Invalid {
        /// The collection.
        collection: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A read was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The collection is not defined.
    #[error("collection `{0}` is not defined")]
    UnknownCollection(String),
    /// The schema or the policy refuses the read.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A hold or release was refused.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such record.
    #[error("collection `{collection}` has no record `{id}`")]
    UnknownRecord {
        /// The collection.
        collection: String,
        /// The record id.
        id: String,
    },
    /// The record does not carry that hold.
    #[error("record `{id}` is not under hold `{hold}`")]
    NotHeld {
        /// The record id.
        id: String,
        /// The hold named.
        hold: String,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What releasing a hold did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseReport {
    /// Holds still covering the record.
    pub remaining_holds: Vec<String>,
    /// Whether a pending erasure took effect now that no hold covers the record.
    pub erased: bool,
}

/// An erasure request could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// The subject is empty or not a valid identifier.
    #[error("an erasure request needs a subject: it {0}")]
    NoSubject(crate::ident::IdentifierError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A record erasure could not destroy because a legal hold covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedErasure {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
    /// Why: the holds covering it.
    pub reason: String,
}

/// What an erasure request did. The subject's records are unreadable from the moment it
/// commits; held ones are kept (and never served) until their last hold is lifted. Given to
/// the caller only: the store keeps a tombstone with a commitment and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReport {
    /// The subject, normalised.
    pub subject: String,
    /// Records whose content was deleted.
    pub erased: usize,
    /// Which records those were.
    #[serde(default)]
    pub erased_records: Vec<RecordRef>,
    /// Records kept because a legal hold covers them.
    pub refused: Vec<RefusedErasure>,
}

/// The stored trace of an erasure request: no identifier, only counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tombstone {
    /// When it was (last) requested, unix seconds.
    at: u64,
    /// Records erased by the request(s).
    erased: usize,
    /// Records kept under a hold at the time.
    refused: usize,
}

/// What a retention sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Records past `retain_until` that were deleted.
    pub purged: usize,
    /// Which records those were (for the caller, e.g. to forget their log keys; not printed).
    #[serde(skip)]
    pub purged_records: Vec<RecordRef>,
    /// Records past `retain_until` kept because a legal hold covers them (never served; purged
    /// when the last hold is lifted).
    pub kept_under_hold: usize,
}

/// A record named by its collection and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
}

/// One operator action on the store, as the operator log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAction {
    /// Unix time, seconds.
    pub at: u64,
    /// `define`, `import`, `hold`, `release`, `erase` or `sweep`.
    pub action: String,
    /// What it was applied to and what it did: collection names and counts; subjects, record
    /// ids and hold names only as commitments (`subject:<hex>`, `record:<hex>`, `hold:<hex>`).
    pub detail: String,
}

/// The records store.
#[derive(Debug)]
pub struct RecordStore {
    path: PathBuf,
    /// `None` only if a scrub failed half-way and the file could not be reopened. Every
    /// operation holds the read side for its whole duration; a scrub takes the write side.
    db: RwLock<Option<Database>>,
    /// The key of the store's commitments ([`crate::ident`]).
    key: [u8; 32],
}

impl RecordStore {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<RecordStore, OpenError> {
        let err = |source| OpenError {
            path: path.display().to_string(),
            source,
        };
        let db = create_db(path).map_err(|e| err(st(e)))?;
        let (key, migrated) = init(&db).map_err(err)?;
        let store = RecordStore {
            path: path.to_owned(),
            db: RwLock::new(Some(db)),
            key,
        };
        if migrated {
            store.scrub().map_err(err)?;
        }
        Ok(store)
    }

    /// The database, for the duration of one operation: hold the guard until the operation's
    /// transactions are over, so that a scrub never runs under one.
    pub(crate) fn db(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store's commitment to a data subject (normalised).
    pub(crate) fn subject_commitment(&self, subject: &str) -> String {
        commitment(&self.key, "subject", &[subject])
    }

    /// The store's commitment to a record.
    pub(crate) fn record_commitment(&self, collection: &str, id: &str) -> String {
        commitment(&self.key, "record", &[collection, id])
    }

    /// The store's commitment to a hold name.
    fn hold_commitment(&self, hold: &str) -> String {
        commitment(&self.key, "hold", &[hold])
    }

    /// Rewrite the file so that nothing deleted survives in it: copy every table into a fresh
    /// file, overwrite the old one with zeros, put the fresh one in its place and reopen it.
    /// Waits for every operation in progress; blocks new ones until done.
    pub fn scrub(&self) -> Result<(), StorageError> {
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let Some(old) = guard.as_ref() else {
            return Err(StorageError::Closed);
        };
        let io = |source| StorageError::Scrub {
            path: self.path.display().to_string(),
            source,
        };
        let fresh = self.path.with_extension("redb.scrub");
        if fresh.exists() {
            std::fs::remove_file(&fresh).map_err(io)?;
        }
        {
            let new = create_db(&fresh).map_err(st)?;
            let from = old.begin_read().map_err(st)?;
            let to = new.begin_write().map_err(st)?;
            for table in [
                COLLECTIONS,
                RECORDS,
                SUBJECTS,
                ERASURES,
                ERASED_RECORDS,
                META,
            ] {
                copy_table(&from, &to, table)?;
            }
            copy_table(&from, &to, OPERATOR_LOG)?;
            copy_table(&from, &to, INDEX)?;
            to.commit().map_err(st)?;
        }
        // From here the old file is closed; any failure reopens whatever is at `path`.
        *guard = None;
        let swapped = cordon_audit::scrub::replace_and_blank(&self.path, &fresh, true);
        *guard = Some(create_db(&self.path).map_err(st)?);
        swapped.map_err(io)
    }

    /// Commit a write.
    pub(crate) fn commit(&self, txn: redb::WriteTransaction) -> Result<(), StorageError> {
        txn.commit().map_err(st)
    }

    /// Open `<dir>/records.redb`.
    pub fn open_in(dir: &Path) -> Result<RecordStore, OpenError> {
        Self::open(&dir.join(RECORDS_FILE))
    }

    /// Define (or redefine) a collection.
    pub fn define_collection(&self, c: &Collection) -> Result<(), DefineError> {
        let invalid = |reason: String| DefineError::Invalid {
            collection: c.name.clone(),
            reason,
        };
        if c.name.is_empty() || c.name.contains('\0') || c.name.contains('/') {
            return Err(invalid("the name must be non-empty, without `/`".into()));
        }
        if c.levels.is_empty() {
            return Err(invalid("it needs at least one classification level".into()));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = c.levels.iter().find(|l| !seen.insert(l.as_str())) {
            return Err(invalid(format!("level `{dup}` is listed twice")));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = c.fields.iter().find(|f| !seen.insert(f.name.as_str())) {
            return Err(invalid(format!("field `{}` is declared twice", dup.name)));
        }
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_write().map_err(st)?;
        {
            let mut t = txn.open_table(COLLECTIONS).map_err(st)?;
            let before: Option<Collection> = t
                .insert(c.name.as_str(), encode(c).as_slice())
                .map_err(st)?
                .map(|v| decode(&c.name, v.value()))
                .transpose()?;
            let indexed = |c: &Collection| -> Vec<String> {
                c.fields
                    .iter()
                    .filter(|f| f.index)
                    .map(|f| f.name.clone())
                    .collect()
            };
            if before.as_ref().map_or(Vec::new(), indexed) != indexed(c) {
                rebuild_index(&txn, c)?;
            }
            log_action(
                &txn,
                "define",
                format!("collection `{}` with {} fields", c.name, c.fields.len()),
            )?;
        }
        self.commit(txn)?;
        Ok(())
    }

    /// The collection `name`, if defined.
    pub fn collection(&self, name: &str) -> Result<Option<Collection>, StorageError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let t = txn.open_table(COLLECTIONS).map_err(st)?;
        let v = t.get(name).map_err(st)?;
        v.map(|v| decode(name, v.value())).transpose()
    }

    /// Every defined collection, by name.
    pub fn collections(&self) -> Result<Vec<Collection>, StorageError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let t = txn.open_table(COLLECTIONS).map_err(st)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(st)? {
            let (k, v) = item.map_err(st)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Read `collection` for `purpose`: one record by `id`, or the records matching the spec,
    /// in id order, through an index when the filter tests an indexed field ([`crate::index`])
    /// and streaming record by record until the page is full. Each record is decided by `auth`
    /// (see [`crate::evaluate`]). A record that does not exist, is not servable or is withheld
    /// gives the same answer: no row.
    pub fn read(
        &self,
        collection: &str,
        id: Option<&str>,
        spec: &ReadSpec,
        purpose: &str,
        auth: &mut RecordAuthorizer<'_>,
    ) -> Result<ReadResult, ReadError> {
        let coll = self
            .collection(collection)?
            .ok_or_else(|| ReadError::UnknownCollection(collection.to_owned()))?;
        let plan = Plan::new(&coll, spec, purpose, auth)?;
        let mut eval = Evaluation::new(&plan, now_unix(), EvalPath::Fast);
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let records = txn.open_table(RECORDS).map_err(st)?;
        // Offer record `id` to the read: whether the read wants more, `None` if it is absent.
        let offer_id = |eval: &mut Evaluation<'_>,
                        auth: &mut RecordAuthorizer<'_>,
                        id: &str|
         -> Result<Option<bool>, StorageError> {
            let key = record_key(collection, id);
            match records.get(key.as_str()).map_err(st)? {
                Some(v) => offer_stored(eval, &key, v.value(), auth).map(Some),
                None => Ok(None),
            }
        };
        let missing = |id: &str| StorageError::Corrupt {
            key: format!("{collection}/{id}"),
            message: "an index entry names a record that does not exist".into(),
        };
        match id.map(normalise_record_id) {
            Some(Ok(id)) => {
                offer_id(&mut eval, auth, &id)?;
            }
            Some(Err(_)) => {}
            None => {
                let idx = txn.open_table(INDEX).map_err(st)?;
                match index::access(&idx, &coll, &spec.filter)? {
                    Access::Scan => {
                        let first = format!("{collection}\0");
                        let end = format!("{collection}\u{1}");
                        for item in records.range(first.as_str()..end.as_str()).map_err(st)? {
                            let (k, v) = item.map_err(st)?;
                            if !offer_stored(&mut eval, k.value(), v.value(), auth)? {
                                break;
                            }
                        }
                    }
                    Access::Stream { lo, hi } => {
                        for item in idx.range(lo.as_slice()..hi.as_slice()).map_err(st)? {
                            let (_, id) = item.map_err(st)?;
                            let id = id.value();
                            if !offer_id(&mut eval, auth, id)?.ok_or_else(|| missing(id))? {
                                break;
                            }
                        }
                    }
                    Access::Ids(ids) => {
                        for id in ids {
                            if !offer_id(&mut eval, auth, &id)?.ok_or_else(|| missing(&id))? {
                                break;
                            }
                        }
                    }
                }
            }
        }
        Ok(eval.finish())
    }

    /// Every stored record of `collection` (or the one with `id`), servable or not.
    pub fn records(&self, collection: &str, id: Option<&str>) -> Result<Vec<Record>, StorageError> {
        let Some(id) = id else {
            return self.records_page(collection, None, usize::MAX);
        };
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let t = txn.open_table(RECORDS).map_err(st)?;
        let key = record_key(collection, id);
        let v = t.get(key.as_str()).map_err(st)?;
        v.map(|v| decode_record(&key, v.value()))
            .transpose()
            .map(|r| r.into_iter().collect())
    }

    /// Up to `limit` stored records of `collection` in id order, starting after the id
    /// `after`, servable or not.
    pub fn records_page(
        &self,
        collection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Record>, StorageError> {
        use std::ops::Bound;
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let t = txn.open_table(RECORDS).map_err(st)?;
        let first = format!("{collection}\0");
        let after = after.map(|id| record_key(collection, id));
        let start = match &after {
            Some(k) => Bound::Excluded(k.as_str()),
            None => Bound::Included(first.as_str()),
        };
        let end = format!("{collection}\u{1}");
        let mut out = Vec::new();
        for item in t
            .range::<&str>((start, Bound::Excluded(end.as_str())))
            .map_err(st)?
            .take(limit)
        {
            let (k, v) = item.map_err(st)?;
            out.push(decode_record(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Put record `id` of `collection` under legal hold `hold`.
    pub fn hold(&self, collection: &str, id: &str, hold: &str) -> Result<(), HoldError> {
        let id = normalise_record_id(id).map_err(|_| HoldError::UnknownRecord {
            collection: collection.to_owned(),
            id: id.to_owned(),
        })?;
        let key = record_key(collection, &id);
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_write().map_err(st)?;
        {
            let mut records = txn.open_table(RECORDS).map_err(st)?;
            let mut r = held_record(&records, &key)?.ok_or_else(|| HoldError::UnknownRecord {
                collection: collection.to_owned(),
                id: id.clone(),
            })?;
            if !r.holds.iter().any(|h| h == hold) {
                r.holds.push(hold.to_owned());
                r.holds.sort();
            }
            records
                .insert(key.as_str(), encode_record(&r).as_slice())
                .map_err(st)?;
            log_action(
                &txn,
                "hold",
                format!(
                    "collection `{collection}`: record:{} under hold:{}",
                    self.record_commitment(collection, &id),
                    self.hold_commitment(hold)
                ),
            )?;
        }
        self.commit(txn)?;
        Ok(())
    }

    /// Lift hold `hold` from record `id`; if no hold remains and its subject asked to be
    /// erased, or it is past its retention, the record is deleted now (and the file scrubbed).
    pub fn release(
        &self,
        collection: &str,
        id: &str,
        hold: &str,
    ) -> Result<ReleaseReport, HoldError> {
        let unknown = || HoldError::UnknownRecord {
            collection: collection.to_owned(),
            id: id.to_owned(),
        };
        let id = normalise_record_id(id).map_err(|_| unknown())?;
        let key = record_key(collection, &id);
        let report;
        {
            let guard = self.db();
            let db = guard.as_ref().ok_or(StorageError::Closed)?;
            let txn = db.begin_write().map_err(st)?;
            {
                let mut records = txn.open_table(RECORDS).map_err(st)?;
                let mut r = held_record(&records, &key)?.ok_or_else(unknown)?;
                let before = r.holds.len();
                r.holds.retain(|h| h != hold);
                if r.holds.len() == before {
                    return Err(HoldError::NotHeld {
                        id: id.clone(),
                        hold: hold.to_owned(),
                    });
                }
                let expired = r.retain_until.is_some_and(|t| now_unix() >= t);
                let erased = r.holds.is_empty() && (r.erasure_pending || expired);
                if erased {
                    records.remove(key.as_str()).map_err(st)?;
                    let mut idx = txn.open_table(INDEX).map_err(st)?;
                    Definitions::default().unindex(&txn, &mut idx, collection, &r)?;
                    let mut subjects = txn.open_table(SUBJECTS).map_err(st)?;
                    subjects
                        .remove(subject_key(&r.subject, collection, &id).as_str())
                        .map_err(st)?;
                    if r.erasure_pending {
                        let mut tomb = txn.open_table(ERASED_RECORDS).map_err(st)?;
                        tomb.insert(self.record_commitment(collection, &id).as_str(), &[][..])
                            .map_err(st)?;
                    }
                } else {
                    records
                        .insert(key.as_str(), encode_record(&r).as_slice())
                        .map_err(st)?;
                }
                log_action(
                    &txn,
                    "release",
                    format!(
                        "collection `{collection}`: record:{} released from hold:{}{}",
                        self.record_commitment(collection, &id),
                        self.hold_commitment(hold),
                        match (erased, r.erasure_pending) {
                            (false, _) => "",
                            (true, true) => "; pending erasure done",
                            (true, false) => "; past retention, purged",
                        }
                    ),
                )?;
                report = ReleaseReport {
                    remaining_holds: r.holds,
                    erased,
                };
            }
            self.commit(txn)?;
        }
        if report.erased {
            self.scrub()?;
        }
        Ok(report)
    }

    /// Erase every record of `subject` (normalised), at once, in one transaction: unheld
    /// records are deleted; held ones are refused (with the holds as the reason), kept
    /// unreadable, and erased when their last hold is lifted. A tombstone (a commitment to the
    /// subject) refuses later imports of the subject, and one per erased record refuses its id.
    /// Then the file is scrubbed ([`RecordStore::scrub`]).
    pub fn erase_subject(&self, subject: &str) -> Result<ErasureReport, EraseError> {
        let subject = normalise_subject(subject).map_err(EraseError::NoSubject)?;
        let mut report = ErasureReport {
            subject: subject.clone(),
            erased: 0,
            erased_records: Vec::new(),
            refused: Vec::new(),
        };
        {
            let guard = self.db();
            let db = guard.as_ref().ok_or(StorageError::Closed)?;
            let txn = db.begin_write().map_err(st)?;
            {
                let mut subjects = txn.open_table(SUBJECTS).map_err(st)?;
                let mut records = txn.open_table(RECORDS).map_err(st)?;
                let mut tomb = txn.open_table(ERASED_RECORDS).map_err(st)?;
                let mut idx = txn.open_table(INDEX).map_err(st)?;
                let mut defs = Definitions::default();
                let start = format!("{subject}\0");
                let end = format!("{subject}\u{1}");
                let mut keys = Vec::new();
                for item in subjects.range(start.as_str()..end.as_str()).map_err(st)? {
                    let (k, _) = item.map_err(st)?;
                    keys.push(k.value().to_owned());
                }
                for skey in keys {
                    let mut parts = skey.splitn(3, '\0').skip(1);
                    let (Some(collection), Some(id)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let key = record_key(collection, id);
                    let r: Option<Record> = records
                        .get(key.as_str())
                        .map_err(st)?
                        .map(|v| decode_record(&key, v.value()))
                        .transpose()?;
                    let Some(mut r) = r else { continue };
                    if r.held() {
                        report.refused.push(RefusedErasure {
                            collection: collection.to_owned(),
                            id: id.to_owned(),
                            reason: format!("under legal hold {}", quoted(&r.holds)),
                        });
                        r.erasure_pending = true;
                        records
                            .insert(key.as_str(), encode_record(&r).as_slice())
                            .map_err(st)?;
                    } else {
                        records.remove(key.as_str()).map_err(st)?;
                        subjects.remove(skey.as_str()).map_err(st)?;
                        defs.unindex(&txn, &mut idx, collection, &r)?;
                        tomb.insert(self.record_commitment(collection, id).as_str(), &[][..])
                            .map_err(st)?;
                        report.erased += 1;
                        report.erased_records.push(RecordRef {
                            collection: collection.to_owned(),
                            id: id.to_owned(),
                        });
                    }
                }
                let mut erasures = txn.open_table(ERASURES).map_err(st)?;
                let subject_c = self.subject_commitment(&subject);
                let before: Option<Tombstone> = erasures
                    .get(subject_c.as_str())
                    .map_err(st)?
                    .map(|v| decode(&subject_c, v.value()))
                    .transpose()?;
                let stored = Tombstone {
                    at: now_unix(),
                    erased: before.as_ref().map_or(0, |t| t.erased) + report.erased,
                    refused: report.refused.len(),
                };
                erasures
                    .insert(subject_c.as_str(), encode(&stored).as_slice())
                    .map_err(st)?;
                log_action(
                    &txn,
                    "erase",
                    format!(
                        "subject:{subject_c}: {} erased, {} refused under hold",
                        report.erased,
                        report.refused.len()
                    ),
                )?;
            }
            self.commit(txn)?;
        }
        self.scrub()?;
        Ok(report)
    }

    /// Delete every record past its `retain_until` at unix time `now`, except those under a
    /// legal hold (never served; deleted when the last hold is lifted), in one transaction;
    /// then scrub the file if anything was deleted. Expiry is not an erasure request: the ids
    /// may be imported again.
    pub fn sweep(&self, now: u64) -> Result<SweepReport, StorageError> {
        let mut report = SweepReport {
            purged: 0,
            purged_records: Vec::new(),
            kept_under_hold: 0,
        };
        {
            let guard = self.db();
            let db = guard.as_ref().ok_or(StorageError::Closed)?;
            let txn = db.begin_write().map_err(st)?;
            {
                let mut records = txn.open_table(RECORDS).map_err(st)?;
                let mut subjects = txn.open_table(SUBJECTS).map_err(st)?;
                let mut idx = txn.open_table(INDEX).map_err(st)?;
                let mut defs = Definitions::default();
                let mut expired = Vec::new();
                for item in records.iter().map_err(st)? {
                    let (k, v) = item.map_err(st)?;
                    let r = decode_record(k.value(), v.value())?;
                    if r.retain_until.is_some_and(|t| now >= t) {
                        if r.held() {
                            report.kept_under_hold += 1;
                        } else {
                            expired.push((k.value().to_owned(), r));
                        }
                    }
                }
                for (key, r) in expired {
                    let collection = key.split('\0').next().unwrap_or_default().to_owned();
                    records.remove(key.as_str()).map_err(st)?;
                    subjects
                        .remove(subject_key(&r.subject, &collection, &r.id).as_str())
                        .map_err(st)?;
                    defs.unindex(&txn, &mut idx, &collection, &r)?;
                    report.purged_records.push(RecordRef {
                        collection,
                        id: r.id,
                    });
                }
                report.purged = report.purged_records.len();
                log_action(
                    &txn,
                    "sweep",
                    format!(
                        "{} past retention purged, {} kept under hold",
                        report.purged, report.kept_under_hold
                    ),
                )?;
            }
            self.commit(txn)?;
        }
        if report.purged > 0 {
            self.scrub()?;
        }
        Ok(report)
    }

    /// Every operator action, oldest first.
    pub fn operator_log(&self) -> Result<Vec<OperatorAction>, StorageError> {
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_read().map_err(st)?;
        let t = txn.open_table(OPERATOR_LOG).map_err(st)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(st)? {
            let (k, v) = item.map_err(st)?;
            out.push(decode(&k.value().to_string(), v.value())?);
        }
        Ok(out)
    }
}

/// Create the tables of a new store (and its commitment key), or check an existing one; an
/// erasure table from before tombstones were commitments is converted. Returns the key and
/// whether anything was converted (then the file must be scrubbed).
fn init(db: &Database) -> Result<([u8; 32], bool), StorageError> {
    let txn = db.begin_write().map_err(st)?;
    let key;
    let mut migrated = false;
    {
        txn.open_table(COLLECTIONS).map_err(st)?;
        txn.open_table(RECORDS).map_err(st)?;
        txn.open_table(SUBJECTS).map_err(st)?;
        txn.open_table(ERASED_RECORDS).map_err(st)?;
        txn.open_table(OPERATOR_LOG).map_err(st)?;
        txn.open_table(INDEX).map_err(st)?;
        let mut meta = txn.open_table(META).map_err(st)?;
        let stored: Option<[u8; 32]> = meta
            .get(COMMITMENT_KEY)
            .map_err(st)?
            .and_then(|v| v.value().try_into().ok());
        key = match stored {
            Some(k) => k,
            None => {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k)?;
                meta.insert(COMMITMENT_KEY, k.as_slice()).map_err(st)?;
                k
            }
        };
        // Version 0 kept erasure requests under the subject in plain text.
        let mut erasures = txn.open_table(ERASURES).map_err(st)?;
        let mut plain = Vec::new();
        for item in erasures.iter().map_err(st)? {
            let (k, _) = item.map_err(st)?;
            let k = k.value();
            if !(k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit())) {
                plain.push(k.to_owned());
            }
        }
        for subject in plain {
            erasures.remove(subject.as_str()).map_err(st)?;
            let normal = normalise_subject(&subject).unwrap_or(subject);
            let stone = Tombstone {
                at: now_unix(),
                erased: 0,
                refused: 0,
            };
            erasures
                .insert(
                    commitment(&key, "subject", &[&normal]).as_str(),
                    encode(&stone).as_slice(),
                )
                .map_err(st)?;
            migrated = true;
        }
    }
    txn.commit().map_err(st)?;
    Ok((key, migrated))
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), StorageError> {
    let src = from.open_table(table).map_err(st)?;
    let mut dst = to.open_table(table).map_err(st)?;
    for item in src.iter().map_err(st)? {
        let (k, v) = item.map_err(st)?;
        dst.insert(k.value(), v.value()).map_err(st)?;
    }
    Ok(())
}

/// The record at `key` in a write transaction's records table, for a hold or its release.
fn held_record(
    records: &redb::Table<'_, &str, &[u8]>,
    key: &str,
) -> Result<Option<Record>, StorageError> {
    records
        .get(key)
        .map_err(st)?
        .map(|v| decode_record(key, v.value()))
        .transpose()
}

/// Drop and rebuild the index entries of collection `c` from its records (when the fields it
/// indexes changed).
fn rebuild_index(txn: &redb::WriteTransaction, c: &Collection) -> Result<(), StorageError> {
    let mut idx = txn.open_table(INDEX).map_err(st)?;
    index::clear(&mut idx, &c.name)?;
    if !c.fields.iter().any(|f| f.index) {
        return Ok(());
    }
    let records = txn.open_table(RECORDS).map_err(st)?;
    let first = format!("{}\0", c.name);
    let end = format!("{}\u{1}", c.name);
    for item in records.range(first.as_str()..end.as_str()).map_err(st)? {
        let (k, v) = item.map_err(st)?;
        let r = decode_record(k.value(), v.value())?;
        index::insert(&mut idx, c, &r)?;
    }
    Ok(())
}

/// Collection definitions read once per write transaction, to maintain their indexes.
#[derive(Default)]
struct Definitions(HashMap<String, Option<Collection>>);

impl Definitions {
    fn get(
        &mut self,
        txn: &redb::WriteTransaction,
        name: &str,
    ) -> Result<Option<&Collection>, StorageError> {
        if !self.0.contains_key(name) {
            let t = txn.open_table(COLLECTIONS).map_err(st)?;
            let c = t
                .get(name)
                .map_err(st)?
                .map(|v| decode(name, v.value()))
                .transpose()?;
            self.0.insert(name.to_owned(), c);
        }
        Ok(self.0.get(name).and_then(Option::as_ref))
    }

    /// Drop the index entries of `r`, a record of `collection` being deleted.
    fn unindex(
        &mut self,
        txn: &redb::WriteTransaction,
        idx: &mut redb::Table<&[u8], &str>,
        collection: &str,
        r: &Record,
    ) -> Result<(), StorageError> {
        if let Some(c) = self.get(txn, collection)? {
            index::remove(idx, c, r)?;
        }
        Ok(())
    }
}

pub(crate) fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn log_action(
    txn: &redb::WriteTransaction,
    action: &str,
    detail: String,
) -> Result<(), StorageError> {
    let mut t = txn.open_table(OPERATOR_LOG).map_err(st)?;
    let next = t.last().map_err(st)?.map_or(0, |(k, _)| k.value() + 1);
    let entry = OperatorAction {
        at: now_unix(),
        action: action.to_owned(),
        detail,
    };
    t.insert(next, encode(&entry).as_slice()).map_err(st)?;
    Ok(())
}
