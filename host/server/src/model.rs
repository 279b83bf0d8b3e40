//! What the API stores and returns.

use cordon_runtime::RunLimits;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant's limits: the per-run limits plus concurrency and component size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Fuel per run.
    pub fuel: u64,
    /// Memory per run, bytes.
    pub memory_bytes: u64,
    /// Wall clock per run, milliseconds.
    pub timeout_ms: u64,
    /// Output per run, bytes.
    pub max_output_bytes: u64,
    /// Host calls per run.
    pub max_host_calls: u64,
    /// Bytes a run may ask to write (`fs.write` and `fs.append` together); a call that would
    /// pass it is refused whole with `limit-exceeded`.
    pub max_write_bytes: u64,
    /// Runs of the tenant at once; more are refused with 429.
    pub max_concurrent_runs: u64,
    /// Largest component accepted, bytes.
    pub max_component_bytes: u64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        let r = RunLimits::default();
        TenantLimits {
            fuel: r.fuel,
            memory_bytes: r.memory_bytes,
            timeout_ms: r.timeout_ms,
            max_output_bytes: r.max_output_bytes,
            max_host_calls: r.max_host_calls,
            max_write_bytes: r.max_write_bytes,
            max_concurrent_runs: 8,
            max_component_bytes: 16 << 20,
        }
    }
}

/// Bounds of the limits that are not run limits: `(name, min, max)`.
pub const TENANT_BOUNDS: [(&str, u64, u64); 2] = [
    ("max_concurrent_runs", 1, 1024),
    ("max_component_bytes", 1024, 256 << 20),
];

impl TenantLimits {
    /// The per-run part.
    pub fn run_limits(&self) -> RunLimits {
        RunLimits {
            fuel: self.fuel,
            memory_bytes: self.memory_bytes,
            timeout_ms: self.timeout_ms,
            max_output_bytes: self.max_output_bytes,
            max_host_calls: self.max_host_calls,
            max_write_bytes: self.max_write_bytes,
        }
    }

    /// Check every limit against its bounds; the message names the limit.
    pub fn validate(&self) -> Result<(), String> {
        self.run_limits().validate().map_err(|e| e.to_string())?;
        for ((name, min, max), value) in TENANT_BOUNDS
            .into_iter()
            .zip([self.max_concurrent_runs, self.max_component_bytes])
        {
            if !(min..=max).contains(&value) {
                return Err(format!("`{name}` is {value}, outside {min}..={max}"));
            }
        }
        Ok(())
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    /// `[a-z0-9-]`, 1 to 64 characters.
    pub id: String,
    /// The limits.
    pub limits: TenantLimits,
    /// Whether runs without an on-behalf-of token are accepted (as "no human").
    pub allow_unattended: bool,
    /// Whether the tenant may send source (Python, JavaScript) to run as sent. On unless the
    /// operator turns it off: a source run has no authority a component run lacks (the
    /// tenant could upload an interpreter), and policies tell it apart by `context.code`.
    #[serde(default = "on")]
    pub source_runs: bool,
    /// The directory the tenant's runs see through `fs` (on the server); none: no files.
    pub root: Option<String>,
    /// New runs refused while set.
    pub suspended: bool,
    /// Component digests whose runs are refused.
    #[serde(default)]
    pub suspended_components: Vec<String>,
    /// Bundle version deciding runs.
    pub active_bundle: Option<u64>,
    /// Bundle version evaluated beside the active one (shadow mode).
    pub shadow_bundle: Option<u64>,
    /// Versions uploaded so far.
    pub bundle_versions: u64,
    /// Versions activated before the current one, oldest first (for rollback).
    #[serde(default)]
    pub previous_bundles: Vec<u64>,
    /// Unix time the tenant was deleted: a tombstone, so its id is never reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<u64>,
}

/// Create or update a tenant.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// The limits (missing fields: defaults).
    #[serde(default)]
    pub limits: Option<TenantLimits>,
    /// Accept runs without an on-behalf-of token.
    #[serde(default)]
    pub allow_unattended: Option<bool>,
    /// Accept source runs (`source` in a run request); on for a new tenant.
    #[serde(default)]
    pub source_runs: Option<bool>,
    /// The directory runs see through `fs`.
    #[serde(default)]
    pub root: Option<String>,
}

/// A component as listed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentInfo {
    /// blake3 digest, hex.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Upload time, seconds since the epoch.
    pub uploaded_at: u64,
}

/// A policy bundle version as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BundleVersion {
    /// 1, 2, ...
    pub version: u64,
    /// The bundle's digest.
    pub digest: String,
    /// Its policy ids.
    pub policy_ids: Vec<String>,
    /// Upload time, seconds since the epoch.
    pub uploaded_at: u64,
    /// `(file name, Cedar text)`.
    pub sources: Vec<(String, String)>,
    /// What validates but can never match as written (a `Dir` id without its `/`), one
    /// message per finding, naming the policy; versions stored before warnings have none.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A policy bundle upload: one or more Cedar files.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleUpload {
    /// File name → Cedar text.
    pub files: std::collections::BTreeMap<String, String>,
    /// Make it the active version at once.
    #[serde(default)]
    pub activate: bool,
}

fn on() -> bool {
    true
}

/// Agent-written source to run as sent, by the host's runner for its language.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `python`, `javascript` or `rhai`.
    pub language: String,
    /// The source text (at most 1 MiB). It defines `main(input)`; what `main` returns is the
    /// run's output.
    pub code: String,
}

/// A run request: a component by digest, or source.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The component's digest (one of `component` and `source`).
    #[serde(default)]
    pub component: Option<String>,
    /// Source to run instead of a component: the report names its digest, every decision
    /// names it, and policies see it as `context.code`.
    #[serde(default)]
    pub source: Option<SourceSpec>,
    /// Input handed to `run` (any JSON).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// Input handed to `run` as this exact text instead of `input` (for guests that take a
    /// plain string, e.g. a path).
    #[serde(default)]
    pub input_text: Option<String>,
    /// The on-behalf-of JWT.
    #[serde(default)]
    pub token: Option<String>,
    /// Why the run reads data.
    pub purpose: String,
    /// The case, ticket or contract.
    pub engagement: String,
    /// Return 202 with a run id at once; poll `GET .../runs/{id}`.
    #[serde(default, rename = "async")]
    pub is_async: bool,
}

/// A run as the API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The run id.
    pub run_id: String,
    /// `running`, or how it ended (`ok`, `denied-and-handled`, `error`, `limit-exceeded`,
    /// `trap`, `cancelled`, `failed`, `at-capacity`; `interrupted` for an async run the
    /// service stopped during).
    pub status: String,
    /// The component's digest.
    pub component: String,
    /// The human the run acted for.
    pub user: Option<String>,
    /// The full report once finished: output, error, limit, decisions, fuel, memory, time,
    /// log range, shadow differences.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// Decisions summary.
    pub summary: Option<DecisionSummary>,
    /// The stored report is gone: the run named a data subject who was erased since (or its
    /// report could not be read back), so only its id and status are kept — no output,
    /// decisions, summary or user. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_erased: bool,
}

/// Counts of a run's decisions.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub struct DecisionSummary {
    /// Allowed calls.
    pub allowed: u64,
    /// Denied calls.
    pub denied: u64,
    /// Decisions the shadow bundle would have made differently.
    pub shadow_differences: u64,
}

/// A new tenant API token (shown once).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The bearer token.
    pub token: String,
    /// Its id, for listing and revoking it.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: String,
}

/// A tenant token as listed: never the token itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    /// The id (`DELETE /v1/admin/tenants/{tenant}/tokens/{id}` revokes it).
    pub id: String,
    /// Unix time it was issued.
    pub created: u64,
}

/// Suspension target.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// A component digest; none: the whole tenant.
    #[serde(default)]
    pub component: Option<String>,
}

/// Which version to make active or shadow (none: clear the shadow).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRequest {
    /// The version.
    pub version: Option<u64>,
}
