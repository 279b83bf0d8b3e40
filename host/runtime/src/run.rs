//! One run: a fresh store with its limits, the gate, and the report of what happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cap_std::fs::Dir;
use cordon_audit::DecisionLog;
use cordon_policy::{EntityError, Human, PolicyBundle, Principal, RunContext, SourceCode, Taint};
use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::Error;
use crate::capture::Capture;
use crate::component::LoadedComponent;
use crate::egress::EgressPolicy;
use crate::engine::CordonEngine;
use crate::gate::{DecisionRecord, Gate, RunIdentity, ShadowDifference};
use crate::host::http::{EGRESS_GUARD, EGRESS_HINT, HttpState};
use crate::host::records::RecordsGrant;
use crate::limits::{LimitExceeded, LimitsError, MemoryLimiter, RunLimits};
use crate::source::{SourceLocation, TraceFrame};
use crate::state::RunState;
use crate::stop::{CancelToken, Cancelled, Stop};

/// Everything one run needs.
pub struct Invocation {
    /// The run's id (unique; names the run in the log).
    pub run_id: String,
    /// The tenant running the component.
    pub tenant: String,
    /// The verified human the run acts for; `None` for an unattended run.
    pub human: Option<Human>,
    /// Purpose and engagement, bound to every decision.
    pub context: RunContext,
    /// The policies deciding every host call.
    pub bundle: PolicyBundle,
    /// The directory the fs interface works in; `None`: no files at all.
    pub root: Option<Dir>,
    /// The run's limits.
    pub limits: RunLimits,
    /// Where decisions are recorded; the run's report is returned only once they are durable.
    pub log: Arc<dyn DecisionLog>,
    /// The input handed to `run`.
    pub input: String,
    /// Where and how much the run may send over http: the operator's egress ranges and body
    /// limits. The default connects to public addresses only.
    pub egress: EgressPolicy,
    /// Labels of data the run starts with: what its input is known to contain (records a
    /// caller put into it, a previous run's output). Reads during the run add to it.
    pub taint: Taint,
    /// A candidate bundle evaluated beside `bundle` on every call (shadow mode): it never
    /// changes a decision; where it would have decided differently, the report says so.
    pub shadow: Option<PolicyBundle>,
    /// Lets another thread stop the run (the kill switch).
    pub cancel: Option<CancelToken>,
    /// The records store the records interface reads, and the host's region; `None`: records
    /// calls are answered `unsupported`.
    pub records: Option<RecordsGrant>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// `run` returned output and no call was denied.
    Ok,
    /// `run` returned output; at least one call was denied and the guest handled it.
    DeniedAndHandled,
    /// `run` returned an error, or the agent's own code failed: an uncaught exception or a
    /// panic its SDK described before the run trapped (`error.kind` `exception` or `panic`).
    Error,
    /// A limit ended the run.
    LimitExceeded,
    /// The guest trapped and no SDK said why (`unreachable`, a guest built without the SDK, a
    /// host bug): `trap` has wasmtime's message.
    Trap,
    /// The run was stopped by its cancel token (the kill switch).
    Cancelled,
}

impl RunStatus {
    /// Whether the run produced its output.
    pub fn succeeded(self) -> bool {
        matches!(self, RunStatus::Ok | RunStatus::DeniedAndHandled)
    }
}

/// A guest-visible error, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestError {
    /// `access-denied`, `not-found`, `invalid`, `limit-exceeded`, `io` or `unsupported` (the
    /// WIT error `run` returned); `exception` (the agent's Python or JavaScript raised and did
    /// not catch) or `panic` (the agent's Rust panicked), as its SDK described it before the run
    /// trapped (module `uncaught`).
    pub kind: &'static str,
    /// What the guest said, or the denial spelled out; for an `exception`, `Type: message`.
    pub message: String,
    /// For `access-denied`: the deciding policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_ids: Option<Vec<String>>,
    /// For a source run's `invalid` (a syntax error), an `exception` or a `panic`: where in
    /// the agent's source (the innermost frame of its own code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// For an `exception`: the frames of the agent's own code, outermost first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<Vec<TraceFrame>>,
    /// For an `exception`: frames of a repeated run (recursion) left out of `traceback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted_frames: Option<u64>,
    /// For an `exception`: what to use instead, when the code reached for authority an agent
    /// does not have (`open`, `urllib`, `socket`, `fetch`: the SDK call that the policy
    /// decides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<Error> for GuestError {
    fn from(e: Error) -> Self {
        let (kind, message, policy_ids) = match e {
            Error::AccessDenied(d) => {
                let mut message = format!(
                    "{} on {} denied (decision {})",
                    d.action, d.resource, d.decision_id
                );
                if d.policy_ids == [EGRESS_GUARD] {
                    message = format!("{message}: {EGRESS_HINT}");
                }
                ("access-denied", message, Some(d.policy_ids))
            }
            Error::NotFound(m) => ("not-found", m, None),
            Error::Invalid(m) => ("invalid", m, None),
            Error::LimitExceeded(m) => ("limit-exceeded", m, None),
            Error::Io(m) => ("io", m, None),
            Error::Unsupported(m) => ("unsupported", m, None),
        };
        GuestError {
            kind,
            message,
            policy_ids,
            location: None,
            traceback: None,
            omitted_frames: None,
            hint: None,
        }
    }
}

/// The decision-log sequence range a run wrote, and the log head after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRange {
    /// First sequence number the run wrote, if it wrote any.
    pub first_seq: Option<u64>,
    /// Last sequence number the run wrote, if it wrote any.
    pub last_seq: Option<u64>,
    /// Hash of the log's head entry (hex), once the run's decisions are durable.
    pub head: Option<String>,
}

/// What happened in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// What `run` returned, when it returned output within the limit.
    pub output: Option<String>,
    /// What `run` returned, when it returned an error; or the agent's uncaught exception or
    /// panic, at its own line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<GuestError>,
    /// Which limit ended the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitExceeded>,
    /// The trap that ended the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
    /// What the guest wrote to stdout.
    pub stdout: String,
    /// What the guest wrote to stderr.
    pub stderr: String,
    /// Every decision of the run, in order.
    pub decisions: Vec<DecisionRecord>,
    /// Decisions the shadow bundle would have made differently (shadow mode only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow_differences: Vec<ShadowDifference>,
    /// Host calls made.
    pub host_calls: u64,
    /// Fuel used.
    pub fuel_used: u64,
    /// Most linear memory (and tables) held at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall-clock time of the run, milliseconds.
    pub wall_ms: f64,
    /// The component's digest.
    pub component_digest: String,
    /// The policy bundle's digest.
    pub policy_digest: String,
    /// For a source run: the source's language and digest (`component_digest` names the
    /// runner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<SourceCode>,
    /// Where the run's decisions are in the log.
    pub audit: AuditRange,
}

/// A run could not be started or its decisions could not be made durable. (How the guest
/// itself ended is a [`RunStatus`], not an error.)
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The limits are outside their bounds.
    #[error("invalid limits")]
    Limits(#[from] LimitsError),
    /// The principal could not be built into Cedar.
    #[error("cannot build the run's principal")]
    Principal(#[from] EntityError),
    /// wasmtime refused to set up the store.
    #[error("cannot set up the run: {0}")]
    Store(String),
    /// The run's decisions could not be made durable; its result is withheld.
    #[error("the decision log could not commit the run's decisions: {0}")]
    Log(String),
    /// A source run's input is not JSON; nothing ran.
    #[error("the input is not JSON: {0}")]
    Input(String),
    /// Every instance slot of the engine's pool is taken by a running run; nothing ran.
    #[error("the host is running as many runs as it has room for ({0}); try again later")]
    AtCapacity(String),
}

impl CordonEngine {
    /// Run `component` once in a fresh instance.
    pub fn run(&self, component: &LoadedComponent, inv: Invocation) -> Result<RunReport, RunError> {
        self.run_inner(component, inv, false)
    }

    /// [`CordonEngine::run`] with the gate switched off: every call is allowed, nothing is
    /// decided or logged. Only for measuring the gate's cost in benches/.
    #[cfg(feature = "bench-gate-bypass")]
    pub fn run_bypassing_gate_for_bench(
        &self,
        component: &LoadedComponent,
        inv: Invocation,
    ) -> Result<RunReport, RunError> {
        self.run_inner(component, inv, true)
    }

    fn run_inner(
        &self,
        component: &LoadedComponent,
        inv: Invocation,
        bypass_gate: bool,
    ) -> Result<RunReport, RunError> {
        inv.limits.validate()?;
        let start = Instant::now();
        let principal = Principal {
            tenant: inv.tenant.clone(),
            digest: component.digest().to_owned(),
            human: inv.human.clone(),
        };
        let session = inv.bundle.session(&principal, &inv.context)?;
        let shadow = match &inv.shadow {
            Some(b) => Some(b.session(&principal, &inv.context)?),
            None => None,
        };
        let identity = RunIdentity {
            tenant: inv.tenant.clone(),
            run_id: inv.run_id.clone(),
            component_digest: component.digest().to_owned(),
            policy_digest: inv.bundle.digest().to_owned(),
            agent: format!("{}/{}", inv.tenant, component.digest()),
            user: inv.human.as_ref().map(|h| h.id.clone()),
            roles: inv
                .human
                .as_ref()
                .map(|h| {
                    let roles: std::collections::BTreeSet<&String> = h.roles.iter().collect();
                    roles.into_iter().cloned().collect::<Vec<_>>()
                })
                .unwrap_or_default(),
            purpose: inv.context.purpose.clone(),
            engagement: inv.context.engagement.clone(),
            code: inv.context.code.clone(),
        };
        // Every wait of the run — wasm code (the epoch callback below), WASI pollables, http —
        // ends at this deadline or when the run is cancelled.
        let deadline = start + Duration::from_millis(inv.limits.timeout_ms);
        let stop = Stop::new(deadline, inv.cancel.clone().unwrap_or_default());
        let capture = Capture::new(inv.limits.max_output_bytes);
        // No preopens, no env, no args, no network: WASI is linked so toolchain imports
        // resolve, and grants nothing.
        let wasi = WasiCtxBuilder::new()
            .stdout(capture.stdout())
            .stderr(capture.stderr())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = RunState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(inv.limits.memory_bytes),
            gate: Gate::new(
                session,
                inv.log.clone(),
                identity,
                inv.limits.max_host_calls,
                stop.clone(),
            )
            .with_shadow(shadow)
            .with_write_quota(inv.limits.max_write_bytes),
            root: inv.root,
            max_read_bytes: inv.limits.memory_bytes,
            http: HttpState::new(inv.egress),
            stop: stop.clone(),
            records: inv.records,
        };
        #[cfg(feature = "bench-gate-bypass")]
        let state = RunState {
            gate: state.gate.with_bypass(bypass_gate),
            ..state
        };
        #[cfg(not(feature = "bench-gate-bypass"))]
        let _ = bypass_gate;
        let mut state = state;
        state.gate.taint.merge(&inv.taint);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(inv.limits.fuel)
            .map_err(|e| RunError::Store(format!("{e:#}")))?;
        // Every epoch tick, check the wall-clock deadline and the kill switch.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| stop.check().map(|()| UpdateDeadline::Continue(1)));

        let agent = match component.pre.instantiate(&mut store) {
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                return Err(RunError::AtCapacity(e.to_string()));
            }
            agent => agent,
        };
        let result = agent.and_then(|agent| agent.call_run(&mut store, &inv.input));
        let fuel_used = inv
            .limits
            .fuel
            .saturating_sub(store.get_fuel().unwrap_or(0));
        let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
        let state = store.into_data();

        let mut report = RunReport {
            run_id: inv.run_id,
            status: RunStatus::Ok,
            output: None,
            error: None,
            limit: None,
            trap: None,
            stdout: String::new(),
            stderr: String::new(),
            host_calls: state.gate.host_calls,
            fuel_used,
            peak_memory_bytes: state.limiter.peak as u64,
            wall_ms,
            component_digest: component.digest().to_owned(),
            policy_digest: inv.bundle.digest().to_owned(),
            code: inv.context.code.clone(),
            audit: AuditRange {
                first_seq: state.gate.decisions.first().map(|d| d.seq),
                last_seq: state.gate.last_seq,
                head: None,
            },
            decisions: state.gate.decisions,
            shadow_differences: state.gate.shadow_differences,
        };
        (report.stdout, report.stderr) = capture.contents();
        let denied = report.decisions.iter().any(|d| d.decision == "deny");
        match result {
            Ok(Ok(output)) if output.len() as u64 > inv.limits.max_output_bytes => {
                report.status = RunStatus::LimitExceeded;
                report.limit = Some(LimitExceeded::Output);
            }
            Ok(Ok(output)) => {
                report.status = if denied {
                    RunStatus::DeniedAndHandled
                } else {
                    RunStatus::Ok
                };
                report.output = Some(output);
            }
            Ok(Err(e)) => {
                report.status = RunStatus::Error;
                report.error = Some(e.into());
            }
            Err(e) if e.downcast_ref::<Cancelled>().is_some() => {
                report.status = RunStatus::Cancelled;
            }
            Err(e) => match classify(&e) {
                Ok(limit) => {
                    report.status = RunStatus::LimitExceeded;
                    report.limit = Some(limit);
                }
                Err(trap) => match uncaught(&e, &mut report.stderr) {
                    // The agent's code failed and its SDK said how: that is the error, in the
                    // agent's terms, not the wasm trap it ended in.
                    Some(error) => {
                        tracing::debug!(target: "cordon.run", run = %report.run_id, %trap, "uncaught {}", error.kind);
                        report.status = RunStatus::Error;
                        report.error = Some(error);
                    }
                    None => {
                        report.status = RunStatus::Trap;
                        report.trap = Some(trap);
                    }
                },
            },
        }
        let head = match report.audit.last_seq {
            Some(seq) => {
                inv.log
                    .sync(seq)
                    .map_err(|e| RunError::Log(e.to_string()))?;
                inv.log.head_through(seq)
            }
            // A run that decided nothing: the head as hashed now, whatever others append.
            None => inv.log.head_through(0),
        };
        report.audit.head = head.map(|h| h.hash_hex());
        tracing::info!(
            target: "cordon.run",
            run = %report.run_id,
            status = ?report.status,
            fuel = report.fuel_used,
            host_calls = report.host_calls,
        );
        Ok(report)
    }
}

/// The uncaught exception or panic the guest's SDK wrote last to `stderr` before `e` ended
/// the run (taken off `stderr`), when `e` is the guest's own wasm trap: never for a host error.
fn uncaught(e: &wasmtime::Error, stderr: &mut String) -> Option<GuestError> {
    e.downcast_ref::<wasmtime::Trap>()?;
    crate::uncaught::take(stderr)
}

/// A limit, or the trap's message.
fn classify(e: &wasmtime::Error) -> Result<LimitExceeded, String> {
    if let Some(limit) = e.downcast_ref::<LimitExceeded>() {
        return Ok(*limit);
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => Ok(LimitExceeded::Fuel),
        Some(wasmtime::Trap::Interrupt) => Ok(LimitExceeded::Timeout),
        _ => Err(format!("{e:#}")),
    }
}
