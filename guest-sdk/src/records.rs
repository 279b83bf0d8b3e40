//! Records held by the host, read on behalf of the run's human for the run's purpose
//! (action `records:read`).
//!
//! The agent names the fields it needs. Records and fields the policy does not allow are
//! withheld and counted in the [`QueryResult`], never shown. A host without a data layer answers
//! with [`Error::Unsupported`](crate::Error).
//!
//! # Example
//!
//! ```no_run
//! use cordon_guest::records::{self, Filter};
//!
//! let open = Filter::new().eq("status", "open").ge("priority", 2);
//! let result = records::query("tickets", &open, &["title", "priority"], 50)?;
//! for row in &result.rows {
//!     let _title = row.get("title").and_then(|v| v.as_str());
//! }
//! let _hidden = result.withheld_records;
//! # Ok::<(), cordon_guest::Error>(())
//! ```

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::__bindings::cordon::agent::records as wit;
use crate::Result;

/// A field value.
///
/// Serialises as the plain JSON value (`null`, `true`, `3`, `2.5`, `"text"`).
///
/// ```
/// use cordon_guest::records::Value;
///
/// assert_eq!(Value::from("open"), Value::Text("open".into()));
/// assert_eq!(Value::from(3), Value::Integer(3));
/// assert_eq!(Value::from(None::<bool>), Value::Null);
/// assert_eq!(serde_json::to_string(&Value::from(2.5)).unwrap(), "2.5");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Boolean(bool),
    /// A signed 64-bit integer.
    Integer(i64),
    /// A 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// The text, if this is [`Value::Text`].
    ///
    /// ```
    /// # use cordon_guest::records::Value;
    /// assert_eq!(Value::from("a").as_str(), Some("a"));
    /// assert_eq!(Value::from(1).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The integer, if this is [`Value::Integer`].
    ///
    /// ```
    /// # use cordon_guest::records::Value;
    /// assert_eq!(Value::from(7).as_i64(), Some(7));
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a float, if this is [`Value::Float`] or [`Value::Integer`].
    ///
    /// ```
    /// # use cordon_guest::records::Value;
    /// assert_eq!(Value::from(2).as_f64(), Some(2.0));
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            Value::Integer(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// The boolean, if this is [`Value::Boolean`].
    ///
    /// ```
    /// # use cordon_guest::records::Value;
    /// assert_eq!(Value::from(true).as_bool(), Some(true));
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// True for [`Value::Null`].
    ///
    /// ```
    /// # use cordon_guest::records::Value;
    /// assert!(Value::Null.is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(value: $ty) -> Self {
                Value::$variant(value.into())
            }
        })*
    };
}
value_from!(bool => Boolean, i64 => Integer, i32 => Integer, u32 => Integer, i16 => Integer,
    u16 => Integer, i8 => Integer, u8 => Integer, f64 => Float, f32 => Float, String => Text,
    &str => Text);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl From<Value> for wit::Value {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => wit::Value::Null,
            Value::Boolean(b) => wit::Value::Boolean(b),
            Value::Integer(n) => wit::Value::Integer(n),
            Value::Float(x) => wit::Value::Float(x),
            Value::Text(text) => wit::Value::Text(text),
        }
    }
}

impl From<wit::Value> for Value {
    fn from(value: wit::Value) -> Self {
        match value {
            wit::Value::Null => Value::Null,
            wit::Value::Boolean(b) => Value::Boolean(b),
            wit::Value::Integer(n) => Value::Integer(n),
            wit::Value::Float(x) => Value::Float(x),
            wit::Value::Text(text) => Value::Text(text),
        }
    }
}

/// Conditions that a record must all meet, built one call at a time.
///
/// An empty filter matches every record.
///
/// ```
/// use cordon_guest::records::Filter;
///
/// let filter = Filter::new()
///     .eq("status", "open")
///     .lt("age_days", 30)
///     .one_of("team", ["infra", "security"]);
/// assert_eq!(filter.len(), 3);
/// assert!(Filter::new().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Filter {
    conditions: Vec<wit::Condition>,
}

impl Filter {
    /// A filter with no conditions: every record matches.
    ///
    /// ```
    /// assert!(cordon_guest::records::Filter::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Filter::default()
    }

    fn compare(
        mut self,
        field: impl Into<String>,
        op: wit::CompareOp,
        value: impl Into<Value>,
    ) -> Self {
        self.conditions
            .push(wit::Condition::Compare(wit::Comparison {
                field: field.into(),
                op,
                value: value.into().into(),
            }));
        self
    }

    /// `field == value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().eq("status", "open");
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn eq(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Eq, value)
    }

    /// `field != value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().ne("status", "closed");
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn ne(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Ne, value)
    }

    /// `field < value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().lt("age", 18);
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn lt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Lt, value)
    }

    /// `field <= value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().le("score", 0.5);
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn le(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Le, value)
    }

    /// `field > value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().gt("amount", 1000);
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn gt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Gt, value)
    }

    /// `field >= value`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().ge("priority", 2);
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn ge(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.compare(field, wit::CompareOp::Ge, value)
    }

    /// `field` is one of `values`.
    ///
    /// ```
    /// let filter = cordon_guest::records::Filter::new().one_of("status", ["open", "blocked"]);
    /// # assert_eq!(filter.len(), 1);
    /// ```
    pub fn one_of<V: Into<Value>>(
        mut self,
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.conditions.push(wit::Condition::OneOf(wit::Membership {
            field: field.into(),
            values: values
                .into_iter()
                .map(|value| value.into().into())
                .collect(),
        }));
        self
    }

    /// How many conditions the filter has.
    ///
    /// ```
    /// assert_eq!(cordon_guest::records::Filter::new().eq("a", 1).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.conditions.len()
    }

    /// True when the filter has no conditions.
    ///
    /// ```
    /// assert!(cordon_guest::records::Filter::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}

/// One record: its id and the fields that were asked for and may be seen, in the order asked.
///
/// Serialises as `{"id": ..., "fields": {name: value, ...}}`.
///
/// ```no_run
/// # use cordon_guest::records::{self, Filter};
/// let result = records::get("tickets", "T-17", &["title"])?;
/// if let Some(row) = result.rows.first() {
///     let _title = row.get("title");
/// }
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The record's id.
    pub id: String,
    /// Field names and values.
    pub fields: Vec<(String, Value)>,
}

impl Row {
    /// The value of field `name`, if it was returned.
    ///
    /// ```
    /// # use cordon_guest::records::{Row, Value};
    /// let row = Row { id: "1".into(), fields: vec![("title".into(), "hi".into())] };
    /// assert_eq!(row.get("title"), Some(&Value::from("hi")));
    /// assert_eq!(row.get("body"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        struct Fields<'a>(&'a [(String, Value)]);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> core::result::Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (name, value) in self.0 {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("fields", &Fields(&self.fields))?;
        map.end()
    }
}

/// What a read returned, and what the policy withheld.
///
/// ```no_run
/// # use cordon_guest::records::{self, Filter};
/// let result = records::query("tickets", &Filter::new(), &["title", "owner_email"], 10)?;
/// if !result.withheld_fields.is_empty() {
///     // e.g. `owner_email` is personal data this run's purpose may not see.
/// }
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryResult {
    /// The records returned.
    pub rows: Vec<Row>,
    /// How many matching records the policy withheld (their content is never shown).
    pub withheld_records: u32,
    /// Requested fields withheld from every returned row.
    pub withheld_fields: Vec<String>,
    /// True when more records matched than the limit or the purpose's row cap allowed.
    pub truncated: bool,
}

impl From<wit::QueryResult> for QueryResult {
    fn from(result: wit::QueryResult) -> Self {
        QueryResult {
            rows: result
                .rows
                .into_iter()
                .map(|row| Row {
                    id: row.id,
                    fields: row
                        .fields
                        .into_iter()
                        .map(|f| (f.name, f.value.into()))
                        .collect(),
                })
                .collect(),
            withheld_records: result.withheld_records,
            withheld_fields: result.withheld_fields,
            truncated: result.truncated,
        }
    }
}

fn owned(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|field| (*field).to_owned()).collect()
}

/// Records of `collection` that match `filter`, with the named `fields`, at most `limit` of
/// them (action `records:read`).
///
/// ```no_run
/// use cordon_guest::records::{self, Filter};
///
/// let result = records::query("orders", &Filter::new().gt("total", 100), &["customer", "total"], 20)?;
/// let _count = result.rows.len();
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn query(
    collection: &str,
    filter: &Filter,
    fields: &[&str],
    limit: u32,
) -> Result<QueryResult> {
    Ok(wit::query(collection, &filter.conditions, &owned(fields), limit)?.into())
}

/// One record of `collection` by id, with the named `fields` (action `records:read`). The
/// result holds no row if there is no such record or the policy withheld it.
///
/// ```no_run
/// let result = cordon_guest::records::get("orders", "o-42", &["status"])?;
/// let found = !result.rows.is_empty();
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn get(collection: &str, id: &str, fields: &[&str]) -> Result<QueryResult> {
    Ok(wit::get(collection, id, &owned(fields))?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_keeps_conditions_in_order() {
        let filter = Filter::new()
            .eq("a", 1)
            .one_of("b", ["x", "y"])
            .ge("c", 2.5);
        let fields: Vec<&str> = filter
            .conditions
            .iter()
            .map(|c| match c {
                wit::Condition::Compare(cmp) => cmp.field.as_str(),
                wit::Condition::OneOf(set) => set.field.as_str(),
            })
            .collect();
        assert_eq!(fields, ["a", "b", "c"]);
    }

    #[test]
    fn row_serialises_fields_as_an_object() {
        let row = Row {
            id: "r1".into(),
            fields: vec![("n".into(), 3.into()), ("t".into(), Value::Null)],
        };
        assert_eq!(
            serde_json::to_string(&row).ok().as_deref(),
            Some(r#"{"id":"r1","fields":{"n":3,"t":null}}"#)
        );
    }
}
