//! Asynchronous runs kept across restarts. Their callers come back for the result with the run
//! id, possibly after the service restarted, so each async run's view is stored when it starts
//! and again when it ends. A run stored as still running that this process does not know is
//! one a restart (or crash) interrupted, and is reported so. Synchronous runs return their
//! result in the response and are kept in memory only (a commit per run would halve the run
//! rate; their decisions are in the decision log either way).

use crate::model::RunView;
use crate::store::{self, Store, StoreError, key};

/// The status of a run that was in progress when the service stopped.
pub(crate) const INTERRUPTED: &str = "interrupted";

/// Record an async run's view: at its start (`running`) and at its end.
pub(crate) fn save(store: &Store, tenant: &str, view: &RunView) -> Result<(), StoreError> {
    store.put(store::RUNS, &key(tenant, &view.run_id), view)
}

/// A stored run of `tenant` that this process is not running: as it ended, or `interrupted`.
pub(crate) fn load(
    store: &Store,
    tenant: &str,
    run_id: &str,
) -> Result<Option<RunView>, StoreError> {
    Ok(store
        .get::<RunView>(store::RUNS, &key(tenant, run_id))?
        .map(|mut view| {
            if view.status == "running" {
                view.status = INTERRUPTED.to_owned();
            }
            view
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        save(&store, "acme", &view("running")).unwrap();
        let loaded = load(&store, "acme", "r-1").unwrap().unwrap();
        assert_eq!(loaded.status, INTERRUPTED);
        assert_eq!(loaded.user.as_deref(), Some("alice"));
        save(&store, "acme", &view("ok")).unwrap();
        assert_eq!(load(&store, "acme", "r-1").unwrap().unwrap().status, "ok");
    }

    #[test]
    fn another_tenants_run_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        save(&store, "acme", &view("ok")).unwrap();
        assert!(load(&store, "globex", "r-1").unwrap().is_none());
    }
}
