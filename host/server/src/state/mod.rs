//! The app's shared state and the operations behind the routes. Nothing here touches wasmtime
//! types: components are loaded and run through cordon-runtime's API.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, LogOptions};
use cordon_policy::PolicyBundle;
use cordon_runtime::{
    CordonEngine, EgressPolicy, EngineOptions, Language, LoadedComponent, PoolOptions,
};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::identity::TokenRules;
use crate::metrics::Metrics;
use crate::run_store::{self, RunFiles, RunRetention};
use crate::store::{self, Store, StoreError};

mod bundles;
mod components;
mod identity_keys;
mod runners;
mod runs;
mod tenants;
mod tokens;

use runs::Runs;
pub(crate) use tokens::Caller;

/// The admin token's file inside the data directory (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The data directory: `server.redb`, `audit.redb`, keys, the compile cache.
    pub data_dir: PathBuf,
    /// The operator's bearer token.
    pub admin_token: String,
    /// Largest request body of a component upload, bytes (the HTTP layer's limit; each
    /// tenant's `max_component_bytes` applies below it).
    pub max_upload_bytes: usize,
    /// Largest request body of every other route, bytes.
    pub max_body_bytes: usize,
    /// A request taking longer is answered 408 (runs are also bounded by their own limit).
    pub request_timeout: Duration,
    /// Authenticated requests in flight at once; more are shed with 503.
    pub max_in_flight: usize,
    /// Requests in flight at once that carry no valid token (they are answered 401, or on
    /// `/openapi.json` served, without reading a body); more are shed with 503. Smaller than
    /// `max_in_flight` so anonymous traffic cannot take the tenants' share. `/healthz` counts
    /// against neither.
    pub max_anonymous_in_flight: usize,
    /// Open connections at once. At the cap a new connection evicts the one idle longest (no
    /// request being served on it); when all are serving, it is closed at once.
    pub max_connections: usize,
    /// Open connections at once from one IP address; one more is closed on accept.
    pub max_connections_per_address: usize,
    /// How long a connection may take to send a request's headers, and how long a kept-alive
    /// connection may stay idle between requests (hyper times both from the moment it waits
    /// for a request head): then it is closed.
    pub header_read_timeout: Duration,
    /// How long a request body may go without sending a byte; then it fails with 408.
    pub body_read_timeout: Duration,
    /// The region this host runs in, seen by record policies as `context.host_region` (e.g.
    /// `eu-west` for residency rules).
    pub region: String,
    /// Runs at once across all tenants: the engine preallocates this many instance slots
    /// (wasmtime's pooling allocator); a run beyond them is refused with 503 `at-capacity`.
    pub max_runs: u32,
    /// How many finished runs each tenant keeps, for how long, and where their reports go.
    pub run_retention: RunRetention,
    /// What on-behalf-of tokens' times must satisfy: clock skew and maximum lifetime.
    pub token_rules: TokenRules,
    /// Serve `/metrics` without the operator's token (for a scraper on a trusted network).
    /// Off by default: the counters tell tenants' activity.
    pub public_metrics: bool,
    /// Where and how much every run's http calls may reach: special-purpose ranges the
    /// operator allows, trusted CAs, body and time limits. The default allows no
    /// special-purpose range.
    pub egress: EgressPolicy,
    /// The folder of runner components for source runs (`python.wasm`, `javascript.wasm`),
    /// read when the server opens and compiled in the background (the server listens at
    /// once); `None` (or a runner missing): source runs in that language are refused with 501
    /// `no-runner`.
    pub runners: Option<PathBuf>,
}

impl ServerConfig {
    /// Defaults for `data_dir` with `admin_token`.
    pub fn new(data_dir: impl Into<PathBuf>, admin_token: impl Into<String>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            admin_token: admin_token.into(),
            max_upload_bytes: 64 << 20,
            max_body_bytes: 2 << 20,
            request_timeout: Duration::from_secs(120),
            max_in_flight: 1024,
            max_anonymous_in_flight: 64,
            max_connections: 4096,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            region: "local".into(),
            max_runs: 64,
            egress: EgressPolicy::default(),
            run_retention: RunRetention::default(),
            token_rules: TokenRules::default(),
            public_metrics: false,
            runners: None,
        }
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create the data directory `{0}`")]
    DataDir(PathBuf, #[source] std::io::Error),
    /// The state store could not be opened.
    #[error("cannot open the state store")]
    Store(#[from] StoreError),
    /// The decision log could not be opened.
    #[error("cannot open the decision log")]
    Log(#[from] cordon_audit::OpenError),
    /// The keys of stored runs could not be read.
    #[error("cannot read the keys of stored runs")]
    RunKeys(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The engine could not be built.
    #[error("cannot build the engine")]
    Engine(#[from] cordon_runtime::EngineError),
    /// The admin token is empty.
    #[error("the admin token is empty")]
    EmptyAdminToken,
    /// A runner component could not be read or compiled.
    #[error("cannot load the runner `{0}`")]
    Runner(PathBuf, #[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Read the admin token from `file`, or from `<data>/admin.token`, generating it (mode 0600)
/// when absent.
pub fn load_or_create_admin_token(data: &Path, file: Option<&Path>) -> std::io::Result<String> {
    if let Some(f) = file {
        return Ok(std::fs::read_to_string(f)?.trim().to_owned());
    }
    let path = data.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => return Ok(t.trim().to_owned()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    std::fs::create_dir_all(data)?;
    let token = random_token("cda_")?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path)?;
    std::io::Write::write_all(&mut f, format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// Set `path`'s mode (owner only).
fn private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

pub(crate) fn random_token(prefix: &str) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}{hex}"))
}

pub(crate) fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The app's state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) admin_hash: String,
    pub(crate) store: Store,
    pub(crate) engine: CordonEngine,
    pub(crate) log: Mutex<Option<Arc<AuditLog>>>,
    pub(crate) metrics: Metrics,
    pub(crate) runs: Mutex<Runs>,
    /// Large run reports, on disk.
    pub(crate) run_files: RunFiles,
    /// The keys stored runs are sealed under, per tenant (`<data>/run-keys.json`).
    pub(crate) run_keys: crate::run_seal::RunKeys,
    /// Finished runs waiting for the commit that records them (shared by concurrent finishes).
    pub(crate) finishing: run_store::Finishing,
    pub(crate) running: watch::Sender<usize>,
    /// Parsed bundle versions by `<tenant>/<version>`.
    pub(crate) bundles: Mutex<HashMap<String, PolicyBundle>>,
    /// Compiled components by digest (content-addressed, so shared by tenants holding the same
    /// bytes; each run first checks the tenant holds the digest).
    pub(crate) loaded: Mutex<HashMap<String, LoadedComponent>>,
    /// The runner component of each language source runs are offered in.
    pub(crate) runners: HashMap<Language, runners::RunnerFile>,
    /// Serialises read-modify-write of tenant records.
    pub(crate) tenant_lock: Mutex<()>,
    /// Each tenant's records store, opened on first use.
    pub(crate) records: crate::records::TenantStores,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Tenant ids: `[a-z0-9-]`, 1 to 64 characters.
pub(crate) fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn valid_digest(d: &str) -> bool {
    d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a caller presented.
impl AppState {
    /// Open the state in `config.data_dir`: `server.redb`, the decision log `audit.redb`, and
    /// an engine with its compile cache.
    pub fn open(config: ServerConfig) -> Result<AppState, StartError> {
        if config.admin_token.trim().is_empty() {
            return Err(StartError::EmptyAdminToken);
        }
        let data = config.data_dir.clone();
        std::fs::create_dir_all(&data).map_err(|e| StartError::DataDir(data.clone(), e))?;
        // Only the server's user may enter the data directory (tokens' hashes, components,
        // records, the log's signing key, the compile cache).
        private(&data, 0o700).map_err(|e| StartError::DataDir(data.clone(), e))?;
        let store = Store::open(&data.join(store::STATE_FILE))?;
        let run_keys =
            crate::run_seal::RunKeys::open(&data).map_err(|e| StartError::RunKeys(Box::new(e)))?;
        let log = AuditLog::open(
            &data.join(cordon_audit::LOG_FILE),
            LogOptions::in_dir(&data),
        )?;
        for file in [store::STATE_FILE, cordon_audit::LOG_FILE] {
            let path = data.join(file);
            private(&path, 0o600).map_err(|e| StartError::DataDir(path, e))?;
        }
        let engine = CordonEngine::new(EngineOptions {
            cache_dir: Some(data.join("cache")),
            pool: Some(PoolOptions {
                max_runs: config.max_runs,
            }),
            ..EngineOptions::default()
        })?;
        let runners = runners::read(config.runners.as_deref())?;
        let (running, _) = watch::channel(0);
        let state = AppState {
            inner: Arc::new(Inner {
                admin_hash: token_hash(config.admin_token.trim()),
                config,
                store,
                engine,
                log: Mutex::new(Some(Arc::new(log))),
                metrics: Metrics::new(),
                runs: Mutex::default(),
                run_files: RunFiles::new(run_store::dir(&data)),
                run_keys,
                finishing: run_store::Finishing::default(),
                running,
                bundles: Mutex::default(),
                loaded: Mutex::default(),
                runners,
                tenant_lock: Mutex::default(),
                records: crate::records::TenantStores::new(data.join("records")),
            }),
        };
        state.warm_runners();
        Ok(state)
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub(crate) fn log(&self) -> Result<Arc<AuditLog>, ApiError> {
        lock(&self.inner.log).clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "the server is shutting down",
            )
        })
    }

    /// Whether the engine and the log are up.
    pub fn is_healthy(&self) -> bool {
        self.inner.engine.is_healthy() && lock(&self.inner.log).is_some()
    }

    /// Runs in progress.
    pub fn running_runs(&self) -> usize {
        *self.inner.running.borrow()
    }

    /// Graceful stop: let runs finish for `grace`, cancel the rest, wait for them, then close
    /// the decision log (flushing it). New runs are refused from the start.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), cordon_audit::CloseError> {
        let log = lock(&self.inner.log).take();
        let mut rx = self.inner.running.subscribe();
        let drained = tokio::time::timeout(grace, rx.wait_for(|n| *n == 0))
            .await
            .is_ok();
        if !drained {
            self.cancel_running(|_, _| true);
            let _ = rx.wait_for(|n| *n == 0).await;
        }
        if let Some(log) = log {
            // Runs hold clones until their reports are built; they are done now.
            match Arc::try_unwrap(log) {
                Ok(log) => log.close()?,
                Err(log) => {
                    if let Some(seq) = log.head().map(|r| r.seq) {
                        let _ = log.sync(seq);
                    }
                }
            }
        }
        Ok(())
    }

    /// Append an operator action to the decision log and make it durable.
    pub(crate) fn log_operator(
        &self,
        tenant: &str,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        let log = self.log()?;
        let component = if valid_digest(target) { target } else { "" };
        let r = log
            .append(&Entry {
                tenant: tenant.to_owned(),
                run_id: format!("operator-{}", uuid::Uuid::new_v4()),
                component_digest: component.to_owned(),
                policy_digest: String::new(),
                agent: "operator".into(),
                user: None,
                purpose: "operations".into(),
                engagement: String::new(),
                action: action.to_owned(),
                resource: format!("{tenant}/{target}"),
                decision: Decision::Allow,
                policy_ids: Vec::new(),
                records: None,
                taint: None,
                roles: Vec::new(),
                code: None,
            })
            .map_err(|e| ApiError::internal(&e))?;
        log.sync(r.seq).map_err(|e| ApiError::internal(&e))?;
        tracing::info!(target: "cordon.server", tenant, action, target, seq = r.seq, "operator action");
        Ok(())
    }
}
