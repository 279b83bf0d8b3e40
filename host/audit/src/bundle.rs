//! Evidence bundles: the entries an auditor asked for, provable with nothing but a public key.
//!
//! A bundle is one JSON file:
//!
//! ```text
//! {
//!   "format": "cordon-audit-bundle/1",
//!   "query": { "user": "alice", ... },          what was asked for
//!   "checkpoint": { tree_size, root, chain_head, time_ms, signature },
//!   "disclosures": [ { "subject": {"user": "alice"}, "key": "<hex>" } ],
//!   "entries": [ { "seq": 7, "entry": "<hex of the canonical bytes>", "proof": ["<hex>", ...] } ]
//! }
//! ```
//!
//! [`verify_bundle`] checks the checkpoint's signature with the given public key, decodes each
//! entry (rejecting non-canonical bytes), checks its inclusion proof against the signed root,
//! checks that it matches the query, and opens the commitments the disclosures cover. The
//! bundle proves that each entry it holds is in the signed log; it cannot prove that no other
//! entry matches the query (that needs the full log).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::encoding::{self, DecodeError};
use crate::merkle::{self, InclusionProof, ProofError};
use crate::query::{self, Query, QueryError, RevealedEntry};
use crate::store::Store;
use crate::subject::{Disclosure, Subject};
use crate::{Hash, PublicKey};

/// The format string of the bundles this crate writes.
pub const BUNDLE_FORMAT: &str = "cordon-audit-bundle/1";

/// An evidence bundle. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The query the entries answer.
    pub query: Query,
    /// The public key of the log that exported it (informational: verify with a key you
    /// obtained independently).
    pub public_key: String,
    /// The signed checkpoint the proofs are against.
    pub checkpoint: Checkpoint,
    /// Subject keys that open the queried subjects' commitments.
    pub disclosures: Vec<Disclosure>,
    /// The entries, by sequence number.
    pub entries: Vec<BundleEntry>,
}

/// One entry of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEntry {
    /// Its sequence number.
    pub seq: u64,
    /// Its canonical encoding.
    #[serde(with = "crate::hex::bytes")]
    pub entry: Vec<u8>,
    /// Its inclusion path in the checkpoint's tree.
    pub proof: Vec<Hash>,
}

/// Why a bundle could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The log has no checkpoint yet.
    #[error("the log has no signed checkpoint to prove entries against")]
    NoCheckpoint,
    /// Selecting the entries failed.
    #[error("cannot select the entries")]
    Query(#[from] QueryError),
    /// A proof could not be made.
    #[error("cannot prove entry {seq}")]
    Proof {
        /// The entry.
        seq: u64,
        /// The cause.
        source: ProofError,
    },
    /// The bundle file could not be written.
    #[error("cannot write the bundle to `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bundle could not be serialised.
    #[error("cannot serialise the bundle")]
    Serialise(#[from] serde_json::Error),
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleVerifyError {
    /// The file could not be read.
    #[error("cannot read the bundle `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a bundle.
    #[error("the bundle is not valid json of the expected shape")]
    Parse(#[from] serde_json::Error),
    /// The format is not one this crate reads.
    #[error("unknown bundle format `{format}`")]
    UnknownFormat {
        /// The format found.
        format: String,
    },
    /// The checkpoint signature does not verify with the given key.
    #[error("the checkpoint at tree size {tree_size} has a bad signature for this public key")]
    BadSignature {
        /// The checkpoint's tree size.
        tree_size: u64,
    },
    /// An entry's bytes are not a canonical entry.
    #[error("entry {seq} is malformed")]
    Malformed {
        /// The entry.
        seq: u64,
        /// What is wrong.
        source: DecodeError,
    },
    /// An entry's bytes carry another sequence number than it is listed under.
    #[error("entry listed as {seq} carries sequence number {found}")]
    WrongSeq {
        /// The listed sequence number.
        seq: u64,
        /// The one in its bytes.
        found: u64,
    },
    /// Entries are not in strictly increasing order.
    #[error("entry {seq} is out of order or duplicated")]
    OutOfOrder {
        /// The entry.
        seq: u64,
    },
    /// An entry's inclusion proof does not hold against the checkpoint.
    #[error("entry {seq} is not proven to be in the signed log")]
    NotIncluded {
        /// The entry.
        seq: u64,
        /// Why.
        source: ProofError,
    },
    /// An entry does not match the bundle's query.
    #[error("entry {seq} does not match the bundle's query")]
    OutsideQuery {
        /// The entry.
        seq: u64,
    },
}

impl BundleVerifyError {
    /// The sequence number of the entry found wrong, if the failure concerns one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            BundleVerifyError::Malformed { seq, .. }
            | BundleVerifyError::WrongSeq { seq, .. }
            | BundleVerifyError::OutOfOrder { seq }
            | BundleVerifyError::NotIncluded { seq, .. }
            | BundleVerifyError::OutsideQuery { seq } => Some(*seq),
            _ => None,
        }
    }
}

/// What a verified bundle shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// The checkpoint every entry was proven against.
    pub checkpoint: Checkpoint,
    /// The query the bundle answers.
    pub query: Query,
    /// The entries, with the disclosed subjects opened.
    pub entries: Vec<RevealedEntry>,
}

impl Bundle {
    /// Parses a bundle from JSON.
    pub fn from_json(text: &str) -> Result<Bundle, BundleVerifyError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Reads a bundle file.
    pub fn read(path: &Path) -> Result<Bundle, BundleVerifyError> {
        let text = std::fs::read_to_string(path).map_err(|source| BundleVerifyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Bundle::from_json(&text)
    }

    /// The bundle as pretty JSON.
    pub fn to_json(&self) -> Result<String, ExportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the bundle to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ExportError> {
        std::fs::write(path, self.to_json()?).map_err(|source| ExportError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

impl Store {
    /// Exports the entries matching `query` that the latest checkpoint covers, with their
    /// inclusion proofs and the keys of the subjects the query names. (A running log should
    /// call [`crate::AuditLog::checkpoint`] first so that the newest entries are covered.)
    pub fn export_bundle(&self, query: &Query) -> Result<Bundle, ExportError> {
        self.export(query, false)
    }

    /// Like [`Store::export_bundle`], and also discloses the key of every user on whose
    /// behalf an exported entry was made (while that key lives), so that the bundle's reader
    /// sees who, and no more: only those users' commitments open.
    pub fn export_bundle_disclosing_users(&self, query: &Query) -> Result<Bundle, ExportError> {
        self.export(query, true)
    }

    fn export(&self, query: &Query, disclose_users: bool) -> Result<Bundle, ExportError> {
        let checkpoint = self
            .latest_checkpoint()
            .map_err(QueryError::from)?
            .ok_or(ExportError::NoCheckpoint)?;
        let public_key = self
            .recorded_public_key()
            .map_err(QueryError::from)?
            .map(|k| k.to_hex())
            .unwrap_or_default();
        let mut selection = self.select(query, checkpoint.tree_size)?;
        if disclose_users {
            let users = self
                .user_disclosures(selection.entries.iter().map(|(_, e)| e))
                .map_err(QueryError::from)?;
            for user in users {
                if !selection.disclosures.contains(&user) {
                    selection.disclosures.push(user);
                }
            }
        }
        let txn = self.begin_read().map_err(QueryError::from)?;
        let tree = self.tree(&txn).map_err(QueryError::from)?;
        let mut entries = Vec::with_capacity(selection.entries.len());
        for (bytes, entry) in selection.entries {
            let seq = entry.seq;
            let proof = Store::inclusion_proof_in(&tree, seq, checkpoint.tree_size)
                .map_err(|source| ExportError::Proof { seq, source })?;
            entries.push(BundleEntry {
                seq,
                entry: bytes,
                proof: proof.path,
            });
        }
        Ok(Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            query: query.clone(),
            public_key,
            checkpoint,
            disclosures: selection.disclosures,
            entries,
        })
    }
}

/// Verifies a bundle with nothing but the log's public key. See the [module docs](self).
///
/// ```
/// use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, Query, verify_bundle};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let log = AuditLog::open_in(dir.path())?;
/// for user in ["alice", "bob", "alice"] {
///     log.append(&Entry {
///         tenant: "acme".into(),
///         run_id: "run-1".into(),
///         component_digest: "sha256:c0ffee".into(),
///         policy_digest: "sha256:feed".into(),
///         agent: "summariser".into(),
///         user: Some(user.into()),
///         purpose: "support".into(),
///         engagement: "case-42".into(),
///         action: "fs:read".into(),
///         resource: "fs/notes.txt".into(),
///         decision: Decision::Allow,
///         policy_ids: vec!["allow-notes".into()],
///         records: None,
///         taint: None,
///         roles: vec!["support-agent".into()],
///         code: None,
///     })?;
/// }
/// log.checkpoint()?; // commit and sign everything appended so far
/// let query = Query { user: Some("alice".into()), ..Query::default() };
/// let bundle = log.store().export_bundle(&query)?;
/// let public_key = log.public_key();
/// log.close()?;
/// drop(dir); // the store is gone: the bundle and the public key are enough
///
/// let report = verify_bundle(&bundle, &public_key)?;
/// assert_eq!(report.entries.len(), 2);
/// assert!(report.entries.iter().all(|e| e.user.as_deref() == Some("alice")));
/// # Ok(())
/// # }
/// ```
pub fn verify_bundle(bundle: &Bundle, key: &PublicKey) -> Result<BundleReport, BundleVerifyError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(BundleVerifyError::UnknownFormat {
            format: bundle.format.clone(),
        });
    }
    let checkpoint = &bundle.checkpoint;
    checkpoint
        .verify(key)
        .map_err(|_| BundleVerifyError::BadSignature {
            tree_size: checkpoint.tree_size,
        })?;
    // The commitments of the subjects the query names, opened by the bundle's disclosures.
    let commitment_of = |subject: Option<Subject>| {
        let subject = subject?;
        bundle
            .disclosures
            .iter()
            .find(|d| d.subject == subject)
            .map(Disclosure::commitment)
    };
    let user = commitment_of(bundle.query.user.clone().map(Subject::User));
    let record = commitment_of(
        bundle
            .query
            .record
            .clone()
            .map(|(collection, id)| Subject::Record { collection, id }),
    );
    let mut previous: Option<u64> = None;
    let mut entries = Vec::with_capacity(bundle.entries.len());
    for item in &bundle.entries {
        let seq = item.seq;
        if previous.is_some_and(|p| p >= seq) {
            return Err(BundleVerifyError::OutOfOrder { seq });
        }
        previous = Some(seq);
        let entry = encoding::decode_entry(&item.entry)
            .map_err(|source| BundleVerifyError::Malformed { seq, source })?;
        if entry.seq != seq {
            return Err(BundleVerifyError::WrongSeq {
                seq,
                found: entry.seq,
            });
        }
        let proof = InclusionProof {
            leaf_index: seq,
            tree_size: checkpoint.tree_size,
            path: item.proof.clone(),
        };
        proof
            .verify(&merkle::leaf_hash(&item.entry), &checkpoint.root.0)
            .map_err(|source| BundleVerifyError::NotIncluded { seq, source })?;
        if !bundle.query.matches(&entry, user.as_ref(), record.as_ref()) {
            return Err(BundleVerifyError::OutsideQuery { seq });
        }
        entries.push(query::reveal(entry, &bundle.disclosures));
    }
    Ok(BundleReport {
        checkpoint: checkpoint.clone(),
        query: bundle.query.clone(),
        entries,
    })
}
