//! Personal identifiers as keyed commitments, so that a data subject can be erased.
//!
//! The log must keep its hashes for years, and a data subject may ask to be forgotten next
//! week. So an entry never holds a user id or a record id. It holds a commitment:
//!
//! ```text
//! commitment = blake3_keyed(subject_key, "cordon.audit.subject.v1" || subject bytes)
//! subject bytes = 0x01 str(user id)                      for a user
//!               | 0x02 str(collection) str(record id)    for a record
//! ```
//!
//! (`str` as in [`crate::encoding`].) Each subject has its own random 32-byte key, created the
//! first time the subject appears and kept in a `subject_keys` table in the log's key file,
//! apart from the entries, under a hash of the subject bytes (never the bytes themselves, which would outlive
//! an erasure in the file's free pages). The commitment is in the hashed entry bytes, the key
//! is not.
//!
//! The values of a record read's filter are committed the same way,
//! `blake3_keyed(field_key, "cordon.audit.subject.v1" || 0x04 str(value))`, under one key per
//! collection and field (subject bytes `0x03 str(collection) str(field)`): whoever holds the
//! store can test whether a read filtered on a given value, and the table holds no value.
//!
//! - **Query**: whoever holds the store looks the key up and recomputes the commitment, so
//!   entries can be found by user or by record.
//! - **Disclosure**: an evidence bundle may carry the keys of the subjects it is about
//!   ([`Disclosure`]), so its reader can see which entries concern them, and no others.
//! - **Erasure**: [`crate::AuditLog::erase_subject`] deletes the key. The entries, hashes,
//!   checkpoints and proofs are unchanged and still verify, but without the key a commitment
//!   is a pseudo-random value: it cannot be linked to the subject, nor to any other
//!   commitment to the same subject. If the subject appears again, a new key is made, and the
//!   new entries are unlinkable to the old.
//!
//! The keys are kept in a file of their own that is rewritten whenever a key is destroyed
//! ([`crate::keyfile`]), so no byte of a destroyed key, nor of an erased user's id, survives in
//! it. Caveat: any copy of a key made before erasure (a bundle that disclosed it, a backup)
//! must be destroyed too.

use serde::{Deserialize, Serialize};

use crate::Hash;

const DOMAIN: &[u8] = b"cordon.audit.subject.v1";

/// A data subject whose identifier the log stores only as a commitment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// The user on whose behalf an agent acted.
    User(String),
    /// A record that was read.
    Record {
        /// Its collection.
        collection: String,
        /// Its id.
        id: String,
    },
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Lengths beyond u32 cannot occur: such an entry is refused before any commitment is made.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The canonical bytes of [`Subject::User`] without building one.
pub(crate) fn user_bytes(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + id.len());
    out.push(1);
    put_str(&mut out, id);
    out
}

/// The canonical bytes of [`Subject::Record`] without building one.
pub(crate) fn record_bytes(collection: &str, id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + collection.len() + id.len());
    out.push(2);
    put_str(&mut out, collection);
    put_str(&mut out, id);
    out
}

/// The subject whose canonical bytes are `bytes`, if they are canonical.
pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Subject> {
    fn take_str<'a>(bytes: &mut &'a [u8]) -> Option<&'a str> {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (s, rest) = (rest.get(..len)?, rest.get(len..)?);
        *bytes = rest;
        std::str::from_utf8(s).ok()
    }
    let (&tag, mut rest) = bytes.split_first()?;
    let subject = match tag {
        1 => Subject::User(take_str(&mut rest)?.to_owned()),
        2 => Subject::Record {
            collection: take_str(&mut rest)?.to_owned(),
            id: take_str(&mut rest)?.to_owned(),
        },
        _ => return None,
    };
    rest.is_empty().then_some(subject)
}

/// A `subject_keys` row's subject for a report: `user:ID`, `record:COLLECTION/ID`, or hex if
/// the bytes are not a subject.
pub(crate) fn describe(bytes: &[u8]) -> String {
    match from_bytes(bytes) {
        Some(Subject::User(id)) => format!("user:{id}"),
        Some(Subject::Record { collection, id }) => format!("record:{collection}/{id}"),
        None => format!("0x{}", crate::hex::encode(bytes)),
    }
}

/// The canonical bytes under which the log keeps the key for the filter values of one field
/// of a collection: `0x03 str(collection) str(field)`. No value is in them.
pub(crate) fn filter_key_bytes(collection: &str, field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + collection.len() + field.len());
    out.push(3);
    put_str(&mut out, collection);
    put_str(&mut out, field);
    out
}

/// The canonical bytes under which the log keeps the key that seals one stored source (see
/// [`crate::source`]): `0x05 str(digest)`. The digest is the source's, which entries name
/// anyway.
pub(crate) fn source_key_bytes(digest: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + digest.len());
    out.push(5);
    put_str(&mut out, digest);
    out
}

/// The bytes committed to for one filter value (canonical JSON): `0x04 str(value)`.
pub(crate) fn filter_value_bytes(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + value.len());
    out.push(4);
    put_str(&mut out, value);
    out
}

impl Subject {
    /// The canonical bytes naming the subject (the key of the `subject_keys` table).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Subject::User(id) => user_bytes(id),
            Subject::Record { collection, id } => record_bytes(collection, id),
        }
    }

    /// The commitment to this subject under `key`.
    pub fn commitment(&self, key: &[u8; 32]) -> Hash {
        Hash(commit(key, &self.to_bytes()))
    }
}

/// The key of `subject`'s row in the `subject_keys` table. A user's row is keyed by the user's
/// canonical bytes, so that an auditor holding the store can say who an entry was for while the
/// user's key lives (see [`crate::query`]); the row, and with it the id, goes with the user's
/// erasure. Every other subject — records, filter fields — is keyed by [`index`], so the table
/// holds no record identifier in plain text.
pub(crate) fn row_key(subject: &[u8]) -> Vec<u8> {
    match subject.first() {
        Some(1) => subject.to_vec(),
        _ => index(subject),
    }
}

/// Every row key `subject`'s key may be stored under: [`row_key`] first, then the form of
/// rows written before record rows were keyed by hash.
pub(crate) fn row_keys(subject: &[u8]) -> [Vec<u8>; 2] {
    let first = row_key(subject);
    let other = if first.as_slice() == subject {
        index(subject)
    } else {
        subject.to_vec()
    };
    [first, other]
}

const INDEX_DOMAIN: &[u8] = b"cordon.audit.subject-index.v1";

/// The key of `subject`'s row in the `subject_keys` table: `0xff || blake3(domain || subject
/// bytes)`, so that the table holds no identifier in plain text — not even, after an erasure,
/// in the file's free pages. (Rows written before this were keyed by the subject bytes, which
/// start with 0x01..=0x03; they are still read and deleted.)
pub(crate) fn index(subject: &[u8]) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    h.update(INDEX_DOMAIN);
    h.update(subject);
    let mut out = Vec::with_capacity(33);
    out.push(0xff);
    out.extend_from_slice(h.finalize().as_bytes());
    out
}

/// The commitment to the subject whose canonical bytes are `subject`.
pub(crate) fn commit(key: &[u8; 32], subject: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(DOMAIN);
    h.update(subject);
    h.finalize().into()
}

/// A subject together with its key: lets the holder recognise that subject's commitments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// The subject.
    pub subject: Subject,
    /// Its commitment key.
    pub key: Hash,
}

impl Disclosure {
    /// The commitment this disclosure recognises.
    pub fn commitment(&self) -> Hash {
        self.subject.commitment(&self.key.0)
    }
}

/// A fresh random subject key.
pub(crate) fn new_key() -> Result<[u8; 32], getrandom::Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)?;
    Ok(key)
}
