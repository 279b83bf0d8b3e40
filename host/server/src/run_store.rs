//! Runs kept after they end, in the store, not in memory. Callers come back for a result with
//! the run id, possibly after the service restarted, so each async run's view is stored
//! (durably) when it starts and every run's view when it ends; a run stored as still running
//! that this process does not know is one a restart (or crash) interrupted, and is reported so.
//! A synchronous run's view is committed without an fsync: its caller has the result in the
//! response, and its decisions are in the decision log either way.
//!
//! A report larger than [`RunRetention::inline_report_bytes`] is written to
//! `<data>/runs/<tenant>/<run>.json` (mode 0600) instead of the store; one larger than
//! [`RunRetention::max_report_bytes`] is not kept at all (the view says so). Each tenant keeps
//! its latest [`RunRetention::keep_per_tenant`] finished runs, none older than
//! [`RunRetention::max_age`]: older ones are pruned, files and all, as runs finish.
//!
//! Rows and report files are sealed under the tenant's report key ([`crate::run_seal`]), so
//! that erasing a data subject ([`erase_naming`]) leaves nothing of theirs readable: the runs
//! that named them become tombstones, the rest are re-sealed under a new key, and the old key
//! is destroyed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::group_commit::GroupCommit;
use crate::model::RunView;
use crate::run_seal::{self, Opened, RunKeys};
use crate::store::{self, Store, StoreError, key};

/// The status of a run that was in progress when the service stopped.
pub(crate) const INTERRUPTED: &str = "interrupted";

/// How many finished runs each tenant keeps, for how long, and how their reports are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRetention {
    /// Finished runs kept per tenant (the oldest beyond are pruned).
    pub keep_per_tenant: usize,
    /// Finished runs older than this are pruned.
    pub max_age: Duration,
    /// A report up to this size (serialised) is kept in the store; a larger one in a file.
    pub inline_report_bytes: usize,
    /// A report larger than this is not kept (its run's view keeps status and summary).
    pub max_report_bytes: usize,
}

impl Default for RunRetention {
    fn default() -> Self {
        RunRetention {
            keep_per_tenant: 1000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            inline_report_bytes: 16 << 10,
            max_report_bytes: 8 << 20,
        }
    }
}

/// A run's view as stored: the report left out when it is in a file, or not kept.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    view: RunView,
    /// The report is in `<runs>/<tenant>/<run>.json`.
    #[serde(default)]
    report_in_file: bool,
    /// The report was larger than the host keeps, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    report_dropped: Option<usize>,
}

/// Where reports go: `<data>/runs`.
#[derive(Debug, Clone)]
pub(crate) struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    pub(crate) fn new(dir: PathBuf) -> RunFiles {
        RunFiles { dir }
    }

    fn path(&self, tenant: &str, run_id: &str) -> PathBuf {
        self.dir.join(tenant).join(format!("{run_id}.json"))
    }

    fn write(&self, tenant: &str, run_id: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.write_at(tenant, &self.path(tenant, run_id), bytes)
    }

    /// Replace a run's report file with `bytes` by writing a new file and renaming it over
    /// the old one (whose blocks then hold only ciphertext under a key about to be destroyed).
    fn replace(&self, tenant: &str, run_id: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(tenant, run_id);
        let tmp = path.with_extension("json.tmp");
        self.write_at(tenant, &tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }

    fn write_at(&self, tenant: &str, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.join(tenant);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path)?;
        std::io::Write::write_all(&mut f, bytes)
    }

    fn remove(&self, tenant: &str, run_id: &str) {
        let _ = std::fs::remove_file(self.path(tenant, run_id));
    }
}

fn key_error(e: run_seal::KeyError) -> StoreError {
    StoreError::Db(e.to_string())
}

/// Record an async run's view at its start (`running`), durably, sealed under the tenant's
/// key (taken inside the transaction, so an erasure's rotation never misses it).
pub(crate) fn save_running(
    store: &Store,
    keys: &RunKeys,
    tenant: &str,
    view: &RunView,
) -> Result<(), StoreError> {
    let stored = Stored {
        view: view.clone(),
        report_in_file: false,
        report_dropped: None,
    };
    let plain = serde_json::to_vec(&stored).map_err(store::db)?;
    store.transact(true, |txn| {
        let sealed =
            run_seal::seal(&keys.current(tenant).map_err(key_error)?, &plain).map_err(key_error)?;
        let mut runs = txn.open_table(store::RUNS).map_err(store::db)?;
        runs.insert(key(tenant, &view.run_id).as_str(), sealed.as_slice())
            .map_err(store::db)?;
        Ok(())
    })
}

/// A finished run's stored form, waiting for the commit that records it.
pub(crate) struct Finished {
    tenant: String,
    run_id: String,
    /// The stored view, plain: sealed in the commit, under the key current then.
    stored: Vec<u8>,
    /// The report for its file, plain: sealed and written in the commit.
    report_file: Option<Vec<u8>>,
    finished_at_ns: u64,
    durable: bool,
    /// Ids erased while the run was in progress, read in the commit.
    erased: Option<ErasedDuring>,
}

/// The ids erased (see [`erase_naming`]) while a run was in progress: what it read before
/// may name them, so its view is checked when it is recorded.
pub(crate) type ErasedDuring = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Finished runs waiting to be recorded: the runs that finish while one commit runs are
/// recorded (and their tenants pruned) together in the next, in one transaction.
pub(crate) type Finishing = GroupCommit<Finished>;

/// Where finished runs go: the store, report files, retention rules and the batch that
/// groups concurrent finishes into one commit.
pub(crate) struct RunRecorder<'a> {
    pub(crate) store: &'a Store,
    pub(crate) files: &'a RunFiles,
    pub(crate) keys: &'a RunKeys,
    pub(crate) retention: &'a RunRetention,
    pub(crate) finishing: &'a Finishing,
}

impl RunRecorder<'_> {
    /// Record a finished run (durably when `durable`), then prune the tenant's runs past the
    /// retention rules; returns once the run is committed. Runs finishing at the same time
    /// share the transaction (and, when any of them is durable, its fsync). If the run
    /// names an id in `erased` when it is committed, a tombstone is stored instead.
    pub(crate) fn save_finished(
        &self,
        tenant: &str,
        view: &RunView,
        finished_at_ns: u64,
        durable: bool,
        erased: Option<ErasedDuring>,
    ) -> Result<(), StoreError> {
        let mut stored = Stored {
            view: view.clone(),
            report_in_file: false,
            report_dropped: None,
        };
        let mut report_file = None;
        if let Some(report) = &view.report {
            let bytes = serde_json::to_vec(report).map_err(|e| StoreError::Db(e.to_string()))?;
            if bytes.len() > self.retention.max_report_bytes {
                stored.view.report = None;
                stored.report_dropped = Some(bytes.len());
            } else if bytes.len() > self.retention.inline_report_bytes {
                report_file = Some(bytes);
                stored.view.report = None;
                stored.report_in_file = true;
            }
        }
        let job = Finished {
            tenant: tenant.to_owned(),
            run_id: view.run_id.clone(),
            stored: serde_json::to_vec(&stored).map_err(store::db)?,
            report_file,
            finished_at_ns,
            durable,
            erased,
        };
        self.finishing
            .submit(job, |batch| self.record(batch).map_err(|e| e.to_string()))
            .map_err(StoreError::Db)
    }

    /// Record `batch` in one transaction, durable if any of its runs must be, pruning each
    /// tenant it touches; then remove the pruned runs' report files. Each run is sealed (and
    /// its report file written) inside the transaction, under its tenant's key of that
    /// moment: an erasure rotates the key before its own transaction, so every run is either
    /// committed before it (and re-sealed by it) or sealed under the new key.
    fn record(&self, batch: Vec<Finished>) -> Result<(), StoreError> {
        let durable = batch.iter().any(|f| f.durable);
        let gone = self.store.transact(durable, |txn| {
            // Per tenant: index entries added, and the latest finish (the prune's "now").
            let mut added: Vec<(&str, i64, u64)> = Vec::new();
            {
                let mut runs = txn.open_table(store::RUNS).map_err(store::db)?;
                let mut idx = txn.open_table(store::RUN_INDEX).map_err(store::db)?;
                for f in &batch {
                    let k = self.keys.current(&f.tenant).map_err(key_error)?;
                    // Read in the commit: an erasure marks running runs before its own
                    // transaction, so this sees its ids or it re-seals (and checks) this row.
                    let ids = f
                        .erased
                        .as_ref()
                        .map(|e| crate::state::lock(e).clone())
                        .unwrap_or_default();
                    let names = |b: &[u8]| run_seal::names_any(b, &ids);
                    let dead = (!ids.is_empty()
                        && (names(&f.stored) || f.report_file.as_deref().is_some_and(names)))
                    .then(|| {
                        let s: Option<Stored> = serde_json::from_slice(&f.stored).ok();
                        let (status, component) = s
                            .map(|s| (s.view.status, s.view.component))
                            .unwrap_or_default();
                        serde_json::to_vec(&Stored {
                            view: tombstone(&f.run_id, &status, &component),
                            report_in_file: false,
                            report_dropped: None,
                        })
                    })
                    .transpose()
                    .map_err(store::db)?;
                    if let Some(report) = f.report_file.as_ref().filter(|_| dead.is_none()) {
                        let sealed = run_seal::seal(&k, report).map_err(key_error)?;
                        self.files
                            .write(&f.tenant, &f.run_id, &sealed)
                            .map_err(|e| {
                                StoreError::Db(format!("cannot write the run's report: {e}"))
                            })?;
                    }
                    let stored = dead.as_deref().unwrap_or(&f.stored);
                    let sealed = run_seal::seal(&k, stored).map_err(key_error)?;
                    runs.insert(key(&f.tenant, &f.run_id).as_str(), sealed.as_slice())
                        .map_err(store::db)?;
                    let index = key(&f.tenant, &format!("{:020}-{}", f.finished_at_ns, f.run_id));
                    let run_id = serde_json::to_vec(&f.run_id).map_err(store::db)?;
                    let new = idx
                        .insert(index.as_str(), run_id.as_slice())
                        .map_err(store::db)?
                        .is_none();
                    match added.iter_mut().find(|(t, ..)| *t == f.tenant) {
                        Some((_, n, at)) => {
                            *n += i64::from(new);
                            *at = (*at).max(f.finished_at_ns);
                        }
                        None => added.push((&f.tenant, i64::from(new), f.finished_at_ns)),
                    }
                }
            }
            let mut gone = Vec::new();
            for (tenant, n, latest) in added {
                let count = adjust_count(txn, tenant, n)?;
                for run_id in prune_in(txn, self.retention, tenant, latest, count)? {
                    gone.push((tenant.to_owned(), run_id));
                }
            }
            Ok(gone)
        })?;
        for (tenant, run_id) in gone {
            self.files.remove(&tenant, &run_id);
        }
        Ok(())
    }
}

/// Add `delta` to `tenant`'s count of index entries, counting them first if the store was
/// written before counts were kept.
fn adjust_count(txn: &redb::WriteTransaction, tenant: &str, delta: i64) -> Result<u64, StoreError> {
    let mut counts = txn.open_table(store::RUN_COUNTS).map_err(store::db)?;
    let current = counts.get(tenant).map_err(store::db)?.map(|v| v.value());
    let current = match current {
        Some(c) => c,
        None => {
            // Counted after this transaction's own insert or removal: undo `delta` to get the
            // count it applies to.
            let idx = txn.open_table(store::RUN_INDEX).map_err(store::db)?;
            let prefix = key(tenant, "");
            let mut n: u64 = 0;
            for item in idx.range(prefix.as_str()..).map_err(store::db)? {
                let (k, _) = item.map_err(store::db)?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                n += 1;
            }
            n.saturating_add_signed(-delta)
        }
    };
    let next = current.saturating_add_signed(delta);
    counts.insert(tenant, next).map_err(store::db)?;
    Ok(next)
}

/// Remove `tenant`'s finished runs beyond the newest `keep_per_tenant`, and those finished
/// before `now_ns - max_age` (times in nanoseconds since the Unix epoch), in `txn`; returns
/// the removed runs' ids, whose report files the caller removes once `txn` is committed.
///
/// The tenant's count of runs is kept beside the index and `count` is what `txn` left it at,
/// so a prune that finds nothing to do reads one key instead of the whole index.
fn prune_in(
    txn: &redb::WriteTransaction,
    retention: &RunRetention,
    tenant: &str,
    now_ns: u64,
    count: u64,
) -> Result<Vec<String>, StoreError> {
    let prefix = key(tenant, "");
    let max_age = u64::try_from(retention.max_age.as_nanos()).unwrap_or(u64::MAX);
    let oldest_kept = now_ns.saturating_sub(max_age);
    let keep = u64::try_from(retention.keep_per_tenant).unwrap_or(u64::MAX);
    let surplus = usize::try_from(count.saturating_sub(keep)).unwrap_or(usize::MAX);
    let mut idx = txn.open_table(store::RUN_INDEX).map_err(store::db)?;
    let mut victims = Vec::new();
    for (i, item) in idx.range(prefix.as_str()..).map_err(store::db)?.enumerate() {
        let (k, _) = item.map_err(store::db)?;
        let k = k.value();
        let Some((at, run_id)) = k.strip_prefix(&prefix).and_then(|r| r.split_once('-')) else {
            break;
        };
        let at: u64 = at.parse().unwrap_or(0);
        if i >= surplus && at >= oldest_kept {
            break;
        }
        victims.push((k.to_owned(), run_id.to_owned()));
    }
    if victims.is_empty() {
        return Ok(Vec::new());
    }
    let mut runs = txn.open_table(store::RUNS).map_err(store::db)?;
    for (k, run_id) in &victims {
        idx.remove(k.as_str()).map_err(store::db)?;
        runs.remove(key(tenant, run_id).as_str())
            .map_err(store::db)?;
    }
    drop((idx, runs));
    let removed = i64::try_from(victims.len()).unwrap_or(i64::MAX);
    adjust_count(txn, tenant, -removed)?;
    Ok(victims.into_iter().map(|(_, id)| id).collect())
}

/// A stored run of `tenant` that this process is not running: as it ended (its report read
/// back from its file if there), or `interrupted`.
///
/// A run whose row is sealed under a destroyed key reads as a tombstone of status `erased`,
/// one whose row does not decode as one of status `unreadable`; a report file under a
/// destroyed key or damaged leaves the view without its report, `report_erased`.
pub(crate) fn load(
    store: &Store,
    files: &RunFiles,
    keys: &RunKeys,
    tenant: &str,
    run_id: &str,
) -> Result<Option<RunView>, StoreError> {
    let Some(row) = store.get_bytes(store::RUNS, &key(tenant, run_id))? else {
        return Ok(None);
    };
    let stored = match open_row(keys, tenant, &row) {
        Ok(stored) => stored,
        Err(status) => return Ok(Some(tombstone(run_id, status, ""))),
    };
    let mut view = stored.view;
    if view.status == "running" {
        view.status = INTERRUPTED.to_owned();
    }
    if stored.report_in_file {
        let path = files.path(tenant, run_id);
        let bytes = std::fs::read(&path)
            .map_err(|e| StoreError::Db(format!("cannot read the run's report: {e}")))?;
        view.report = match run_seal::open(keys, tenant, &bytes) {
            Opened::Plain(plain) => serde_json::from_slice(&plain).ok(),
            Opened::Erased => None,
        };
        if view.report.is_none() {
            return Ok(Some(tombstone(run_id, &view.status, &view.component)));
        }
    } else if let Some(bytes) = stored.report_dropped {
        view.report = Some(serde_json::json!({
            "dropped": format!("the report was {bytes} bytes, more than this host keeps")
        }));
    }
    Ok(Some(view))
}

/// A stored row opened and decoded, or the status its tombstone shows: `erased` (its key is
/// destroyed) or `unreadable` (it does not decode).
fn open_row(keys: &RunKeys, tenant: &str, row: &[u8]) -> Result<Stored, &'static str> {
    match run_seal::open(keys, tenant, row) {
        Opened::Erased => Err("erased"),
        Opened::Plain(plain) => serde_json::from_slice(&plain).map_err(|_| "unreadable"),
    }
}

/// What is kept of a run whose report is erased: its id, status and component, nothing the
/// run read or wrote, nor whom it acted for.
fn tombstone(run_id: &str, status: &str, component: &str) -> RunView {
    RunView {
        run_id: run_id.to_owned(),
        status: status.to_owned(),
        component: component.to_owned(),
        user: None,
        report: None,
        summary: None,
        report_erased: true,
    }
}

/// Erase what `tenant`'s stored runs say of `ids` (an erased subject and their records' ids):
/// every run whose view or report names one of them (as a whole word,
/// [`run_seal::names_any`]) becomes a tombstone and loses its report file; every other run,
/// and the runs already unreadable, are re-sealed under a new key generation; then the old
/// generations are destroyed (the key file is rewritten without them), so any old ciphertext
/// left in the store's free pages or in freed file blocks can no longer be read. Rows written
/// before sealing (plain) are re-sealed or dropped the same way. Returns how many runs became
/// tombstones.
///
/// Durable when it returns. On an error the old key may still be in the key file: erasing
/// again finishes the job (every generation older than the newest is destroyed).
/// The rows of `table` whose keys start with `prefix`: (the key after the prefix, the value).
fn rows_under(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut rows = Vec::new();
    for item in table.range(prefix..).map_err(store::db)? {
        let (k, v) = item.map_err(store::db)?;
        let Some(id) = k.value().strip_prefix(prefix) else {
            break;
        };
        rows.push((id.to_owned(), v.value().to_vec()));
    }
    Ok(rows)
}

pub(crate) fn erase_naming(
    store: &Store,
    files: &RunFiles,
    keys: &RunKeys,
    tenant: &str,
    ids: &[String],
) -> Result<usize, StoreError> {
    let _one_at_a_time = crate::state::lock(&keys.rotation);
    let new = keys.rotate(tenant).map_err(key_error)?;
    let prefix = key(tenant, "");
    let gone = store.transact(true, |txn| {
        let mut runs = txn.open_table(store::RUNS).map_err(store::db)?;
        let rows = rows_under(&runs, &prefix)?;
        let mut gone = Vec::new();
        for (run_id, row) in rows {
            let plain = match run_seal::open(keys, tenant, &row) {
                Opened::Plain(plain) => Some(plain),
                Opened::Erased => None,
            };
            let stored = plain
                .as_deref()
                .and_then(|p| serde_json::from_slice::<Stored>(p).ok());
            let keep = match (&plain, &stored) {
                (Some(plain), Some(stored)) if !stored.view.report_erased => {
                    let report = if stored.report_in_file {
                        std::fs::read(files.path(tenant, &run_id))
                            .ok()
                            .and_then(|b| match run_seal::open(keys, tenant, &b) {
                                Opened::Plain(p) => Some(p),
                                Opened::Erased => None,
                            })
                            .map(Some)
                    } else {
                        Some(None)
                    };
                    match report {
                        Some(report)
                            if !run_seal::names_any(plain, ids)
                                && !report
                                    .as_deref()
                                    .is_some_and(|r| run_seal::names_any(r, ids)) =>
                        {
                            Some((plain.clone(), report))
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let value = match keep {
                Some((plain, report)) => {
                    if let Some(report) = report {
                        let sealed = run_seal::seal(&new, &report).map_err(key_error)?;
                        files.replace(tenant, &run_id, &sealed).map_err(|e| {
                            StoreError::Db(format!("cannot re-seal the run's report: {e}"))
                        })?;
                    }
                    plain
                }
                None => {
                    let dead = match &stored {
                        Some(s) => tombstone(&run_id, &s.view.status, &s.view.component),
                        None if plain.is_some() => tombstone(&run_id, "unreadable", ""),
                        None => tombstone(&run_id, "erased", ""),
                    };
                    if stored.as_ref().is_none_or(|s| s.report_in_file) {
                        gone.push(run_id.clone());
                    }
                    serde_json::to_vec(&Stored {
                        view: dead,
                        report_in_file: false,
                        report_dropped: None,
                    })
                    .map_err(store::db)?
                }
            };
            let sealed = run_seal::seal(&new, &value).map_err(key_error)?;
            runs.insert(key(tenant, &run_id).as_str(), sealed.as_slice())
                .map_err(store::db)?;
        }
        // Shadow differences name records as reports do: those naming the subject are
        // dropped, the rest re-sealed under the new key.
        let mut shadow = txn.open_table(store::SHADOW).map_err(store::db)?;
        for (id, row) in rows_under(&shadow, &prefix)? {
            let k = key(tenant, &id);
            match run_seal::open(keys, tenant, &row) {
                Opened::Plain(plain) if !run_seal::names_any(&plain, ids) => {
                    let sealed = run_seal::seal(&new, &plain).map_err(key_error)?;
                    shadow
                        .insert(k.as_str(), sealed.as_slice())
                        .map_err(store::db)?;
                }
                _ => {
                    shadow.remove(k.as_str()).map_err(store::db)?;
                }
            }
        }
        Ok(gone)
    })?;
    keys.retire_old(tenant, new.0).map_err(key_error)?;
    for run_id in &gone {
        files.remove(tenant, run_id);
    }
    Ok(gone.len())
}

/// Now, in nanoseconds since the Unix epoch: finished runs are ordered by it.
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The directory of `data`'s run reports.
pub(crate) fn dir(data: &Path) -> PathBuf {
    data.join("runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the data directory `files` is in: one instance per directory, as the
    /// state holds one.
    fn keys_of(files: &RunFiles) -> &'static RunKeys {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        static ALL: OnceLock<Mutex<HashMap<PathBuf, &'static RunKeys>>> = OnceLock::new();
        let data = files.dir.parent().unwrap().to_owned();
        let mut all = ALL.get_or_init(Mutex::default).lock().unwrap();
        all.entry(data.clone())
            .or_insert_with(|| Box::leak(Box::new(RunKeys::open(&data).unwrap())))
    }

    fn load(
        store: &Store,
        files: &RunFiles,
        tenant: &str,
        run_id: &str,
    ) -> Result<Option<RunView>, StoreError> {
        super::load(store, files, keys_of(files), tenant, run_id)
    }

    fn save_running(
        store: &Store,
        files: &RunFiles,
        tenant: &str,
        view: &RunView,
    ) -> Result<(), StoreError> {
        super::save_running(store, keys_of(files), tenant, view)
    }

    /// Prune as a finished run does, reading the count first.
    fn prune(
        store: &Store,
        files: &RunFiles,
        retention: &RunRetention,
        tenant: &str,
        now_ns: u64,
    ) -> Result<(), StoreError> {
        let gone = store.transact(false, |txn| {
            let count = adjust_count(txn, tenant, 0)?;
            prune_in(txn, retention, tenant, now_ns, count)
        })?;
        for run_id in gone {
            files.remove(tenant, &run_id);
        }
        Ok(())
    }

    /// Record `v` as a run of `acme` finished at `at`.
    fn save(
        store: &Store,
        files: &RunFiles,
        retention: &RunRetention,
        finishing: &Finishing,
        v: &RunView,
        at: u64,
        durable: bool,
    ) {
        let recorder = RunRecorder {
            store,
            files,
            keys: keys_of(files),
            retention,
            finishing,
        };
        recorder
            .save_finished("acme", v, at, durable, None)
            .unwrap();
    }

    fn view(status: &str) -> RunView {
        RunView {
            run_id: "r-1".into(),
            status: status.into(),
            component: "c0ffee".into(),
            user: Some("alice".into()),
            report: None,
            summary: None,
            report_erased: false,
        }
    }

    #[test]
    fn a_run_stored_as_running_is_reported_interrupted_and_a_finished_one_as_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        save_running(&store, &files, "acme", &view("running")).unwrap();
        let loaded = load(&store, &files, "acme", "r-1").unwrap().unwrap();
        assert_eq!(loaded.status, INTERRUPTED);
        assert_eq!(loaded.user.as_deref(), Some("alice"));
        let retention = RunRetention::default();
        save(
            &store,
            &files,
            &retention,
            &Finishing::default(),
            &view("ok"),
            1,
            true,
        );
        let loaded = load(&store, &files, "acme", "r-1").unwrap().unwrap();
        assert_eq!(loaded.status, "ok");
    }

    /// A durable finish is on disk when `save_finished` returns, even when it shared its
    /// commit with runs that did not ask for durability and the process dies right after:
    /// a child process records 8 × 20 finishes at once, half of them durable, and one batch
    /// of three whose middle run is durable, then aborts without closing the store; a fresh
    /// open must find every durable one.
    #[test]
    fn durable_finishes_survive_a_crash_after_they_return_though_batched_with_others() {
        const CHILD: &str = "CORDON_TEST_RUN_STORE_CRASH_DIR";
        let id = |t: u32, i: u32| format!("r-{t}-{i}");
        if let Some(dir) = std::env::var_os(CHILD) {
            let dir = Path::new(&dir);
            let store = Store::open(&dir.join("s.redb")).unwrap();
            let files = RunFiles::new(dir.join("runs"));
            let finishing = Finishing::default();
            let retention = RunRetention::default();
            std::thread::scope(|s| {
                for t in 0..8 {
                    let (store, files, finishing) = (&store, &files, &finishing);
                    s.spawn(move || {
                        for i in 0..20 {
                            let v = RunView {
                                run_id: id(t, i),
                                ..view("ok")
                            };
                            let at = now_ns();
                            save(store, files, &retention, finishing, &v, at, i % 2 == 0);
                        }
                    });
                }
            });
            // And one batch whose durable run is neither its first nor its last.
            let recorder = RunRecorder {
                store: &store,
                files: &files,
                keys: keys_of(&files),
                retention: &retention,
                finishing: &finishing,
            };
            let batch = (0..3)
                .map(|i| Finished {
                    tenant: "acme".into(),
                    run_id: id(99, i),
                    stored: serde_json::to_vec(&Stored {
                        view: RunView {
                            run_id: id(99, i),
                            ..view("ok")
                        },
                        report_in_file: false,
                        report_dropped: None,
                    })
                    .unwrap(),
                    report_file: None,
                    finished_at_ns: now_ns(),
                    durable: i == 1,
                    erased: None,
                })
                .collect();
            recorder.record(batch).unwrap();
            // Die as a crash would: no destructor runs, nothing more is written.
            std::process::abort();
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "run_store::tests::durable_finishes_survive_a_crash_after_they_return_though_batched_with_others",
                "--test-threads=1",
            ])
            .env(CHILD, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "the child should have aborted");
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        for (t, i) in (0..8)
            .flat_map(|t| (0..20).step_by(2).map(move |i| (t, i)))
            .chain([(99, 1)])
        {
            let found = load(&store, &files, "acme", &id(t, i)).unwrap();
            assert_eq!(
                found.map(|v| v.status).as_deref(),
                Some("ok"),
                "{}",
                id(t, i)
            );
        }
    }

    #[test]
    fn another_tenants_run_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        save_running(&store, &files, "acme", &view("ok")).unwrap();
        assert!(load(&store, &files, "globex", "r-1").unwrap().is_none());
    }

    fn big(id: &str) -> RunView {
        RunView {
            run_id: id.into(),
            report: Some(serde_json::json!({"output": "x".repeat(4096)})),
            ..view("ok")
        }
    }

    #[test]
    fn a_large_report_goes_to_a_private_file_and_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let retention = RunRetention {
            inline_report_bytes: 1024,
            ..RunRetention::default()
        };
        save(
            &store,
            &files,
            &retention,
            &Finishing::default(),
            &big("r-1"),
            1,
            true,
        );
        let path = dir.path().join("runs/acme/r-1.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = load(&store, &files, "acme", "r-1").unwrap().unwrap();
        assert_eq!(loaded.report, big("r-1").report);
    }

    #[test]
    fn runs_past_the_count_or_the_age_are_pruned_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let retention = RunRetention {
            keep_per_tenant: 3,
            max_age: Duration::from_secs(100),
            inline_report_bytes: 1024,
            max_report_bytes: 1 << 20,
        };
        for i in 0..6u64 {
            let id = format!("r-{i}");
            let at = (1000 + i) * 1_000_000_000;
            save(
                &store,
                &files,
                &retention,
                &Finishing::default(),
                &big(&id),
                at,
                false,
            );
        }
        let kept: Vec<bool> = (0..6)
            .map(|i| {
                load(&store, &files, "acme", &format!("r-{i}"))
                    .unwrap()
                    .is_some()
            })
            .collect();
        assert_eq!(kept, [false, false, false, true, true, true]);
        assert!(!dir.path().join("runs/acme/r-0.json").exists());
        assert!(dir.path().join("runs/acme/r-5.json").exists());
        // Much later, all of them are past the age.
        prune(&store, &files, &retention, "acme", 5000 * 1_000_000_000).unwrap();
        assert!(load(&store, &files, "acme", "r-5").unwrap().is_none());
        assert!(!dir.path().join("runs/acme/r-5.json").exists());
    }

    fn named(id: &str, says: &str) -> RunView {
        RunView {
            run_id: id.into(),
            report: Some(serde_json::json!({"output": says})),
            ..view("ok")
        }
    }

    #[test]
    fn a_run_that_names_an_id_erased_while_it_ran_is_stored_as_a_tombstone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let retention = RunRetention::default();
        let finishing = Finishing::default();
        let recorder = RunRecorder {
            store: &store,
            files: &files,
            keys: keys_of(&files),
            retention: &retention,
            finishing: &finishing,
        };
        let erased = ErasedDuring::default();
        crate::state::lock(&erased).push("p-1042".into());
        for (id, says) in [("r-1", "read p-1042"), ("r-2", "read p-10420")] {
            recorder
                .save_finished("acme", &named(id, says), 1, true, Some(erased.clone()))
                .unwrap();
        }
        let gone = load(&store, &files, "acme", "r-1").unwrap().unwrap();
        assert!(gone.report_erased && gone.report.is_none() && gone.user.is_none());
        assert_eq!(gone.status, "ok");
        let kept = load(&store, &files, "acme", "r-2").unwrap().unwrap();
        assert_eq!(kept.report, named("r-2", "read p-10420").report);
    }

    #[test]
    fn an_erasure_drops_or_reseals_rows_written_in_plain_by_an_earlier_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        // Rows as the previous version stored them: plain JSON.
        let plain = |v: RunView| Stored {
            view: v,
            report_in_file: false,
            report_dropped: None,
        };
        store
            .put_all(vec![
                store::Write::json(store::RUNS, "acme/r-1", &plain(named("r-1", "zq-gone-9")))
                    .unwrap(),
                store::Write::json(store::RUNS, "acme/r-2", &plain(named("r-2", "zq-kept-9")))
                    .unwrap(),
                store::Write::json(store::RUNS, "globex/r-3", &plain(named("r-3", "zq-gone-9")))
                    .unwrap(),
            ])
            .unwrap();
        assert!(
            load(&store, &files, "acme", "r-1")
                .unwrap()
                .unwrap()
                .report
                .is_some()
        );
        let n = erase_naming(
            &store,
            &files,
            keys_of(&files),
            "acme",
            &["zq-gone-9".into()],
        )
        .unwrap();
        assert_eq!(n, 0, "no report file to remove");
        assert!(
            load(&store, &files, "acme", "r-1")
                .unwrap()
                .unwrap()
                .report_erased
        );
        let kept = load(&store, &files, "acme", "r-2").unwrap().unwrap();
        assert_eq!(kept.report, named("r-2", "zq-kept-9").report);
        let row = store.get_bytes(store::RUNS, "acme/r-2").unwrap().unwrap();
        assert!(!row.windows(9).any(|w| w == b"zq-kept-9"), "re-sealed");
        // Another tenant's runs are not touched.
        let other = load(&store, &files, "globex", "r-3").unwrap().unwrap();
        assert_eq!(other.report, named("r-3", "zq-gone-9").report);
    }

    #[test]
    fn an_erasure_drops_the_shadow_differences_naming_the_subject_and_reseals_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let keys = keys_of(&files);
        let old = keys.current("acme").unwrap();
        let row = |path: &str| {
            let diff = serde_json::json!({"run_id": "r", "differences": [
                {"action": "fs:read", "resource": format!("Cordon::File::\"{path}\"")}]});
            run_seal::seal(&old, diff.to_string().as_bytes()).unwrap()
        };
        store
            .put_all(vec![
                store::Write::bytes(store::SHADOW, "acme/1", row("/zq-gone-7.txt")),
                store::Write::bytes(store::SHADOW, "acme/2", row("/zq-kept-7.txt")),
            ])
            .unwrap();
        erase_naming(&store, &files, keys, "acme", &["zq-gone-7".into()]).unwrap();
        let left = store.list_bytes(store::SHADOW, "acme/").unwrap();
        assert_eq!(left.len(), 1, "the difference naming the subject is gone");
        assert_eq!(left[0].0, "acme/2");
        match run_seal::open(keys, "acme", &left[0].1) {
            Opened::Plain(p) => assert!(String::from_utf8(p).unwrap().contains("zq-kept-7")),
            Opened::Erased => panic!("the kept difference must read under the new key"),
        }
        assert_ne!(
            keys.current("acme").unwrap().0,
            old.0,
            "re-sealed under a new key"
        );
    }

    fn index_len(store: &Store, tenant: &str) -> usize {
        store
            .first_keys(store::RUN_INDEX, &key(tenant, ""), usize::MAX)
            .unwrap()
            .len()
    }

    fn stored_count(store: &Store, tenant: &str) -> u64 {
        store
            .transact(false, |txn| adjust_count(txn, tenant, 0))
            .unwrap()
    }

    #[test]
    fn concurrent_finishes_keep_exactly_the_newest_runs_and_a_true_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let retention = RunRetention {
            keep_per_tenant: 10,
            ..RunRetention::default()
        };
        let now = now_ns();
        let finishing = Finishing::default();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (store, files, finishing) = (&store, &files, &finishing);
                s.spawn(move || {
                    for i in 0..50u64 {
                        let v = RunView {
                            run_id: format!("r-{t}-{i}"),
                            ..view("ok")
                        };
                        save(
                            store,
                            files,
                            &retention,
                            finishing,
                            &v,
                            now + i * 4 + t,
                            false,
                        );
                    }
                });
            }
        });
        assert_eq!(index_len(&store, "acme"), 10);
        assert_eq!(stored_count(&store, "acme"), 10);
        // The ten kept are the newest: the last two or three of each thread.
        assert!(load(&store, &files, "acme", "r-3-49").unwrap().is_some());
        assert!(load(&store, &files, "acme", "r-0-40").unwrap().is_none());
    }

    #[test]
    fn a_store_written_before_runs_were_counted_is_counted_once_then_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        let now = now_ns();
        // Index entries as the store held them before counts: no count row.
        let writes = (0..5u64)
            .flat_map(|i| {
                let id = format!("r-{i}");
                [
                    store::Write::json(store::RUNS, &key("acme", &id), &view("ok")).unwrap(),
                    store::Write::json(
                        store::RUN_INDEX,
                        &key("acme", &format!("{:020}-{id}", now + i)),
                        &id,
                    )
                    .unwrap(),
                ]
            })
            .collect();
        store.put_all(writes).unwrap();
        let retention = RunRetention {
            keep_per_tenant: 3,
            ..RunRetention::default()
        };
        prune(&store, &files, &retention, "acme", now + 10).unwrap();
        assert_eq!(index_len(&store, "acme"), 3);
        assert_eq!(stored_count(&store, "acme"), 3);
        let finishing = Finishing::default();
        save(
            &store,
            &files,
            &retention,
            &finishing,
            &view("ok"),
            now + 20,
            false,
        );
        assert_eq!(index_len(&store, "acme"), 3);
        assert_eq!(stored_count(&store, "acme"), 3);
    }
}
