//! The redb layout and read access to it.
//!
//! Tables:
//!
//! | table          | key                           | value                                   |
//! |----------------|-------------------------------|-----------------------------------------|
//! | `entries`      | seq (u64)                     | chain hash (32) ‖ encoded entry         |
//! | `merkle`       | seq (u64)                     | hashes (32 each) of the nodes it completes |
//! | `checkpoints`  | tree size (u64)               | checkpoint body (80) ‖ signature (64)   |
//! | `subject_keys` | a user's subject bytes; any other subject's 0xff ‖ blake3(subject bytes) | commitment key (32); kept in the key file, see below |
//! | `subject_log`  | event number (u64)            | chain (32) ‖ kind (1) ‖ row hash (32), see [`crate::keylog`] |
//! | `sources`      | source digest (64 hex)        | 0 (u8; rows written before: a language's length ‖ it) ‖ source text, see [`crate::source`] |
//! | `meta`         | name                          | `format` (u8 = 2), `public_key` (32)    |
//!
//! The `sources` table is created by the first source a writer stores: logs that never ran
//! source have none, and are read as holding no source.
//!
//! The commitment keys live in a file of their own beside the log, `audit-keys.redb`, with a
//! `subject_keys` table of the same layout, so that destroying a key can rewrite that small
//! file and leave no byte of the key behind ([`crate::keyfile`]). The log file's own
//! `subject_keys` table holds the keys of a log written before the key file existed until a
//! writer opens it (it moves them) and stays empty after that.
//!
//! Leaf hashes (level 0) are not stored: they are recomputed from the entry bytes. Every
//! perfect subtree's root is stored in the commit that stores its last leaf, so any RFC 9162
//! subtree hash, and so any proof, takes O(log n) reads.
//!
//! Entry `seq` completes the perfect subtrees at levels 1 to `seq.trailing_ones()` (the node at
//! level `l` covers entries `seq + 1 - 2^l ..= seq`); their hashes, lowest level first, are one
//! `merkle` row under key `seq`, and entries that complete none have no row. Rows are written in
//! the order entries are, so a commit adds to one or two B-tree leaves of `merkle` however many
//! nodes its entries complete.
//!
//! Format 1 stores (written before) keep each node as its own row of a `nodes` table, keyed
//! `level << 56 | index`: this crate still reads, verifies and appends to them in that layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    Builder, ConcurrencyMode, Database, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction,
    ReadableDatabase, ReadableTable, TableDefinition, TableError,
};

use crate::keyfile::{self, SharedKeys};

use crate::checkpoint::Checkpoint;
use crate::encoding::{self, DecodeError, LoggedEntry};
use crate::merkle::{self, ConsistencyProof, InclusionProof, NodeSource, ProofError};
use crate::source::{self, StoredSource};
use crate::subject::Subject;

pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
pub(crate) const MERKLE: TableDefinition<u64, &[u8]> = TableDefinition::new("merkle");
/// The Merkle nodes of a format 1 store, one row per node.
pub(crate) const NODES_V1: TableDefinition<u64, &[u8]> = TableDefinition::new("nodes");
pub(crate) const CHECKPOINTS: TableDefinition<u64, &[u8]> = TableDefinition::new("checkpoints");
pub(crate) const SUBJECT_KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subject_keys");
/// The events that changed `subject_keys`, chained (see [`crate::keylog`]).
pub(crate) const SUBJECT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("subject_log");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The source texts of source runs by digest (see [`crate::source`]).
pub(crate) const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("sources");

/// The store format this crate creates.
pub(crate) const STORE_FORMAT: u8 = 2;

/// How a store keeps its Merkle nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Format 1: one `nodes` row per node, keyed [`node_key`].
    NodePerRow,
    /// Format 2: one `merkle` row per entry that completes nodes, keyed by its seq.
    RowPerLeaf,
}

impl Layout {
    /// The layout of a store of `format`, if this crate knows it.
    pub(crate) fn of_format(format: u8) -> Option<Layout> {
        match format {
            1 => Some(Layout::NodePerRow),
            2 => Some(Layout::RowPerLeaf),
            _ => None,
        }
    }

    /// The table that holds the nodes.
    pub(crate) fn table(self) -> TableDefinition<'static, u64, &'static [u8]> {
        match self {
            Layout::NodePerRow => NODES_V1,
            Layout::RowPerLeaf => MERKLE,
        }
    }
}

/// The format byte of a `meta` table's `format` value (0 when empty).
pub(crate) fn format_byte(value: &[u8]) -> u8 {
    value.first().copied().unwrap_or(0)
}

/// The last leaf under the perfect subtree at `level` (≥ 1), `index`: the entry whose `merkle`
/// row holds that subtree's root, at offset `32 * (level - 1)`.
pub(crate) fn last_leaf(level: u32, index: u64) -> u64 {
    (index << level) | ((1u64 << level) - 1)
}

/// The key of a Merkle node in a format 1 `nodes` table.
pub(crate) fn node_key(level: u32, index: u64) -> u64 {
    (u64::from(level) << 56) | index
}

/// The level and index of a `nodes` key.
pub(crate) fn split_node_key(key: u64) -> (u32, u64) {
    ((key >> 56) as u32, key & ((1u64 << 56) - 1))
}

/// A redb builder for the log. With `shared_readers`, one writer process and any number of
/// read-only processes may have the file open at once (redb then commits in two phases);
/// without, the writer holds the file exclusively. Read-only handles always ask for the
/// shared mode: they can open the file when no writer has it, or beside a shared writer.
pub(crate) fn builder(shared_readers: bool) -> Builder {
    let mut builder = Builder::new();
    builder.set_concurrency_mode(if shared_readers {
        ConcurrencyMode::SingleWriter
    } else {
        ConcurrencyMode::ExclusiveWriter
    });
    builder
}

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened.
    #[error("cannot open the log at `{path}`")]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// The file is not a decision log.
    #[error("the store has no `{table}` table: it is not a cordon decision log")]
    NotALog {
        /// The missing table.
        table: &'static str,
    },
    /// redb failed.
    #[error("storage error")]
    Storage(#[from] redb::Error),
    /// The store was written in a format this crate does not know (a newer one).
    #[error("the log has unknown store format {format}")]
    UnknownFormat {
        /// The format byte found.
        format: u8,
    },
    /// A stored entry does not decode.
    #[error("stored entry {seq} is malformed")]
    Malformed {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        source: DecodeError,
    },
    /// An entry that should exist does not.
    #[error("entry {seq} is missing")]
    MissingEntry {
        /// Its sequence number.
        seq: u64,
    },
    /// An event of the subject-key log does not parse.
    #[error("subject-key event {index} is malformed")]
    BadSubjectEvent {
        /// Its number.
        index: u64,
    },
    /// The subject-key file could not be opened.
    #[error("cannot open the subject-key file `{path}`")]
    OpenKeys {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: redb::DatabaseError,
    },
    /// The subject-key file is being rewritten or could not be reopened after a rewrite.
    #[error("the subject-key file is not open")]
    KeysClosed,
    /// A stored source's row does not parse.
    #[error("the stored source `{digest}` is malformed")]
    BadSource {
        /// The digest it is stored under.
        digest: String,
    },
    /// A Merkle node that should exist does not, or has the wrong length.
    #[error("merkle node at level {level}, index {index} is missing or malformed")]
    BadNode {
        /// Its level.
        level: u32,
        /// Its index.
        index: u64,
    },
}

impl ReadError {
    /// Whether the log could not be opened because another process holds it (a host running
    /// without [`crate::LogOptions::shared_readers`]).
    pub fn is_held_elsewhere(&self) -> bool {
        matches!(
            self,
            ReadError::Open {
                source: redb::DatabaseError::DatabaseAlreadyOpen,
                ..
            } | ReadError::OpenKeys {
                source: redb::DatabaseError::DatabaseAlreadyOpen,
                ..
            }
        )
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for ReadError {
            fn from(e: $t) -> ReadError {
                ReadError::Storage(e.into())
            }
        }
    )*};
}
from_redb!(redb::TransactionError, redb::StorageError);

impl From<TableError> for ReadError {
    fn from(e: TableError) -> ReadError {
        match e {
            TableError::TableDoesNotExist(name) => ReadError::NotALog {
                table: match name.as_str() {
                    "entries" => "entries",
                    "nodes" => "nodes",
                    "merkle" => "merkle",
                    "checkpoints" => "checkpoints",
                    "subject_keys" => "subject_keys",
                    "subject_log" => "subject_log",
                    "sources" => "sources",
                    _ => "meta",
                },
            },
            e => ReadError::Storage(e.into()),
        }
    }
}

#[derive(Clone)]
enum Db {
    Writable(Arc<Database>),
    ReadOnly(Arc<ReadOnlyDatabase>),
}

/// Read access to a decision log: entries, checkpoints, proofs, queries, bundles, verification.
///
/// Opened on its own with [`Store::open`] (read-only; works while a host has the log open for
/// writing) or taken from a running log with [`crate::AuditLog::store`].
#[derive(Clone)]
pub struct Store {
    db: Db,
    layout: Layout,
    keys: Keys,
}

/// Where a store's subject keys are.
#[derive(Clone)]
pub(crate) enum Keys {
    /// A live log's key file, which its writer rewrites on erasure.
    Live(SharedKeys),
    /// A key file opened read-only.
    ReadOnly(Arc<ReadOnlyDatabase>),
    /// A key file opened for writing to repair it, and only read.
    Repaired(Arc<Database>),
    /// No key file: the log file's own `subject_keys` table (a log written before key files
    /// existed, not opened by a writer since).
    InLog,
}

/// The split of a stored entry value into chain hash and entry bytes.
pub(crate) fn split_value(seq: u64, value: &[u8]) -> Result<(&[u8; 32], &[u8]), ReadError> {
    let (chain, bytes) = value
        .split_first_chunk::<32>()
        .ok_or(ReadError::Malformed {
            seq,
            source: DecodeError::Truncated { at: value.len() },
        })?;
    Ok((chain, bytes))
}

pub(crate) struct Tree {
    pub(crate) entries: ReadOnlyTable<u64, &'static [u8]>,
    pub(crate) nodes: ReadOnlyTable<u64, &'static [u8]>,
    pub(crate) layout: Layout,
}

impl NodeSource for Tree {
    type Error = ReadError;

    fn perfect(&self, level: u32, index: u64) -> Result<[u8; 32], ReadError> {
        if level == 0 {
            let value = self
                .entries
                .get(index)?
                .ok_or(ReadError::MissingEntry { seq: index })?;
            let (_, bytes) = split_value(index, value.value())?;
            return Ok(merkle::leaf_hash(bytes));
        }
        let bad = || ReadError::BadNode { level, index };
        let (key, at) = match self.layout {
            Layout::NodePerRow => (node_key(level, index), 0),
            Layout::RowPerLeaf => (last_leaf(level, index), 32 * (level as usize - 1)),
        };
        let value = self.nodes.get(key)?.ok_or_else(bad)?;
        value
            .value()
            .get(at..at + 32)
            .and_then(|hash| hash.try_into().ok())
            .filter(|_| self.layout == Layout::RowPerLeaf || value.value().len() == 32)
            .ok_or_else(bad)
    }
}

impl Store {
    /// Opens the log at `path` read-only. This works while no process has the log open, or
    /// beside a writer opened with [`crate::LogOptions::shared_readers`].
    ///
    /// If the log was not closed cleanly (the host crashed) and no process has it open, redb
    /// must first repair its allocation state, which a read-only handle cannot do: the log is
    /// then opened for writing, repaired, and only read. Repair never changes an entry.
    pub fn open(path: &Path) -> Result<Store, ReadError> {
        let open_error = |source| ReadError::Open {
            path: path.to_owned(),
            source,
        };
        let db = match builder(true).open_read_only(path) {
            Ok(db) => Db::ReadOnly(Arc::new(db)),
            Err(redb::DatabaseError::RepairAborted) => {
                Db::Writable(Arc::new(builder(false).open(path).map_err(open_error)?))
            }
            Err(e) => return Err(open_error(e)),
        };
        let keys_path = keyfile::keys_path(path);
        let keys = if keys_path.exists() {
            let open_error = |source| ReadError::OpenKeys {
                path: keys_path.clone(),
                source,
            };
            match builder(true).open_read_only(&keys_path) {
                Ok(db) => Keys::ReadOnly(Arc::new(db)),
                Err(redb::DatabaseError::RepairAborted) => Keys::Repaired(Arc::new(
                    builder(false).open(&keys_path).map_err(open_error)?,
                )),
                Err(e) => return Err(open_error(e)),
            }
        } else {
            Keys::InLog
        };
        let mut store = Store {
            db,
            layout: Layout::RowPerLeaf,
            keys,
        };
        let txn = store.begin_read()?;
        let meta = txn.open_table(META)?;
        let format = meta.get("format")?.map_or(0, |v| format_byte(v.value()));
        store.layout = Layout::of_format(format).ok_or(ReadError::UnknownFormat { format })?;
        drop(meta);
        drop(txn);
        Ok(store)
    }

    pub(crate) fn from_database(db: Arc<Database>, layout: Layout, keys: Keys) -> Store {
        Store {
            db: Db::Writable(db),
            layout,
            keys,
        }
    }

    /// Runs `f` on the `subject_keys` table, wherever it is (see [`Keys`]); a rewrite of the
    /// key file waits until `f` is done.
    pub(crate) fn with_keys<R, E: From<ReadError>>(
        &self,
        f: impl FnOnce(&ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<R, E>,
    ) -> Result<R, E> {
        let read = |txn: ReadTransaction, table| -> Result<R, E> {
            let table = txn.open_table(table).map_err(ReadError::from)?;
            f(&table)
        };
        match &self.keys {
            Keys::Live(shared) => {
                let guard = shared
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let db = guard.as_ref().ok_or(ReadError::KeysClosed)?;
                read(db.begin_read().map_err(ReadError::from)?, keyfile::KEYS)
            }
            Keys::ReadOnly(db) => read(db.begin_read().map_err(ReadError::from)?, keyfile::KEYS),
            Keys::Repaired(db) => read(db.begin_read().map_err(ReadError::from)?, keyfile::KEYS),
            Keys::InLog => read(self.begin_read()?, SUBJECT_KEYS),
        }
    }

    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, ReadError> {
        Ok(match &self.db {
            Db::Writable(db) => db.begin_read()?,
            Db::ReadOnly(db) => db.begin_read()?,
        })
    }

    pub(crate) fn tree(&self, txn: &ReadTransaction) -> Result<Tree, ReadError> {
        Ok(Tree {
            entries: txn.open_table(ENTRIES)?,
            nodes: txn.open_table(self.layout.table())?,
            layout: self.layout,
        })
    }

    /// How many entries the log holds (one past the highest sequence number).
    pub fn len(&self) -> Result<u64, ReadError> {
        let txn = self.begin_read()?;
        let entries = txn.open_table(ENTRIES)?;
        Ok(entries.last()?.map_or(0, |(k, _)| k.value() + 1))
    }

    /// Whether the log holds no entries.
    pub fn is_empty(&self) -> Result<bool, ReadError> {
        Ok(self.len()? == 0)
    }

    /// The source stored under `digest` (see [`crate::source`]): its exact text, or
    /// [`StoredSource::Erased`] if it named a subject since erased; `None` if the log holds
    /// no such source. The text is returned as stored: whether it still hashes to `digest` is
    /// for [`Store::verify`] to say.
    pub fn source(&self, digest: &str) -> Result<Option<StoredSource>, ReadError> {
        let txn = self.begin_read()?;
        let table = match txn.open_table(SOURCES) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(value) = table.get(digest)? else {
            return Ok(None);
        };
        let key = if source::is_sealed(value.value()) {
            self.source_key(digest)?
        } else {
            None
        };
        source::open_stored(value.value(), key.as_ref())
            .map(Some)
            .ok_or_else(|| ReadError::BadSource {
                digest: digest.to_owned(),
            })
    }

    /// The key that seals the source stored under `digest`, unless it was destroyed.
    pub(crate) fn source_key(&self, digest: &str) -> Result<Option<[u8; 32]>, ReadError> {
        let subject = crate::subject::source_key_bytes(digest);
        self.with_keys(|table| key_in(table, &subject))
    }

    /// The digests of the readable stored sources whose text names any of `ids` as a whole
    /// word (see [`crate::source`]): what erasing the subjects of `ids` must erase.
    pub(crate) fn sources_naming(&self, ids: &[&str]) -> Result<Vec<String>, ReadError> {
        let ids: Vec<&str> = ids.iter().copied().filter(|id| !id.is_empty()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.begin_read()?;
        let table = match txn.open_table(SOURCES) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        self.with_keys(|keys| {
            let mut named = Vec::new();
            for row in table.iter()? {
                let (digest, value) = row?;
                let digest = digest.value();
                // Plain rows (a log written before sources were sealed) cannot be erased:
                // see the module docs of `crate::source`.
                if !source::is_sealed(value.value()) {
                    continue;
                }
                let key = key_in(keys, &crate::subject::source_key_bytes(digest))?;
                if let Some(StoredSource::Text(code)) =
                    source::open_stored(value.value(), key.as_ref())
                    && ids.iter().any(|id| source::names(&code, id))
                {
                    named.push(digest.to_owned());
                }
            }
            Ok(named)
        })
    }

    /// The encoded bytes of entry `seq` (without the chain hash), if present.
    pub fn entry_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>, ReadError> {
        let txn = self.begin_read()?;
        let entries = txn.open_table(ENTRIES)?;
        let Some(value) = entries.get(seq)? else {
            return Ok(None);
        };
        Ok(Some(split_value(seq, value.value())?.1.to_vec()))
    }

    /// Entry `seq`, decoded, if present.
    pub fn entry(&self, seq: u64) -> Result<Option<LoggedEntry>, ReadError> {
        self.entry_bytes(seq)?
            .map(|bytes| {
                encoding::decode_entry(&bytes)
                    .map_err(|source| ReadError::Malformed { seq, source })
            })
            .transpose()
    }

    /// Every stored checkpoint, by tree size. Signatures are not checked here.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let checkpoint = Checkpoint::from_stored(v.value()).unwrap_or(Checkpoint {
                tree_size: k.value(),
                root: crate::Hash::default(),
                chain_head: crate::Hash::default(),
                time_ms: 0,
                subject_keys: None,
                signature: Vec::new(),
            });
            out.push(checkpoint);
        }
        Ok(out)
    }

    /// The latest stored checkpoint, if any. Its signature is not checked here.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ReadError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        Ok(table
            .last()?
            .and_then(|(_, v)| Checkpoint::from_stored(v.value())))
    }

    /// The public key recorded when the log was created.
    pub fn recorded_public_key(&self) -> Result<Option<crate::PublicKey>, ReadError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get("public_key")?.and_then(|v| {
            let bytes: [u8; 32] = v.value().try_into().ok()?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .ok()
                .map(crate::PublicKey)
        }))
    }

    /// The Merkle root of the first `tree_size` entries.
    pub fn root(&self, tree_size: u64) -> Result<[u8; 32], ReadError> {
        if tree_size == 0 {
            return Ok(merkle::empty_root());
        }
        let txn = self.begin_read()?;
        merkle::subtree_root(&self.tree(&txn)?, 0, tree_size)
    }

    /// The inclusion proof of entry `seq` in the tree of the first `tree_size` entries.
    pub fn inclusion_proof(&self, seq: u64, tree_size: u64) -> Result<InclusionProof, ProofError> {
        let txn = self.begin_read()?;
        let tree = self.tree(&txn)?;
        Store::inclusion_proof_in(&tree, seq, tree_size)
    }

    pub(crate) fn inclusion_proof_in(
        tree: &Tree,
        seq: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ProofError> {
        if seq >= tree_size {
            return Err(ProofError::LeafOutOfRange {
                leaf_index: seq,
                tree_size,
            });
        }
        let len = tree
            .entries
            .last()
            .map_err(ReadError::from)?
            .map_or(0, |(k, _)| k.value() + 1);
        if tree_size > len {
            return Err(ProofError::LeafOutOfRange {
                leaf_index: tree_size - 1,
                tree_size: len,
            });
        }
        Ok(InclusionProof {
            leaf_index: seq,
            tree_size,
            path: merkle::inclusion_path(tree, seq, tree_size)?,
        })
    }

    /// The consistency proof from the first `old_size` entries to the first `new_size`.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, ProofError> {
        let txn = self.begin_read()?;
        let tree = self.tree(&txn)?;
        let len = tree
            .entries
            .last()
            .map_err(ReadError::from)?
            .map_or(0, |(k, _)| k.value() + 1);
        if old_size == 0 || old_size > new_size || new_size > len {
            return Err(ProofError::BadSizes { old_size, new_size });
        }
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path: merkle::consistency_path(&tree, old_size, new_size)?,
        })
    }

    /// The commitment key of `subject`, if it has one (it has none if it never appeared or
    /// was erased).
    pub fn subject_key(&self, subject: &Subject) -> Result<Option<[u8; 32]>, ReadError> {
        let bytes = subject.to_bytes();
        self.with_keys(|table| key_in(table, &bytes))
    }
}

/// The key in `table` (a `subject_keys` table) of the subject whose canonical bytes are
/// `subject`: rows are keyed by a hash of the subject bytes, older rows by the bytes themselves.
pub(crate) fn key_in(
    table: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    subject: &[u8],
) -> Result<Option<[u8; 32]>, ReadError> {
    for key in crate::subject::row_keys(subject) {
        if let Some(v) = table.get(key.as_slice())? {
            return Ok(v.value().try_into().ok());
        }
    }
    Ok(None)
}
