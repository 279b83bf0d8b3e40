//! The model: collections with a declared field schema, records with their governance
//! attributes, and field values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One declared field of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The field's name, as guests name it.
    pub name: String,
    /// The tenant-defined category policies decide on (`identifier`, `health`, ...).
    pub category: String,
    /// Keep a secondary index on the field, so that a filter testing it for equality, a range
    /// or membership reads only the candidate records instead of scanning the collection. An
    /// index finds candidates only: each is still decided and filtered like any other record.
    /// Its time is not: an indexed read's candidates include withheld records holding the
    /// value asked for, so a guest timing the call learns roughly how many there are. Index
    /// only fields whose distribution is not secret.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index: bool,
}

/// A collection: its fields, the tenant's ordered classification levels, and read limits.
///
/// ```
/// let c: cordon_records::Collection = serde_json::from_str(r#"{
///     "name": "patients",
///     "levels": ["public", "internal", "confidential", "restricted"],
///     "fields": [{ "name": "name", "category": "identifier" }],
///     "row_caps": { "billing": 100 }
/// }"#)?;
/// assert_eq!(c.level("confidential"), Some(2));
/// assert_eq!(c.row_cap("billing"), Some(100));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// The collection's name.
    pub name: String,
    /// Classification levels, lowest first; a record's `classification` names one of them and
    /// policies see its position.
    pub levels: Vec<String>,
    /// The declared fields; a record may carry only these.
    pub fields: Vec<FieldDef>,
    /// Most rows one read may return, per purpose.
    #[serde(default)]
    pub row_caps: BTreeMap<String, u32>,
    /// When true, a read that asks for a field the policy withholds fails instead of omitting it.
    #[serde(default)]
    pub strict_fields: bool,
}

impl Collection {
    /// The position of classification level `name`.
    pub fn level(&self, name: &str) -> Option<u32> {
        self.levels
            .iter()
            .position(|l| l == name)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// The declared field `name`.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The row cap for `purpose`, if the collection sets one.
    pub fn row_cap(&self, purpose: &str) -> Option<u32> {
        self.row_caps.get(purpose).copied()
    }
}

/// A field value (the WIT `value`). In JSON: `null`, a boolean, a number (a whole number that
/// fits in `i64` is an integer, any other a float) or a string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Text(String),
}

/// Decoded straight from the input's own types: `#[serde(untagged)]` would buffer every value
/// and try each variant in turn, which dominated the cost of reading a stored record.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null, a boolean, a number or a string")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Integer(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
                Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Integer))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Text(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Text(s))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Value {
    /// How `self` orders against `other`: see [`ValueRef::compare`].
    pub fn compare(&self, other: &Value) -> Option<std::cmp::Ordering> {
        self.as_ref().compare(other.as_ref())
    }

    /// The value borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
        }
    }
}

/// A field value borrowed from where it is stored: what a read decides and filters on without
/// copying it out (only the rows returned are copied, by [`ValueRef::to_value`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Text(&'a str),
}

impl ValueRef<'_> {
    /// How `self` orders against `other`: numbers numerically, text lexically, null equal to
    /// null; `None` across kinds.
    pub fn compare(&self, other: ValueRef<'_>) -> Option<std::cmp::Ordering> {
        match (*self, other) {
            (ValueRef::Null, ValueRef::Null) => Some(std::cmp::Ordering::Equal),
            (ValueRef::Bool(a), ValueRef::Bool(b)) => Some(a.cmp(&b)),
            (ValueRef::Integer(a), ValueRef::Integer(b)) => Some(a.cmp(&b)),
            (ValueRef::Integer(a), ValueRef::Float(b)) => (a as f64).partial_cmp(&b),
            (ValueRef::Float(a), ValueRef::Integer(b)) => a.partial_cmp(&(b as f64)),
            (ValueRef::Float(a), ValueRef::Float(b)) => a.partial_cmp(&b),
            (ValueRef::Text(a), ValueRef::Text(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// The value copied out.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's id, unique in its collection.
    pub id: String,
    /// The data subject the record is about (erasure requests name it).
    pub subject: String,
    /// Position of the record's classification level in its collection's `levels`.
    pub classification: u32,
    /// Where the record's data is governed, e.g. `EU`.
    pub jurisdiction: String,
    /// Purposes the subject consented to, sorted and without duplicates.
    pub consent: Vec<String>,
    /// Names of the legal holds covering the record, sorted.
    pub holds: Vec<String>,
    /// Unix time (seconds) after which the record is never served.
    pub retain_until: Option<u64>,
    /// An erasure of the subject was requested while a hold covered the record: it is kept for
    /// the hold, never served, and erased when the last hold is lifted.
    pub erasure_pending: bool,
    /// Field values by name.
    pub fields: BTreeMap<String, Value>,
}

impl Record {
    /// Whether the record may be served at unix time `now`.
    pub fn servable(&self, now: u64) -> bool {
        servable(self.erasure_pending, self.retain_until, now)
    }

    /// Whether any legal hold covers the record.
    pub fn held(&self) -> bool {
        !self.holds.is_empty()
    }
}

/// Whether a record may be served at unix time `now`: no erasure is pending and its retention
/// has not run out.
pub(crate) fn servable(erasure_pending: bool, retain_until: Option<u64>, now: u64) -> bool {
    !erasure_pending && retain_until.is_none_or(|t| now < t)
}
