//! Cordon's tamper-evident decision log.
//!
//! Every authorization decision the host makes is appended here, before the host acts on it.
//! The log is evidence an auditor relies on long after the run, so it is built to be checked
//! by someone who trusts neither the host nor its operator:
//!
//! - **Entries** ([`Entry`]) are encoded in a canonical, versioned binary form ([`encoding`]):
//!   the same entry always encodes to the same bytes.
//! - **Hash chain**: each entry's leaf hash is chained to its predecessor with blake3
//!   ([`Head::hash`]), so a changed, missing or reordered entry is located by sequence number.
//! - **Merkle tree**: the same leaves form an RFC 9162-style Merkle tree with domain-separated
//!   leaf and node hashes ([`merkle`]), so one entry can be proven to be in the log
//!   ([`InclusionProof`]) and a later log can be proven to extend an earlier one
//!   ([`ConsistencyProof`]) without revealing anything else.
//! - **Signed checkpoints** ([`Checkpoint`]): every N entries or T milliseconds the writer
//!   signs the tree size, root and chain head with an ed25519 key kept in a file.
//! - **Durability**: the store is a redb file; [`DecisionLog::append`] is fast and queues the
//!   entry, [`DecisionLog::sync`] returns once it is committed. One background writer batches
//!   everything pending into one write transaction (group commit).
//! - **Erasure**: personal identifiers (the on-behalf-of user, the ids of records read) are
//!   never stored; the entry holds a keyed commitment whose per-subject key lives in a separate
//!   table ([`subject`]). Destroying the key ([`AuditLog::erase_subject`]) makes the subject's
//!   entries unlinkable to them while every hash, signature and proof stays valid; the keys are
//!   kept in a small file of their own that is rewritten on erasure, so no byte of a destroyed
//!   key (nor a user's id) survives in it ([`keyfile`]). Every change
//!   to that table is an event in a hash chain the checkpoints sign ([`keylog`]), so a key
//!   changed or deleted without an erasure is found by [`verify`].
//! - **Sources**: a source run (source text a runner component executes) names the source in
//!   every decision ([`Entry::code`]: language and BLAKE3 digest), and the log keeps the text
//!   itself, content-addressed ([`AuditLog::put_source`], [`Store::source`]); [`verify`] checks
//!   each stored text against its digest and that every named source is there ([`source`]).
//! - **Evidence bundles** ([`Bundle`]): the entries matching a [`Query`] with their inclusion
//!   proofs, the signed checkpoint and, optionally, the disclosed subject keys, in one file that
//!   [`verify_bundle`] checks with nothing but the public key.
//!
//! ```
//! use cordon_audit::{AuditLog, DecisionLog, Decision, Entry, LogOptions, PublicKey};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = AuditLog::open(&dir.path().join(cordon_audit::LOG_FILE), LogOptions::in_dir(dir.path()))?;
//! let receipt = log.append(&Entry {
//!     tenant: "acme".into(),
//!     run_id: "run-1".into(),
//!     component_digest: "sha256:c0ffee".into(),
//!     policy_digest: "sha256:feed".into(),
//!     agent: "summariser".into(),
//!     user: Some("alice".into()),
//!     purpose: "support".into(),
//!     engagement: "case-42".into(),
//!     action: "fs:read".into(),
//!     resource: "fs/notes.txt".into(),
//!     decision: Decision::Allow,
//!     policy_ids: vec!["allow-notes".into()],
//!     records: None,
//!     taint: None,
//!     roles: vec!["clinician".into()],
//!     code: None,
//! })?;
//! log.sync(receipt.seq)?; // durable from here on
//! log.close()?;
//!
//! let key = PublicKey::read(&dir.path().join(cordon_audit::PUBLIC_KEY_FILE))?;
//! let report = cordon_audit::verify(&dir.path().join(cordon_audit::LOG_FILE), &key)?;
//! assert_eq!(report.entries, 1);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod bundle;
pub mod checkpoint;
pub mod encoding;
mod hex;
pub mod keyfile;
pub mod keylog;
pub mod keys;
mod log;
pub mod merkle;
pub mod query;
pub mod scrub;
pub mod source;
mod store;
pub mod subject;
mod verify;

use serde::{Deserialize, Serialize};

pub use bundle::{
    Bundle, BundleEntry, BundleReport, BundleVerifyError, ExportError, verify_bundle,
};
pub use checkpoint::{Checkpoint, SubjectKeys};
pub use encoding::{DecodeError, LoggedEntry, LoggedFilter, LoggedRecords};
pub use hex::Hash;
pub use keys::{KeyError, PublicKey};
pub use log::{
    AppendError, AuditLog, CloseError, EraseError, LINGER_ENTRIES, LogOptions, OpenError,
    SourceError,
};
pub use merkle::{ConsistencyProof, InclusionProof, ProofError};
pub use query::{Query, QueryError, RevealedEntry};
pub use source::{CodeRef, CodeRefError, MAX_SOURCE_LEN, StoredSource};
pub use store::{ReadError, Store};
pub use subject::{Disclosure, Subject};
pub use verify::{Place, VerifyError, VerifyReport, verify, verify_file};

/// The log's file name inside a data directory.
pub const LOG_FILE: &str = "audit.redb";
/// The subject-key file's name inside a data directory ([`keyfile`]): beside [`LOG_FILE`].
pub const KEYS_FILE: &str = "audit-keys.redb";
/// The checkpoint signing key's file name inside a data directory (hex seed, mode 0600).
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";
/// The checkpoint public key's file name inside a data directory (hex).
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// The outcome of an authorization request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The request was allowed and the host acted on it.
    Allow,
    /// The request was denied and the host did not act.
    Deny,
}

/// What a record read returned and withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordAccess {
    /// The collection read.
    pub collection: String,
    /// The ids of the records returned. Stored only as keyed commitments (see [`subject`]).
    pub record_ids: Vec<String>,
    /// The fields returned to the guest.
    pub fields_returned: Vec<String>,
    /// The fields projected away by policy.
    pub fields_withheld: Vec<String>,
    /// How many records the policy withheld that met the read's filter (never told to the
    /// guest).
    pub records_withheld: u64,
    /// The ids of (up to a bound set by the data layer) those withheld records. Stored only as
    /// keyed commitments, like `record_ids`, so that a read that withheld a record can be found
    /// by the record.
    pub withheld_ids: Vec<String>,
    /// The read's filter: fields and operators as given; values stored only as keyed
    /// commitments.
    pub filter: Vec<FilterCondition>,
}

/// One condition of a record read's filter, as the host supplies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterCondition {
    /// The field tested.
    pub field: String,
    /// The operator: `eq`, `ne`, `lt`, `le`, `gt`, `ge` or `one-of`.
    pub op: String,
    /// The values compared with, each in canonical JSON. Never stored: the log keeps a keyed
    /// commitment to each (see [`subject`]), under a key per collection and field.
    pub values: Vec<String>,
}

/// One decision, as the host supplies it; the log adds the sequence number and the time.
///
/// `user` and the record ids are personal identifiers and are stored only as keyed
/// commitments. The other fields are stored as given, so they must not carry personal
/// identifiers (a `resource` names the collection or file, not the data subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The tenant the run belongs to.
    pub tenant: String,
    /// The run (one component invocation).
    pub run_id: String,
    /// The digest of the component that made the request.
    pub component_digest: String,
    /// The digest of the policy bundle that decided it.
    pub policy_digest: String,
    /// The agent identity.
    pub agent: String,
    /// The user on whose behalf the agent acted, if any.
    pub user: Option<String>,
    /// The declared purpose of the run.
    pub purpose: String,
    /// The engagement (case, ticket, matter) the run serves.
    pub engagement: String,
    /// The action requested, e.g. `fs:read`.
    pub action: String,
    /// The resource the action was on.
    pub resource: String,
    /// The decision.
    pub decision: Decision,
    /// The ids of the policies that determined the decision.
    pub policy_ids: Vec<String>,
    /// For record reads: what was returned and withheld.
    pub records: Option<RecordAccess>,
    /// For calls that can carry data out (egress, file writes) of a run that had already read
    /// labelled data: what it had read when the call was decided.
    pub taint: Option<TaintLabels>,
    /// The roles the user held in the run (sorted, without duplicates; empty for an
    /// unattended run). Roles name organisational functions, not people, so they are stored
    /// as given (see [`encoding`]).
    pub roles: Vec<String>,
    /// For a source run (source text a runner component executes): the source's language and
    /// digest. The log must hold the source ([`AuditLog::put_source`]) before an entry names
    /// it; `component_digest` names the runner. `None` for a component run.
    pub code: Option<CodeRef>,
}

/// What a run had read when a decision was made: the labels a policy saw in `context.taint`.
/// None of them identifies a person (they name levels, jurisdictions, collections and field
/// categories), so they are stored as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaintLabels {
    /// The highest classification level read: its position in the tenant's ordered levels.
    pub classification: Option<u32>,
    /// The jurisdictions of the records read.
    pub jurisdictions: Vec<String>,
    /// The collections read from.
    pub collections: Vec<String>,
    /// The categories of the fields returned.
    pub categories: Vec<String>,
}

/// The acknowledgement of an append: the entry's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's sequence number, from 0.
    pub seq: u64,
}

/// The log's latest entry: its sequence number and the chain hash after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The entry's sequence number, from 0.
    pub seq: u64,
    /// The chain hash after this entry.
    pub hash: [u8; 32],
}

impl Head {
    /// The chain hash in lower-case hex.
    pub fn hash_hex(&self) -> String {
        hex::encode(&self.hash)
    }
}

/// Where the host's decisions go.
pub trait DecisionLog: Send + Sync {
    /// Assigns the sequence number and queues the entry for commit (the log's writer hashes
    /// it into the chain as it commits it). Fast (no I/O, one lock, no hashing); the entry is
    /// **not** durable until [`DecisionLog::sync`] returns.
    fn append(&self, entry: &Entry) -> Result<Receipt, AppendError>;
    /// Blocks until every entry with `seq <= through` is committed to disk. One commit serves
    /// every waiter whose entries it contains.
    fn sync(&self, through: u64) -> Result<(), AppendError>;
    /// The latest appended entry, if any, with the chain hash after it (waiting for the
    /// writer to hash what was appended before the call).
    fn head(&self) -> Option<Head>;
    /// The latest entry hashed into the chain once it covers entry `seq` (or the latest
    /// appended, if `seq` is past it): waits only for the writer to hash `seq`, not for what
    /// others appended after it. What a run's report names as the log's head after its own
    /// decisions. The default is [`DecisionLog::head`].
    fn head_through(&self, seq: u64) -> Option<Head> {
        let _ = seq;
        self.head()
    }
    /// Destroys the commitment keys of `subjects` (see [`subject`]) and returns once that is
    /// committed: their past entries stay and verify, but nothing links them to the subjects
    /// any more. Each destroyed key leaves a tombstone in the subject-key log ([`keylog`]),
    /// signed by a checkpoint in the same commit, so that verification tells the erasure from
    /// a key deleted behind the log's back.
    fn forget(&self, subjects: &[Subject]) -> Result<(), EraseError>;
    /// Stores the source text `code` in `language` under its digest and returns the
    /// [`CodeRef`] that entries of runs of it carry (see [`source`]). Idempotent. The default
    /// stores nothing and fails with [`SourceError::Unsupported`]: a log that keeps no sources
    /// cannot take entries that name one.
    fn put_source(&self, language: &str, code: &str) -> Result<CodeRef, SourceError> {
        let _ = (language, code);
        Err(SourceError::Unsupported)
    }
}
