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

use redb::{ReadableTable, ReadableTableMetadata};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::encoding::{self, DecodeError};
use crate::merkle::{self, Frontier};
use crate::store::{self, CHECKPOINTS, ReadError, Store};
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
    /// The store lacks Merkle nodes that the entries complete.
    #[error("{missing} merkle nodes are missing")]
    MissingNodes {
        /// How many.
        missing: u64,
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
            | VerifyError::TimeReversed { seq } => Some(*seq),
            VerifyError::CheckpointMismatch { first_seq, .. } => Some(*first_seq),
            VerifyError::BadNode { first_seq, .. } => Some(*first_seq),
            VerifyError::Truncated { entries, .. } => Some(*entries),
            VerifyError::Read(_)
            | VerifyError::BadSignature { .. }
            | VerifyError::MalformedCheckpoint { .. }
            | VerifyError::TrustedMismatch { .. }
            | VerifyError::MissingNodes { .. } => None,
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
        let mut frontier = Frontier::default();
        // The recomputed interior nodes, by level (index 0 is level 1).
        let mut levels: Vec<Vec<[u8; 32]>> = Vec::new();
        let mut chain = [0u8; 32];
        let mut last_time = 0u64;
        let mut expected = 0u64;
        let mut next_checkpoint = checkpoints.iter().peekable();
        let mut previous_checkpoint = 0u64;
        for row in tree.entries.iter()? {
            let (k, v) = row?;
            let seq = k.value();
            if seq != expected {
                return Err(VerifyError::Missing { seq: expected });
            }
            let value = v.value();
            let malformed = |source| VerifyError::Malformed { seq, source };
            let (stored_chain, bytes) = value
                .split_first_chunk::<32>()
                .ok_or(malformed(DecodeError::Truncated { at: value.len() }))?;
            let (found, time) = encoding::decode_header(bytes).map_err(malformed)?;
            if found != seq {
                return Err(VerifyError::Reordered { seq, found });
            }
            if time < last_time {
                return Err(VerifyError::TimeReversed { seq });
            }
            last_time = time;
            let leaf = merkle::leaf_hash(bytes);
            chain = merkle::chain_hash(&chain, &leaf);
            if &chain != stored_chain {
                return Err(VerifyError::Changed { seq });
            }
            frontier.push(leaf, |level, index, hash| {
                let at = (level - 1) as usize;
                if levels.len() <= at {
                    levels.resize_with(at + 1, Vec::new);
                }
                debug_assert_eq!(levels[at].len() as u64, index);
                levels[at].push(hash);
            });
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

        let mut stored_nodes = 0u64;
        for row in tree.nodes.iter()? {
            let (k, v) = row?;
            let (level, index) = store::split_node_key(k.value());
            let first_seq = index.checked_shl(level).unwrap_or(u64::MAX);
            let bad = VerifyError::BadNode {
                level,
                index,
                first_seq,
            };
            let recomputed = usize::try_from(level)
                .ok()
                .and_then(|l| levels.get(l.checked_sub(1)?))
                .and_then(|nodes| nodes.get(usize::try_from(index).ok()?));
            if recomputed.map(|h| h.as_slice()) != Some(v.value()) {
                return Err(bad);
            }
            stored_nodes += 1;
        }
        let produced: u64 = levels.iter().map(|l| l.len() as u64).sum();
        if produced != stored_nodes {
            return Err(VerifyError::MissingNodes {
                missing: produced - stored_nodes.min(produced),
            });
        }
        debug_assert_eq!(tree.nodes.len().unwrap_or(0), stored_nodes);

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
