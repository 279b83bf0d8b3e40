//! The one gate every host call goes through: count the call, ask Cedar, append the decision to
//! the log, make it durable, then let the caller act — or hand the guest `access-denied`
//! without acting.
//!
//! # Durability before effects
//!
//! An allowed decision on an action with an effect — `fs:write`, `fs:append`, `fs:rename`,
//! `fs:remove`, `fs:create-dir`, `http:send`, and a `records:read` that returns data — is
//! synced to disk ([`DecisionLog::sync`]) before [`Gate::check`] or [`Gate::check_records`]
//! returns, so the caller acts only on a decision that survives a crash. Concurrent runs share
//! the log's group commit: their syncs wait for the same fsync.
//!
//! Pure reads (`fs:read`, `fs:list`, `fs:stat`) and every denial are appended without waiting:
//! they are made durable with the next sync (the next effect of any run on the same log, or
//! the end of the run, whose report is withheld until its decisions are durable). The bound:
//! after a crash, the decisions missing from the log are pure reads and denials made since the
//! last sync — never a decision whose effect happened. A denial changes nothing; a read changes
//! nothing on disk or on the network (what it returned can only leave the run through a later
//! effect, whose own decision is synced first).

use std::sync::Arc;

use cordon_audit::{DecisionLog, Entry};
use cordon_policy::{Request, Session, Taint};
use serde::Serialize;

use crate::bindings::{Denial, Error};
use crate::limits::LimitExceeded;
use crate::stop::Stop;

/// Who and what every decision of a run is bound to in the log.
#[derive(Debug, Clone, Serialize)]
pub struct RunIdentity {
    /// The tenant.
    pub tenant: String,
    /// This run's id.
    pub run_id: String,
    /// blake3 digest of the component (hex).
    pub component_digest: String,
    /// Digest of the policy bundle deciding the run.
    pub policy_digest: String,
    /// The agent: `<tenant>/<component digest>`.
    pub agent: String,
    /// The human the run acts for, if any.
    pub user: Option<String>,
    /// The roles that human holds in the run, sorted and without duplicates (what a policy
    /// saw as `principal.human in Cordon::Role::"..."`); empty for an unattended run.
    pub roles: Vec<String>,
    /// The run's purpose.
    pub purpose: String,
    /// The run's engagement.
    pub engagement: String,
    /// For a source run: the source's language and digest.
    pub code: Option<cordon_policy::SourceCode>,
}

impl RunIdentity {
    /// A log entry bound to this run, its decision fields still to be filled in.
    fn entry(&self) -> Entry {
        Entry {
            tenant: self.tenant.clone(),
            run_id: self.run_id.clone(),
            component_digest: self.component_digest.clone(),
            policy_digest: self.policy_digest.clone(),
            agent: self.agent.clone(),
            user: self.user.clone(),
            purpose: self.purpose.clone(),
            engagement: self.engagement.clone(),
            action: String::new(),
            resource: String::new(),
            decision: cordon_audit::Decision::Deny,
            policy_ids: Vec::new(),
            records: None,
            taint: None,
            roles: self.roles.clone(),
            code: self.code.as_ref().map(|c| cordon_audit::CodeRef {
                language: c.language.clone(),
                digest: c.digest.clone(),
            }),
        }
    }
}

/// The labels of `taint` as the log keeps them.
fn labels(taint: &Taint) -> cordon_audit::TaintLabels {
    cordon_audit::TaintLabels {
        classification: taint.classification(),
        jurisdictions: taint.jurisdictions().iter().cloned().collect(),
        collections: taint.collections().iter().cloned().collect(),
        categories: taint.categories().iter().cloned().collect(),
    }
}

/// One decision as the run's report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    /// Sequence number in the decision log.
    pub seq: u64,
    /// The action, e.g. `fs:read`.
    pub action: String,
    /// The resource, e.g. `Cordon::File::"/a.txt"`.
    pub resource: String,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The deciding policies.
    pub policy_ids: Vec<String>,
    /// For calls that can carry data out (`http:send`, `fs:write`, `fs:append`) of a run that
    /// has read labelled data: the run's taint when the call was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taint: Option<Taint>,
}

/// A call the shadow bundle would have decided differently from the active one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowDifference {
    /// The decision's sequence number in the log.
    pub seq: u64,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// What the active bundle decided (`allow`/`deny`).
    pub active: &'static str,
    /// What the shadow bundle would have decided.
    pub shadow: &'static str,
    /// The shadow bundle's deciding policies.
    pub shadow_policy_ids: Vec<String>,
}

pub(crate) struct Gate {
    session: Session,
    shadow: Option<Session>,
    pub(crate) shadow_differences: Vec<ShadowDifference>,
    log: Arc<dyn DecisionLog>,
    identity: RunIdentity,
    /// The run's log entry, made once: each decision sets its decision fields and appends it,
    /// so the run's identity is not copied again for every decision.
    entry: Entry,
    pub(crate) decisions: Vec<DecisionRecord>,
    pub(crate) host_calls: u64,
    max_host_calls: u64,
    /// The run's deadline and cancel token: a call made after either ends the run.
    stop: Stop,
    /// Bytes the run may still ask to write (`RunLimits::max_write_bytes`).
    write_budget: u64,
    pub(crate) last_seq: Option<u64>,
    /// What the run has read so far; in the context of every call that can carry data out.
    pub(crate) taint: Taint,
    #[cfg(feature = "bench-gate-bypass")]
    pub(crate) bypass: bool,
}

impl Gate {
    pub(crate) fn new(
        session: Session,
        log: Arc<dyn DecisionLog>,
        identity: RunIdentity,
        max_host_calls: u64,
        stop: Stop,
    ) -> Self {
        Gate {
            session,
            shadow: None,
            shadow_differences: Vec::new(),
            log,
            entry: identity.entry(),
            identity,
            decisions: Vec::new(),
            host_calls: 0,
            max_host_calls,
            stop,
            write_budget: u64::MAX,
            last_seq: None,
            taint: Taint::default(),
            #[cfg(feature = "bench-gate-bypass")]
            bypass: false,
        }
    }

    /// Also evaluate every call under `shadow`, recording where it would differ.
    pub(crate) fn with_shadow(mut self, shadow: Option<Session>) -> Self {
        self.shadow = shadow;
        self
    }

    /// Let the run write at most `bytes` to files in all.
    pub(crate) fn with_write_quota(mut self, bytes: u64) -> Self {
        self.write_budget = bytes;
        self
    }

    /// Take `len` bytes of a write from the run's quota, before the write is decided. Past the
    /// quota, the guest's `limit-exceeded` and nothing is taken: the caller must not write any
    /// of it. Bytes of a write the policy then denies stay taken (the quota counts what the
    /// run asked to write).
    pub(crate) fn charge_write(&mut self, len: usize) -> Result<(), Error> {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        match self.write_budget.checked_sub(len) {
            Some(left) => {
                self.write_budget = left;
                Ok(())
            }
            None => Err(Error::LimitExceeded(format!(
                "writing {len} bytes would pass the run's write quota ({} bytes left)",
                self.write_budget
            ))),
        }
    }

    #[cfg(feature = "bench-gate-bypass")]
    pub(crate) fn with_bypass(mut self, bypass: bool) -> Self {
        self.bypass = bypass;
        self
    }

    /// Append one decision, bound to the run's identity, to the log and to the run's report;
    /// its sequence number. The run ends if it cannot be recorded: Cordon never acts on an
    /// unrecorded decision.
    fn record(&mut self, d: Decided<'_>) -> wasmtime::Result<u64> {
        let entry = &mut self.entry;
        entry.action.clear();
        entry.action.push_str(d.action);
        entry.resource.clear();
        entry.resource.push_str(d.resource);
        entry.decision = if d.allowed {
            cordon_audit::Decision::Allow
        } else {
            cordon_audit::Decision::Deny
        };
        entry.policy_ids = d.policy_ids;
        entry.records = d.records;
        entry.taint = d.taint.as_ref().map(labels);
        let appended = self.log.append(entry);
        // Nothing of this decision is left in the entry for the next one.
        let policy_ids = std::mem::take(&mut entry.policy_ids);
        entry.records = None;
        entry.taint = None;
        let receipt = appended
            .map_err(|e| wasmtime::Error::msg(format!("decision log append failed: {e}")))?;
        self.last_seq = Some(receipt.seq);
        tracing::debug!(
            target: "cordon.gate",
            tenant = %self.identity.tenant,
            run = %self.identity.run_id,
            action = d.action,
            decision = verdict(d.allowed),
            guard = d.guard,
            seq = receipt.seq,
        );
        self.decisions.push(DecisionRecord {
            seq: receipt.seq,
            action: d.action.to_owned(),
            resource: d.resource.to_owned(),
            decision: verdict(d.allowed),
            policy_ids,
            taint: d.taint,
        });
        Ok(receipt.seq)
    }

    /// Make the decision `seq` durable before the caller acts on it; the run ends if it
    /// cannot be.
    fn make_durable(&self, seq: u64) -> wasmtime::Result<()> {
        self.log
            .sync(seq)
            .map_err(|e| wasmtime::Error::msg(format!("decision log sync failed: {e}")))
    }

    /// The run's deadline and cancel token.
    pub(crate) fn stop(&self) -> &Stop {
        &self.stop
    }

    /// Count one host call; past the limit, past the deadline or once cancelled the run ends.
    pub(crate) fn count_call(&mut self) -> wasmtime::Result<()> {
        self.stop.check()?;
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return Err(wasmtime::Error::new(LimitExceeded::HostCalls));
        }
        Ok(())
    }

    /// Decide `request`. `Ok(Ok(()))`: go ahead. `Ok(Err(_))`: the guest's `access-denied`;
    /// nothing may be done. `Err(_)`: the run ends (a limit, or a decision that could not be
    /// logged — Cordon never acts on an unrecorded decision).
    pub(crate) fn check(&mut self, request: Request) -> wasmtime::Result<Result<(), Error>> {
        #[cfg(feature = "bench-gate-bypass")]
        if self.bypass {
            return Ok(Ok(()));
        }
        self.count_call()?;
        let decision = self.session.authorize_with_taint(&request, &self.taint);
        let action = request.action.as_str();
        let resource = request.resource.cedar_id();
        let seq = self.record(Decided {
            action,
            resource: &resource,
            allowed: decision.allowed,
            policy_ids: decision.policy_ids.clone(),
            records: None,
            taint: self.taint_for(request.action),
            guard: None,
        })?;
        if let Some(shadow) = &self.shadow {
            let candidate = shadow.authorize_with_taint(&request, &self.taint);
            if candidate.allowed != decision.allowed {
                self.shadow_differences.push(ShadowDifference {
                    seq,
                    action: action.to_owned(),
                    resource: resource.clone(),
                    active: verdict(decision.allowed),
                    shadow: verdict(candidate.allowed),
                    shadow_policy_ids: candidate.policy_ids,
                });
            }
        }
        if decision.allowed {
            if has_effect(request.action) {
                self.make_durable(seq)?;
            }
            Ok(Ok(()))
        } else {
            Ok(Err(Error::AccessDenied(Denial {
                action: action.to_owned(),
                resource,
                policy_ids: decision.policy_ids,
                decision_id: seq,
            })))
        }
    }

    /// The taint to show beside a decision on `action`: only for calls that can carry data
    /// out, and only once the run has read labelled data.
    fn taint_for(&self, action: cordon_policy::Action) -> Option<Taint> {
        use cordon_policy::Action::{FsAppend, FsWrite, HttpSend};
        (matches!(action, HttpSend | FsWrite | FsAppend) && self.taint.is_tainted())
            .then(|| self.taint.clone())
    }

    /// Refuse `request`, which the policy allowed, because the host's own guard forbids it
    /// (an egress address outside the operator's ranges). The refusal is logged as a denial
    /// decided by `guard` (e.g. `cordon:egress`) and not counted as another host call.
    pub(crate) fn refuse(&mut self, request: &Request, guard: &str) -> wasmtime::Result<Error> {
        let action = request.action.as_str();
        let resource = request.resource.cedar_id();
        let seq = self.record(Decided {
            action,
            resource: &resource,
            allowed: false,
            policy_ids: vec![guard.to_owned()],
            records: None,
            taint: self.taint_for(request.action),
            guard: Some(guard),
        })?;
        Ok(Error::AccessDenied(Denial {
            action: action.to_owned(),
            resource,
            policy_ids: vec![guard.to_owned()],
            decision_id: seq,
        }))
    }

    /// Refuse a call whose argument passed the bounds (see `host::bounds`) before the policy
    /// is asked: counted as a host call, logged as a denial of `action` by `cordon:bounds`
    /// whose resource is the bounded form of the argument (what it was, its size, its first
    /// [`cordon_policy::bounds::SHOWN_BYTES`] bytes — not for a records name — and the blake3
    /// digest of the whole), so
    /// one refusal costs the log a few hundred bytes however long the argument was.
    pub(crate) fn refuse_argument(
        &mut self,
        action: cordon_policy::Action,
        e: &cordon_policy::bounds::ArgumentTooLong,
    ) -> wasmtime::Result<Error> {
        self.count_call()?;
        // A records name may be (part of) a subject's identifier: the log keeps only its
        // digest, so nothing the guest chose outlives an erasure in plaintext.
        let shown = if action == cordon_policy::Action::RecordsRead {
            String::new()
        } else {
            format!(" {:?}…", e.shown)
        };
        let resource = format!(
            "cordon:too-long {} ({} {}, at most {}){shown} blake3 {}",
            e.what, e.size, e.unit, e.limit, e.digest
        );
        self.record(Decided {
            action: action.as_str(),
            resource: &resource,
            allowed: false,
            policy_ids: vec![BOUNDS_GUARD.to_owned()],
            records: None,
            taint: None,
            guard: Some(BOUNDS_GUARD),
        })?;
        Ok(Error::Invalid(e.to_string()))
    }

    /// The run's identity, for spans.
    pub(crate) fn identity(&self) -> &RunIdentity {
        &self.identity
    }

    /// The run's policy session, for checks the host makes beyond one request (a rename's
    /// escalation check); their outcome is recorded through [`Gate::refuse`].
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// A call to a capability this host does not provide: counted, answered with a typed error.
    pub(crate) fn unsupported(&mut self, what: &str) -> wasmtime::Result<Error> {
        self.count_call()?;
        Ok(Error::Unsupported(format!(
            "{what} is not provided by this host yet"
        )))
    }

    /// Decide one read of `collection`: `read` evaluates it with an authorizer bound to this
    /// run (every record by `records:read`, every requested field by `records:read-field`).
    /// Then ONE entry is appended to the log — the record ids returned, the fields returned
    /// and withheld, the records withheld that met the filter, the read's `filter` (values as
    /// commitments) — and the labels of what was returned are
    /// added to the run's taint; only then is the result handed back for the guest. A read
    /// refused as a whole is logged as a denial that carries the same filter, so that an
    /// auditor sees what was asked for whether or not it was allowed.
    pub(crate) fn check_records(
        &mut self,
        collection: &str,
        region: &str,
        fields: &[String],
        filter: Vec<cordon_audit::FilterCondition>,
        read: impl FnOnce(
            &mut cordon_policy::RecordAuthorizer<'_>,
        ) -> Result<cordon_records::ReadResult, cordon_records::ReadError>,
    ) -> wasmtime::Result<Result<cordon_records::ReadResult, Error>> {
        use cordon_records::{PlanError, ReadError};
        self.count_call()?;
        let rc = cordon_policy::RecordsContext {
            host_region: region.to_owned(),
            requested_fields: fields.to_vec(),
        };
        let outcome = match self.session.records(collection, &rc) {
            Ok(mut auth) => read(&mut auth).map_err(|e| match e {
                ReadError::UnknownCollection(_) => Error::NotFound(e.to_string()),
                ReadError::Plan(PlanError::UnknownField { .. }) => Error::Invalid(e.to_string()),
                ReadError::Plan(_) => Error::AccessDenied(Denial {
                    action: "records:read".to_owned(),
                    resource: String::new(),
                    policy_ids: Vec::new(),
                    decision_id: 0,
                }),
                ReadError::Storage(_) => Error::Io(e.to_string()),
            }),
            Err(e) => Err(Error::Io(e.to_string())),
        };
        let resource = format!("Cordon::Collection::{collection:?}");
        let (allowed, policy_ids, access) = match &outcome {
            Ok(r) => (
                true,
                r.policy_ids.iter().cloned().collect::<Vec<_>>(),
                cordon_audit::RecordAccess {
                    collection: collection.to_owned(),
                    record_ids: r.rows.iter().map(|row| row.id.clone()).collect(),
                    fields_returned: r.fields_returned.clone(),
                    fields_withheld: r.fields_withheld.clone(),
                    records_withheld: r.records_withheld,
                    withheld_ids: r.withheld_ids.clone(),
                    filter,
                },
            ),
            // Refused as a whole: nothing returned or looked at, but what was asked is logged.
            Err(_) => (
                false,
                Vec::new(),
                cordon_audit::RecordAccess {
                    collection: collection.to_owned(),
                    record_ids: Vec::new(),
                    fields_returned: Vec::new(),
                    fields_withheld: Vec::new(),
                    records_withheld: 0,
                    withheld_ids: Vec::new(),
                    filter,
                },
            ),
        };
        let seq = self.record(Decided {
            action: "records:read",
            resource: &resource,
            allowed,
            policy_ids,
            records: Some(access),
            taint: None,
            guard: None,
        })?;
        match outcome {
            Ok(r) => {
                if !r.rows.is_empty() {
                    // Data leaves the store only once the entry naming it is durable.
                    self.make_durable(seq)?;
                }
                if let Some(level) = r.max_classification {
                    // One observation per jurisdiction returned; never for withheld data.
                    let categories = r.categories.iter().cloned().collect::<Vec<_>>();
                    if r.jurisdictions.is_empty() {
                        self.taint
                            .observe(collection, level, "", categories.clone());
                    }
                    for j in &r.jurisdictions {
                        self.taint.observe(collection, level, j, categories.clone());
                    }
                }
                Ok(Ok(r))
            }
            Err(Error::AccessDenied(d)) => Ok(Err(Error::AccessDenied(Denial {
                resource,
                decision_id: seq,
                ..d
            }))),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// The guard named by a refusal of an over-long argument.
const BOUNDS_GUARD: &str = "cordon:bounds";

/// One decision as [`Gate::record`] takes it.
struct Decided<'a> {
    action: &'a str,
    resource: &'a str,
    allowed: bool,
    policy_ids: Vec<String>,
    /// For record reads: what was returned and withheld.
    records: Option<cordon_audit::RecordAccess>,
    /// The run's taint, for calls that can carry data out (see [`Gate::taint_for`]).
    taint: Option<Taint>,
    /// The host guard that refused a call the policy allowed.
    guard: Option<&'a str>,
}

/// Whether acting on an allowed `action` changes something outside the run (a file, the
/// network) or hands it data a log must account for: its decision is synced first. Pure reads
/// may batch (see the module docs).
fn has_effect(action: cordon_policy::Action) -> bool {
    use cordon_policy::Action;
    match action {
        Action::FsRead | Action::FsList | Action::FsStat => false,
        Action::FsWrite
        | Action::FsAppend
        | Action::FsCreateDir
        | Action::FsRemove
        | Action::FsRename
        | Action::HttpSend
        | Action::RecordsRead
        | Action::RecordsReadField => true,
    }
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

/// A gate for unit tests: an unattended run of tenant `acme` under `policy`, logging to a
/// fresh log in `dir`, with room for 100 host calls.
#[cfg(test)]
pub(crate) fn test_gate(dir: &std::path::Path, policy: &str) -> Gate {
    test_gate_on(
        Arc::new(cordon_audit::AuditLog::open_in(dir).unwrap()),
        policy,
    )
}

/// [`test_gate`] logging to `log`.
#[cfg(test)]
pub(crate) fn test_gate_on(log: Arc<dyn DecisionLog>, policy: &str) -> Gate {
    use cordon_policy::{PolicyBundle, Principal, RunContext};

    let bundle = PolicyBundle::from_sources([("p.cedar", policy)]).unwrap();
    let session = bundle
        .session(
            &Principal::unattended("acme", "d"),
            &RunContext::new("p", "e"),
        )
        .unwrap();
    let identity = RunIdentity {
        tenant: "acme".into(),
        run_id: "r".into(),
        component_digest: "d".into(),
        policy_digest: bundle.digest().to_owned(),
        agent: "acme/d".into(),
        user: None,
        roles: Vec::new(),
        purpose: "p".into(),
        engagement: "e".into(),
        code: None,
    };
    let stop = Stop::new(
        std::time::Instant::now() + std::time::Duration::from_secs(3600),
        crate::CancelToken::new(),
    );
    Gate::new(session, log, identity, 100, stop)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use cordon_audit::{AppendError, EraseError, Head, Receipt, Subject};
    use cordon_policy::{Action, Resource};

    use super::*;

    /// A log that remembers the highest sequence number it was asked to make durable.
    struct Watched {
        inner: cordon_audit::AuditLog,
        synced: Mutex<Option<u64>>,
    }

    impl DecisionLog for Watched {
        fn append(&self, entry: &Entry) -> Result<Receipt, AppendError> {
            self.inner.append(entry)
        }
        fn sync(&self, through: u64) -> Result<(), AppendError> {
            self.inner.sync(through)?;
            *self.synced.lock().unwrap() = Some(through);
            Ok(())
        }
        fn head(&self) -> Option<Head> {
            self.inner.head()
        }
        fn forget(&self, subjects: &[Subject]) -> Result<(), EraseError> {
            self.inner.forget(subjects)
        }
    }

    fn watched_gate(policy: &str) -> (tempfile::TempDir, Arc<Watched>, Gate) {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Watched {
            inner: cordon_audit::AuditLog::open_in(dir.path()).unwrap(),
            synced: Mutex::new(None),
        });
        let gate = test_gate_on(log.clone(), policy);
        (dir, log, gate)
    }

    fn file(action: Action) -> Request {
        Request::new(action, Resource::File("/a.txt".into()))
    }

    #[test]
    fn an_allowed_effect_is_durable_before_the_caller_may_act() {
        for action in [
            Action::FsWrite,
            Action::FsAppend,
            Action::FsRemove,
            Action::FsRename,
        ] {
            let (_dir, log, mut gate) = watched_gate("permit(principal, action, resource);");
            assert!(gate.check(file(action)).unwrap().is_ok());
            assert_eq!(*log.synced.lock().unwrap(), gate.last_seq, "{action:?}");
        }
    }

    #[test]
    fn pure_reads_and_denials_batch_without_a_sync() {
        let (_dir, log, mut gate) =
            watched_gate(r#"permit(principal, action == Cordon::Action::"fs:read", resource);"#);
        assert!(gate.check(file(Action::FsRead)).unwrap().is_ok());
        assert!(gate.check(file(Action::FsWrite)).unwrap().is_err());
        assert_eq!(gate.decisions.len(), 2);
        assert_eq!(*log.synced.lock().unwrap(), None);
    }

    #[test]
    fn each_logged_decision_carries_only_its_own_fields() {
        let (_dir, log, mut gate) = watched_gate(
            r#"@id("send") permit(principal, action == Cordon::Action::"fs:write", resource);"#,
        );
        gate.taint.observe("patients", 2, "eu", ["health"]);
        assert!(gate.check(file(Action::FsWrite)).unwrap().is_ok());
        assert!(
            gate.check(Request::new(
                Action::FsRead,
                Resource::File("/b.txt".into())
            ))
            .unwrap()
            .is_err()
        );
        let seq = gate.last_seq.unwrap();
        log.inner.sync(seq).unwrap();
        let store = log.inner.store();
        let write = store.entry(seq - 1).unwrap().unwrap();
        let read = store.entry(seq).unwrap().unwrap();
        assert_eq!(
            (write.action.as_str(), write.resource.as_str()),
            ("fs:write", r#"Cordon::File::"/a.txt""#)
        );
        assert_eq!(write.policy_ids, ["send"]);
        assert!(write.taint.is_some());
        // The denied read after it: its own action, resource and (no) policies; no taint.
        assert_eq!(
            (read.action.as_str(), read.resource.as_str()),
            ("fs:read", r#"Cordon::File::"/b.txt""#)
        );
        assert_eq!(read.decision, cordon_audit::Decision::Deny);
        assert!(read.policy_ids.is_empty(), "{:?}", read.policy_ids);
        assert_eq!(read.taint, None);
        assert_eq!((read.tenant.as_str(), read.run_id.as_str()), ("acme", "r"));
        // The report shows the same.
        assert_eq!(gate.decisions[0].policy_ids, ["send"]);
        assert!(gate.decisions[1].policy_ids.is_empty());
    }

    #[test]
    fn a_call_after_cancel_ends_the_run_before_it_is_decided() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = test_gate(dir.path(), "permit(principal, action, resource);");
        let cancel = crate::CancelToken::new();
        gate.stop = Stop::new(
            std::time::Instant::now() + std::time::Duration::from_secs(3600),
            cancel.clone(),
        );
        cancel.cancel();
        let err = gate.check(file(Action::FsWrite)).unwrap_err();
        assert!(err.downcast_ref::<crate::Cancelled>().is_some(), "{err:?}");
        assert!(gate.decisions.is_empty());
    }
}
