//! The durable log: fast appends, one background writer, group commit.
//!
//! [`AuditLog::append`] takes one lock, assigns the sequence number and time, turns personal
//! identifiers into commitments, encodes and hashes the entry and queues it. A background
//! writer thread takes everything queued, writes it in one redb write transaction (entries,
//! completed Merkle nodes, new subject keys, and a signed checkpoint when one is due) and
//! commits it. [`AuditLog::sync`] waits for a durable commit that holds the entry, so one fsync
//! serves every appender that queued while the previous commit ran.
//!
//! A commit is made durable (`Durability::Immediate`, an fsync) only when something waits for
//! it: a syncer, a checkpoint, an erasure, the log closing, or a checkpoint due by time.
//! Otherwise the writer commits without an fsync (`Durability::None`): readers see the entries
//! at once, and the next durable commit makes them durable with it. (A log opened with
//! [`LogOptions::shared_readers`] commits every batch durably: redb cannot do otherwise while
//! other processes read the file.) Entries nobody synced are the ones a crash may lose — the
//! pure reads and denials the runtime does not sync (see `cordon_runtime`'s gate) — and a run
//! that reads 10,000 files pays one fsync at its end instead of one per batch the writer
//! happened to take.
//!
//! What a commit costs is mostly the pages it writes: redb copies every B-tree page it changes
//! and `fdatasync`s them with the header. So the writer keeps a commit's pages few: the Merkle
//! nodes an entry completes are one row beside it (not one row per node in a table ordered by
//! level, which touched a leaf page per level), and tables without changes are not opened. It
//! takes the next batch in the same lock as it publishes the last commit and, after releasing
//! it, wakes one syncer of that commit, which wakes the others (syncers of the queued batch
//! sleep on the other of two condition variables).
//!
//! If a commit fails, the log stops: the writer records the error, every waiting and later
//! call returns it, and nothing more is accepted. A host must then stop acting on decisions,
//! since it could no longer prove them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::checkpoint::{Checkpoint, SubjectKeys};
use crate::encoding::{self, EncodeError};
use crate::keyfile::{self, KeyFileError, SharedKeys};
use crate::keylog::{self, Event};
use crate::keys::{self, KeyError, PublicKey};
use crate::merkle::{self, Frontier};
use crate::source::{self, CodeRef, CodeRefError, MAX_SOURCE_LEN, StoredSource};
use crate::store::{
    self, CHECKPOINTS, ENTRIES, Keys, Layout, META, ReadError, SOURCES, STORE_FORMAT, SUBJECT_KEYS,
    SUBJECT_LOG, Store,
};
use crate::subject::{self, Subject};
use crate::{DecisionLog, Entry, Head, PUBLIC_KEY_FILE, Receipt, SIGNING_KEY_FILE};

/// How to open a log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The ed25519 signing key file; generated (mode 0600) if it does not exist.
    pub signing_key: PathBuf,
    /// Where to write the public key when the signing key is generated (and to check it
    /// against when it exists).
    pub public_key: Option<PathBuf>,
    /// Sign a checkpoint at least every this many entries.
    pub checkpoint_every: u64,
    /// Sign a checkpoint at least this often while entries arrive.
    pub checkpoint_interval: Duration,
    /// Let other processes open the log read-only while this one writes (so `cordon audit
    /// verify` works against a running host). This makes redb commit in two phases, two
    /// fsyncs per commit instead of one, which halves the commit rate. Off by default: then
    /// the host holds the file exclusively, and reads go through [`AuditLog::store`].
    pub shared_readers: bool,
    /// `append` waits while this many entries are queued and not yet taken by the writer,
    /// so memory stays bounded when the disk is slower than the appenders. Default 65536
    /// (a few tens of MB).
    pub max_pending: usize,
    /// How long [`AuditLog::open`] waits for another process that holds the log (another
    /// `cordon run` on the same data directory) to let it go, checking every few tens of
    /// milliseconds; then it fails with [`OpenError::Busy`]. Default zero: fail at once.
    pub lock_wait: Duration,
    /// How long an entry nobody waits for may stay queued before the writer commits it
    /// (without an fsync), so that a run making many pure reads hands the writer batches
    /// instead of waking it for every entry; the writer is woken at once when
    /// [`LINGER_ENTRIES`] entries are queued, or by a sync, a checkpoint, a source, an
    /// erasure or closing. Readers of [`AuditLog::store`] see an entry at most this long after
    /// its append (durability is unchanged: see the module docs). Default 2 ms.
    pub linger: Duration,
}

/// How many queued entries wake the writer before [`LogOptions::linger`] has passed (or
/// [`LogOptions::max_pending`], if smaller).
pub const LINGER_ENTRIES: usize = 1024;

impl LogOptions {
    /// The standard layout of a data directory: [`SIGNING_KEY_FILE`] and [`PUBLIC_KEY_FILE`]
    /// inside `dir`; a checkpoint every 4096 entries or 1 second; no shared readers.
    pub fn in_dir(dir: &Path) -> LogOptions {
        LogOptions {
            signing_key: dir.join(SIGNING_KEY_FILE),
            public_key: Some(dir.join(PUBLIC_KEY_FILE)),
            checkpoint_every: 4096,
            checkpoint_interval: Duration::from_secs(1),
            shared_readers: false,
            max_pending: 1 << 16,
            lock_wait: Duration::ZERO,
            linger: Duration::from_millis(2),
        }
    }
}

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The signing key could not be loaded or created.
    #[error("cannot load the checkpoint signing key")]
    Key(#[from] KeyError),
    /// The redb file could not be opened or created.
    #[error("cannot open the log at `{path}`")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// Another process held the log for longer than [`LogOptions::lock_wait`].
    #[error(
        "another process has the log at `{path}` open, and did not close it within {} ms",
        waited.as_millis()
    )]
    Busy {
        /// The file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// The store was written by a newer or unknown format.
    #[error("the log has unknown format {format}")]
    UnknownFormat {
        /// The format byte found.
        format: u8,
    },
    /// The log's checkpoints were signed with another key.
    #[error("the log is signed with public key {recorded}, but the configured key is {configured}")]
    KeyMismatch {
        /// The key recorded in the log.
        recorded: String,
        /// The configured key.
        configured: String,
    },
    /// The existing log could not be read.
    #[error("cannot read the existing log")]
    Read(#[from] ReadError),
    /// The writer thread could not be started.
    #[error("cannot start the log writer thread")]
    Spawn(#[source] std::io::Error),
    /// The subject-key file could not be opened, moved to or reconciled.
    #[error("cannot prepare the subject-key file")]
    Keys(#[from] KeyFileError),
}

impl From<redb::Error> for OpenError {
    fn from(e: redb::Error) -> OpenError {
        OpenError::Read(ReadError::Storage(e))
    }
}

/// A commit that failed; the log accepts nothing after it.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// redb failed to write or commit.
    #[error("cannot commit to the log")]
    Storage(#[from] redb::Error),
    /// The writer thread panicked.
    #[error("the log writer thread panicked")]
    Panicked,
    /// The subject-key file could not be written or rewritten.
    #[error("cannot write the subject-key file")]
    Keys(#[from] KeyFileError),
}

/// Why an entry was not appended or synced.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log was closed.
    #[error("the decision log is closed")]
    Closed,
    /// An earlier commit failed; the log accepts nothing more.
    #[error("the decision log can no longer commit")]
    WriterFailed(#[source] Arc<CommitError>),
    /// A field is too long for the encoding.
    #[error("entry cannot be encoded")]
    Encode(#[from] EncodeError),
    /// `sync` was asked for an entry that was never appended.
    #[error("entry {seq} was never appended")]
    NotAppended {
        /// The sequence number asked for.
        seq: u64,
    },
    /// A subject key could not be read.
    #[error("cannot read a subject key")]
    SubjectKey(#[source] ReadError),
    /// A subject key could not be generated.
    #[error("cannot generate a subject key")]
    Random(#[source] getrandom::Error),
    /// The entry's code reference is not well formed.
    #[error("entry names malformed code")]
    BadCode(#[from] CodeRefError),
    /// The entry names a source the log does not hold: store it first
    /// ([`AuditLog::put_source`]), so that the log can always show the code that ran.
    #[error("entry names source `{digest}` in `{language}`, which the log does not hold")]
    UnknownSource {
        /// The digest named.
        digest: String,
        /// The language named.
        language: String,
    },
    /// The source could not be looked up.
    #[error("cannot read the stored sources")]
    SourceLookup(#[source] ReadError),
}

/// Why a source was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is larger than the log stores.
    #[error("source of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// [`MAX_SOURCE_LEN`].
        limit: usize,
    },
    /// The language is not a plain short name.
    #[error("cannot store the source")]
    BadLanguage(#[from] CodeRefError),
    /// The stored sources could not be read.
    #[error("cannot read the stored sources")]
    Read(#[from] ReadError),
    /// The log is closed or can no longer commit.
    #[error("cannot store the source")]
    Log(#[from] AppendError),
    /// This decision log keeps no sources.
    #[error("this decision log does not store sources")]
    Unsupported,
}

/// Why a subject could not be erased.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// The log is closed or can no longer commit.
    #[error("cannot erase subject keys")]
    Log(#[from] AppendError),
}

/// Why closing the log did not flush cleanly.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// The last commit failed: entries appended but not synced may be lost.
    #[error("the decision log could not commit its last entries")]
    WriterFailed(#[source] Arc<CommitError>),
}

enum Op {
    /// An entry as stored: [`CHAIN_LEN`] bytes the writer fills with the chain hash it
    /// computes, then the encoded entry.
    Entry {
        seq: u64,
        time: u64,
        value: Vec<u8>,
    },
    PutKey {
        subject: Vec<u8>,
        key: [u8; 32],
    },
    DeleteKey {
        subject: Vec<u8>,
    },
    PutSource {
        digest: String,
        value: Vec<u8>,
    },
    /// Records that the source under `digest` is erased (its key is destroyed by a
    /// `DeleteKey` in the same batch).
    SourceErased {
        digest: String,
    },
}

/// The chain hash before each stored entry.
const CHAIN_LEN: usize = 32;

/// How many sources' digests a log remembers as stored, so that appending an
/// entry that names one does not read the `sources` table; past it the memory is cleared and
/// filled again from the table as entries name them.
const KNOWN_SOURCES: usize = 4096;

enum KeyState {
    Live([u8; 32]),
    Erased,
}

struct State {
    next_seq: u64,
    last_time: u64,
    /// The last entry the writer has hashed into the chain (it hashes as it commits).
    head: Option<Head>,
    pending: Vec<Op>,
    keys: HashMap<Vec<u8>, KeyState>,
    /// Digests of sources stored (or queued); a cache of the `sources` table of at most
    /// [`KNOWN_SOURCES`] rows.
    sources: HashSet<String>,
    /// Entries `0..committed` are durable.
    committed: u64,
    /// A syncer waits for entries `0..durable_wanted` to be durable: the writer's next commit
    /// is durable while `committed` is short of it.
    durable_wanted: u64,
    /// Batches taken by the writer / committed.
    batches_taken: u64,
    batches_done: u64,
    /// Entries `0..taken` are in batches the writer has taken (the one it commits now, or
    /// earlier ones); later ones are in `pending`, in batch `batches_taken + 1`.
    taken: u64,
    /// Per syncers' condition variable, the last batch whose syncers a woken syncer has woken
    /// (see [`Shared::done`]).
    relayed: [u64; 2],
    checkpoint: Option<Checkpoint>,
    /// A checkpoint covering at least this many entries is wanted now.
    checkpoint_wanted: u64,
    failed: Option<Arc<CommitError>>,
    closing: bool,
    writer_exited: bool,
    /// The writer is waiting for work: only then does an append need to wake it.
    writer_idle: bool,
    /// Entries in `pending`.
    pending_entries: usize,
    /// When `append` queued the first entry of `pending` (`None`: nothing queued by `append`,
    /// so whatever is pending is committed at once).
    pending_since: Option<Instant>,
    /// A caller waits for the next batch to be committed (a source, an erasure).
    flush_wanted: bool,
}

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for work.
    work: Condvar,
    /// Callers wait here for the writer: `done[b % 2]` for the commit of batch `b` by
    /// [`DecisionLog::sync`], whose entry is in that batch; `done[ANY_COMMIT]` for any commit.
    /// Two for syncers so that a commit does not wake those whose entries wait for the next.
    ///
    /// The writer wakes one syncer of a commit, and that one wakes the others: waking tens of
    /// threads takes the writer longer than preparing the next commit, and the syncers'
    /// wakeups are then made on another core while it commits.
    done: [Condvar; 3],
    /// Queued entries that wake the writer before `linger` has passed.
    wake_at: usize,
    /// See [`LogOptions::linger`].
    linger: Duration,
}

/// Where callers wait that want to see every commit (checkpoints, erasure, a full queue).
const ANY_COMMIT: usize = 2;

impl Shared {
    /// Wakes the callers waiting for the commit of `batch` (one, which wakes the others) and
    /// those waiting for any commit.
    fn notify_committed(&self, batch: u64) {
        self.done[(batch % 2) as usize].notify_one();
        self.done[ANY_COMMIT].notify_all();
    }

    /// Wakes every waiting caller (the writer failed or exited).
    fn notify_everyone(&self) {
        for done in &self.done {
            done.notify_all();
        }
    }
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // No code panics while holding the lock; if some did, the state is still consistent
    // enough to report the failure rather than panic again.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The durable, tamper-evident decision log.
///
/// See the [crate documentation](crate) for an example.
pub struct AuditLog {
    shared: Arc<Shared>,
    max_pending: usize,
    db: Arc<Database>,
    layout: Layout,
    /// The subject-key file ([`crate::keyfile`]).
    keys: SharedKeys,
    public_key: PublicKey,
    writer: Option<JoinHandle<()>>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`; an existing log continues its chain and tree.
    ///
    /// Entries left without a checkpoint by a crash are checkpointed at once.
    pub fn open(path: &Path, options: LogOptions) -> Result<AuditLog, OpenError> {
        let signing_key =
            keys::load_or_generate(&options.signing_key, options.public_key.as_deref())?;
        let public_key = PublicKey(signing_key.verifying_key());
        let started = Instant::now();
        let db = waiting(
            path,
            &options,
            started,
            || {
                store::builder(options.shared_readers)
                    .create(path)
                    .map_err(|source| OpenError::Open {
                        path: path.to_owned(),
                        source,
                    })
            },
            |e| {
                matches!(
                    e,
                    OpenError::Open {
                        source: redb::DatabaseError::DatabaseAlreadyOpen,
                        ..
                    }
                )
            },
        )?;
        let layout = init_tables(&db, &public_key)?;
        let keys_path = keyfile::keys_path(path);
        // The process that held the log may hold its key file a moment longer (it closes one
        // file, then the other): wait for it within the same allowance.
        let keys_db = waiting(
            path,
            &options,
            started,
            || keyfile::open_or_create(&keys_path, options.shared_readers),
            |e| {
                matches!(
                    e,
                    keyfile::KeyFileError::Open {
                        source: redb::DatabaseError::DatabaseAlreadyOpen,
                        ..
                    }
                )
            },
        )?;
        move_keys_out_of_the_log(&db, &keys_db)?;
        let keys: SharedKeys = Arc::new(RwLock::new(Some(keys_db)));
        let db = Arc::new(db);
        let store = Store::from_database(db.clone(), layout, Keys::Live(keys.clone()));

        let txn = db.begin_read().map_err(redb::Error::from)?;
        let tree = store.tree(&txn)?;
        let (size, chain, last_time) = match tree.entries.last().map_err(redb::Error::from)? {
            None => (0, [0u8; 32], 0),
            Some((k, v)) => {
                let seq = k.value();
                let (chain, bytes) = store::split_value(seq, v.value())?;
                let (_, time) = encoding::decode_header(bytes)
                    .map_err(|source| ReadError::Malformed { seq, source })?;
                (seq + 1, *chain, time)
            }
        };
        let mut stack = Vec::new();
        for (level, index) in Frontier::positions(size) {
            use crate::merkle::NodeSource;
            stack.push((level, tree.perfect(level, index)?));
        }
        let frontier = Frontier::from_parts(size, stack);
        let checkpoints = txn.open_table(CHECKPOINTS).map_err(ReadError::from)?;
        let checkpoint = checkpoints
            .last()
            .map_err(redb::Error::from)?
            .and_then(|(_, v)| Checkpoint::from_stored(v.value()));
        drop(checkpoints);
        let subject_log = txn.open_table(SUBJECT_LOG).map_err(ReadError::from)?;
        let subject_keys = match subject_log.last().map_err(redb::Error::from)? {
            None => SubjectKeys {
                events: 0,
                head: crate::Hash::default(),
            },
            Some((k, v)) => {
                let index = k.value();
                let event =
                    Event::from_stored(v.value()).ok_or(ReadError::BadSubjectEvent { index })?;
                SubjectKeys {
                    events: index + 1,
                    head: crate::Hash(event.chain),
                }
            }
        };
        drop(subject_log);
        // A crash between a key-file commit and the log commit it goes with leaves rows the
        // subject-key log does not account for: replay the log and keep only its live rows.
        let settled = match keys.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            Some(db) => keyfile::settled_events(db)?,
            None => keyfile::UNSETTLED,
        };
        if settled != subject_keys.events {
            let live = live_rows(&txn)?;
            keyfile::rewrite(
                &keys_path,
                &keys,
                |k, v| live.contains(&keylog::row_hash(k, v)),
                subject_keys.events,
                options.shared_readers,
            )?;
        }
        drop(tree);
        drop(txn);

        let last_checkpoint_size = checkpoint.as_ref().map_or(0, |c| c.tree_size);
        let last_checkpoint_events = checkpoint
            .as_ref()
            .and_then(|c| c.subject_keys)
            .map_or(0, |k| k.events);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_seq: size,
                last_time,
                head: size.checked_sub(1).map(|seq| Head { seq, hash: chain }),
                pending: Vec::new(),
                keys: HashMap::new(),
                sources: HashSet::new(),
                committed: size,
                durable_wanted: size,
                batches_taken: 0,
                batches_done: 0,
                taken: size,
                relayed: [0; 2],
                checkpoint,
                // Entries a crash left without a checkpoint get one at once.
                checkpoint_wanted: size,
                failed: None,
                closing: false,
                writer_exited: false,
                writer_idle: false,
                pending_entries: 0,
                pending_since: None,
                flush_wanted: false,
            }),
            work: Condvar::new(),
            done: [Condvar::new(), Condvar::new(), Condvar::new()],
            wake_at: LINGER_ENTRIES.min(options.max_pending.max(1)),
            linger: options.linger,
        });
        let writer = Writer {
            shared: shared.clone(),
            db: db.clone(),
            layout,
            key: signing_key,
            frontier,
            chain_head: chain,
            last_time,
            last_checkpoint_size,
            subject_keys,
            last_checkpoint_events,
            last_checkpoint_at: Instant::now(),
            every: options.checkpoint_every.max(1),
            interval: options.checkpoint_interval,
            spare: Vec::new(),
            unsynced: false,
            unpublished: None,
            keys: keys.clone(),
            keys_path,
            shared_readers: options.shared_readers,
        };
        let handle = std::thread::Builder::new()
            .name("cordon-audit-writer".into())
            .spawn(move || writer.run())
            .map_err(OpenError::Spawn)?;
        Ok(AuditLog {
            shared,
            max_pending: options.max_pending.max(1),
            db,
            layout,
            keys,
            public_key,
            writer: Some(handle),
        })
    }

    /// Opens the log of a data directory: [`crate::LOG_FILE`] with [`LogOptions::in_dir`].
    pub fn open_in(dir: &Path) -> Result<AuditLog, OpenError> {
        AuditLog::open(&dir.join(crate::LOG_FILE), LogOptions::in_dir(dir))
    }

    /// How many entries are durable (on disk, surviving a crash): entries `0..n`. Entries
    /// appended after them are committed without an fsync, or queued, until a sync, a
    /// checkpoint or closing makes them durable.
    pub fn durable_len(&self) -> u64 {
        lock(&self.shared.state).committed
    }

    /// The public key that checks this log's checkpoints.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Read access to the committed state of the log (queries, proofs, bundles, verify).
    /// The handle keeps the file open, even after the log is closed, until it is dropped.
    pub fn store(&self) -> Store {
        Store::from_database(self.db.clone(), self.layout, Keys::Live(self.keys.clone()))
    }

    /// The latest committed checkpoint.
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.shared.state).checkpoint.clone()
    }

    /// Commits everything appended so far and signs a checkpoint covering it; returns the
    /// latest checkpoint (`None` only for an empty log).
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, AppendError> {
        let mut st = lock(&self.shared.state);
        check_open(&st)?;
        let covered = st.checkpoint.as_ref().map_or(0, |c| c.tree_size);
        if covered >= st.next_seq {
            return Ok(st.checkpoint.clone());
        }
        let wanted = st.next_seq;
        st.checkpoint_wanted = st.checkpoint_wanted.max(wanted);
        self.shared.work.notify_one();
        // Wait for a checkpoint that covers `wanted`, whichever commit signs it (the one in
        // flight may already).
        let st = self.wait_for(
            st,
            |st| {
                st.checkpoint
                    .as_ref()
                    .is_some_and(|c| c.tree_size >= wanted)
            },
            |_| ANY_COMMIT,
        )?;
        Ok(st.checkpoint.clone())
    }

    /// Stores the source text `code` under its digest (BLAKE3 of its UTF-8 bytes, see
    /// [`crate::source`]) and returns the [`CodeRef`] that the entries of its runs in
    /// `language` carry. Idempotent: a text already stored (whichever language it ran as) is
    /// not written again.
    ///
    /// Returns once the source is committed (readable through [`AuditLog::source`]). It is
    /// queued to the writer like an entry, so it is in the same commit as, or an earlier one
    /// than, any entry that names it (appending such an entry before this is called fails
    /// with [`AppendError::UnknownSource`]); and since a durable commit makes every earlier
    /// commit durable, the source is durable no later than the first durable entry naming it.
    /// It costs no fsync of its own.
    pub fn put_source(&self, language: &str, code: &str) -> Result<CodeRef, SourceError> {
        source::check_language(language)?;
        if code.len() > MAX_SOURCE_LEN {
            return Err(SourceError::TooLarge {
                size: code.len(),
                limit: MAX_SOURCE_LEN,
            });
        }
        let code_ref = CodeRef::of(language, code);
        let mut st = lock(&self.shared.state);
        check_open(&st).map_err(SourceError::Log)?;
        if st.sources.contains(&code_ref.digest) || self.is_stored(&code_ref.digest)? {
            remember_source(&mut st, &code_ref);
            return Ok(code_ref);
        }
        // Sealed under a key of its own, so that erasure can destroy it (`crate::source`). A
        // source erased before gets a new key (its old one is gone) and is stored afresh.
        let key = self
            .key_for(&mut st, &subject::source_key_bytes(&code_ref.digest))
            .map_err(SourceError::Log)?;
        st.pending.push(Op::PutSource {
            digest: code_ref.digest.clone(),
            value: source::seal(&key, code),
        });
        remember_source(&mut st, &code_ref);
        let target = st.batches_taken + 1;
        st.flush_wanted = true;
        self.shared.work.notify_one();
        drop(self.wait_batch(st, target)?);
        Ok(code_ref)
    }

    /// The source stored under `digest`: its exact text, or erased (see [`Store::source`]).
    pub fn source(&self, digest: &str) -> Result<Option<StoredSource>, ReadError> {
        self.store().source(digest)
    }

    /// Whether the log holds the source under `digest`, readable (not erased).
    fn is_stored(&self, digest: &str) -> Result<bool, ReadError> {
        Ok(matches!(self.source(digest)?, Some(StoredSource::Text(_))))
    }

    /// Requires the source `code` names to be stored (or queued).
    fn check_source(&self, st: &mut State, code: &CodeRef) -> Result<(), AppendError> {
        let stored = st.sources.contains(&code.digest)
            || self
                .is_stored(&code.digest)
                .map_err(AppendError::SourceLookup)?;
        if !stored {
            return Err(AppendError::UnknownSource {
                digest: code.digest.clone(),
                language: code.language.clone(),
            });
        }
        remember_source(st, code);
        Ok(())
    }

    /// Destroys the commitment key of `subject` and waits until that is committed.
    ///
    /// The subject's past entries stay in the log, and every hash, checkpoint and proof stays
    /// valid, but nothing links their commitments to the subject any more. If the subject
    /// appears again, it gets a new, unrelated key. See [`crate::subject`].
    pub fn erase_subject(&self, subject: &Subject) -> Result<(), EraseError> {
        self.erase_subjects(std::slice::from_ref(subject))
    }

    /// Destroys the commitment keys of all `subjects` in one commit, e.g. a data subject's
    /// user id and every record that is about them (records are keyed per collection and id;
    /// the data layer knows which records belong to whom).
    ///
    /// Every stored source whose text names one of their ids (a user's id, a record's id) is
    /// erased in the same commit: its key is destroyed and its erasure recorded (see
    /// [`crate::source`]). The sources are those committed when the call starts.
    pub fn erase_subjects(&self, subjects: &[Subject]) -> Result<(), EraseError> {
        let ids: Vec<&str> = subjects
            .iter()
            .map(|s| match s {
                Subject::User(id) | Subject::Record { id, .. } => id.as_str(),
            })
            .collect();
        let named = self
            .store()
            .sources_naming(&ids)
            .map_err(|e| EraseError::Log(AppendError::SourceLookup(e)))?;
        let mut st = lock(&self.shared.state);
        check_open(&st)?;
        for subject in subjects {
            let bytes = subject.to_bytes();
            st.keys.insert(bytes.clone(), KeyState::Erased);
            st.pending.push(Op::DeleteKey { subject: bytes });
        }
        if !named.is_empty() {
            // Those digests are no longer readable: append must look again.
            st.sources.clear();
        }
        for digest in named {
            let bytes = subject::source_key_bytes(&digest);
            st.keys.insert(bytes.clone(), KeyState::Erased);
            st.pending.push(Op::DeleteKey { subject: bytes });
            st.pending.push(Op::SourceErased { digest });
        }
        let target = st.batches_taken + 1;
        st.flush_wanted = true;
        self.shared.work.notify_one();
        drop(self.wait_batch(st, target)?);
        Ok(())
    }

    /// Flushes every appended entry, signs a final checkpoint and stops the writer.
    pub fn close(mut self) -> Result<(), CloseError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), CloseError> {
        {
            let mut st = lock(&self.shared.state);
            st.closing = true;
            self.shared.work.notify_one();
        }
        if let Some(handle) = self.writer.take() {
            // The writer catches its own panics; a join error cannot carry more information.
            let _ = handle.join();
        }
        let st = lock(&self.shared.state);
        match &st.failed {
            Some(e) => Err(CloseError::WriterFailed(e.clone())),
            None => Ok(()),
        }
    }

    fn wait_batch<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        target: u64,
    ) -> Result<MutexGuard<'a, State>, AppendError> {
        self.wait_for(st, |st| st.batches_done >= target, |_| ANY_COMMIT)
    }

    /// Wait for the writer until `done` holds, or until it has failed or exited, on the
    /// condition variable `channel` names (which the commit that can make `done` true wakes).
    fn wait_for<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        done: impl Fn(&State) -> bool,
        channel: impl Fn(&State) -> usize,
    ) -> Result<MutexGuard<'a, State>, AppendError> {
        loop {
            if done(&st) {
                return Ok(st);
            }
            if let Some(e) = &st.failed {
                return Err(AppendError::WriterFailed(e.clone()));
            }
            if st.writer_exited {
                return Err(AppendError::Closed);
            }
            let at = channel(&st);
            st = self.shared.done[at]
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(relayed) = st.relayed.get(at).copied() {
                // The first syncer up after a commit wakes the other syncers of that commit
                // (the writer woke only one), outside the lock they all need. The latest
                // committed batch whose syncers wait on `done[at]`:
                let latest = st
                    .batches_done
                    .saturating_sub(st.batches_done.abs_diff(at as u64) % 2);
                if relayed < latest {
                    st.relayed[at] = latest;
                    drop(st);
                    self.shared.done[at].notify_all();
                    st = lock(&self.shared.state);
                }
            }
        }
    }

    fn key_for(&self, st: &mut State, subject: &[u8]) -> Result<[u8; 32], AppendError> {
        match st.keys.get(subject) {
            Some(KeyState::Live(key)) => return Ok(*key),
            Some(KeyState::Erased) => {}
            None => {
                if let Some(key) = self.stored_key(subject).map_err(AppendError::SubjectKey)? {
                    st.keys.insert(subject.to_vec(), KeyState::Live(key));
                    return Ok(key);
                }
            }
        }
        let key = subject::new_key().map_err(AppendError::Random)?;
        st.pending.push(Op::PutKey {
            subject: subject.to_vec(),
            key,
        });
        st.keys.insert(subject.to_vec(), KeyState::Live(key));
        Ok(key)
    }

    fn stored_key(&self, subject: &[u8]) -> Result<Option<[u8; 32]>, ReadError> {
        self.store()
            .with_keys(|table| crate::store::key_in(table, subject))
    }
}

/// Notes that the log holds `code`'s source, within [`KNOWN_SOURCES`].
fn remember_source(st: &mut State, code: &CodeRef) {
    if st.sources.contains(&code.digest) {
        return;
    }
    if st.sources.len() >= KNOWN_SOURCES {
        st.sources.clear();
    }
    st.sources.insert(code.digest.clone());
}

fn check_open(st: &State) -> Result<(), AppendError> {
    if let Some(e) = &st.failed {
        return Err(AppendError::WriterFailed(e.clone()));
    }
    if st.closing {
        return Err(AppendError::Closed);
    }
    Ok(())
}

/// Creates the tables of a new log, or checks an existing log's format and key; returns how
/// the log keeps its Merkle nodes. A log keeps the format it was created with.
fn init_tables(db: &Database, public_key: &PublicKey) -> Result<Layout, OpenError> {
    if let Some(layout) = ready_layout(db, public_key) {
        return Ok(layout);
    }
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let layout;
    {
        let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
        let format = meta
            .get("format")
            .map_err(redb::Error::from)?
            .map(|v| store::format_byte(v.value()));
        layout = match format {
            None => {
                meta.insert("format", [STORE_FORMAT].as_slice())
                    .map_err(redb::Error::from)?;
                Layout::of_format(STORE_FORMAT)
            }
            Some(format) => Layout::of_format(format),
        }
        .ok_or(OpenError::UnknownFormat {
            format: format.unwrap_or(STORE_FORMAT),
        })?;
        txn.open_table(ENTRIES).map_err(redb::Error::from)?;
        txn.open_table(layout.table()).map_err(redb::Error::from)?;
        txn.open_table(CHECKPOINTS).map_err(redb::Error::from)?;
        migrate_subject_keys(&txn)?;
        let recorded = meta
            .get("public_key")
            .map_err(redb::Error::from)?
            .map(|v| v.value().to_vec());
        match recorded {
            None => {
                meta.insert("public_key", public_key.0.as_bytes().as_slice())
                    .map_err(redb::Error::from)?;
            }
            Some(bytes) if bytes == public_key.0.as_bytes() => {}
            Some(bytes) => {
                return Err(OpenError::KeyMismatch {
                    recorded: crate::hex::encode(&bytes),
                    configured: public_key.to_hex(),
                });
            }
        }
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(layout)
}

/// The layout of a log that [`init_tables`] has nothing to do for: its format and public key
/// are recorded (the key equal to `public_key`), every table exists and the log file holds no
/// subject key to migrate. Checked in a read transaction, so that opening such a log (every
/// open but the first) commits nothing. `None` means: let `init_tables` write, or refuse.
fn ready_layout(db: &Database, public_key: &PublicKey) -> Option<Layout> {
    let txn = db.begin_read().ok()?;
    let meta = txn.open_table(META).ok()?;
    let layout = Layout::of_format(store::format_byte(meta.get("format").ok()??.value()))?;
    let recorded = meta.get("public_key").ok()??;
    if recorded.value() != public_key.0.as_bytes() {
        return None;
    }
    txn.open_table(ENTRIES).ok()?;
    txn.open_table(layout.table()).ok()?;
    txn.open_table(CHECKPOINTS).ok()?;
    txn.open_table(SUBJECT_LOG).ok()?;
    txn.open_table(SUBJECT_KEYS)
        .ok()?
        .is_empty()
        .ok()?
        .then_some(layout)
}

/// Creates the subject-key log; in a log written before it existed (no event yet, keys
/// present, and no checkpoint that covers subject keys), records the keys present as created,
/// so that from the next checkpoint on they are covered. A log whose checkpoints already cover
/// subject keys is never migrated: its events are checked against those checkpoints instead.
fn migrate_subject_keys(txn: &redb::WriteTransaction) -> Result<(), OpenError> {
    let keys = txn.open_table(SUBJECT_KEYS).map_err(redb::Error::from)?;
    let mut log = txn.open_table(SUBJECT_LOG).map_err(redb::Error::from)?;
    if !log.is_empty().map_err(redb::Error::from)? || keys.is_empty().map_err(redb::Error::from)? {
        return Ok(());
    }
    let checkpoints = txn.open_table(CHECKPOINTS).map_err(redb::Error::from)?;
    let covered = checkpoints
        .last()
        .map_err(redb::Error::from)?
        .is_some_and(|(_, v)| {
            Checkpoint::from_stored(v.value()).is_none_or(|c| c.subject_keys.is_some())
        });
    if covered {
        return Ok(());
    }
    let mut head = [0u8; 32];
    for (index, row) in (0u64..).zip(keys.iter().map_err(redb::Error::from)?) {
        let (subject, key) = row.map_err(redb::Error::from)?;
        let event = Event::next(
            &head,
            keylog::CREATED,
            keylog::row_hash(subject.value(), key.value()),
        );
        log.insert(index, event.to_stored().as_slice())
            .map_err(redb::Error::from)?;
        head = event.chain;
    }
    Ok(())
}

/// Moves the rows of the log file's `subject_keys` table (a log written before the key file
/// existed) into the key file, and empties the table. Idempotent: a crash half-way is finished
/// by the next open. The key file is then marked unsettled, so that it is reconciled with the
/// subject-key log (and rewritten) at once.
///
/// The rows' old bytes may stay in the log file's free pages: only logs written before the key
/// file existed are affected, and only until redb reuses those pages.
fn move_keys_out_of_the_log(db: &Database, keys: &Database) -> Result<(), OpenError> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let txn = db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(SUBJECT_KEYS).map_err(ReadError::from)?;
        let mut rows = Vec::new();
        for row in table.iter().map_err(redb::Error::from)? {
            let (k, v) = row.map_err(redb::Error::from)?;
            rows.push((k.value().to_vec(), v.value().to_vec()));
        }
        rows
    };
    if rows.is_empty() {
        return Ok(());
    }
    let txn = keys.begin_write().map_err(redb::Error::from)?;
    {
        let mut table = txn.open_table(keyfile::KEYS).map_err(redb::Error::from)?;
        for (k, v) in &rows {
            table
                .insert(k.as_slice(), v.as_slice())
                .map_err(redb::Error::from)?;
        }
        let mut meta = txn
            .open_table(keyfile::KEYS_META)
            .map_err(redb::Error::from)?;
        meta.insert(keyfile::EVENTS, keyfile::UNSETTLED)
            .map_err(redb::Error::from)?;
    }
    txn.commit().map_err(redb::Error::from)?;
    let txn = db.begin_write().map_err(redb::Error::from)?;
    {
        let mut table = txn.open_table(SUBJECT_KEYS).map_err(redb::Error::from)?;
        table.retain(|_, _| false).map_err(redb::Error::from)?;
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(())
}

/// The row hashes of the keys the subject-key log says are live.
fn live_rows(txn: &redb::ReadTransaction) -> Result<HashSet<[u8; 32]>, ReadError> {
    let log = txn.open_table(SUBJECT_LOG)?;
    let mut live = HashSet::new();
    for row in log.iter()? {
        let (k, v) = row?;
        let index = k.value();
        let event = Event::from_stored(v.value()).ok_or(ReadError::BadSubjectEvent { index })?;
        match event.kind {
            keylog::CREATED => {
                live.insert(event.row);
            }
            keylog::ERASED => {
                live.remove(&event.row);
            }
            // Names a source, changes no row.
            _ => {}
        }
    }
    Ok(live)
}

/// Run `open` (of the log or its key file), trying again while another process holds the
/// file (`held`), until [`LogOptions::lock_wait`] has passed since `started`. redb has no
/// blocking open: the lock is tried again every few tens of ms.
fn waiting<T, E>(
    path: &Path,
    options: &LogOptions,
    started: Instant,
    mut open: impl FnMut() -> Result<T, E>,
    held: impl Fn(&E) -> bool,
) -> Result<T, OpenError>
where
    OpenError: From<E>,
{
    const RETRY: Duration = Duration::from_millis(25);
    loop {
        match open() {
            Ok(opened) => return Ok(opened),
            Err(e) if held(&e) && !options.lock_wait.is_zero() => {
                let waited = started.elapsed();
                if waited >= options.lock_wait {
                    return Err(OpenError::Busy {
                        path: path.to_owned(),
                        waited,
                    });
                }
                std::thread::sleep(RETRY.min(options.lock_wait - waited));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl DecisionLog for AuditLog {
    fn forget(&self, subjects: &[Subject]) -> Result<(), EraseError> {
        self.erase_subjects(subjects)
    }

    fn put_source(&self, language: &str, code: &str) -> Result<CodeRef, SourceError> {
        AuditLog::put_source(self, language, code)
    }

    fn append(&self, entry: &Entry) -> Result<Receipt, AppendError> {
        let user = entry.user.as_deref().map(subject::user_bytes);
        let ids_of = |ids: &[String], collection: &str| -> Vec<Vec<u8>> {
            ids.iter()
                .map(|id| subject::record_bytes(collection, id))
                .collect()
        };
        let (records, withheld) = entry.records.as_ref().map_or_else(Default::default, |r| {
            (
                ids_of(&r.record_ids, &r.collection),
                ids_of(&r.withheld_ids, &r.collection),
            )
        });
        if let Some(code) = &entry.code {
            code.check()?;
        }
        let mut value = Vec::with_capacity(CHAIN_LEN + encoding::size_hint(entry));
        value.resize(CHAIN_LEN, 0);

        let mut st = lock(&self.shared.state);
        check_open(&st)?;
        while st.pending_entries >= self.max_pending {
            st = self.shared.done[ANY_COMMIT]
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
            check_open(&st)?;
        }
        if let Some(code) = &entry.code {
            self.check_source(&mut st, code)?;
        }
        let mut commitments = encoding::Commitments::default();
        if let Some(subject) = user {
            let key = self.key_for(&mut st, &subject)?;
            commitments.user = Some(subject::commit(&key, &subject));
        }
        for (subjects, out) in [
            (records, &mut commitments.record_ids),
            (withheld, &mut commitments.withheld_ids),
        ] {
            out.reserve(subjects.len());
            for subject in subjects {
                let key = self.key_for(&mut st, &subject)?;
                out.push(subject::commit(&key, &subject));
            }
        }
        if let Some(r) = &entry.records {
            for cond in &r.filter {
                let key = self.key_for(
                    &mut st,
                    &subject::filter_key_bytes(&r.collection, &cond.field),
                )?;
                commitments.filter_values.push(
                    cond.values
                        .iter()
                        .map(|v| subject::commit(&key, &subject::filter_value_bytes(v)))
                        .collect(),
                );
            }
        }
        let seq = st.next_seq;
        let time = now_ms().max(st.last_time);
        encoding::encode_entry(&mut value, seq, time, entry, &commitments)?;
        // The writer hashes it into the chain as it stores it: hashing is the writer's work,
        // not the appending run's.
        st.pending.push(Op::Entry { seq, time, value });
        st.pending_entries += 1;
        // The writer is woken for the first entry of a batch (to arm its linger) and when
        // enough have queued; not for each.
        let first = st.pending_since.is_none();
        if first {
            st.pending_since = Some(Instant::now());
        }
        st.next_seq = seq + 1;
        st.last_time = time;
        let receipt = Receipt { seq };
        let wake = st.writer_idle && (first || st.pending_entries >= self.shared.wake_at);
        drop(st);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(receipt)
    }

    fn sync(&self, through: u64) -> Result<(), AppendError> {
        let mut st = lock(&self.shared.state);
        if through >= st.next_seq {
            return Err(AppendError::NotAppended { seq: through });
        }
        if st.committed <= through && st.durable_wanted <= through {
            // Ask for a durable commit; an idle writer would otherwise not commit again.
            st.durable_wanted = through + 1;
            if st.writer_idle {
                self.shared.work.notify_one();
            }
        }
        self.wait_for(
            st,
            |st| st.committed > through,
            // The batch whose commit can make the entry durable: the one being committed if it
            // holds the entry, else the next (the entry is queued for it, or sits in a batch
            // committed without an fsync, which the next, durable, commit takes along).
            |st| {
                let in_flight = st.batches_done < st.batches_taken;
                let batch = st.batches_taken + u64::from(through >= st.taken || !in_flight);
                (batch % 2) as usize
            },
        )
        .map(drop)
    }

    fn head(&self) -> Option<Head> {
        self.head_through(u64::MAX)
    }

    fn head_through(&self, seq: u64) -> Option<Head> {
        let st = lock(&self.shared.state);
        let last = st.next_seq.checked_sub(1)?;
        self.hashed_through(st, seq.min(last))
    }
}

impl AuditLog {
    /// The writer's head once it has hashed entry `through` (appended): at once if it has,
    /// else after the batch that takes it (the one in flight if it did, else the next, asked
    /// for now). A failed or closed log: the last entry it hashed.
    fn hashed_through(&self, mut st: MutexGuard<'_, State>, through: u64) -> Option<Head> {
        if st.head.is_some_and(|h| h.seq >= through) {
            return st.head;
        }
        let target = if st.taken > through {
            st.batches_taken
        } else {
            st.flush_wanted = true;
            self.shared.work.notify_one();
            st.batches_taken + 1
        };
        match self.wait_batch(st, target) {
            Ok(st) => st.head,
            Err(_) => lock(&self.shared.state).head,
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Flush what is pending; an error here has nowhere to go but was already recorded for
        // any caller waiting in `sync`.
        let _ = self.shutdown();
    }
}

struct Writer {
    shared: Arc<Shared>,
    db: Arc<Database>,
    layout: Layout,
    key: SigningKey,
    frontier: Frontier,
    chain_head: [u8; 32],
    last_time: u64,
    last_checkpoint_size: u64,
    /// The subject-key log's length and head after the last commit.
    subject_keys: SubjectKeys,
    /// How many subject-key events the last checkpoint covered.
    last_checkpoint_events: u64,
    last_checkpoint_at: Instant,
    every: u64,
    interval: Duration,
    /// An empty queue with capacity, swapped in for the one the writer takes.
    spare: Vec<Op>,
    /// A commit since the last durable one was made without an fsync.
    unsynced: bool,
    /// The last checkpoint signed in a commit made without an fsync: published (to
    /// [`AuditLog::latest_checkpoint`] and [`AuditLog::checkpoint`]) with the next durable one.
    unpublished: Option<Checkpoint>,
    /// The subject-key file ([`crate::keyfile`]), its path, and whether other processes may
    /// read it.
    keys: SharedKeys,
    keys_path: PathBuf,
    shared_readers: bool,
}

/// A batch the writer has taken from the queue.
struct Batch {
    ops: Vec<Op>,
    /// Its number (`State::batches_taken` once taken).
    number: u64,
    /// The log was closing when it was taken: it is the last one if nothing follows.
    closing: bool,
    /// Sign a checkpoint at its end whatever the interval.
    force: bool,
    /// Commit it durably: something waits for it (see [`Writer::take`]).
    durable: bool,
}

impl Writer {
    fn run(mut self) {
        let shared = self.shared.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner()));
        let mut st = lock(&shared.state);
        if outcome.is_err() && st.failed.is_none() {
            st.failed = Some(Arc::new(CommitError::Panicked));
        }
        st.writer_exited = true;
        drop(st);
        shared.notify_everyone();
    }

    /// Whether there is something to commit now, short of a checkpoint that is only due by
    /// time.
    fn has_work(&self, st: &State) -> bool {
        self.pending_due(st)
            .is_some_and(|due| due <= Instant::now())
            || st.flush_wanted
            || st.closing
            || st.checkpoint_wanted > self.last_checkpoint_size
            || st.durable_wanted > st.committed
    }

    /// When what is queued must be committed: at once when enough entries are queued or
    /// something other than `append` queued it, else when the first entry has lingered.
    fn pending_due(&self, st: &State) -> Option<Instant> {
        if st.pending.is_empty() {
            return None;
        }
        match st.pending_since {
            Some(since) if st.pending_entries < self.shared.wake_at => {
                Some(since + self.shared.linger)
            }
            _ => Some(Instant::now()),
        }
    }

    fn take(&mut self, st: &mut State) -> Batch {
        st.batches_taken += 1;
        st.pending_entries = 0;
        st.pending_since = None;
        st.flush_wanted = false;
        st.taken = st.next_seq;
        let spare = std::mem::take(&mut self.spare);
        let ops = std::mem::replace(&mut st.pending, spare);
        let force = st.closing || st.checkpoint_wanted > self.last_checkpoint_size;
        let checkpoint_due = self.frontier.size() > self.last_checkpoint_size
            && self.last_checkpoint_at.elapsed() >= self.interval;
        // redb cannot commit without an fsync while other processes may read the file.
        let durable = self.shared_readers
            || force
            || checkpoint_due
            || st.durable_wanted > st.committed
            || ops.iter().any(|op| matches!(op, Op::DeleteKey { .. }));
        Batch {
            ops,
            number: st.batches_taken,
            closing: st.closing,
            force,
            durable,
        }
    }

    /// Waits until there is work (or a checkpoint is due) and takes it; `None` once the log
    /// has failed.
    fn wait_and_take(&mut self) -> Option<Batch> {
        let shared = self.shared.clone();
        let mut st = lock(&shared.state);
        loop {
            if st.failed.is_some() {
                return None;
            }
            if self.has_work(&st) {
                break;
            }
            let checkpoint_due = (self.frontier.size() > self.last_checkpoint_size)
                .then(|| self.last_checkpoint_at + self.interval);
            let due = match (checkpoint_due, self.pending_due(&st)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(due) = due {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                st.writer_idle = true;
                st = shared
                    .work
                    .wait_timeout(st, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            } else {
                st.writer_idle = true;
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            st.writer_idle = false;
        }
        Some(self.take(&mut st))
    }

    fn run_inner(&mut self) {
        let mut next = None;
        loop {
            let batch = match next.take() {
                Some(batch) => batch,
                None => match self.wait_and_take() {
                    Some(batch) => batch,
                    None => return,
                },
            };
            let Batch {
                mut ops,
                number,
                closing,
                force,
                durable,
            } = batch;
            let result = self.commit(&mut ops, force, durable);
            // Reuse the drained queue's allocation for the next batch.
            ops.clear();
            self.spare = ops;
            // Publish the commit and, under the same lock, take what queued meanwhile: the
            // next commit starts without another round on the lock the appenders share.
            let shared = self.shared.clone();
            let mut st = lock(&shared.state);
            match result {
                Ok(checkpoint) => {
                    if let Some(checkpoint) = checkpoint {
                        self.unpublished = Some(checkpoint);
                    }
                    if let Some(seq) = self.frontier.size().checked_sub(1) {
                        st.head = Some(Head {
                            seq,
                            hash: self.chain_head,
                        });
                    }
                    // Only a durable checkpoint is handed out: one a crash could take back
                    // would later look like a log that lost entries.
                    if durable {
                        st.committed = self.frontier.size();
                        if let Some(checkpoint) = self.unpublished.take() {
                            st.checkpoint = Some(checkpoint);
                        }
                    }
                    st.batches_done = number;
                }
                Err(e) => st.failed = Some(Arc::new(e)),
            }
            let stop = st.failed.is_some() || (closing && st.pending.is_empty());
            if !stop && self.has_work(&st) {
                next = Some(self.take(&mut st));
            }
            drop(st);
            // Wake the waiters after releasing the lock they need, so that they do not wake
            // only to block on it.
            shared.notify_committed(number);
            if stop {
                return;
            }
        }
    }

    /// The key stored under `row_key`: as this batch left it, else as the key file has it.
    fn current_key(
        &self,
        changes: &HashMap<Vec<u8>, Option<[u8; 32]>>,
        row_key: &[u8],
    ) -> Result<Option<[u8; 32]>, CommitError> {
        if let Some(change) = changes.get(row_key) {
            return Ok(*change);
        }
        let guard = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let Some(db) = guard.as_ref() else {
            return Ok(None);
        };
        let txn = db.begin_read().map_err(redb::Error::from)?;
        let table = txn.open_table(keyfile::KEYS).map_err(redb::Error::from)?;
        Ok(table
            .get(row_key)
            .map_err(redb::Error::from)?
            .and_then(|v| v.value().try_into().ok()))
    }

    fn sign(&self, subject_keys: SubjectKeys) -> Checkpoint {
        Checkpoint::sign(
            self.frontier.size(),
            self.frontier.root(),
            self.chain_head,
            now_ms().max(self.last_time),
            subject_keys,
            &self.key,
        )
    }

    /// Writes `ops` in one transaction and commits it. A checkpoint is signed whenever the
    /// tree reaches `every` entries past the previous one, and at the end of the batch if
    /// `force` is set, the interval has passed or a subject key was erased (so that the
    /// erasure is covered by a signature when `forget` returns). Returns the last checkpoint
    /// signed.
    fn commit(
        &mut self,
        ops: &mut Vec<Op>,
        force: bool,
        durable: bool,
    ) -> Result<Option<Checkpoint>, CommitError> {
        // Nothing to write, nothing a checkpoint would cover that the last one does not, and
        // nothing committed without an fsync (e.g. closing a log that took no entry): a
        // transaction would only cost an fsync.
        if ops.is_empty()
            && self.frontier.size() == self.last_checkpoint_size
            && self.subject_keys.events == self.last_checkpoint_events
            && !(durable && self.unsynced)
        {
            return Ok(None);
        }
        let mut txn = self.db.begin_write().map_err(redb::Error::from)?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(redb::Error::from)?;
        let mut signed = Vec::new();
        let mut last_size = self.last_checkpoint_size;
        let mut last_events = self.last_checkpoint_events;
        let mut subject_keys = self.subject_keys;
        let mut erased = false;
        // Key changes of this batch, by row key (`None`: destroyed), applied to the key file
        // around the log commit (see `crate::keyfile`). Most batches have none.
        let mut changes: HashMap<Vec<u8>, Option<[u8; 32]>> = HashMap::new();
        {
            let mut entries = txn.open_table(ENTRIES).map_err(redb::Error::from)?;
            let mut nodes = txn
                .open_table(self.layout.table())
                .map_err(redb::Error::from)?;
            let mut events = None;
            let mut sources = None;
            let mut log_event = |kind: u8,
                                 row: [u8; 32],
                                 subject_keys: &mut SubjectKeys|
             -> Result<(), CommitError> {
                let table = match &mut events {
                    Some(table) => table,
                    None => events.insert(txn.open_table(SUBJECT_LOG).map_err(redb::Error::from)?),
                };
                let event = Event::next(&subject_keys.head.0, kind, row);
                table
                    .insert(subject_keys.events, event.to_stored().as_slice())
                    .map_err(redb::Error::from)?;
                subject_keys.events += 1;
                subject_keys.head = crate::Hash(event.chain);
                Ok(())
            };
            // The hashes of the nodes one entry completes, lowest level first (at most 63).
            let mut row = [0u8; 32 * 64];
            let mut completed = Vec::with_capacity(8);
            for op in ops.drain(..) {
                match op {
                    Op::Entry {
                        seq,
                        time,
                        mut value,
                    } => {
                        debug_assert_eq!(seq, self.frontier.size());
                        // `append` made the room (a panic here fails the log, see `run`).
                        let (chain, encoded) = value.split_at_mut(CHAIN_LEN);
                        let leaf = merkle::leaf_hash(encoded);
                        self.chain_head = merkle::chain_hash(&self.chain_head, &leaf);
                        chain.copy_from_slice(&self.chain_head);
                        entries
                            .insert(seq, value.as_slice())
                            .map_err(redb::Error::from)?;
                        self.last_time = time;
                        self.frontier.push(leaf, |level, index, hash| {
                            completed.push((level, index, hash));
                        });
                        match self.layout {
                            Layout::RowPerLeaf => {
                                let mut len = 0;
                                for (_, _, hash) in completed.drain(..) {
                                    if let Some(slot) = row.get_mut(len..len + 32) {
                                        slot.copy_from_slice(&hash);
                                        len += 32;
                                    }
                                }
                                if len > 0 {
                                    nodes.insert(seq, &row[..len]).map_err(redb::Error::from)?;
                                }
                            }
                            Layout::NodePerRow => {
                                for (level, index, hash) in completed.drain(..) {
                                    nodes
                                        .insert(store::node_key(level, index), hash.as_slice())
                                        .map_err(redb::Error::from)?;
                                }
                            }
                        }
                        if self.frontier.size() - last_size >= self.every {
                            signed.push(self.sign(subject_keys));
                            last_size = self.frontier.size();
                            last_events = subject_keys.events;
                        }
                    }
                    Op::PutKey { subject, key } => {
                        let row_key = subject::row_key(&subject);
                        let replaced = self
                            .current_key(&changes, &row_key)?
                            .map(|old| keylog::row_hash(&row_key, &old));
                        changes.insert(row_key.clone(), Some(key));
                        // A key is put only where there is none; were one there, its
                        // replacement is an erasure followed by a creation.
                        if let Some(row) = replaced {
                            log_event(keylog::ERASED, row, &mut subject_keys)?;
                            erased = true;
                        }
                        log_event(
                            keylog::CREATED,
                            keylog::row_hash(&row_key, &key),
                            &mut subject_keys,
                        )?;
                    }
                    Op::PutSource { digest, value } => {
                        // The table is created by the first source stored (see
                        // `crate::source`).
                        let table = match &mut sources {
                            Some(table) => table,
                            None => {
                                sources.insert(txn.open_table(SOURCES).map_err(redb::Error::from)?)
                            }
                        };
                        table
                            .insert(digest.as_str(), value.as_slice())
                            .map_err(redb::Error::from)?;
                    }
                    Op::SourceErased { digest } => {
                        log_event(
                            keylog::SOURCE_ERASED,
                            keylog::source_erased_row(&digest),
                            &mut subject_keys,
                        )?;
                        erased = true;
                    }
                    Op::DeleteKey { subject } => {
                        // The row, under its key or the older form of it. A subject without
                        // a key (never seen, or already erased) leaves no event: there is
                        // nothing to destroy.
                        for row_key in subject::row_keys(&subject) {
                            let removed = self
                                .current_key(&changes, &row_key)?
                                .map(|old| keylog::row_hash(&row_key, &old));
                            if let Some(row) = removed {
                                changes.insert(row_key, None);
                                log_event(keylog::ERASED, row, &mut subject_keys)?;
                                erased = true;
                            }
                        }
                    }
                }
            }
            // New keys are durable before the entries that use them. While the batch also
            // destroys keys, the file is marked unsettled until it is rewritten.
            let puts: Vec<(&Vec<u8>, &[u8; 32])> = changes
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                .collect();
            if !puts.is_empty() {
                let guard = self.keys.read().unwrap_or_else(PoisonError::into_inner);
                let db = guard.as_ref().ok_or(KeyFileError::Closed)?;
                let mut ktxn = db.begin_write().map_err(redb::Error::from)?;
                ktxn.set_durability(Durability::Immediate)
                    .map_err(redb::Error::from)?;
                {
                    let mut table = ktxn.open_table(keyfile::KEYS).map_err(redb::Error::from)?;
                    for (k, v) in &puts {
                        table
                            .insert(k.as_slice(), v.as_slice())
                            .map_err(redb::Error::from)?;
                    }
                    let mut meta = ktxn
                        .open_table(keyfile::KEYS_META)
                        .map_err(redb::Error::from)?;
                    let settled = if erased {
                        keyfile::UNSETTLED
                    } else {
                        subject_keys.events
                    };
                    meta.insert(keyfile::EVENTS, settled)
                        .map_err(redb::Error::from)?;
                }
                ktxn.commit().map_err(redb::Error::from)?;
            }
            let size = self.frontier.size();
            // A checkpoint at size 0 is never signed: there is no entry to cover.
            let changed = size > last_size || subject_keys.events > last_events;
            if size > 0
                && changed
                && (force || erased || self.last_checkpoint_at.elapsed() >= self.interval)
            {
                signed.push(self.sign(subject_keys));
            }
            if !signed.is_empty() {
                let mut table = txn.open_table(CHECKPOINTS).map_err(redb::Error::from)?;
                for checkpoint in &signed {
                    table
                        .insert(checkpoint.tree_size, checkpoint.to_stored().as_slice())
                        .map_err(redb::Error::from)?;
                }
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        self.unsynced = !durable;
        if erased {
            // The erasure is committed: now no byte of the key file may keep the keys.
            let destroyed: HashSet<&Vec<u8>> = changes
                .iter()
                .filter_map(|(k, v)| v.is_none().then_some(k))
                .collect();
            keyfile::rewrite(
                &self.keys_path,
                &self.keys,
                |k, _| !destroyed.contains(&k.to_vec()),
                subject_keys.events,
                self.shared_readers,
            )?;
        }
        self.subject_keys = subject_keys;
        let last = signed.pop();
        if let Some(c) = &last {
            self.last_checkpoint_size = c.tree_size;
            self.last_checkpoint_events = c.subject_keys.map_or(0, |k| k.events);
            self.last_checkpoint_at = Instant::now();
        }
        Ok(last)
    }
}
