//! Signed checkpoints: the log's state at a point, signed with the log's ed25519 key.
//!
//! The signature covers the bytes
//!
//! ```text
//! "cordon.audit.checkpoint.v1\0" tree_size:u64 root:u8[32] chain_head:u8[32] time_ms:u64
//! ```
//!
//! (big-endian), where `root` is the Merkle root of the first `tree_size` entries and
//! `chain_head` the chain hash of entry `tree_size - 1`. A checkpoint is stored as those 80
//! bytes after the domain string, followed by the 64-byte signature.

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::{Hash, PublicKey};

const DOMAIN: &[u8] = b"cordon.audit.checkpoint.v1\0";
const BODY_LEN: usize = 8 + 32 + 32 + 8;
pub(crate) const STORED_LEN: usize = BODY_LEN + 64;

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
    fn body(&self) -> [u8; BODY_LEN] {
        let mut out = [0u8; BODY_LEN];
        out[..8].copy_from_slice(&self.tree_size.to_be_bytes());
        out[8..40].copy_from_slice(&self.root.0);
        out[40..72].copy_from_slice(&self.chain_head.0);
        out[72..].copy_from_slice(&self.time_ms.to_be_bytes());
        out
    }

    fn message(&self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(DOMAIN.len() + BODY_LEN);
        msg.extend_from_slice(DOMAIN);
        msg.extend_from_slice(&self.body());
        msg
    }

    pub(crate) fn sign(
        tree_size: u64,
        root: [u8; 32],
        chain_head: [u8; 32],
        time_ms: u64,
        key: &SigningKey,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            tree_size,
            root: Hash(root),
            chain_head: Hash(chain_head),
            time_ms,
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
        let mut out = Vec::with_capacity(STORED_LEN);
        out.extend_from_slice(&self.body());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the stored form; `None` if it has the wrong length.
    pub(crate) fn from_stored(bytes: &[u8]) -> Option<Checkpoint> {
        if bytes.len() != STORED_LEN {
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
            signature: bytes[BODY_LEN..].to_vec(),
        })
    }
}
