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
//! What this cannot catch on its own: entries after the latest checkpoint removed together
//! with nothing else (a truncation back to a checkpoint), or the whole store replaced. Keep
//! the latest checkpoint somewhere else (`cordon audit checkpoint`) and pass it as trusted
//! ([`Store::verify_with`]) to rule those out.

use redb::{Range, ReadOnlyTable, ReadableTable};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::encoding::{self, DecodeError};
use crate::merkle::{self, Frontier};
use crate::store::{self, CHECKPOINTS, ReadError, Store};

/// Entries hashed per parallel step of verification: bounds memory whatever the log size.
const WINDOW: u64 = 1 << 16;
use crate::{Hash, PublicKey};

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
    /// A verification thread panicked.
    #[error("a verification thread failed")]
    WorkerPanicked,
}

impl VerifyError {
    /// The sequence number of the first entry found wrong, when one can be named.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            VerifyError::Missing { seq }
            | VerifyError::Reordered { seq, .. }
            | VerifyError::Changed { seq }
            | VerifyError::Malformed { seq, .. }
            | VerifyError::TimeReversed { seq } => Some(*seq),
            VerifyError::CheckpointMismatch { first_seq, .. } => Some(*first_seq),
            VerifyError::BadNode { first_seq, .. } | VerifyError::MissingNode { first_seq, .. } => {
                Some(*first_seq)
            }
            VerifyError::Truncated { entries, .. } => Some(*entries),
            VerifyError::Read(_)
            | VerifyError::BadSignature { .. }
            | VerifyError::MalformedCheckpoint { .. }
            | VerifyError::TrustedMismatch { .. }
            | VerifyError::ExtraNode { .. }
            | VerifyError::WorkerPanicked => None,
        }
    }
}

impl From<redb::StorageError> for VerifyError {
    fn from(e: redb::StorageError) -> VerifyError {
        VerifyError::Read(ReadError::Storage(e.into()))
    }
}

/// Verifies the log at `path` (opened read-only) with the checkpoint public key `key`.
///
/// See [`Store::verify`].
pub fn verify(path: &std::path::Path, key: &PublicKey) -> Result<VerifyReport, VerifyError> {
    Store::open(path)?.verify(key)
}

impl Store {
    /// Verifies the whole log: chain, tree, checkpoint signatures and stored nodes.
    pub fn verify(&self, key: &PublicKey) -> Result<VerifyReport, VerifyError> {
        self.verify_with(key, None)
    }

    /// Like [`Store::verify`], and also requires the store to match `trusted`, a checkpoint
    /// kept elsewhere (its signature is checked too).
    pub fn verify_with(
        &self,
        key: &PublicKey,
        trusted: Option<&Checkpoint>,
    ) -> Result<VerifyReport, VerifyError> {
        let txn = self.begin_read()?;
        let mut checkpoints = Vec::new();
        {
            let table = txn.open_table(CHECKPOINTS).map_err(ReadError::from)?;
            for row in table.iter()? {
                let (k, v) = row?;
                let tree_size = k.value();
                let checkpoint = Checkpoint::from_stored(v.value())
                    .filter(|c| c.tree_size == tree_size)
                    .ok_or(VerifyError::MalformedCheckpoint { tree_size })?;
                checkpoint
                    .verify(key)
                    .map_err(|_| VerifyError::BadSignature { tree_size })?;
                checkpoints.push(checkpoint);
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

        let tree = Store::tree(&txn)?;
        let len = tree.entries.last()?.map_or(0, |(k, _)| k.value() + 1);
        let mut frontier = Frontier::default();
        let mut nodes = NodeCheck::new(&tree.nodes);
        let mut node_error = None;
        let mut chain = [0u8; 32];
        let mut last_time = 0u64;
        let mut expected = 0u64;
        let mut next_checkpoint = checkpoints.iter().peekable();
        let mut previous_checkpoint = 0u64;
        let mut window_start = 0u64;
        while window_start < len {
            let window_end = len.min(window_start + WINDOW);
            // Hash the window's leaves on two threads; then walk it in order on this one.
            let mid = window_start + (window_end - window_start) / 2;
            let (first, second) = std::thread::scope(|s| {
                let entries = &tree.entries;
                let second = s.spawn(move || hash_rows(entries, mid, window_end));
                let first = hash_rows(entries, window_start, mid);
                (first, second.join())
            });
            let second = second.map_err(|_| VerifyError::WorkerPanicked)?;
            for row in first?.into_iter().chain(second?) {
                let seq = row.key;
                if seq != expected {
                    return Err(VerifyError::Missing { seq: expected });
                }
                let (found, time) = row
                    .header
                    .map_err(|source| VerifyError::Malformed { seq, source })?;
                if found != seq {
                    return Err(VerifyError::Reordered { seq, found });
                }
                if time < last_time {
                    return Err(VerifyError::TimeReversed { seq });
                }
                last_time = time;
                chain = merkle::chain_hash(&chain, &row.leaf);
                if chain != row.stored_chain {
                    return Err(VerifyError::Changed { seq });
                }
                frontier.push(row.leaf, |level, index, hash| {
                    if node_error.is_none() {
                        node_error = nodes.check(level, index, &hash).err();
                    }
                });
                if let Some(e) = node_error.take() {
                    return Err(e);
                }
                expected = seq + 1;
                while let Some(c) = next_checkpoint.next_if(|c| c.tree_size == expected) {
                    if c.root.0 != frontier.root() || c.chain_head.0 != chain {
                        if trusted == Some(c) {
                            return Err(VerifyError::TrustedMismatch {
                                tree_size: c.tree_size,
                            });
                        }
                        return Err(VerifyError::CheckpointMismatch {
                            tree_size: c.tree_size,
                            first_seq: previous_checkpoint,
                        });
                    }
                    previous_checkpoint = c.tree_size;
                }
            }
            window_start = window_end;
        }
        if let Some(c) = next_checkpoint.next() {
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
        nodes.finish()?;

        let latest = checkpoints.last().cloned();
        Ok(VerifyReport {
            entries: expected,
            head: (expected > 0).then_some(Hash(chain)),
            root: Hash(frontier.root()),
            checkpoints: checkpoints.len() as u64,
            unanchored: expected - latest.as_ref().map_or(0, |c| c.tree_size),
            latest_checkpoint: latest,
        })
    }
}

/// One stored entry, hashed.
struct Row {
    key: u64,
    stored_chain: [u8; 32],
    header: Result<(u64, u64), DecodeError>,
    leaf: [u8; 32],
}

/// Reads and hashes the entries stored under keys `start..end`.
fn hash_rows(
    entries: &ReadOnlyTable<u64, &'static [u8]>,
    start: u64,
    end: u64,
) -> Result<Vec<Row>, VerifyError> {
    let mut rows = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
    if start >= end {
        return Ok(rows);
    }
    for row in entries.range(start..end)? {
        let (k, v) = row?;
        let value = v.value();
        let (stored_chain, header, leaf) = match value.split_first_chunk::<32>() {
            Some((chain, bytes)) => (
                *chain,
                encoding::decode_header(bytes),
                merkle::leaf_hash(bytes),
            ),
            None => (
                [0u8; 32],
                Err(DecodeError::Truncated { at: value.len() }),
                [0u8; 32],
            ),
        };
        rows.push(Row {
            key: k.value(),
            stored_chain,
            header,
            leaf,
        });
    }
    Ok(rows)
}

/// Compares stored Merkle nodes with recomputed ones as they are completed, one cursor per
/// level (nodes of a level complete in index order).
struct NodeCheck<'a> {
    table: &'a ReadOnlyTable<u64, &'static [u8]>,
    levels: Vec<Range<'a, u64, &'static [u8]>>,
}

impl<'a> NodeCheck<'a> {
    fn new(table: &'a ReadOnlyTable<u64, &'static [u8]>) -> NodeCheck<'a> {
        NodeCheck {
            table,
            levels: Vec::new(),
        }
    }

    fn level_range(&self, level: u32) -> Result<Range<'a, u64, &'static [u8]>, VerifyError> {
        let start = store::node_key(level, 0);
        let end = store::node_key(level + 1, 0);
        Ok(self.table.range(start..end)?)
    }

    fn check(&mut self, level: u32, index: u64, hash: &[u8; 32]) -> Result<(), VerifyError> {
        let at = (level - 1) as usize;
        while self.levels.len() <= at {
            let next = u32::try_from(self.levels.len()).unwrap_or(u32::MAX) + 1;
            let range = self.level_range(next)?;
            self.levels.push(range);
        }
        let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
        let Some(row) = self.levels[at].next() else {
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

    /// Fails if any level has stored nodes beyond the recomputed tree.
    fn finish(mut self) -> Result<(), VerifyError> {
        for range in &mut self.levels {
            if let Some(row) = range.next() {
                let (k, _) = row?;
                let (level, index) = store::split_node_key(k.value());
                return Err(VerifyError::ExtraNode { level, index });
            }
        }
        // Level 0 (leaves are not stored) and the levels above the tallest recomputed one
        // must be empty.
        let above = u32::try_from(self.levels.len()).unwrap_or(u32::MAX) + 1;
        let mut stray = self.table.range(..store::node_key(1, 0))?;
        let mut high = self.table.range(store::node_key(above, 0)..)?;
        if let Some(row) = stray.next().or_else(|| high.next()) {
            let (k, _) = row?;
            let (level, index) = store::split_node_key(k.value());
            return Err(VerifyError::ExtraNode { level, index });
        }
        Ok(())
    }
}
