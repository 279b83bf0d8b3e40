//! The Cordon Cedar schema, embedded from `policies/schema.cedarschema` and parsed once.
//!
//! The process parses the schema's JSON form, `policies/schema.json`: Cedar reads it in about a
//! fifth of the time its own syntax takes (whose parser builds its lexer's automata first), and
//! every `cordon run` pays that time before its component starts. The Cedar text stays the
//! source; a test checks that the JSON form says exactly what it says.

use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{EntityTypeName, Schema};

/// The schema text as shipped in `policies/schema.cedarschema`.
pub const SCHEMA_TEXT: &str = include_str!("../../../policies/schema.cedarschema");

/// The same schema in Cedar's JSON schema format, as shipped in `policies/schema.json`.
pub const SCHEMA_JSON: &str = include_str!("../../../policies/schema.json");

/// The schema could not be parsed (a bug in the shipped schema, caught by the tests).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the cordon schema does not parse: {0}")]
pub struct SchemaError(String);

/// The parsed schema plus the entity type names the host uses on every call.
#[derive(Debug)]
pub struct CordonSchema {
    pub(crate) schema: Schema,
    pub(crate) agent: EntityTypeName,
    pub(crate) human: EntityTypeName,
    pub(crate) role: EntityTypeName,
    pub(crate) tenant: EntityTypeName,
    pub(crate) file: EntityTypeName,
    pub(crate) dir: EntityTypeName,
    pub(crate) url: EntityTypeName,
    pub(crate) host: EntityTypeName,
    pub(crate) collection: EntityTypeName,
    pub(crate) record: EntityTypeName,
    pub(crate) field: EntityTypeName,
    pub(crate) action: EntityTypeName,
}

impl SchemaError {
    pub(crate) fn from_message(message: String) -> Self {
        SchemaError(message)
    }
}

impl CordonSchema {
    /// The shared, parsed schema.
    pub fn get() -> Result<&'static CordonSchema, SchemaError> {
        static SCHEMA: OnceLock<Result<CordonSchema, SchemaError>> = OnceLock::new();
        SCHEMA
            .get_or_init(Self::parse)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The Cedar schema itself.
    pub fn cedar(&self) -> &Schema {
        &self.schema
    }

    fn parse() -> Result<CordonSchema, SchemaError> {
        let schema = Schema::from_json_str(SCHEMA_JSON).map_err(|e| SchemaError(e.to_string()))?;
        let name = |n: &str| EntityTypeName::from_str(n).map_err(|e| SchemaError(e.to_string()));
        Ok(CordonSchema {
            schema,
            agent: name("Cordon::Agent")?,
            human: name("Cordon::Human")?,
            role: name("Cordon::Role")?,
            tenant: name("Cordon::Tenant")?,
            file: name("Cordon::File")?,
            dir: name("Cordon::Dir")?,
            url: name("Cordon::Url")?,
            host: name("Cordon::Host")?,
            collection: name("Cordon::Collection")?,
            record: name("Cordon::Record")?,
            field: name("Cordon::Field")?,
            action: name("Cordon::Action")?,
        })
    }
}
