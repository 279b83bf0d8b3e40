//! The one gate every host call goes through: count the call, ask Cedar, append the decision to
//! the log, then let the caller act — or hand the guest `access-denied` without acting.

use std::sync::Arc;

use cordon_audit::{DecisionLog, Entry};
use cordon_policy::{Request, Session};
use serde::Serialize;

use crate::bindings::{Denial, Error};
use crate::limits::LimitExceeded;

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
    /// The run's purpose.
    pub purpose: String,
    /// The run's engagement.
    pub engagement: String,
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
}

pub(crate) struct Gate {
    session: Session,
    log: Arc<dyn DecisionLog>,
    identity: RunIdentity,
    pub(crate) decisions: Vec<DecisionRecord>,
    pub(crate) host_calls: u64,
    max_host_calls: u64,
    pub(crate) last_seq: Option<u64>,
    #[cfg(feature = "bench-gate-bypass")]
    pub(crate) bypass: bool,
}

impl Gate {
    pub(crate) fn new(
        session: Session,
        log: Arc<dyn DecisionLog>,
        identity: RunIdentity,
        max_host_calls: u64,
    ) -> Self {
        Gate {
            session,
            log,
            identity,
            decisions: Vec::new(),
            host_calls: 0,
            max_host_calls,
            last_seq: None,
            #[cfg(feature = "bench-gate-bypass")]
            bypass: false,
        }
    }

    #[cfg(feature = "bench-gate-bypass")]
    pub(crate) fn with_bypass(mut self, bypass: bool) -> Self {
        self.bypass = bypass;
        self
    }

    /// Count one host call; past the limit the run ends.
    fn count_call(&mut self) -> wasmtime::Result<()> {
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
        let decision = self.session.authorize(&request);
        let action = request.action.as_str();
        let resource = request.resource.cedar_id();
        let id = &self.identity;
        let receipt = self
            .log
            .append(Entry {
                tenant: id.tenant.clone(),
                run_id: id.run_id.clone(),
                component_digest: id.component_digest.clone(),
                policy_digest: id.policy_digest.clone(),
                agent: id.agent.clone(),
                user: id.user.clone(),
                purpose: id.purpose.clone(),
                engagement: id.engagement.clone(),
                action: action.to_owned(),
                resource: resource.clone(),
                decision: if decision.allowed {
                    cordon_audit::Decision::Allow
                } else {
                    cordon_audit::Decision::Deny
                },
                policy_ids: decision.policy_ids.clone(),
                records: None,
            })
            .map_err(|e| wasmtime::Error::msg(format!("decision log append failed: {e}")))?;
        self.last_seq = Some(receipt.seq);
        tracing::debug!(
            target: "cordon.gate",
            tenant = %id.tenant,
            run = %id.run_id,
            action,
            decision = if decision.allowed { "allow" } else { "deny" },
            seq = receipt.seq,
        );
        self.decisions.push(DecisionRecord {
            seq: receipt.seq,
            action: action.to_owned(),
            resource: resource.clone(),
            decision: if decision.allowed { "allow" } else { "deny" },
            policy_ids: decision.policy_ids.clone(),
        });
        if decision.allowed {
            Ok(Ok(()))
        } else {
            Ok(Err(Error::AccessDenied(Denial {
                action: action.to_owned(),
                resource,
                policy_ids: decision.policy_ids,
                decision_id: receipt.seq,
            })))
        }
    }

    /// A call to a capability this host does not provide: counted, answered with a typed error.
    pub(crate) fn unsupported(&mut self, what: &str) -> wasmtime::Result<Error> {
        self.count_call()?;
        Ok(Error::Unsupported(format!(
            "{what} is not provided by this host yet"
        )))
    }
}
