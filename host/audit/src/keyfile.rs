//! The subject keys' own file, rewritten whole when a key is destroyed.
//!
//! A commitment key is what links a subject to its entries (see [`crate::subject`]), and a
//! user's row is keyed by the user's id; so when a subject is erased, neither may survive in
//! any byte of a file Cordon writes. redb is copy-on-write: a deleted row's bytes stay in the
//! file's free pages until they happen to be reused. So the keys live apart from the entries,
//! in a small file beside the log ([`keys_path`], `audit-keys.redb`), and every commit that
//! destroys a key rewrites that file: the live rows are copied into a fresh file (mode 0600),
//! which is committed (fsync), renamed over the old one, and the directory synced; the old
//! file's blocks are overwritten with zeros (unless other processes may be reading it, see
//! [`crate::LogOptions::shared_readers`]). A key file holds one row per live subject, so the
//! rewrite costs little.
//!
//! ```text
//! subject_keys   row key (as in crate::store)  -> commitment key (32)
//! meta           "events"                      -> u64: the subject-key log length the rows
//!                                                 reflect (u64::MAX: being changed)
//! ```
//!
//! The log file's `subject_log` ([`crate::keylog`]) stays the authority, signed by the
//! checkpoints. Keys are put in the key file (and made durable) before the log commit whose
//! entries use them, and destroyed after the log commit that records their erasure; a crash in
//! between leaves rows the log does not account for, which the next [`crate::AuditLog::open`]
//! removes by replaying the subject-key log (until then, `verify` reports them).
//!
//! A log written before the key file existed keeps its keys in the log file's `subject_keys`
//! table; readers use that table while there is no key file, and the first writer to open the
//! log moves the rows to a key file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use redb::{Database, ReadableTable, TableDefinition};

/// The key file's rows: as the log file's `subject_keys` table.
pub(crate) const KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subject_keys");
/// The key file's bookkeeping.
pub(crate) const KEYS_META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The `KEYS_META` row holding the subject-key log length the rows reflect.
pub(crate) const EVENTS: &str = "events";
/// `EVENTS` while a change is under way: the next writer reconciles.
pub(crate) const UNSETTLED: u64 = u64::MAX;

/// The key file of the log at `log`: `audit-keys.redb` beside `audit.redb` (generally
/// `<stem>-keys.redb`).
///
/// ```
/// use std::path::Path;
/// let log = Path::new("/data").join(cordon_audit::LOG_FILE);
/// assert_eq!(
///     cordon_audit::keyfile::keys_path(&log),
///     Path::new("/data").join(cordon_audit::KEYS_FILE)
/// );
/// ```
pub fn keys_path(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map_or_else(|| "audit".into(), |s| s.to_string_lossy().into_owned());
    log.with_file_name(format!("{stem}-keys.redb"))
}

/// A live log's key file: the writer replaces the database on a rewrite; readers hold the
/// read side for the duration of one read.
pub(crate) type SharedKeys = Arc<RwLock<Option<Database>>>;

/// Creates `path` with mode 0600 (it must not exist) and a redb database in it.
pub(crate) fn create_private(path: &Path, shared_readers: bool) -> Result<Database, KeyFileError> {
    use std::os::unix::fs::OpenOptionsExt;
    // redb initialises an empty file: make it first, private.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        })?;
    crate::store::builder(shared_readers)
        .create(path)
        .map_err(|source| KeyFileError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Opens the key file at `path`, creating it (mode 0600, empty tables) if it does not exist.
pub(crate) fn open_or_create(path: &Path, shared_readers: bool) -> Result<Database, KeyFileError> {
    let db = if path.exists() {
        crate::store::builder(shared_readers)
            .create(path)
            .map_err(|source| KeyFileError::Open {
                path: path.to_owned(),
                source,
            })?
    } else {
        create_private(path, shared_readers)?
    };
    if !has_tables(&db) {
        let txn = db.begin_write().map_err(redb::Error::from)?;
        txn.open_table(KEYS).map_err(redb::Error::from)?;
        txn.open_table(KEYS_META).map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
    }
    Ok(db)
}

/// Whether both tables exist (every open but the first): then opening commits nothing.
fn has_tables(db: &Database) -> bool {
    use redb::ReadableDatabase;
    db.begin_read()
        .is_ok_and(|txn| txn.open_table(KEYS).is_ok() && txn.open_table(KEYS_META).is_ok())
}

/// The subject-key log length the rows of `db` reflect (0 for a new file).
pub(crate) fn settled_events(db: &Database) -> Result<u64, redb::Error> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let meta = txn.open_table(KEYS_META)?;
    Ok(meta.get(EVENTS)?.map_or(0, |v| v.value()))
}

/// Why the key file could not be opened or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// redb could not open or create it.
    #[error("cannot open the subject-key file `{path}`")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// A file operation of the rewrite failed.
    #[error("cannot rewrite the subject-key file `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A rewrite failed half-way and the file could not be reopened.
    #[error("the subject-key file is not open")]
    Closed,
    /// redb failed.
    #[error("subject-key file storage error")]
    Storage(#[from] redb::Error),
}

/// Rewrites the key file at `path` (open in `shared`) with only the rows `keep` accepts, and
/// `events` as the log length they reflect: copy into a fresh file, commit, rename it over the
/// old one, sync the directory, blank the old file's blocks (unless `shared_readers`), reopen.
pub(crate) fn rewrite(
    path: &Path,
    shared: &SharedKeys,
    keep: impl Fn(&[u8], &[u8]) -> bool,
    events: u64,
    shared_readers: bool,
) -> Result<(), KeyFileError> {
    use redb::ReadableDatabase;
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut guard = shared.write().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        // An earlier rewrite could not reopen the file: copy from what is at `path` (never
        // from nothing, which would destroy every key).
        *guard = Some(
            crate::store::builder(shared_readers)
                .open(path)
                .map_err(|source| KeyFileError::Open {
                    path: path.to_owned(),
                    source,
                })?,
        );
    }
    let fresh = path.with_extension("redb.new");
    if fresh.exists() {
        std::fs::remove_file(&fresh).map_err(io)?;
    }
    {
        let new = create_private(&fresh, shared_readers)?;
        let txn = new.begin_write().map_err(redb::Error::from)?;
        {
            let mut to = txn.open_table(KEYS).map_err(redb::Error::from)?;
            if let Some(old) = guard.as_ref() {
                let from_txn = old.begin_read().map_err(redb::Error::from)?;
                let from = from_txn.open_table(KEYS).map_err(redb::Error::from)?;
                for row in from.iter().map_err(redb::Error::from)? {
                    let (k, v) = row.map_err(redb::Error::from)?;
                    if keep(k.value(), v.value()) {
                        to.insert(k.value(), v.value()).map_err(redb::Error::from)?;
                    }
                }
            }
            let mut meta = txn.open_table(KEYS_META).map_err(redb::Error::from)?;
            meta.insert(EVENTS, events).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
    }
    // From here the old file is closed; whatever happens, what is at `path` is reopened.
    *guard = None;
    // With shared readers the old file may still be open elsewhere: it is not blanked.
    let swapped = crate::scrub::replace_and_blank(path, &fresh, !shared_readers);
    *guard = Some(
        crate::store::builder(shared_readers)
            .create(path)
            .map_err(|source| KeyFileError::Open {
                path: path.to_owned(),
                source,
            })?,
    );
    swapped.map_err(io)
}
