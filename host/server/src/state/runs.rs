//! Runs: start, finish, poll, cancel.

use std::collections::HashMap;

use axum::http::StatusCode;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use cordon_policy::{Human, RunContext, Taint};
use cordon_runtime::{CancelToken, Invocation, Language, RunReport, Source};

use crate::error::ApiError;
use crate::identity::IdentityKey;
use crate::metrics::{DecisionLabel, StatusLabel};
use crate::model::{DecisionSummary, RunRequest, RunView};
use crate::run_store;
use crate::store::{self, key};

use super::{AppState, lock, now};

/// The runs in progress (finished ones are in the store: [`crate::run_store`]).
#[derive(Default)]
pub(crate) struct Runs {
    slots: HashMap<String, RunSlot>,
    running: HashMap<String, u64>,
}

pub(crate) struct RunSlot {
    tenant: String,
    component: String,
    user: Option<String>,
    cancel: CancelToken,
    /// An async run: its view is stored durably, to be polled after a restart.
    durable: bool,
    /// Ids of data subjects and records erased while it runs.
    erased: run_store::ErasedDuring,
}

impl AppState {
    /// Cancel every run still going whose tenant and component `which` picks.
    pub(super) fn cancel_running(&self, which: impl Fn(&str, &str) -> bool) {
        for slot in lock(&self.inner.runs).slots.values() {
            if which(&slot.tenant, &slot.component) {
                slot.cancel.cancel();
            }
        }
    }

    /// Note `ids` as erased in every run of `tenant` in progress: what they read before the
    /// erasure may name them, and their views are checked when they are stored.
    pub(crate) fn mark_erased_in_running(&self, tenant: &str, ids: &[String]) {
        for slot in lock(&self.inner.runs).slots.values() {
            if slot.tenant == tenant {
                lock(&slot.erased).extend(ids.iter().cloned());
            }
        }
    }

    fn refuse(&self, reason: &str, e: ApiError) -> ApiError {
        self.inner
            .metrics
            .refused
            .get_or_create(&StatusLabel {
                status: reason.to_owned(),
            })
            .inc();
        e
    }

    /// Start a run; `Ok((id, None))` for async runs, else the finished view.
    pub(crate) async fn start_run(
        &self,
        tenant_id: &str,
        req: RunRequest,
    ) -> Result<(String, Option<RunView>), ApiError> {
        let tenant = self.tenant(tenant_id)?;
        let forbidden = |code, msg: &str| ApiError::new(StatusCode::FORBIDDEN, code, msg);
        if tenant.suspended {
            return Err(self.refuse(
                "suspended",
                forbidden("suspended", "the tenant is suspended"),
            ));
        }
        // A component the tenant holds, or source run by the host's runner for its language
        // (then the runner's digest stands for the component: suspending it stops them).
        let (component_digest, source) = match (&req.component, &req.source) {
            (Some(digest), None) => {
                self.component(tenant_id, digest)?;
                (digest.clone(), None)
            }
            (None, Some(spec)) => {
                if !tenant.source_runs {
                    return Err(self.refuse(
                        "source-runs-off",
                        forbidden("source-runs-off", "source runs are off for this tenant"),
                    ));
                }
                let language = Language::from_name(&spec.language).ok_or_else(|| {
                    ApiError::bad_request(
                        "unknown-language",
                        format!(
                            "unknown language `{}` ({})",
                            spec.language,
                            cordon_runtime::Language::ALL
                                .map(cordon_runtime::Language::name)
                                .join(", ")
                        ),
                    )
                })?;
                let source = Source::new(language, spec.code.clone())
                    .map_err(|e| ApiError::bad_request("invalid-source", e.to_string()))?;
                let runner = self.runner(language).await?;
                (runner.digest().to_owned(), Some((source, runner)))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "component-or-source",
                    "a run names a `component` or sends `source`, not both or neither",
                ));
            }
        };
        if tenant.suspended_components.contains(&component_digest) {
            return Err(self.refuse(
                "suspended",
                forbidden("suspended", "the component is suspended"),
            ));
        }
        let version = tenant.active_bundle.ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no-active-bundle",
                "the tenant has no active policy bundle",
            )
        })?;
        let bundle = self.bundle(tenant_id, version)?;
        let shadow = match tenant.shadow_bundle {
            Some(v) => Some(self.bundle(tenant_id, v)?),
            None => None,
        };
        let human: Option<Human> = match &req.token {
            Some(token) => {
                let keys: Vec<IdentityKey> = self
                    .identity_keys(tenant_id)?
                    .into_iter()
                    .map(|(_, k)| k)
                    .collect();
                match crate::identity::verify(
                    &keys,
                    token,
                    &req.purpose,
                    &req.engagement,
                    &self.inner.config.token_rules,
                ) {
                    Ok(h) => Some(h),
                    Err(e @ crate::identity::TokenError::Mismatch { .. }) => {
                        return Err(self.refuse(
                            "token",
                            ApiError::new(StatusCode::FORBIDDEN, "token-mismatch", e.to_string()),
                        ));
                    }
                    Err(e) => {
                        tracing::info!(target: "cordon.server", tenant = tenant_id, error = %e, "on-behalf-of token refused");
                        return Err(self.refuse(
                            "token",
                            ApiError::new(StatusCode::UNAUTHORIZED, "invalid-token", e.to_string()),
                        ));
                    }
                }
            }
            None if tenant.allow_unattended => None,
            None => {
                return Err(self.refuse(
                    "token",
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "token-required",
                        "an on-behalf-of token is required (this tenant does not allow unattended runs)",
                    ),
                ));
            }
        };
        let root = match &tenant.root {
            Some(r) => Some(
                Dir::open_ambient_dir(r, ambient_authority())
                    .map_err(|e| ApiError::internal(&e))?,
            ),
            None => None,
        };
        let records = self.records_grant(tenant_id)?;
        let log = self.log()?;
        let component = match &source {
            Some((_, runner)) => runner.clone(),
            None => self.loaded(tenant_id, &component_digest).await?,
        };
        let run_id = uuid::Uuid::new_v4().to_string();
        let cancel = CancelToken::new();
        // Reserve a slot (the concurrency limit) and register the run for cancel/poll.
        {
            let mut runs = lock(&self.inner.runs);
            let host_wide: u64 = runs.running.values().sum();
            if host_wide >= u64::from(self.inner.config.max_runs) {
                drop(runs);
                return Err(self.refuse(
                    "capacity",
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "at-capacity",
                        "the host is running as many runs as it has room for; try again later",
                    ),
                ));
            }
            let n = runs.running.entry(tenant_id.to_owned()).or_default();
            if *n >= tenant.limits.max_concurrent_runs {
                drop(runs);
                return Err(self.refuse(
                    "concurrency",
                    ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too-many-runs",
                        format!(
                            "the tenant already has {} runs in progress",
                            tenant.limits.max_concurrent_runs
                        ),
                    ),
                ));
            }
            *n += 1;
            runs.slots.insert(
                run_id.clone(),
                RunSlot {
                    tenant: tenant_id.to_owned(),
                    component: component_digest.clone(),
                    user: human.as_ref().map(|h| h.id.clone()),
                    cancel: cancel.clone(),
                    durable: req.is_async,
                    erased: run_store::ErasedDuring::default(),
                },
            );
        }
        if req.is_async {
            let running = RunView {
                run_id: run_id.clone(),
                status: "running".into(),
                component: component_digest.clone(),
                user: human.as_ref().map(|h| h.id.clone()),
                report: None,
                summary: None,
                report_erased: false,
            };
            if let Err(e) = run_store::save_running(
                &self.inner.store,
                &self.inner.run_keys,
                tenant_id,
                &running,
            ) {
                // Give the slot back: the caller gets an error and no run id.
                let mut runs = lock(&self.inner.runs);
                runs.slots.remove(&run_id);
                if let Some(n) = runs.running.get_mut(tenant_id) {
                    *n = n.saturating_sub(1);
                }
                return Err(ApiError::internal(&e));
            }
        }
        // A suspension that landed since the check above found no slot to cancel (suspend
        // stores the flag, then cancels the slots it sees): honour it now.
        if let Ok(t) = self.tenant(tenant_id)
            && (t.suspended || t.suspended_components.contains(&component_digest))
        {
            cancel.cancel();
        }
        self.inner.running.send_modify(|n| *n += 1);
        let input = match req.input_text {
            Some(text) => text,
            None => serde_json::to_string(&req.input).map_err(|e| ApiError::internal(&e))?,
        };
        let inv = Invocation {
            run_id: run_id.clone(),
            tenant: tenant_id.to_owned(),
            human,
            context: RunContext::new(req.purpose, req.engagement),
            bundle,
            root,
            limits: tenant.limits.run_limits(),
            log,
            input,
            egress: self.inner.config.egress.clone(),
            taint: Taint::default(),
            shadow,
            cancel: Some(cancel.clone()),
            records: Some(records),
        };
        let state = self.clone();
        let id = run_id.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let result = match source.map(|(s, _)| s) {
                Some(source) => state.inner.engine.run_source(&component, &source, inv),
                None => state.inner.engine.run(&component, inv),
            };
            state.finish(&id, result)
        });
        if req.is_async {
            return Ok((run_id, None));
        }
        // A caller that stops waiting (the request timeout, a closed connection) drops this
        // future: nobody can see the result any more, so the run is cancelled, not left to
        // burn its slot until its own limit.
        let abandoned = CancelOnDrop(Some(cancel));
        let view = handle.await.map_err(|e| ApiError::internal(&e))?;
        abandoned.disarm();
        Ok((run_id, Some(view)))
    }

    fn finish(&self, run_id: &str, result: Result<RunReport, cordon_runtime::RunError>) -> RunView {
        let m = &self.inner.metrics;
        let (status, report, summary) = match result {
            Ok(r) => {
                let mut s = DecisionSummary::default();
                for d in &r.decisions {
                    if d.decision == "allow" {
                        s.allowed += 1;
                    } else {
                        s.denied += 1;
                    }
                    m.decisions
                        .get_or_create(&DecisionLabel {
                            decision: d.decision.to_owned(),
                        })
                        .inc();
                }
                s.shadow_differences = r.shadow_differences.len() as u64;
                m.denials.inc_by(s.denied);
                m.fuel.inc_by(r.fuel_used);
                m.latency.observe(r.wall_ms / 1000.0);
                let status = serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let mut json = serde_json::to_value(&r).unwrap_or_default();
                if let Some(out) = r
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
                {
                    json["output"] = out;
                }
                if !r.shadow_differences.is_empty() {
                    let slot_tenant = lock(&self.inner.runs)
                        .slots
                        .get(run_id)
                        .map(|s| s.tenant.clone());
                    if let Some(t) = slot_tenant {
                        let record = serde_json::json!({
                            "run_id": run_id,
                            "component": r.component_digest,
                            "policy_digest": r.policy_digest,
                            "differences": r.shadow_differences,
                        });
                        // Sealed as the run's report is: differences name records too.
                        let sealed = self
                            .inner
                            .run_keys
                            .current(&t)
                            .map_err(|e| e.to_string())
                            .and_then(|k| {
                                crate::run_seal::seal(&k, record.to_string().as_bytes())
                                    .map_err(|e| e.to_string())
                            });
                        let written = sealed.and_then(|sealed| {
                            self.inner
                                .store
                                .put_all(vec![store::Write::bytes(
                                    store::SHADOW,
                                    &key(&t, &format!("{:020}-{run_id}", now())),
                                    sealed,
                                )])
                                .map_err(|e| e.to_string())
                        });
                        if let Err(e) = written {
                            tracing::error!(target: "cordon.server", error = %e, "cannot record shadow differences");
                        }
                    }
                }
                (status, Some(json), Some(s))
            }
            Err(cordon_runtime::RunError::AtCapacity(e)) => {
                // Another engine user took the last slot after the host-wide count was checked.
                tracing::warn!(target: "cordon.server", run = run_id, error = %e, "run refused");
                ("at-capacity".to_owned(), None, None)
            }
            Err(e) => {
                tracing::error!(target: "cordon.server", run = run_id, error = %e, "run failed");
                ("failed".to_owned(), None, None)
            }
        };
        m.runs
            .get_or_create(&StatusLabel {
                status: status.clone(),
            })
            .inc();
        let mut view = RunView {
            run_id: run_id.to_owned(),
            status,
            component: String::new(),
            user: None,
            report,
            summary,
            report_erased: false,
        };
        let (tenant, durable, erased) = match lock(&self.inner.runs).slots.get(run_id) {
            Some(slot) => {
                view.component = slot.component.clone();
                view.user = slot.user.clone();
                (
                    Some(slot.tenant.clone()),
                    slot.durable,
                    Some(slot.erased.clone()),
                )
            }
            None => (None, false, None),
        };
        // Stored before the slot goes, so a poller never finds neither; an async run's
        // durably, so a poller never sees a result a restart would lose.
        if let Some(t) = tenant.as_deref()
            && let Err(e) =
                self.run_recorder()
                    .save_finished(t, &view, run_store::now_ns(), durable, erased)
        {
            tracing::error!(target: "cordon.server", run = run_id, error = %e, "cannot store the run's result");
        }
        let mut runs = lock(&self.inner.runs);
        runs.slots.remove(run_id);
        if let Some(t) = &tenant
            && let Some(n) = runs.running.get_mut(t)
        {
            *n = n.saturating_sub(1);
        }
        drop(runs);
        self.inner.running.send_modify(|n| *n = n.saturating_sub(1));
        view
    }

    fn run_recorder(&self) -> run_store::RunRecorder<'_> {
        run_store::RunRecorder {
            store: &self.inner.store,
            files: &self.inner.run_files,
            keys: &self.inner.run_keys,
            retention: &self.inner.config.run_retention,
            finishing: &self.inner.finishing,
        }
    }

    /// A run in progress, or a finished one from the store (this process's or an earlier
    /// one's).
    pub(crate) fn run_view(&self, tenant: &str, run_id: &str) -> Result<RunView, ApiError> {
        let runs = lock(&self.inner.runs);
        let Some(slot) = runs.slots.get(run_id).filter(|s| s.tenant == tenant) else {
            drop(runs);
            return run_store::load(
                &self.inner.store,
                &self.inner.run_files,
                &self.inner.run_keys,
                tenant,
                run_id,
            )?
            .ok_or_else(|| ApiError::not_found("run"));
        };
        Ok(RunView {
            run_id: run_id.to_owned(),
            status: "running".into(),
            component: slot.component.clone(),
            user: slot.user.clone(),
            report: None,
            summary: None,
            report_erased: false,
        })
    }

    pub(crate) fn cancel_run(&self, tenant: &str, run_id: &str) -> Result<RunView, ApiError> {
        let component = {
            let runs = lock(&self.inner.runs);
            let Some(slot) = runs.slots.get(run_id).filter(|s| s.tenant == tenant) else {
                drop(runs);
                // Finished (or never ran here): nothing to cancel, nothing logged.
                return self.run_view(tenant, run_id);
            };
            if slot.cancel.is_cancelled() {
                // Cancelled already: nothing changes, nothing is logged.
                None
            } else {
                slot.cancel.cancel();
                Some(slot.component.clone())
            }
        };
        if let Some(component) = component {
            self.log_operator(tenant, "admin:cancel-run", &format!("{component}/{run_id}"))?;
        }
        self.run_view(tenant, run_id)
    }
}

/// Cancels a run when dropped, unless disarmed first.
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel.cancel();
        }
    }
}
