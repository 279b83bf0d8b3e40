//! Cordon's wasmtime embedding: compile and validate components against the `cordon:agent`
//! world, run each in a fresh store under fuel, memory, time, output and host-call limits, and
//! send every host call through one gate (Cedar, then the decision log, then the act).
//!
//! ```no_run
//! use std::sync::Arc;
//! use cordon_runtime::{CordonEngine, EngineOptions, Invocation, RunLimits};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = CordonEngine::new(EngineOptions::default())?;
//! let component = engine.load(&std::fs::read("agent.wasm")?)?;
//! let data = std::path::Path::new("cordon-data");
//! let log = Arc::new(cordon_audit::AuditLog::open(&data.join("audit.redb"), cordon_audit::LogOptions::in_dir(data))?);
//! let report = engine.run(&component, Invocation {
//!     run_id: "run-1".into(),
//!     tenant: "acme".into(),
//!     human: None,
//!     context: cordon_policy::RunContext::new("support", "case-1"),
//!     bundle: cordon_policy::PolicyBundle::load("policy.cedar".as_ref())?,
//!     root: None,
//!     limits: RunLimits::default(),
//!     log,
//!     input: "{}".into(),
//!     egress: cordon_runtime::EgressPolicy::default(),
//!     taint: cordon_policy::Taint::default(),
//!     shadow: None,
//!     cancel: None,
//!     records: None,
//! })?;
//! println!("{:?}", report.status);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod artifacts;
mod bindings;
mod capture;
mod component;
mod egress;
mod engine;
mod function_cache;
mod gate;
mod host;
mod limits;
mod run;
mod source;
mod state;
mod stop;
mod uncaught;

pub use component::{CodeSource, CompileReport, LoadError, LoadedComponent, digest};
pub use egress::{AddressRefused, CaError, EgressPolicy, RangeError, TrustedCa};
pub use engine::{CordonEngine, EngineError, EngineOptions, PoolOptions};
pub use gate::{DecisionRecord, RunIdentity, ShadowDifference};
pub use host::fs::MAX_RENAME_ENTRIES;
pub use host::http::{EGRESS_GUARD, EGRESS_HINT};
pub use host::records::RecordsGrant;
pub use limits::{LimitExceeded, LimitsError, RunLimits};
pub use run::{AuditRange, GuestError, Invocation, RunError, RunReport, RunStatus};
pub use source::{Language, Source, SourceError, SourceLocation, TraceFrame};
pub use stop::{CancelToken, Cancelled};
