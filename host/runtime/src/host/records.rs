//! `cordon:agent/records`: reads of the host's records store. Each call goes through
//! [`Gate::check_records`], which decides every record and field with Cedar and appends one log
//! entry naming what was returned and withheld — before the guest sees any of it. A run without
//! a store ([`crate::RecordsGrant`] absent) gets the typed `unsupported` error.

use std::sync::Arc;

use cordon_records::{CompareOp as Op, ReadResult, ReadSpec, RecordStore, Value as V};
use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::records::{
    CompareOp, Condition, FieldValue, Host, QueryResult, Row, Value,
};
use crate::gate::Gate;

/// A run's access to a records store: the store and the region the host runs in (policies see
/// it as `context.host_region`).
#[derive(Debug, Clone)]
pub struct RecordsGrant {
    /// The store.
    pub store: Arc<RecordStore>,
    /// The host's region, e.g. `eu-west`.
    pub region: String,
}

/// The state the records interface may touch.
pub(crate) struct RecordsView<'a> {
    pub(crate) gate: &'a mut Gate,
    pub(crate) grant: Option<&'a RecordsGrant>,
}

pub(crate) struct HasRecords;

impl HasData for HasRecords {
    type Data<'a> = RecordsView<'a>;
}

fn value_in(v: Value) -> V {
    match v {
        Value::Null => V::Null,
        Value::Boolean(b) => V::Bool(b),
        Value::Integer(i) => V::Integer(i),
        Value::Float(f) => V::Float(f),
        Value::Text(s) => V::Text(s),
    }
}

fn value_out(v: V) -> Value {
    match v {
        V::Null => Value::Null,
        V::Bool(b) => Value::Boolean(b),
        V::Integer(i) => Value::Integer(i),
        V::Float(f) => Value::Float(f),
        V::Text(s) => Value::Text(s),
    }
}

fn condition_in(c: Condition) -> cordon_records::Condition {
    match c {
        Condition::Compare(c) => cordon_records::Condition::Compare {
            field: c.field,
            op: match c.op {
                CompareOp::Eq => Op::Eq,
                CompareOp::Ne => Op::Ne,
                CompareOp::Lt => Op::Lt,
                CompareOp::Le => Op::Le,
                CompareOp::Gt => Op::Gt,
                CompareOp::Ge => Op::Ge,
            },
            value: value_in(c.value),
        },
        Condition::OneOf(m) => cordon_records::Condition::OneOf {
            field: m.field,
            values: m.values.into_iter().map(value_in).collect(),
        },
    }
}

fn result_out(r: ReadResult) -> QueryResult {
    let names = r.fields_returned;
    QueryResult {
        rows: r
            .rows
            .into_iter()
            .map(|row| Row {
                id: row.id,
                fields: names
                    .iter()
                    .cloned()
                    .zip(row.values)
                    .map(|(name, v)| FieldValue {
                        name,
                        value: value_out(v),
                    })
                    .collect(),
            })
            .collect(),
        // Withheld records are invisible: the guest is never told how many there are (the
        // count in `r` is for the log; see `cordon_records::read`).
        withheld_records: 0,
        withheld_fields: r.fields_withheld,
        truncated: r.truncated,
    }
}

impl RecordsView<'_> {
    fn read(
        &mut self,
        collection: String,
        id: Option<String>,
        spec: ReadSpec,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Some(grant) = self.grant else {
            return Ok(Err(self.gate.unsupported("the records store")?));
        };
        let purpose = self.gate.identity().purpose.clone();
        // The filter as the log keeps it, for an allowed read and a refused one alike.
        let filter = spec
            .filter
            .iter()
            .map(cordon_records::Condition::logged)
            .collect();
        let answer =
            self.gate
                .check_records(&collection, &grant.region, &spec.fields, filter, |auth| {
                    grant
                        .store
                        .read(&collection, id.as_deref(), &spec, &purpose, auth)
                })?;
        Ok(answer.map(result_out))
    }
}

impl Host for RecordsView<'_> {
    #[tracing::instrument(name = "cordon.records.query", skip_all, fields(collection = %collection))]
    fn query(
        &mut self,
        collection: String,
        filter: Vec<Condition>,
        fields: Vec<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        if let Err(e) =
            crate::host::bounds::records(self.gate, &collection, None, &fields, &filter)?
        {
            return Ok(Err(e));
        }
        let spec = ReadSpec {
            fields,
            filter: filter.into_iter().map(condition_in).collect(),
            limit,
        };
        self.read(collection, None, spec)
    }

    #[tracing::instrument(name = "cordon.records.get", skip_all, fields(collection = %collection))]
    fn get(
        &mut self,
        collection: String,
        id: String,
        fields: Vec<String>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        if let Err(e) =
            crate::host::bounds::records(self.gate, &collection, Some(&id), &fields, &[])?
        {
            return Ok(Err(e));
        }
        let spec = ReadSpec {
            fields,
            filter: Vec::new(),
            limit: 1,
        };
        self.read(collection, Some(id), spec)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use cordon_records::Row as StoreRow;

    use super::*;

    fn gate(dir: &std::path::Path) -> Gate {
        crate::gate::test_gate(dir, "permit(principal, action, resource);")
    }

    fn result(rows: usize) -> ReadResult {
        ReadResult {
            rows: (0..rows)
                .map(|i| StoreRow {
                    id: format!("r{i}"),
                    values: vec![],
                })
                .collect(),
            records_withheld: 3,
            max_classification: (rows > 0).then_some(2),
            jurisdictions: if rows > 0 {
                BTreeSet::from(["EU".to_owned()])
            } else {
                BTreeSet::new()
            },
            categories: if rows > 0 {
                BTreeSet::from(["health".to_owned()])
            } else {
                BTreeSet::new()
            },
            ..ReadResult::default()
        }
    }

    #[test]
    fn a_read_taints_the_run_with_the_labels_of_what_it_returned() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = gate(dir.path());
        let r = gate
            .check_records("patients", "eu-west", &[], Vec::new(), |_| Ok(result(2)))
            .unwrap();
        assert!(r.is_ok());
        assert_eq!(gate.taint.classification(), Some(2));
        assert!(gate.taint.jurisdictions().contains("EU"));
        assert!(gate.taint.categories().contains("health"));
        assert_eq!(gate.decisions.len(), 1);
    }

    #[test]
    fn a_read_that_returned_nothing_does_not_taint() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = gate(dir.path());
        gate.check_records("patients", "eu-west", &[], Vec::new(), |_| Ok(result(0)))
            .unwrap()
            .unwrap();
        assert!(!gate.taint.is_tainted());
    }
}
