//! Each tenant's records store and the operator's actions on it.
//!
//! A tenant's records live in their own file, `<data>/records/<tenant>/records.redb`, opened on
//! first use and kept open for the life of the process. Nothing is shared between tenants: the
//! path comes from the tenant id (validated at creation to `[a-z0-9-]`), and every route and run
//! names its tenant. A run gets its tenant's store with the server's region
//! ([`crate::ServerConfig::region`]); every operator action goes through
//! [`cordon_records::Operator`], which appends it to the decision log. While the server runs,
//! [`sweep_periodically`] purges every tenant's records past their retention, as operator
//! actions (logged like `cordon records sweep`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use cordon_records::{
    ActionError, Collection, DefineError, EraseError, ErasureReport, HoldError, ImportError,
    ImportReport, InspectError, LineError, Operator, OperatorAction, Record, RecordStore,
    ReleaseReport, Select, SweepReport, now_unix,
};
use cordon_runtime::RecordsGrant;

use crate::error::ApiError;
use crate::state::{AppState, valid_tenant_id};

/// The tenants' open records stores.
pub(crate) struct TenantStores {
    dir: PathBuf,
    open: Mutex<HashMap<String, Arc<RecordStore>>>,
}

impl TenantStores {
    /// Stores under `dir` (`<dir>/<tenant>/records.redb`).
    pub(crate) fn new(dir: PathBuf) -> TenantStores {
        TenantStores {
            dir,
            open: Mutex::default(),
        }
    }
}

/// How often `cordon serve` sweeps every tenant's records store.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Sweep every tenant's records store now and then every `interval`, until the task is
/// aborted. A failed sweep is reported and retried at the next tick.
pub(crate) async fn sweep_periodically(state: AppState, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.sweep_records().await {
            Ok(purged) => {
                tracing::info!(target: "cordon.records", purged, "retention sweep");
            }
            Err(e) => {
                tracing::warn!(target: "cordon.records", error = ?e, "retention sweep failed")
            }
        }
    }
}

/// An import was refused because of its lines; nothing was written.
pub(crate) struct BadLines {
    /// The first bad lines, in order.
    pub(crate) listed: Vec<LineError>,
    /// How many more there were.
    pub(crate) more: usize,
}

fn refused<E: std::error::Error + 'static>(
    e: ActionError<E>,
    map: impl FnOnce(E) -> ApiError,
) -> ApiError {
    match e {
        ActionError::Refused(e) => map(e),
        ActionError::Log(e) => ApiError::internal(&e),
    }
}

fn unknown_collection(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("collection `{name}` not found"),
    )
}

fn hold_error(e: HoldError) -> ApiError {
    match e {
        HoldError::UnknownRecord { .. } => ApiError::not_found("record"),
        e @ HoldError::NotHeld { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "not-held", e.to_string())
        }
        HoldError::Storage(e) => ApiError::internal(&e),
    }
}

impl AppState {
    /// `tenant`'s records store, opened (and created) on first use.
    pub(crate) fn records_store(&self, tenant: &str) -> Result<Arc<RecordStore>, ApiError> {
        if !valid_tenant_id(tenant) {
            return Err(ApiError::not_found("tenant"));
        }
        let stores = &self.inner.records;
        let mut open = stores
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = open.get(tenant) {
            return Ok(s.clone());
        }
        let dir = stores.dir.join(tenant);
        std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(&e))?;
        let store = Arc::new(RecordStore::open_in(&dir).map_err(|e| ApiError::internal(&e))?);
        open.insert(tenant.to_owned(), store.clone());
        Ok(store)
    }

    /// What a run of `tenant` reads records from: its store, in the server's region.
    pub(crate) fn records_grant(&self, tenant: &str) -> Result<RecordsGrant, ApiError> {
        Ok(RecordsGrant {
            store: self.records_store(tenant)?,
            region: self.config().region.clone(),
        })
    }

    /// Run `f` with `tenant`'s operator on a blocking thread (redb and the log's sync block).
    async fn operate<R: Send + 'static>(
        &self,
        tenant: &str,
        f: impl FnOnce(&Operator<'_>, &RecordStore) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.tenant(tenant)?;
        let store = self.records_store(tenant)?;
        let log = self.log()?;
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || f(&Operator::new(&store, &*log, tenant), &store))
            .await
            .map_err(|e| ApiError::internal(&e))?
    }

    /// Run `f` on `tenant`'s store on a blocking thread, for reads that show no record.
    async fn read<R: Send + 'static>(
        &self,
        tenant: &str,
        f: impl FnOnce(&RecordStore) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.tenant(tenant)?;
        let store = self.records_store(tenant)?;
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal(&e))?
    }

    /// Define or replace a collection; `true` when it is new.
    pub(crate) async fn define_collection(
        &self,
        tenant: &str,
        c: Collection,
    ) -> Result<bool, ApiError> {
        self.operate(tenant, move |op, store| {
            let created = store
                .collection(&c.name)
                .map_err(|e| ApiError::internal(&e))?
                .is_none();
            op.define(&c).map_err(|e| {
                refused(e, |e| match e {
                    DefineError::Invalid { .. } => {
                        ApiError::bad_request("invalid-collection", e.to_string())
                    }
                    DefineError::Storage(e) => ApiError::internal(&e),
                })
            })?;
            Ok(created)
        })
        .await
    }

    pub(crate) async fn collections(&self, tenant: &str) -> Result<Vec<Collection>, ApiError> {
        self.read(tenant, |store| {
            store.collections().map_err(|e| ApiError::internal(&e))
        })
        .await
    }

    pub(crate) async fn collection(
        &self,
        tenant: &str,
        name: String,
    ) -> Result<Collection, ApiError> {
        self.read(tenant, move |store| {
            store
                .collection(&name)
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| unknown_collection(&name))
        })
        .await
    }

    /// Import JSONL: every record, or none and every bad line.
    pub(crate) async fn import_records(
        &self,
        tenant: &str,
        collection: String,
        body: axum::body::Bytes,
    ) -> Result<Result<ImportReport, BadLines>, ApiError> {
        self.operate(tenant, move |op, _| {
            match op.import(&collection, &body[..]) {
                Ok(r) => Ok(Ok(r)),
                Err(ActionError::Refused(ImportError::BadLines { errors, more })) => {
                    Ok(Err(BadLines {
                        listed: errors,
                        more,
                    }))
                }
                Err(e) => Err(refused(e, |e| match e {
                    ImportError::UnknownCollection(c) => unknown_collection(&c),
                    ImportError::Io(e) => ApiError::bad_request("invalid-records", e.to_string()),
                    e @ ImportError::BadLines { .. } => {
                        ApiError::bad_request("bad-lines", e.to_string())
                    }
                    ImportError::Storage(e) => ApiError::internal(&e),
                })),
            }
        })
        .await
    }

    /// Stored records as they are (the operator's view, logged as `records:inspect`).
    pub(crate) async fn inspect_records(
        &self,
        tenant: &str,
        collection: String,
        id: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Collection, Vec<Record>), ApiError> {
        self.operate(tenant, move |op, _| {
            let select = match &id {
                Some(id) => Select::One(id),
                None => Select::Page {
                    after: after.as_deref(),
                    limit,
                },
            };
            op.inspect(&collection, select).map_err(|e| {
                refused(e, |e| match e {
                    InspectError::UnknownCollection(c) => unknown_collection(&c),
                    InspectError::Storage(e) => ApiError::internal(&e),
                })
            })
        })
        .await
    }

    pub(crate) async fn hold(
        &self,
        tenant: &str,
        collection: String,
        id: String,
        hold: String,
    ) -> Result<Vec<String>, ApiError> {
        self.operate(tenant, move |op, store| {
            op.hold(&collection, &id, &hold)
                .map_err(|e| refused(e, hold_error))?;
            Ok(store
                .records(&collection, Some(&id))
                .map_err(|e| ApiError::internal(&e))?
                .pop()
                .map(|r| r.holds)
                .unwrap_or_default())
        })
        .await
    }

    pub(crate) async fn release(
        &self,
        tenant: &str,
        collection: String,
        id: String,
        hold: String,
    ) -> Result<ReleaseReport, ApiError> {
        let (report, erased) = self
            .operate(tenant, move |op, store| {
                // The subject of a record whose erasure waits for this hold, read first.
                let subject = store
                    .records(&collection, Some(&id))
                    .map_err(|e| ApiError::internal(&e))?
                    .pop()
                    .map(|r| r.subject);
                let report = op
                    .release(&collection, &id, &hold)
                    .map_err(|e| refused(e, hold_error))?;
                let erased = report
                    .erased
                    .then(|| subject.into_iter().chain([id]).collect::<Vec<_>>());
                Ok((report, erased))
            })
            .await?;
        if let Some(ids) = erased {
            self.erase_run_reports(tenant, ids).await?;
        }
        Ok(report)
    }

    /// Erase `subject`'s records, then what `tenant`'s stored runs say of them
    /// ([`crate::run_store::erase_naming`]): the subject and each erased record's id.
    pub(crate) async fn erase_subject(
        &self,
        tenant: &str,
        subject: String,
    ) -> Result<ErasureReport, ApiError> {
        let report = self
            .operate(tenant, move |op, _| {
                op.erase(&subject).map_err(|e| {
                    refused(e, |e| match e {
                        EraseError::NoSubject(_) => {
                            ApiError::bad_request("invalid-request", e.to_string())
                        }
                        EraseError::Storage(e) => ApiError::internal(&e),
                    })
                })
            })
            .await?;
        let mut ids = vec![report.subject.clone()];
        ids.extend(report.erased_records.iter().map(|r| r.id.clone()));
        self.erase_run_reports(tenant, ids).await?;
        Ok(report)
    }

    /// Erase what `tenant`'s stored runs say of `ids`, on a blocking thread.
    /// Runs in progress are marked first: one that finishes after the re-sealing is checked
    /// against `ids` when it is stored.
    async fn erase_run_reports(&self, tenant: &str, ids: Vec<String>) -> Result<(), ApiError> {
        self.mark_erased_in_running(tenant, &ids);
        let state = self.clone();
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || {
            let inner = &state.inner;
            crate::run_store::erase_naming(
                &inner.store,
                &inner.run_files,
                &inner.run_keys,
                &tenant,
                &ids,
            )
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        Ok(())
    }

    /// Purge the records past their retention in every tenant's store that exists; returns
    /// how many were purged. Each store's sweep is an operator action of its tenant.
    pub(crate) async fn sweep_records(&self) -> Result<usize, ApiError> {
        let Ok(dirs) = std::fs::read_dir(&self.inner.records.dir) else {
            return Ok(0);
        };
        let tenants: Vec<String> = dirs
            .filter_map(Result::ok)
            .filter(|d| d.path().join(cordon_records::RECORDS_FILE).is_file())
            .filter_map(|d| d.file_name().into_string().ok())
            .filter(|t| valid_tenant_id(t))
            .collect();
        let mut purged = 0;
        for tenant in tenants {
            let store = self.records_store(&tenant)?;
            let log = self.log()?;
            let report: SweepReport = tokio::task::spawn_blocking(move || {
                Operator::new(&store, &*log, tenant).sweep(now_unix())
            })
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| refused(e, |e| ApiError::internal(&e)))?;
            purged += report.purged;
        }
        Ok(purged)
    }

    pub(crate) async fn records_log(&self, tenant: &str) -> Result<Vec<OperatorAction>, ApiError> {
        self.read(tenant, |store| {
            store.operator_log().map_err(|e| ApiError::internal(&e))
        })
        .await
    }
}
