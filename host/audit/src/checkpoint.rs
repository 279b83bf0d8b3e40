//! Signed checkpoints: the log's state at a point, signed with the log's ed25519 key.
//!
//! The signature covers the bytes (big-endian)
//!
//! ```text
//! version 1: "cordon.audit.checkpoint.v1\0" tree_size:u64 root:u8[32] chain_head:u8[32] time_ms:u64
//! version 2: "cordon.audit.checkpoint.v2\0" tree_size:u64 root:u8[32] chain_head:u8[32] time_ms:u64
//!            subject_events:u64 subject_head:u8[32]
//! ```
//!
//! where `root` is the Merkle root of the first `tree_size` entries, `chain_head` the chain
//! hash of entry `tree_size - 1`, and (version 2) `subject_events` and `subject_head` the
//! number of events of the subject-key log and its chain hash after the last of them (see
//! [`crate::keylog`]). A checkpoint is stored as the bytes after the domain string (80 or 112),
//! followed by the 64-byte signature; the length tells the version. This crate signs version
//! 2 only; version 1 checkpoints (written before the subject keys were covered) still verify.

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::{Hash, PublicKey};

const DOMAIN_V1: &[u8] = b"cordon.audit.checkpoint.v1\0";
const DOMAIN_V2: &[u8] = b"cordon.audit.checkpoint.v2\0";
const BODY_V1_LEN: usize = 8 + 32 + 32 + 8;
const BODY_V2_LEN: usize = BODY_V1_LEN + 8 + 32;
const SIGNATURE_LEN: usize = 64;

/// The state of the subject-key log a version 2 checkpoint signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectKeys {
    /// How many events the subject-key log had.
    pub events: u64,
    /// Its chain hash after the last of them (zeros when there are none).
    pub head: Hash,
}

/// A signed statement of the log's size, Merkle root and chain head at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many entries the checkpoint covers (sequence numbers `0..tree_size`).
    pub tree_size: u64,
    /// The Merkle root of those entries.
    pub root: Hash,
    /// The chain hash of the last entry covered.
    pub chain_head: Hash,
    /// Unix time in milliseconds when it was signed.
    pub time_ms: u64,
    /// The subject-key log it covers (version 2); `None` in a version 1 checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_keys: Option<SubjectKeys>,
    /// The ed25519 signature, hex.
    #[serde(with = "crate::hex::bytes")]
    pub signature: Vec<u8>,
}

/// A checkpoint whose signature does not verify.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint at tree size {tree_size} has a bad signature")]
pub struct BadSignature {
    /// The checkpoint's tree size.
    pub tree_size: u64,
}

impl Checkpoint {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BODY_V2_LEN);
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.root.0);
        out.extend_from_slice(&self.chain_head.0);
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        if let Some(keys) = &self.subject_keys {
            out.extend_from_slice(&keys.events.to_be_bytes());
            out.extend_from_slice(&keys.head.0);
        }
        out
    }

    fn message(&self) -> Vec<u8> {
        let domain = match self.subject_keys {
            None => DOMAIN_V1,
            Some(_) => DOMAIN_V2,
        };
        let mut msg = Vec::with_capacity(domain.len() + BODY_V2_LEN);
        msg.extend_from_slice(domain);
        msg.extend_from_slice(&self.body());
        msg
    }

    pub(crate) fn sign(
        tree_size: u64,
        root: [u8; 32],
        chain_head: [u8; 32],
        time_ms: u64,
        subject_keys: SubjectKeys,
        key: &SigningKey,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            tree_size,
            root: Hash(root),
            chain_head: Hash(chain_head),
            time_ms,
            subject_keys: Some(subject_keys),
            signature: Vec::new(),
        };
        checkpoint.signature = key.sign(&checkpoint.message()).to_bytes().to_vec();
        checkpoint
    }

    /// Checks the signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<(), BadSignature> {
        let bad = || BadSignature {
            tree_size: self.tree_size,
        };
        let bytes: [u8; 64] = self.signature.as_slice().try_into().map_err(|_| bad())?;
        key.0
            .verify_strict(&self.message(), &Signature::from_bytes(&bytes))
            .map_err(|_| bad())
    }

    pub(crate) fn to_stored(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the stored form; `None` if it has the wrong length.
    pub fn from_stored(bytes: &[u8]) -> Option<Checkpoint> {
        let body_len = bytes.len().checked_sub(SIGNATURE_LEN)?;
        if body_len != BODY_V1_LEN && body_len != BODY_V2_LEN {
            return None;
        }
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let hash_at =
            |at: usize| -> Option<Hash> { Some(Hash(bytes.get(at..at + 32)?.try_into().ok()?)) };
        Some(Checkpoint {
            tree_size: u64_at(0)?,
            root: hash_at(8)?,
            chain_head: hash_at(40)?,
            time_ms: u64_at(72)?,
            subject_keys: if body_len == BODY_V2_LEN {
                Some(SubjectKeys {
                    events: u64_at(80)?,
                    head: hash_at(88)?,
                })
            } else {
                None
            },
            signature: bytes.get(body_len..)?.to_vec(),
        })
    }
}
