//! How a record is stored: a tag byte, then the record in postcard (serde's compact binary
//! format), laid out so that a read decodes it in place ([`StoredRecord`] borrows every string
//! from the stored bytes) and copies out only the rows it returns.
//!
//! Records written before this format are JSON (they start with `{`) and still decode; every
//! write stores the current format.

use std::collections::BTreeMap;

use cordon_policy::RecordAttrs;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use crate::model::{Record, Value, ValueRef, servable};

/// The first byte of a record in the current format (never `{`, which starts a JSON record).
const FORMAT_POSTCARD: u8 = 1;

/// Text a read never decides on (a field's name, the subject): kept as the stored bytes,
/// compared as bytes (UTF-8 orders as its code points do), checked to be UTF-8 only when the
/// record is copied out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utf8Later<'a>(&'a [u8]);

impl Serialize for Utf8Later<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Utf8Later<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Utf8Later)
    }
}

impl<'a> Utf8Later<'a> {
    fn of(s: &'a str) -> Self {
        Utf8Later(s.as_bytes())
    }

    fn as_str(self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.0).map_err(|_| DecodeError::NotUtf8)
    }
}

/// The part of a stored record a read decides on, decoded for every record it meets.
#[derive(Debug, Serialize, Deserialize)]
struct Header<'a> {
    id: &'a str,
    #[serde(borrow)]
    subject: Utf8Later<'a>,
    classification: u32,
    jurisdiction: &'a str,
    // Inline up to a size most records stay under: decoding a header allocates nothing.
    #[serde(borrow)]
    consent: SmallVec<[&'a str; 4]>,
    #[serde(borrow)]
    holds: SmallVec<[&'a str; 2]>,
    retain_until: Option<u64>,
    erasure_pending: bool,
    /// The length of the field entries that follow: a record cut short is refused, not read
    /// as one with fewer fields.
    fields_bytes: u32,
}

/// A field value as stored: text is checked to be UTF-8 only when a read uses it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum StoredValue<'a> {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(#[serde(borrow)] Utf8Later<'a>),
}

impl<'a> StoredValue<'a> {
    fn of(v: &'a Value) -> Self {
        match v.as_ref() {
            ValueRef::Null => StoredValue::Null,
            ValueRef::Bool(b) => StoredValue::Bool(b),
            ValueRef::Integer(i) => StoredValue::Integer(i),
            ValueRef::Float(f) => StoredValue::Float(f),
            ValueRef::Text(t) => StoredValue::Text(Utf8Later::of(t)),
        }
    }

    fn to_ref(self) -> Result<ValueRef<'a>, DecodeError> {
        Ok(match self {
            StoredValue::Null => ValueRef::Null,
            StoredValue::Bool(b) => ValueRef::Bool(b),
            StoredValue::Integer(i) => ValueRef::Integer(i),
            StoredValue::Float(f) => ValueRef::Float(f),
            StoredValue::Text(t) => ValueRef::Text(t.as_str()?),
        })
    }
}

/// A stored record, borrowed from its bytes: the header decoded, the fields left as bytes and
/// walked only for the fields a read tests or returns. A read of three fields of a record of
/// fifty decodes three.
#[derive(Debug)]
pub(crate) struct StoredRecord<'a> {
    header: Header<'a>,
    /// `(name, value)` entries in name order, each in postcard, up to the end.
    fields: &'a [u8],
}

impl<'a> StoredRecord<'a> {
    /// The record in `bytes` (the current format, after its tag byte).
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, fields): (Header<'_>, _) = postcard::take_from_bytes(bytes)?;
        if usize::try_from(header.fields_bytes).ok() != Some(fields.len()) {
            return Err(DecodeError::Length);
        }
        Ok(StoredRecord { header, fields })
    }

    /// The field entries, in name order.
    fn entries(
        &self,
    ) -> impl Iterator<Item = Result<(Utf8Later<'a>, StoredValue<'a>), DecodeError>> {
        let mut rest = self.fields;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            Some(match postcard::take_from_bytes(rest) {
                Ok((entry, tail)) => {
                    rest = tail;
                    Ok(entry)
                }
                Err(e) => {
                    rest = &[];
                    Err(e.into())
                }
            })
        })
    }

    /// The record copied out.
    pub(crate) fn to_record(&self) -> Result<Record, DecodeError> {
        let h = &self.header;
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        let mut fields = BTreeMap::new();
        for entry in self.entries() {
            let (name, value) = entry?;
            fields.insert(name.as_str()?.to_owned(), value.to_ref()?.to_value());
        }
        Ok(Record {
            id: h.id.to_owned(),
            subject: h.subject.as_str()?.to_owned(),
            classification: h.classification,
            jurisdiction: h.jurisdiction.to_owned(),
            consent: owned(&h.consent),
            holds: owned(&h.holds),
            retain_until: h.retain_until,
            erasure_pending: h.erasure_pending,
            fields,
        })
    }
}

/// A record as a read sees it: decided on its attributes, filtered on its values, copied out
/// only when returned. Implemented by the owned [`Record`] and the borrowed [`StoredRecord`].
pub(crate) trait ReadableRecord {
    /// How the record's consent purposes are held.
    type Purpose: AsRef<str>;
    /// Why a value cannot be read.
    type Error;
    /// The record's id.
    fn id(&self) -> &str;
    /// Position of its classification level.
    fn classification(&self) -> u32;
    /// Its jurisdiction.
    fn jurisdiction(&self) -> &str;
    /// Whether it may be served at `now`.
    fn servable(&self, now: u64) -> bool;
    /// What Cedar decides on.
    fn attrs(&self) -> RecordAttrs<'_, Self::Purpose>;
    /// The value of field `name`, if the record carries it.
    fn value(&self, name: &str) -> Result<Option<ValueRef<'_>>, Self::Error>;
}

impl ReadableRecord for Record {
    type Purpose = String;
    type Error = std::convert::Infallible;
    fn id(&self) -> &str {
        &self.id
    }
    fn classification(&self) -> u32 {
        self.classification
    }
    fn jurisdiction(&self) -> &str {
        &self.jurisdiction
    }
    fn servable(&self, now: u64) -> bool {
        Record::servable(self, now)
    }
    fn attrs(&self) -> RecordAttrs<'_, String> {
        RecordAttrs {
            id: &self.id,
            classification: i64::from(self.classification),
            jurisdiction: &self.jurisdiction,
            consent: &self.consent,
            held: self.held(),
        }
    }
    fn value(&self, name: &str) -> Result<Option<ValueRef<'_>>, Self::Error> {
        Ok(self.fields.get(name).map(Value::as_ref))
    }
}

impl<'a> ReadableRecord for StoredRecord<'a> {
    type Purpose = &'a str;
    type Error = DecodeError;
    fn id(&self) -> &str {
        self.header.id
    }
    fn classification(&self) -> u32 {
        self.header.classification
    }
    fn jurisdiction(&self) -> &str {
        self.header.jurisdiction
    }
    fn servable(&self, now: u64) -> bool {
        servable(self.header.erasure_pending, self.header.retain_until, now)
    }
    fn attrs(&self) -> RecordAttrs<'_, &'a str> {
        let h = &self.header;
        RecordAttrs {
            id: h.id,
            classification: i64::from(h.classification),
            jurisdiction: h.jurisdiction,
            consent: &h.consent,
            held: !h.holds.is_empty(),
        }
    }
    fn value(&self, name: &str) -> Result<Option<ValueRef<'_>>, DecodeError> {
        for entry in self.entries() {
            let (n, v) = entry?;
            match n.0.cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return v.to_ref().map(Some),
                std::cmp::Ordering::Greater => break,
            }
        }
        Ok(None)
    }
}

/// Why stored bytes are not a record.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Postcard(#[from] postcard::Error),
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    #[error("empty value")]
    Empty,
    #[error("text that is not UTF-8")]
    NotUtf8,
    #[error("the record's fields are not as long as its header says")]
    Length,
}

/// A stored record as it was read: borrowed from the current format, or copied out of a JSON
/// record written before it.
pub(crate) enum Decoded<'a> {
    /// The current format, borrowed.
    Stored(StoredRecord<'a>),
    /// A JSON record.
    Json(Record),
}

/// Decode stored bytes, borrowing where the format allows.
pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    match bytes.first() {
        Some(&FORMAT_POSTCARD) => Ok(Decoded::Stored(StoredRecord::decode(&bytes[1..])?)),
        Some(b'{') => Ok(Decoded::Json(serde_json::from_slice(bytes)?)),
        Some(&other) => Err(DecodeError::UnknownFormat(other)),
        None => Err(DecodeError::Empty),
    }
}

/// Decode stored bytes into an owned record.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    Ok(match decode_stored(bytes)? {
        Decoded::Stored(s) => s.to_record()?,
        Decoded::Json(r) => r,
    })
}

/// Encode a record in the current format.
pub(crate) fn encode_record(r: &Record) -> Vec<u8> {
    let mut fields = Vec::with_capacity(192);
    // A BTreeMap iterates in name order: the order `value` relies on.
    for (name, value) in &r.fields {
        // Serializing strings and numbers to a Vec cannot fail.
        fields = postcard::to_extend(&(Utf8Later::of(name), StoredValue::of(value)), fields)
            .unwrap_or_default();
    }
    let header = Header {
        id: &r.id,
        subject: Utf8Later::of(&r.subject),
        classification: r.classification,
        jurisdiction: &r.jurisdiction,
        consent: r.consent.iter().map(String::as_str).collect(),
        holds: r.holds.iter().map(String::as_str).collect(),
        retain_until: r.retain_until,
        erasure_pending: r.erasure_pending,
        // A record's fields are bounded far below 4 GiB by redb's value size.
        fields_bytes: u32::try_from(fields.len()).unwrap_or(u32::MAX),
    };
    let mut out = Vec::with_capacity(64 + fields.len());
    out.push(FORMAT_POSTCARD);
    out = postcard::to_extend(&header, out).unwrap_or_default();
    out.extend_from_slice(&fields);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: "p1".into(),
            subject: "alice".into(),
            classification: 2,
            jurisdiction: "EU".into(),
            consent: vec!["billing".into(), "treatment".into()],
            holds: vec!["case-1".into()],
            retain_until: Some(1_900_000_000),
            erasure_pending: false,
            fields: BTreeMap::from([
                ("age".into(), Value::Integer(41)),
                ("balance".into(), Value::Float(12.5)),
                ("name".into(), Value::Text("Ann \"Q\" Lee".into())),
                ("note".into(), Value::Null),
                ("vip".into(), Value::Bool(true)),
            ]),
        }
    }

    #[test]
    fn a_record_survives_the_current_format_unchanged() {
        let r = record();
        let bytes = encode_record(&r);
        assert_eq!(bytes[0], FORMAT_POSTCARD);
        assert_eq!(decode_record(&bytes).ok(), Some(r));
    }

    #[test]
    fn a_json_record_written_before_the_format_still_decodes() {
        let r = record();
        let json = serde_json::to_vec(&r).unwrap_or_default();
        assert_eq!(decode_record(&json).ok(), Some(r));
    }

    #[test]
    fn a_borrowed_record_finds_each_value_and_no_other() {
        let r = record();
        let bytes = encode_record(&r);
        let Ok(Decoded::Stored(s)) = decode_stored(&bytes) else {
            panic!("not the current format");
        };
        for (name, v) in &r.fields {
            assert_eq!(s.value(name).ok(), Some(Some(v.as_ref())), "{name}");
        }
        for absent in ["", "a", "missing", "zzz"] {
            assert_eq!(s.value(absent).ok(), Some(None), "{absent}");
        }
        assert_eq!(s.attrs().consent, ["billing", "treatment"]);
        assert!(s.attrs().held);
    }

    #[test]
    fn truncated_or_unknown_bytes_are_an_error_not_a_panic() {
        let bytes = encode_record(&record());
        for cut in 0..bytes.len() {
            assert!(decode_record(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(
            decode_record(&[7, 0]),
            Err(DecodeError::UnknownFormat(7))
        ));
    }

    #[test]
    fn a_stored_name_that_is_not_utf8_is_an_error_when_copied_out() {
        let r = record();
        let mut bytes = encode_record(&r);
        // The subject `alice` is stored as its bytes: make it invalid UTF-8.
        let at = bytes
            .windows(5)
            .position(|w| w == b"alice")
            .unwrap_or_default();
        bytes[at] = 0xff;
        assert!(matches!(decode_record(&bytes), Err(DecodeError::NotUtf8)));
    }
}
