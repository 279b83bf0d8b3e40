//! Cordon's data layer: collections whose fields carry tenant-defined categories, records with
//! a data subject, a classification level, a jurisdiction, consented purposes, legal holds and
//! a retention deadline — and reads that return only what Cedar allows.
//!
//! A read ([`RecordStore::read`]) is planned once ([`Plan`]: the requested fields are decided by
//! `records:read-field`, a filter may only test allowed fields, the purpose's row cap applies),
//! then evaluated ([`evaluate`]): records past retention or awaiting erasure are skipped as if
//! absent, every other record is decided by `records:read` *before* the filter, and only the
//! allowed ones are filtered, limited and projected onto the allowed fields. Withheld records
//! are invisible: no row, count, flag or error a guest gets depends on them (they are named to
//! the decision log only, as commitments). See [`read`](crate::evaluate) for the rule.
//!
//! Erasure ([`RecordStore::erase_subject`]) deletes a subject's records in one transaction,
//! except those under a legal hold: those are refused with the hold as the reason, never served
//! again, and erased when the last hold is lifted ([`RecordStore::release`]). Erasure is final:
//! subjects and ids are normalised ([`normalise_subject`]), a tombstone refuses any re-import,
//! and the file is scrubbed so that no erased byte survives in it ([`RecordStore::scrub`]).
//! Records past their retention are purged by [`RecordStore::sweep`].
//!
//! ```
//! use cordon_policy::{PolicyBundle, Principal, RecordsContext, RunContext};
//! use cordon_records::{Collection, ReadSpec, RecordStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = RecordStore::open_in(dir.path())?;
//! store.define_collection(&serde_json::from_str::<Collection>(r#"{"name": "patients",
//!     "levels": ["internal", "restricted"],
//!     "fields": [{"name": "name", "category": "identifier"}, {"name": "diagnosis", "category": "health"}]}"#)?)?;
//! let line = r#"{"id": "p1", "subject": "s1", "classification": "internal", "consent": ["billing"], "fields": {"name": "Ada", "diagnosis": "flu"}}"#;
//! store.import("patients", line.as_bytes())?;
//!
//! let bundle = PolicyBundle::from_sources([("p.cedar", r#"
//!     @id("consented") permit(principal, action == Cordon::Action::"records:read", resource)
//!       when { resource.consent.contains(context.purpose) };
//!     @id("ids") permit(principal, action == Cordon::Action::"records:read-field", resource)
//!       when { resource.category == "identifier" };"#)])?;
//! let session = bundle.session(&Principal::unattended("acme", "c0"), &RunContext::new("billing", "e"))?;
//! let spec = ReadSpec { fields: vec!["name".into(), "diagnosis".into()], filter: vec![], limit: 10 };
//! let rc = RecordsContext { host_region: "eu-west".into(), requested_fields: spec.fields.clone() };
//! let mut auth = session.records("patients", &rc)?;
//! let result = store.read("patients", None, &spec, "billing", &mut auth)?;
//! assert_eq!(result.rows.len(), 1);
//! assert_eq!(result.fields_returned, ["name"]);
//! assert_eq!(result.fields_withheld, ["diagnosis"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod codec;
mod ident;
mod import;
mod index;
mod model;
mod operator;
mod read;
mod store;

pub use ident::{IdentifierError, MAX_IDENTIFIER_BYTES, normalise_record_id, normalise_subject};
pub use import::{ImportError, ImportReport, LineError, MAX_REPORTED_LINES};
pub use model::{Collection, FieldDef, Record, Value};
pub use operator::{ActionError, InspectError, OPERATOR_PURPOSE, Operator, Select};
pub use read::{
    CompareOp, Condition, MAX_LOGGED_WITHHELD, Path, Plan, PlanError, ReadResult, ReadSpec, Row,
    evaluate,
};
pub use store::{
    DefineError, EraseError, ErasureReport, HoldError, OpenError, OperatorAction, RECORDS_FILE,
    ReadError, RecordRef, RecordStore, RefusedErasure, ReleaseReport, StorageError, SweepReport,
    now_unix,
};
