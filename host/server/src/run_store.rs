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

use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::group_commit::GroupCommit;
use crate::model::RunView;
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
        let mut f = opts.open(self.path(tenant, run_id))?;
        std::io::Write::write_all(&mut f, bytes)
    }

    fn remove(&self, tenant: &str, run_id: &str) {
        let _ = std::fs::remove_file(self.path(tenant, run_id));
    }
}

/// Record an async run's view at its start (`running`), durably.
pub(crate) fn save_running(store: &Store, tenant: &str, view: &RunView) -> Result<(), StoreError> {
    let stored = Stored {
        view: view.clone(),
        report_in_file: false,
        report_dropped: None,
    };
    store.put(store::RUNS, &key(tenant, &view.run_id), &stored)
}

/// A finished run's stored form, waiting for the commit that records it.
pub(crate) struct Finished {
    tenant: String,
    run_id: String,
    stored: Vec<u8>,
    finished_at_ns: u64,
    durable: bool,
}

/// Finished runs waiting to be recorded: the runs that finish while one commit runs are
/// recorded (and their tenants pruned) together in the next, in one transaction.
pub(crate) type Finishing = GroupCommit<Finished>;

/// Where finished runs go: the store, report files, retention rules and the batch that
/// groups concurrent finishes into one commit.
pub(crate) struct RunRecorder<'a> {
    pub(crate) store: &'a Store,
    pub(crate) files: &'a RunFiles,
    pub(crate) retention: &'a RunRetention,
    pub(crate) finishing: &'a Finishing,
}

impl RunRecorder<'_> {
    /// Record a finished run (durably when `durable`), then prune the tenant's runs past the
    /// retention rules; returns once the run is committed. Runs finishing at the same time
    /// share the transaction (and, when any of them is durable, its fsync).
    pub(crate) fn save_finished(
        &self,
        tenant: &str,
        view: &RunView,
        finished_at_ns: u64,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut stored = Stored {
            view: view.clone(),
            report_in_file: false,
            report_dropped: None,
        };
        if let Some(report) = &view.report {
            let bytes = serde_json::to_vec(report).map_err(|e| StoreError::Db(e.to_string()))?;
            if bytes.len() > self.retention.max_report_bytes {
                stored.view.report = None;
                stored.report_dropped = Some(bytes.len());
            } else if bytes.len() > self.retention.inline_report_bytes {
                self.files
                    .write(tenant, &view.run_id, &bytes)
                    .map_err(|e| StoreError::Db(format!("cannot write the run's report: {e}")))?;
                stored.view.report = None;
                stored.report_in_file = true;
            }
        }
        let job = Finished {
            tenant: tenant.to_owned(),
            run_id: view.run_id.clone(),
            stored: serde_json::to_vec(&stored).map_err(store::db)?,
            finished_at_ns,
            durable,
        };
        self.finishing
            .submit(job, |batch| self.record(batch).map_err(|e| e.to_string()))
            .map_err(StoreError::Db)
    }

    /// Record `batch` in one transaction, durable if any of its runs must be, pruning each
    /// tenant it touches; then remove the pruned runs' report files.
    fn record(&self, batch: Vec<Finished>) -> Result<(), StoreError> {
        let durable = batch.iter().any(|f| f.durable);
        let gone = self.store.transact(durable, |txn| {
            // Per tenant: index entries added, and the latest finish (the prune's "now").
            let mut added: Vec<(&str, i64, u64)> = Vec::new();
            {
                let mut runs = txn.open_table(store::RUNS).map_err(store::db)?;
                let mut idx = txn.open_table(store::RUN_INDEX).map_err(store::db)?;
                for f in &batch {
                    runs.insert(key(&f.tenant, &f.run_id).as_str(), f.stored.as_slice())
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
pub(crate) fn load(
    store: &Store,
    files: &RunFiles,
    tenant: &str,
    run_id: &str,
) -> Result<Option<RunView>, StoreError> {
    let Some(stored) = store.get::<Stored>(store::RUNS, &key(tenant, run_id))? else {
        return Ok(None);
    };
    let mut view = stored.view;
    if view.status == "running" {
        view.status = INTERRUPTED.to_owned();
    }
    if stored.report_in_file {
        let path = files.path(tenant, run_id);
        view.report = match std::fs::read(&path) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Decode {
                    key: path.display().to_string(),
                    message: e.to_string(),
                })?,
            ),
            Err(e) => return Err(StoreError::Db(format!("cannot read the run's report: {e}"))),
        };
    } else if let Some(bytes) = stored.report_dropped {
        view.report = Some(serde_json::json!({
            "dropped": format!("the report was {bytes} bytes, more than this host keeps")
        }));
    }
    Ok(Some(view))
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
            retention,
            finishing,
        };
        recorder.save_finished("acme", v, at, durable).unwrap();
    }

    fn view(status: &str) -> RunView {
        RunView {
            run_id: "r-1".into(),
            status: status.into(),
            component: "c0ffee".into(),
            user: Some("alice".into()),
            report: None,
            summary: None,
        }
    }

    #[test]
    fn a_run_stored_as_running_is_reported_interrupted_and_a_finished_one_as_it_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let files = RunFiles::new(dir.path().join("runs"));
        save_running(&store, "acme", &view("running")).unwrap();
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
                    finished_at_ns: now_ns(),
                    durable: i == 1,
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
        save_running(&store, "acme", &view("ok")).unwrap();
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
