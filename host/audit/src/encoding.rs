//! The canonical binary encoding of a log entry, version 5 (versions 1 to 4 are still read).
//!
//! An entry's bytes are what the leaf hash covers, so the encoding is fixed and canonical: one
//! entry has exactly one encoding, and the decoder rejects anything else (unknown version, bad
//! tag, invalid UTF-8, trailing bytes). All integers are big-endian.
//!
//! ```text
//! entry       = version:u8(=5) seq:u64 time_ms:u64
//!               tenant:str run_id:str component_digest:str policy_digest:str agent:str
//!               user:opt-commitment
//!               purpose:str engagement:str action:str resource:str
//!               decision:u8 (0 = deny, 1 = allow)
//!               policy_ids:list<str>
//!               records:opt-records
//!               taint:opt-taint                  (absent in version 1)
//!               roles:list<str>                  (absent before version 4)
//!               code:opt-code                    (absent before version 5)
//! str         = len:u32 bytes:u8[len]            UTF-8
//! list<T>     = count:u32 T[count]
//! commitment  = u8[32]                           keyed blake3, see crate::subject
//! opt-commitment = 0x00 | 0x01 commitment
//! opt-records = 0x00
//!             | 0x01 collection:str record_ids:list<commitment>
//!                    fields_returned:list<str> fields_withheld:list<str> records_withheld:u64
//!                    withheld_ids:list<commitment>          (absent before version 3)
//!                    filter:list<condition>                 (absent before version 3)
//! condition   = field:str op:str values:list<commitment>
//! opt-taint   = 0x00
//!             | 0x01 classification:opt-u32 jurisdictions:list<str>
//!                    collections:list<str> categories:list<str>
//! opt-u32     = 0x00 | 0x01 u32
//! opt-code    = 0x00 | 0x01 language:str digest:str
//! ```
//!
//! `seq` is the entry's position in the log (from 0) and `time_ms` the Unix time in
//! milliseconds at which it was appended; the log never lets time go backwards, so entries are
//! ordered by time as well as by sequence number. The stored value of an entry is its chain
//! hash (32 bytes) followed by these bytes; only these bytes are hashed into the leaf.
//!
//! A new version changes the first byte; decoders dispatch on it, and entries of every
//! version stay verifiable because hashes are over the bytes as stored. Version 1 entries
//! (written before taint labels were logged) decode with `taint: None`; version 1 and 2
//! entries (written before a read's withheld records and filter were logged) decode with no
//! withheld commitments and no filter; entries before version 4 (written before the run's roles
//! were logged) decode with no roles; entries before version 5 (written before source runs)
//! decode with no code. This crate writes only version 5, so an entry still has exactly one
//! encoding.
//!
//! The code of a source run names the source's language and its digest (BLAKE3 of the source
//! text, in lower-case hex), never the text: the text is stored once, content-addressed, in
//! the log file's `sources` table (see [`crate::source`]). The writer accepts only a
//! well-formed reference (a 64-digit lower-case hex digest, a short language name); the
//! decoder checks the structure only, and [`crate::verify`] checks the rest.
//!
//! The roles are the organisational roles the run's human held (from the identity token or
//! `cordon run --role`), sorted and without duplicates, stored as given: like the purpose and
//! the engagement, a role names a function, not a person (policies name roles in plain text
//! too), so it needs no commitment and stays readable after the human's erasure.
//!
//! A filter value's commitment is keyed per collection and field, a withheld record's like a
//! returned record's (see [`crate::subject`]).

use serde::Serialize;

use crate::{CodeRef, Decision, Entry, Hash, TaintLabels};

/// The encoding version this crate writes.
pub const ENTRY_VERSION: u8 = 5;

/// The first version, without taint labels; still read.
const ENTRY_VERSION_1: u8 = 1;

/// The second version, without a read's withheld records and filter; still read.
const ENTRY_VERSION_2: u8 = 2;

/// The third version, without the run's roles; still read.
const ENTRY_VERSION_3: u8 = 3;

/// The fourth version, without the source run's code; still read.
const ENTRY_VERSION_4: u8 = 4;

/// Offset of the fixed header: version (1) + seq (8) + time (8).
pub(crate) const HEADER_LEN: usize = 17;

/// A field that does not fit the encoding.
#[derive(Debug, thiserror::Error)]
#[error("field `{field}` is too long to encode")]
pub struct EncodeError {
    /// The field's name.
    pub field: &'static str,
}

/// Why bytes are not a valid encoded entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the entry does.
    #[error("entry ends early at byte {at}")]
    Truncated {
        /// Where the missing bytes would start.
        at: usize,
    },
    /// The version byte is not one this crate reads.
    #[error("unknown entry version {version}")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// A string is not UTF-8.
    #[error("string at byte {at} is not utf-8")]
    BadUtf8 {
        /// Where the string starts.
        at: usize,
    },
    /// A tag byte has a value the format does not define.
    #[error("invalid tag {tag} at byte {at}")]
    BadTag {
        /// Where the tag is.
        at: usize,
        /// The tag found.
        tag: u8,
    },
    /// Bytes follow the end of the entry.
    #[error("{extra} unexpected bytes after the entry")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

fn put_len(out: &mut Vec<u8>, len: usize, field: &'static str) -> Result<(), EncodeError> {
    let len = u32::try_from(len).map_err(|_| EncodeError { field })?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str, field: &'static str) -> Result<(), EncodeError> {
    put_len(out, s.len(), field)?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_strs(out: &mut Vec<u8>, items: &[String], field: &'static str) -> Result<(), EncodeError> {
    put_len(out, items.len(), field)?;
    for item in items {
        put_str(out, item, field)?;
    }
    Ok(())
}

/// About how many bytes `entry` encodes to (exact unless it has many record ids).
pub(crate) fn size_hint(entry: &Entry) -> usize {
    let strs = |items: &[String]| items.iter().map(|s| 4 + s.len()).sum::<usize>() + 4;
    let records = entry.records.as_ref().map_or(0, |r| {
        4 + r.collection.len()
            + 4
            + 32 * r.record_ids.len()
            + strs(&r.fields_returned)
            + strs(&r.fields_withheld)
            + 8
            + 4
            + 32 * r.withheld_ids.len()
            + 4
            + r.filter
                .iter()
                .map(|c| 12 + c.field.len() + c.op.len() + 32 * c.values.len())
                .sum::<usize>()
    });
    let taint = entry.taint.as_ref().map_or(0, |t| {
        5 + strs(&t.jurisdictions) + strs(&t.collections) + strs(&t.categories)
    });
    HEADER_LEN
        + 4 * 9
        + entry.tenant.len()
        + entry.run_id.len()
        + entry.component_digest.len()
        + entry.policy_digest.len()
        + entry.agent.len()
        + entry.purpose.len()
        + entry.engagement.len()
        + entry.action.len()
        + entry.resource.len()
        + 33
        + 1
        + strs(&entry.policy_ids)
        + 1
        + records
        + 1
        + taint
        + strs(&entry.roles)
        + 1
        + entry
            .code
            .as_ref()
            .map_or(0, |c| 8 + c.language.len() + c.digest.len())
}

/// The commitments that stand for an entry's personal identifiers and filter values.
#[derive(Debug, Default)]
pub(crate) struct Commitments {
    /// The user's.
    pub(crate) user: Option<[u8; 32]>,
    /// One per `records.record_ids`, in order.
    pub(crate) record_ids: Vec<[u8; 32]>,
    /// One per `records.withheld_ids`, in order.
    pub(crate) withheld_ids: Vec<[u8; 32]>,
    /// One list per `records.filter` condition, one commitment per value, in order.
    pub(crate) filter_values: Vec<Vec<[u8; 32]>>,
}

/// Appends the canonical encoding of `entry` to `out`, with the user, record ids and filter
/// values replaced by their commitments `c`.
pub(crate) fn encode_entry(
    out: &mut Vec<u8>,
    seq: u64,
    time_ms: u64,
    entry: &Entry,
    c: &Commitments,
) -> Result<(), EncodeError> {
    let user = c.user.as_ref();
    let record_ids = c.record_ids.as_slice();
    out.push(ENTRY_VERSION);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&time_ms.to_be_bytes());
    put_str(out, &entry.tenant, "tenant")?;
    put_str(out, &entry.run_id, "run_id")?;
    put_str(out, &entry.component_digest, "component_digest")?;
    put_str(out, &entry.policy_digest, "policy_digest")?;
    put_str(out, &entry.agent, "agent")?;
    match user {
        None => out.push(0),
        Some(c) => {
            out.push(1);
            out.extend_from_slice(c);
        }
    }
    put_str(out, &entry.purpose, "purpose")?;
    put_str(out, &entry.engagement, "engagement")?;
    put_str(out, &entry.action, "action")?;
    put_str(out, &entry.resource, "resource")?;
    out.push(match entry.decision {
        Decision::Deny => 0,
        Decision::Allow => 1,
    });
    put_strs(out, &entry.policy_ids, "policy_ids")?;
    match &entry.records {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            put_str(out, &r.collection, "records.collection")?;
            put_len(out, record_ids.len(), "records.record_ids")?;
            for c in record_ids {
                out.extend_from_slice(c);
            }
            put_strs(out, &r.fields_returned, "records.fields_returned")?;
            put_strs(out, &r.fields_withheld, "records.fields_withheld")?;
            out.extend_from_slice(&r.records_withheld.to_be_bytes());
            put_len(out, c.withheld_ids.len(), "records.withheld_ids")?;
            for h in &c.withheld_ids {
                out.extend_from_slice(h);
            }
            put_len(out, r.filter.len(), "records.filter")?;
            for (i, cond) in r.filter.iter().enumerate() {
                put_str(out, &cond.field, "records.filter.field")?;
                put_str(out, &cond.op, "records.filter.op")?;
                let values = c.filter_values.get(i).map_or(&[][..], Vec::as_slice);
                put_len(out, values.len(), "records.filter.values")?;
                for h in values {
                    out.extend_from_slice(h);
                }
            }
        }
    }
    match &entry.taint {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            match t.classification {
                None => out.push(0),
                Some(level) => {
                    out.push(1);
                    out.extend_from_slice(&level.to_be_bytes());
                }
            }
            put_strs(out, &t.jurisdictions, "taint.jurisdictions")?;
            put_strs(out, &t.collections, "taint.collections")?;
            put_strs(out, &t.categories, "taint.categories")?;
        }
    }
    put_strs(out, &entry.roles, "roles")?;
    match &entry.code {
        None => out.push(0),
        Some(code) => {
            out.push(1);
            put_str(out, &code.language, "code.language")?;
            put_str(out, &code.digest, "code.digest")?;
        }
    }
    Ok(())
}

/// An entry as stored: personal identifiers are commitments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedEntry {
    /// The sequence number.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub time_ms: u64,
    /// See [`Entry::tenant`].
    pub tenant: String,
    /// See [`Entry::run_id`].
    pub run_id: String,
    /// See [`Entry::component_digest`].
    pub component_digest: String,
    /// See [`Entry::policy_digest`].
    pub policy_digest: String,
    /// See [`Entry::agent`].
    pub agent: String,
    /// The commitment to the user, if there was one.
    pub user_commitment: Option<Hash>,
    /// See [`Entry::purpose`].
    pub purpose: String,
    /// See [`Entry::engagement`].
    pub engagement: String,
    /// See [`Entry::action`].
    pub action: String,
    /// See [`Entry::resource`].
    pub resource: String,
    /// See [`Entry::decision`].
    pub decision: Decision,
    /// See [`Entry::policy_ids`].
    pub policy_ids: Vec<String>,
    /// See [`Entry::records`].
    pub records: Option<LoggedRecords>,
    /// See [`Entry::taint`]; always `None` in version 1 entries.
    pub taint: Option<TaintLabels>,
    /// See [`Entry::roles`]; always empty before version 4.
    pub roles: Vec<String>,
    /// See [`Entry::code`]; always `None` before version 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
}

/// A record read as stored: record ids are commitments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRecords {
    /// The collection read.
    pub collection: String,
    /// Commitments to the ids of the records returned.
    pub record_commitments: Vec<Hash>,
    /// The fields returned.
    pub fields_returned: Vec<String>,
    /// The fields withheld.
    pub fields_withheld: Vec<String>,
    /// How many records were withheld that met the filter.
    pub records_withheld: u64,
    /// Commitments to the ids of those records (none before version 3).
    pub withheld_commitments: Vec<Hash>,
    /// The read's filter (none before version 3).
    pub filter: Vec<LoggedFilter>,
}

/// One condition of a read's filter as stored: the value is a commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedFilter {
    /// The field tested.
    pub field: String,
    /// The operator.
    pub op: String,
    /// Commitments to the values compared with.
    pub value_commitments: Vec<Hash>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DecodeError::Truncated { at: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| DecodeError::Truncated { at })
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        usize::try_from(self.u32()?).map_err(|_| DecodeError::Truncated { at })
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let len = self.len()?;
        let at = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8 { at })
    }

    fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        let count = self.len()?;
        // Each string takes at least 4 bytes: bound the allocation by what is there.
        let mut items = Vec::with_capacity(count.min(self.bytes.len() / 4));
        for _ in 0..count {
            items.push(self.str()?);
        }
        Ok(items)
    }

    fn commitments(&mut self) -> Result<Vec<Hash>, DecodeError> {
        let count = self.len()?;
        // Each commitment takes 32 bytes: bound the allocation by what is there.
        let mut items = Vec::with_capacity(count.min(self.bytes.len() / 32));
        for _ in 0..count {
            items.push(Hash(self.array()?));
        }
        Ok(items)
    }

    fn tag(&mut self) -> Result<bool, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag { at, tag }),
        }
    }
}

/// Reads the fixed header: `(seq, time_ms)`. Checks the version only.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<(u64, u64), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    read_version(&mut r)?;
    Ok((r.u64()?, r.u64()?))
}

fn read_version(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    match r.u8()? {
        version @ (ENTRY_VERSION_1 | ENTRY_VERSION_2 | ENTRY_VERSION_3 | ENTRY_VERSION_4
        | ENTRY_VERSION) => Ok(version),
        version => Err(DecodeError::UnknownVersion { version }),
    }
}

/// The code an entry names, if any, for verification. Only entries of version 5 can name
/// code, and the field comes last, so an entry whose last byte is the `0x00` of no code is not
/// decoded (most entries); one that names code is decoded whole (and so must be canonical).
/// A code whose digest is empty would end in `0x00` too and be passed over: the writer never
/// writes one (see [`crate::CodeRef::check`]), and only the holder of the signing key could,
/// who could as well have written no code.
pub(crate) fn code_of(bytes: &[u8]) -> Result<Option<CodeRef>, DecodeError> {
    if bytes.first() != Some(&ENTRY_VERSION) || bytes.last() == Some(&0) {
        return Ok(None);
    }
    Ok(decode_entry(bytes)?.code)
}

/// Decodes a whole entry, rejecting anything that is not the canonical encoding.
pub fn decode_entry(bytes: &[u8]) -> Result<LoggedEntry, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = read_version(&mut r)?;
    let seq = r.u64()?;
    let time_ms = r.u64()?;
    let tenant = r.str()?;
    let run_id = r.str()?;
    let component_digest = r.str()?;
    let policy_digest = r.str()?;
    let agent = r.str()?;
    let user_commitment = if r.tag()? {
        Some(Hash(r.array()?))
    } else {
        None
    };
    let purpose = r.str()?;
    let engagement = r.str()?;
    let action = r.str()?;
    let resource = r.str()?;
    let at = r.pos;
    let decision = match r.u8()? {
        0 => Decision::Deny,
        1 => Decision::Allow,
        tag => return Err(DecodeError::BadTag { at, tag }),
    };
    let policy_ids = r.strs()?;
    let records = if r.tag()? {
        let collection = r.str()?;
        let record_commitments = r.commitments()?;
        let fields_returned = r.strs()?;
        let fields_withheld = r.strs()?;
        let records_withheld = r.u64()?;
        let (withheld_commitments, filter) = if version >= ENTRY_VERSION_3 {
            let withheld = r.commitments()?;
            let count = r.len()?;
            // Each condition takes at least 12 bytes: bound the allocation by what is there.
            let mut filter = Vec::with_capacity(count.min(bytes.len() / 12));
            for _ in 0..count {
                filter.push(LoggedFilter {
                    field: r.str()?,
                    op: r.str()?,
                    value_commitments: r.commitments()?,
                });
            }
            (withheld, filter)
        } else {
            (Vec::new(), Vec::new())
        };
        Some(LoggedRecords {
            collection,
            record_commitments,
            fields_returned,
            fields_withheld,
            records_withheld,
            withheld_commitments,
            filter,
        })
    } else {
        None
    };
    let taint = if version != ENTRY_VERSION_1 && r.tag()? {
        let classification = if r.tag()? { Some(r.u32()?) } else { None };
        Some(TaintLabels {
            classification,
            jurisdictions: r.strs()?,
            collections: r.strs()?,
            categories: r.strs()?,
        })
    } else {
        None
    };
    let roles = if version >= ENTRY_VERSION_4 {
        r.strs()?
    } else {
        Vec::new()
    };
    let code = if version >= ENTRY_VERSION && r.tag()? {
        Some(CodeRef {
            language: r.str()?,
            digest: r.str()?,
        })
    } else {
        None
    };
    if r.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - r.pos,
        });
    }
    Ok(LoggedEntry {
        seq,
        time_ms,
        tenant,
        run_id,
        component_digest,
        policy_digest,
        agent,
        user_commitment,
        purpose,
        engagement,
        action,
        resource,
        decision,
        policy_ids,
        records,
        taint,
        roles,
        code,
    })
}
