//! `cordon:agent/records`: declared, not yet provided. Every call is counted and answered with
//! the typed `unsupported` error, never a trap.

use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::records::{Condition, Host, QueryResult};
use crate::gate::Gate;

/// The state the records interface may touch.
pub(crate) struct RecordsView<'a> {
    pub(crate) gate: &'a mut Gate,
}

pub(crate) struct HasRecords;

impl HasData for HasRecords {
    type Data<'a> = RecordsView<'a>;
}

impl Host for RecordsView<'_> {
    #[tracing::instrument(name = "cordon.records.query", skip_all)]
    fn query(
        &mut self,
        _collection: String,
        _filter: Vec<Condition>,
        _fields: Vec<String>,
        _limit: u32,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(Err(self.gate.unsupported("the records store")?))
    }

    #[tracing::instrument(name = "cordon.records.get", skip_all)]
    fn get(
        &mut self,
        _collection: String,
        _id: String,
        _fields: Vec<String>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(Err(self.gate.unsupported("the records store")?))
    }
}
