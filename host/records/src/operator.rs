//! Operator actions on a records store, each also appended to the decision log: the one place
//! `cordon records` (the CLI) and `cordon serve` (the HTTP API) turn an operator action into a
//! log entry.
//!
//! An action is done on the store first — which keeps it in the store's own operator log in the
//! same transaction — and then appended to the decision log and made durable before the call
//! returns. A refused action (a bad import, an unknown record) changes nothing and is not
//! appended. Record ids and data subjects go to the decision log only in
//! [`RecordAccess::record_ids`], which the log keeps as keyed commitments; when records are
//! erased, their keys are destroyed, so the log's entries about them can no longer be linked
//! to their ids (every hash and proof stays valid).

use std::io::BufRead;

use cordon_audit::{AppendError, Decision, DecisionLog, Entry, RecordAccess, Subject};

use crate::import::{ImportError, ImportReport};
use crate::model::{Collection, Record};
use crate::store::{
    DefineError, EraseError, ErasureReport, HoldError, RecordStore, ReleaseReport, StorageError,
    SweepReport,
};

/// The purpose operator actions are logged under.
pub const OPERATOR_PURPOSE: &str = "records-administration";

/// An operator action failed: refused by the store (nothing changed), or done but not made
/// durable in the decision log.
#[derive(Debug, thiserror::Error)]
pub enum ActionError<E: std::error::Error + 'static> {
    /// The store refused the action; nothing changed.
    #[error(transparent)]
    Refused(E),
    /// The action was done, but its decision log entry could not be appended or made durable.
    #[error("the action was done but the decision log could not record it")]
    Log(#[source] AppendError),
}

/// An operator's read of stored records was refused.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The collection is not defined.
    #[error("collection `{0}` is not defined")]
    UnknownCollection(String),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Which stored records [`Operator::inspect`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select<'a> {
    /// The record with this id (none if there is no such record).
    One(&'a str),
    /// Up to `limit` records in id order, starting after the id `after`.
    Page {
        /// Start after this id; from the first record when `None`.
        after: Option<&'a str>,
        /// Most records shown.
        limit: usize,
    },
}

/// A tenant's operator acting on its records store, logging to `log`.
///
/// ```
/// use cordon_audit::{AuditLog, DecisionLog};
/// use cordon_records::{Collection, Operator, RecordStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = RecordStore::open_in(dir.path())?;
/// let log = AuditLog::open_in(dir.path())?;
/// let op = Operator::new(&store, &log, "acme");
/// op.define(&serde_json::from_str::<Collection>(
///     r#"{"name": "t", "levels": ["internal"], "fields": [{"name": "a", "category": "c"}]}"#)?)?;
/// let line = r#"{"id": "1", "subject": "s", "classification": "internal", "fields": {"a": "x"}}"#;
/// assert_eq!(op.import("t", line.as_bytes())?.inserted, 1);
/// assert_eq!(log.head().map(|r| r.seq), Some(1)); // define and import, both logged
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Operator<'a> {
    store: &'a RecordStore,
    log: &'a dyn DecisionLog,
    tenant: String,
}

impl std::fmt::Debug for Operator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl<'a> Operator<'a> {
    /// The operator of `tenant`'s `store`, appending to `log`.
    pub fn new(
        store: &'a RecordStore,
        log: &'a dyn DecisionLog,
        tenant: impl Into<String>,
    ) -> Self {
        Operator {
            store,
            log,
            tenant: tenant.into(),
        }
    }

    /// Define (or redefine) a collection.
    pub fn define(&self, c: &Collection) -> Result<(), ActionError<DefineError>> {
        self.store
            .define_collection(c)
            .map_err(ActionError::Refused)?;
        self.audit("define", &c.name, Vec::new())
    }

    /// Import JSONL records: all of them, or none and every bad line by number.
    pub fn import(
        &self,
        collection: &str,
        input: impl BufRead,
    ) -> Result<ImportReport, ActionError<ImportError>> {
        let report = self
            .store
            .import(collection, input)
            .map_err(ActionError::Refused)?;
        self.audit("import", collection, Vec::new())?;
        Ok(report)
    }

    /// Put a record under a legal hold.
    pub fn hold(
        &self,
        collection: &str,
        id: &str,
        hold: &str,
    ) -> Result<(), ActionError<HoldError>> {
        self.store
            .hold(collection, id, hold)
            .map_err(ActionError::Refused)?;
        self.audit("hold", collection, vec![id.to_owned()])
    }

    /// Lift a legal hold; a pending erasure takes effect when the last one is lifted.
    pub fn release(
        &self,
        collection: &str,
        id: &str,
        hold: &str,
    ) -> Result<ReleaseReport, ActionError<HoldError>> {
        let report = self
            .store
            .release(collection, id, hold)
            .map_err(ActionError::Refused)?;
        if report.erased {
            // Name no record: a commitment key made for it now would be destroyed at once.
            self.audit("release", collection, Vec::new())?;
            self.forget_records([(collection, id)])?;
        } else {
            self.audit("release", collection, vec![id.to_owned()])?;
        }
        Ok(report)
    }

    /// Erase a data subject's records; held ones are refused with the reason.
    ///
    /// The log entry names neither the subject nor the records (a commitment would need a key,
    /// and the key's row would outlive the erasure in the log's free pages); then the
    /// commitment keys of the erased records are destroyed, and so is the key under which
    /// earlier versions logged the erased subject itself (`Subject::Record` in collection `*`).
    pub fn erase(&self, subject: &str) -> Result<ErasureReport, ActionError<EraseError>> {
        let report = self
            .store
            .erase_subject(subject)
            .map_err(ActionError::Refused)?;
        self.audit("erase", "*", Vec::new())?;
        let mut forget: Vec<(&str, &str)> = report
            .erased_records
            .iter()
            .map(|r| (r.collection.as_str(), r.id.as_str()))
            .collect();
        forget.push(("*", subject));
        forget.push(("*", report.subject.as_str()));
        self.forget_records(forget)?;
        Ok(report)
    }

    /// Purge the records past their retention at unix time `now` (see [`RecordStore::sweep`]),
    /// log the sweep if it purged anything and destroy the purged records' commitment keys. A
    /// sweep that purged nothing changed nothing and is not logged (`cordon serve` sweeps
    /// every tenant hourly).
    pub fn sweep(&self, now: u64) -> Result<SweepReport, ActionError<StorageError>> {
        let report = self.store.sweep(now).map_err(ActionError::Refused)?;
        if report.purged > 0 {
            self.audit("sweep", "*", Vec::new())?;
        }
        self.forget_records(
            report
                .purged_records
                .iter()
                .map(|r| (r.collection.as_str(), r.id.as_str())),
        )?;
        Ok(report)
    }

    /// The content of these records is gone: destroy their commitment keys in the decision
    /// log too, so its entries about them (reads, holds) can no longer be linked to their ids.
    fn forget_records<'r, E: std::error::Error + 'static>(
        &self,
        records: impl IntoIterator<Item = (&'r str, &'r str)>,
    ) -> Result<(), ActionError<E>> {
        let subjects: Vec<Subject> = records
            .into_iter()
            .map(|(collection, id)| Subject::Record {
                collection: collection.to_owned(),
                id: id.to_owned(),
            })
            .collect();
        if subjects.is_empty() {
            return Ok(());
        }
        self.log
            .forget(&subjects)
            .map_err(|cordon_audit::EraseError::Log(e)| ActionError::Log(e))
    }

    /// Stored records of `collection` as they are, servable or not, with the collection's
    /// definition; logged as `records:inspect` naming the records shown.
    pub fn inspect(
        &self,
        collection: &str,
        select: Select<'_>,
    ) -> Result<(Collection, Vec<Record>), ActionError<InspectError>> {
        let refused = |e: InspectError| ActionError::Refused(e);
        let coll = self
            .store
            .collection(collection)
            .map_err(|e| refused(e.into()))?
            .ok_or_else(|| refused(InspectError::UnknownCollection(collection.to_owned())))?;
        let records = match select {
            Select::One(id) => self.store.records(collection, Some(id)),
            Select::Page { after, limit } => self.store.records_page(collection, after, limit),
        }
        .map_err(|e| refused(e.into()))?;
        if !records.is_empty() {
            let ids = records.iter().map(|r| r.id.clone()).collect();
            self.audit("inspect", collection, ids)?;
        }
        Ok((coll, records))
    }

    /// Append `records:<action>` on `collection`, naming `ids`, and wait until it is durable.
    fn audit<E: std::error::Error + 'static>(
        &self,
        action: &str,
        collection: &str,
        ids: Vec<String>,
    ) -> Result<(), ActionError<E>> {
        let receipt = self
            .log
            .append(&Entry {
                tenant: self.tenant.clone(),
                run_id: format!("operator-{}", uuid::Uuid::new_v4()),
                component_digest: String::new(),
                policy_digest: String::new(),
                agent: "operator".into(),
                user: None,
                purpose: OPERATOR_PURPOSE.into(),
                engagement: "none".into(),
                action: format!("records:{action}"),
                resource: format!("Cordon::Collection::{collection:?}"),
                decision: Decision::Allow,
                policy_ids: Vec::new(),
                records: Some(RecordAccess {
                    collection: collection.to_owned(),
                    record_ids: ids,
                    fields_returned: Vec::new(),
                    fields_withheld: Vec::new(),
                    records_withheld: 0,
                    withheld_ids: Vec::new(),
                    filter: Vec::new(),
                }),
                taint: None,
                roles: Vec::new(),
                code: None,
            })
            .map_err(ActionError::Log)?;
        self.log.sync(receipt.seq).map_err(ActionError::Log)
    }
}
