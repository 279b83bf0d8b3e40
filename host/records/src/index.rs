//! Secondary indexes on the fields a collection declares with `"index": true`.
//!
//! One redb table holds every index entry: the key is `(collection, field, value, record id)`
//! in an order-preserving encoding, the value the record id. Entries are written in the same
//! write transaction as the record they describe, so an index is never out of step with the
//! records. A record that lacks an indexed field is indexed under `null` (a filter sees a
//! missing field as `null`).
//!
//! **An index finds candidates, never answers.** A read uses an index only to narrow which
//! records it looks at: each candidate is then decided, tested against the whole filter and
//! projected exactly as in a scan of the collection, and candidates are visited in id order,
//! as a scan visits them. The candidates of a condition are a superset of the records meeting
//! it, so a read through an index returns exactly what the scan would (rows, `truncated`,
//! and what the log is told was withheld). An index is only used for a filtered field, and a
//! filter may only test fields the caller may see, so which index is used never depends on
//! content the caller may not see.
//!
//! Value encoding (kind tag, then the value): `null` is `00`; a boolean `01 b`; a number `02`
//! and eight bytes of the `f64` in an order-preserving form (integers are converted as
//! [`Value::compare`] converts them against floats, and `-0` is `0`, so every value a number
//! compares equal to has the same encoding); text `03`, its bytes with `00` escaped as `00 FF`,
//! and a `00 00` terminator. Kinds never compare with each other, so a range stays within its
//! kind.

use redb::{ReadableTable, TableDefinition};

use crate::model::{Collection, Record, Value};
use crate::read::{CompareOp, Condition};
use crate::store::{StorageError, st};

/// `(collection, field, value, id)` → id.
pub(crate) const INDEX: TableDefinition<&[u8], &str> = TableDefinition::new("field_index");

/// Most candidates a range or membership condition may gather (and sort into id order) before
/// the read falls back to scanning the collection in id order: bounds a read's memory.
pub(crate) const MAX_SORTED_CANDIDATES: usize = 65_536;

/// Above every byte of an id (UTF-8 never has `FF`).
const TOP: u8 = 0xFF;

fn push_name(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// The prefix of every entry of `collection`.
pub(crate) fn collection_prefix(collection: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(collection.len() + 4);
    push_name(&mut out, collection);
    out
}

fn field_prefix(collection: &str, field: &str) -> Vec<u8> {
    let mut out = collection_prefix(collection);
    push_name(&mut out, field);
    out
}

fn tag(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Integer(_) | Value::Float(_) => 2,
        Value::Text(_) => 3,
    }
}

fn push_value(out: &mut Vec<u8>, v: &Value) {
    out.push(tag(v));
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Integer(_) | Value::Float(_) => {
            let f = match v {
                Value::Integer(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.0,
            };
            // -0 compares equal to 0.
            let f = if f == 0.0 { 0.0 } else { f };
            let bits = f.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::Text(t) => {
            for &b in t.as_bytes() {
                out.push(b);
                if b == 0 {
                    out.push(TOP);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
    }
}

fn value_prefix(collection: &str, field: &str, v: &Value) -> Vec<u8> {
    let mut out = field_prefix(collection, field);
    push_value(&mut out, v);
    out
}

fn entry_key(collection: &str, field: &str, v: &Value, id: &str) -> Vec<u8> {
    let mut out = value_prefix(collection, field, v);
    out.extend_from_slice(id.as_bytes());
    out
}

/// The index entries of record `r` of `coll`.
fn entries<'a>(coll: &'a Collection, r: &'a Record) -> impl Iterator<Item = Vec<u8>> + 'a {
    coll.fields.iter().filter(|f| f.index).map(move |f| {
        let v = r.fields.get(&f.name).unwrap_or(&Value::Null);
        entry_key(&coll.name, &f.name, v, &r.id)
    })
}

/// Index `r` (a new or replacing version of a record of `coll`).
pub(crate) fn insert(
    table: &mut redb::Table<&[u8], &str>,
    coll: &Collection,
    r: &Record,
) -> Result<(), StorageError> {
    for key in entries(coll, r) {
        table.insert(key.as_slice(), r.id.as_str()).map_err(st)?;
    }
    Ok(())
}

/// Drop the entries of `r` (a deleted or replaced version of a record of `coll`).
pub(crate) fn remove(
    table: &mut redb::Table<&[u8], &str>,
    coll: &Collection,
    r: &Record,
) -> Result<(), StorageError> {
    for key in entries(coll, r) {
        table.remove(key.as_slice()).map_err(st)?;
    }
    Ok(())
}

/// Drop every entry of `collection` (before its indexes are rebuilt).
pub(crate) fn clear(
    table: &mut redb::Table<&[u8], &str>,
    collection: &str,
) -> Result<(), StorageError> {
    let lo = collection_prefix(collection);
    let mut hi = lo.clone();
    hi.push(TOP);
    table
        .retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)
        .map_err(st)
}

/// How a read visits the records of a collection; every way visits candidates in id order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Every record, in id order.
    Scan,
    /// The ids under one index key range, which are in id order (an equality).
    Stream {
        /// First key.
        lo: Vec<u8>,
        /// Key past the last.
        hi: Vec<u8>,
    },
    /// These ids, sorted (a range or membership with few enough candidates).
    Ids(Vec<String>),
}

/// The key ranges holding every record that may meet `c`, if its field is indexed and its
/// operator can use an index.
fn ranges(coll: &Collection, c: &Condition) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let field = c.field();
    if !coll.field(field).is_some_and(|f| f.index) {
        return None;
    }
    let eq = |v: &Value| {
        let lo = value_prefix(&coll.name, field, v);
        let mut hi = lo.clone();
        hi.push(TOP);
        (lo, hi)
    };
    let kind = |v: &Value, offset: u8| {
        let mut k = field_prefix(&coll.name, field);
        k.push(tag(v) + offset);
        k
    };
    match c {
        Condition::Compare { op, value, .. } => match op {
            CompareOp::Eq => Some(vec![eq(value)]),
            CompareOp::Ne => None,
            // Superset bounds: the key of `value` itself is inside; the filter decides.
            CompareOp::Gt | CompareOp::Ge => Some(vec![(eq(value).0, kind(value, 1))]),
            CompareOp::Lt | CompareOp::Le => Some(vec![(kind(value, 0), eq(value).1)]),
        },
        Condition::OneOf { values, .. } => Some(values.iter().map(eq).collect()),
    }
}

/// Choose how to read `coll` under `filter`: stream an equality's index entries; else gather
/// and sort the candidates of a range or membership condition if there are at most
/// [`MAX_SORTED_CANDIDATES`]; else scan.
pub(crate) fn access(
    index: &impl ReadableTable<&'static [u8], &'static str>,
    coll: &Collection,
    filter: &[Condition],
) -> Result<Access, StorageError> {
    let eq = filter.iter().find(|c| {
        matches!(
            c,
            Condition::Compare {
                op: CompareOp::Eq,
                ..
            }
        ) && ranges(coll, c).is_some()
    });
    if let Some(c) = eq
        && let Some(mut r) = ranges(coll, c)
        && let Some((lo, hi)) = r.pop()
    {
        return Ok(Access::Stream { lo, hi });
    }
    'conditions: for c in filter {
        let Some(ranges) = ranges(coll, c) else {
            continue;
        };
        let mut ids = Vec::new();
        for (lo, hi) in ranges {
            for item in index.range(lo.as_slice()..hi.as_slice()).map_err(st)? {
                let (_, id) = item.map_err(st)?;
                if ids.len() == MAX_SORTED_CANDIDATES {
                    continue 'conditions;
                }
                ids.push(id.value().to_owned());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        return Ok(Access::Ids(ids));
    }
    Ok(Access::Scan)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests stop loudly")]

    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        push_value(&mut out, v);
        out
    }

    #[test]
    fn encoding_orders_values_as_compare_does() {
        let values = [
            Value::Integer(i64::MIN),
            Value::Float(-1.5),
            Value::Integer(-1),
            Value::Float(-0.0),
            Value::Integer(0),
            Value::Float(0.25),
            Value::Integer(1),
            Value::Float(1e300),
            Value::Text(String::new()),
            Value::Text("a".into()),
            Value::Text("a\0".into()),
            Value::Text("a\0b".into()),
            Value::Text("ab".into()),
            Value::Text("b".into()),
        ];
        for a in &values {
            for b in &values {
                if let Some(ord) = a.compare(b) {
                    assert_eq!(enc(a).cmp(&enc(b)), ord, "{a:?} vs {b:?}");
                }
            }
        }
    }
}
