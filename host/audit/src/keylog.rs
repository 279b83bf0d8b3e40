//! The subject-key table, authenticated: every change to it is an event in a hash chain that
//! the signed checkpoints cover.
//!
//! A query finds a user's or a record's entries through the subject's commitment key (see
//! [`crate::subject`]), so the `subject_keys` table decides what a query returns. It cannot be
//! hashed into the entries (a key must be destroyable while every entry still verifies), so it
//! has a log of its own, the `subject_log` table:
//!
//! ```text
//! event n      = chain:u8[32] kind:u8 row:u8[32]       stored under key n (u64, from 0)
//! kind         = 1 (key created) | 2 (key erased) | 3 (source erased)
//! row          = blake3("cordon.audit.subject-key.v1\0" len:u32 row-key-bytes key-bytes)  kinds 1, 2
//!              | blake3("cordon.audit.source-erased.v1\0" digest-hex)                       kind 3
//! chain(n)     = blake3("cordon.audit.subject-log.v1\0" chain(n-1) kind row), chain(-1) = 0^32
//! ```
//!
//! A checkpoint of version 2 signs the number of events and the chain hash after the last
//! ([`crate::checkpoint::SubjectKeys`]). Verification replays the events into the set of live
//! row hashes and requires the table to hold exactly those rows: a changed key, a changed
//! subject, an added row and a row deleted without an erasure event are all detected, and an
//! event changed, removed or added is detected by the chain and the signed heads.
//!
//! A source erased with a subject it named ([`crate::source`]) has its key destroyed (kind 2)
//! and an event of kind 3 naming its digest, which changes no row of the table: it is what
//! lets verification tell an erased source from one whose key was never there. The digest is
//! of the source text, which the entries name anyway; it links to no subject.
//!
//! Erasure keeps its meaning: destroying a key deletes its row and appends a tombstone (kind 2)
//! carrying the row hash. The row hash is a hash over the 32 random key bytes, so once the key
//! is gone it cannot be linked to the subject, as with the commitments themselves.

/// An event that created a subject key.
pub(crate) const CREATED: u8 = 1;
/// An event that erased (destroyed) a subject key.
pub(crate) const ERASED: u8 = 2;
/// An event that records a stored source's erasure (its key is erased by a kind-2 event).
pub(crate) const SOURCE_ERASED: u8 = 3;
/// The stored length of an event.
pub(crate) const EVENT_LEN: usize = 65;

const ROW_DOMAIN: &[u8] = b"cordon.audit.subject-key.v1\0";
const CHAIN_DOMAIN: &[u8] = b"cordon.audit.subject-log.v1\0";
const SOURCE_DOMAIN: &[u8] = b"cordon.audit.source-erased.v1\0";

/// The row of the [`SOURCE_ERASED`] event of the source stored under `digest`.
pub(crate) fn source_erased_row(digest: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(SOURCE_DOMAIN);
    h.update(digest.as_bytes());
    h.finalize().into()
}

/// The hash of one row of the `subject_keys` table: its row key and its stored value.
pub(crate) fn row_hash(subject: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(ROW_DOMAIN);
    // Subjects longer than u32 cannot be stored (their entry would not encode).
    let len = u32::try_from(subject.len()).unwrap_or(u32::MAX);
    h.update(&len.to_be_bytes());
    h.update(subject);
    h.update(key);
    h.finalize().into()
}

/// The chain hash after an event.
pub(crate) fn chain(previous: &[u8; 32], kind: u8, row: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(CHAIN_DOMAIN);
    h.update(previous);
    h.update(&[kind]);
    h.update(row);
    h.finalize().into()
}

/// One event as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) chain: [u8; 32],
    pub(crate) kind: u8,
    pub(crate) row: [u8; 32],
}

impl Event {
    /// The event that follows the chain hash `previous`.
    pub(crate) fn next(previous: &[u8; 32], kind: u8, row: [u8; 32]) -> Event {
        Event {
            chain: chain(previous, kind, &row),
            kind,
            row,
        }
    }

    pub(crate) fn to_stored(self) -> [u8; EVENT_LEN] {
        let mut out = [0u8; EVENT_LEN];
        out[..32].copy_from_slice(&self.chain);
        out[32] = self.kind;
        out[33..].copy_from_slice(&self.row);
        out
    }

    /// Parses a stored event; `None` if its length or kind is wrong.
    pub(crate) fn from_stored(bytes: &[u8]) -> Option<Event> {
        let (chain, rest) = bytes.split_first_chunk::<32>()?;
        let (&kind, row) = rest.split_first()?;
        let row: [u8; 32] = row.try_into().ok()?;
        matches!(kind, CREATED | ERASED | SOURCE_ERASED).then_some(Event {
            chain: *chain,
            kind,
            row,
        })
    }
}
