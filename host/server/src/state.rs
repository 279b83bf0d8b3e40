//! The app's shared state and the operations behind the routes. Nothing here touches wasmtime
//! types: components are loaded and run through cordon-runtime's API.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, LogOptions};
use cordon_policy::{Human, PolicyBundle, RunContext, Taint};
use cordon_runtime::{
    CancelToken, CordonEngine, EgressPolicy, EngineOptions, Invocation, LoadedComponent,
    PoolOptions, RunReport,
};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::identity::IdentityKey;
use crate::metrics::{DecisionLabel, Metrics, StatusLabel};
use crate::model::{
    BundleVersion, ComponentInfo, DecisionSummary, RunRequest, RunView, Tenant, TenantSpec,
};
use crate::run_store;
use crate::store::{self, Store, StoreError, Write, key};

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
    /// Requests in flight at once; more are shed with 503.
    pub max_in_flight: usize,
    /// The region this host runs in, seen by record policies as `context.host_region` (e.g.
    /// `eu-west` for residency rules).
    pub region: String,
    /// Runs at once across all tenants: the engine preallocates this many instance slots
    /// (wasmtime's pooling allocator); a run beyond them is refused with 503 `at-capacity`.
    pub max_runs: u32,
    /// Where and how much every run's http calls may reach: special-purpose ranges the
    /// operator allows, trusted CAs, body and time limits. The default allows no
    /// special-purpose range.
    pub egress: EgressPolicy,
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
            region: "local".into(),
            max_runs: 64,
            egress: EgressPolicy::default(),
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
    /// The engine could not be built.
    #[error("cannot build the engine")]
    Engine(#[from] cordon_runtime::EngineError),
    /// The admin token is empty.
    #[error("the admin token is empty")]
    EmptyAdminToken,
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
    admin_hash: String,
    pub(crate) store: Store,
    engine: CordonEngine,
    log: Mutex<Option<Arc<AuditLog>>>,
    pub(crate) metrics: Metrics,
    runs: Mutex<Runs>,
    running: watch::Sender<usize>,
    /// Parsed bundle versions by `<tenant>/<version>`.
    bundles: Mutex<HashMap<String, PolicyBundle>>,
    /// Compiled components by digest (content-addressed, so shared by tenants holding the same
    /// bytes; each run first checks the tenant holds the digest).
    loaded: Mutex<HashMap<String, LoadedComponent>>,
    /// Serialises read-modify-write of tenant records.
    tenant_lock: Mutex<()>,
    /// Each tenant's records store, opened on first use.
    pub(crate) records: crate::records::TenantStores,
}

#[derive(Default)]
struct Runs {
    slots: HashMap<String, RunSlot>,
    finished: VecDeque<String>,
    running: HashMap<String, u64>,
}

struct RunSlot {
    tenant: String,
    component: String,
    user: Option<String>,
    cancel: CancelToken,
    view: Option<RunView>,
    /// An async run: its view is also stored, to be polled after a restart.
    kept: bool,
}

/// How many finished runs are kept for polling.
const KEEP_FINISHED: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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

fn valid_digest(d: &str) -> bool {
    d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a caller presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Admin,
    Tenant(String),
}

impl AppState {
    /// Open the state in `config.data_dir`: `server.redb`, the decision log `audit.redb`, and
    /// an engine with its compile cache.
    pub fn open(config: ServerConfig) -> Result<AppState, StartError> {
        if config.admin_token.trim().is_empty() {
            return Err(StartError::EmptyAdminToken);
        }
        let data = config.data_dir.clone();
        std::fs::create_dir_all(&data).map_err(|e| StartError::DataDir(data.clone(), e))?;
        let store = Store::open(&data.join(store::STATE_FILE))?;
        let log = AuditLog::open(
            &data.join(cordon_audit::LOG_FILE),
            LogOptions::in_dir(&data),
        )?;
        let engine = CordonEngine::new(EngineOptions {
            cache_dir: Some(data.join("cache")),
            pool: Some(PoolOptions {
                max_runs: config.max_runs,
            }),
            ..EngineOptions::default()
        })?;
        let (running, _) = watch::channel(0);
        Ok(AppState {
            inner: Arc::new(Inner {
                admin_hash: token_hash(config.admin_token.trim()),
                config,
                store,
                engine,
                log: Mutex::new(Some(Arc::new(log))),
                metrics: Metrics::new(),
                runs: Mutex::default(),
                running,
                bundles: Mutex::default(),
                loaded: Mutex::default(),
                tenant_lock: Mutex::default(),
                records: crate::records::TenantStores::new(data.join("records")),
            }),
        })
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
            for slot in lock(&self.inner.runs).slots.values() {
                if slot.view.is_none() {
                    slot.cancel.cancel();
                }
            }
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

    // ---- auth ----

    pub(crate) fn caller(&self, bearer: Option<&str>) -> Result<Caller, ApiError> {
        let token = bearer.ok_or_else(ApiError::unauthorized)?;
        let hash = token_hash(token);
        if hash == self.inner.admin_hash {
            return Ok(Caller::Admin);
        }
        #[derive(serde::Deserialize)]
        struct Stored {
            tenant: String,
        }
        match self.inner.store.get::<Stored>(store::TOKENS, &hash)? {
            Some(s) => Ok(Caller::Tenant(s.tenant)),
            None => Err(ApiError::unauthorized()),
        }
    }

    // ---- tenants ----

    pub(crate) fn tenant(&self, id: &str) -> Result<Tenant, ApiError> {
        self.inner
            .store
            .get::<Tenant>(store::TENANTS, id)?
            .ok_or_else(|| ApiError::not_found("tenant"))
    }

    pub(crate) fn update_tenant<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Tenant) -> Result<R, ApiError>,
    ) -> Result<(Tenant, R), ApiError> {
        let _g = lock(&self.inner.tenant_lock);
        let mut t = self.tenant(id)?;
        let r = f(&mut t)?;
        self.inner.store.put(store::TENANTS, id, &t)?;
        Ok((t, r))
    }

    pub(crate) fn put_tenant(
        &self,
        id: &str,
        spec: TenantSpec,
    ) -> Result<(Tenant, bool), ApiError> {
        if !valid_tenant_id(id) {
            return Err(ApiError::bad_request(
                "invalid-tenant",
                format!("tenant id `{id}` must be 1 to 64 of a-z, 0-9 and -"),
            ));
        }
        if let Some(l) = &spec.limits {
            l.validate()
                .map_err(|m| ApiError::bad_request("invalid-limits", m))?;
        }
        if let Some(root) = &spec.root
            && !Path::new(root).is_dir()
        {
            return Err(ApiError::bad_request(
                "invalid-root",
                format!("root `{root}` is not a directory on the server"),
            ));
        }
        let _g = lock(&self.inner.tenant_lock);
        let existing = self.inner.store.get::<Tenant>(store::TENANTS, id)?;
        let created = existing.is_none();
        let mut t = existing.unwrap_or_else(|| Tenant {
            id: id.to_owned(),
            limits: Default::default(),
            allow_unattended: false,
            root: None,
            suspended: false,
            suspended_components: Vec::new(),
            active_bundle: None,
            shadow_bundle: None,
            bundle_versions: 0,
            previous_bundles: Vec::new(),
        });
        if let Some(l) = spec.limits {
            t.limits = l;
        }
        if let Some(u) = spec.allow_unattended {
            t.allow_unattended = u;
        }
        if spec.root.is_some() {
            t.root = spec.root;
        }
        self.inner.store.put(store::TENANTS, id, &t)?;
        Ok((t, created))
    }

    pub(crate) fn issue_token(&self, tenant: &str) -> Result<String, ApiError> {
        self.tenant(tenant)?;
        let token = random_token("cdt_").map_err(|e| ApiError::internal(&e))?;
        self.inner.store.put(
            store::TOKENS,
            &token_hash(&token),
            &serde_json::json!({ "tenant": tenant, "created": now() }),
        )?;
        Ok(token)
    }

    // ---- bundles ----

    pub(crate) fn upload_bundle(
        &self,
        tenant: &str,
        files: Vec<(String, String)>,
        activate: bool,
    ) -> Result<BundleVersion, ApiError> {
        self.tenant(tenant)?;
        if files.is_empty() {
            return Err(ApiError::bad_request(
                "invalid-bundle",
                "the bundle has no files",
            ));
        }
        let bundle = PolicyBundle::from_sources(files.clone())
            .map_err(|e| ApiError::bad_request("invalid-bundle", e.to_string()))?;
        let (_, v) = self.update_tenant(tenant, |t| {
            t.bundle_versions += 1;
            let v = BundleVersion {
                version: t.bundle_versions,
                digest: bundle.digest().to_owned(),
                policy_ids: bundle.policy_ids().to_vec(),
                uploaded_at: now(),
                sources: files,
            };
            self.inner.store.put(
                store::BUNDLES,
                &key(tenant, &format!("{:020}", v.version)),
                &v,
            )?;
            if activate {
                if let Some(prev) = t.active_bundle {
                    t.previous_bundles.push(prev);
                }
                t.active_bundle = Some(v.version);
            }
            Ok(v)
        })?;
        lock(&self.inner.bundles).insert(key(tenant, &format!("{:020}", v.version)), bundle);
        if activate {
            self.log_operator(
                tenant,
                "admin:activate-bundle",
                &format!("version {}", v.version),
            )?;
        }
        Ok(v)
    }

    pub(crate) fn bundle_versions(&self, tenant: &str) -> Result<Vec<BundleVersion>, ApiError> {
        self.tenant(tenant)?;
        Ok(self
            .inner
            .store
            .list::<BundleVersion>(store::BUNDLES, &key(tenant, ""))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    fn bundle_version(&self, tenant: &str, version: u64) -> Result<BundleVersion, ApiError> {
        self.inner
            .store
            .get::<BundleVersion>(store::BUNDLES, &key(tenant, &format!("{version:020}")))?
            .ok_or_else(|| ApiError::not_found("bundle version"))
    }

    /// A version, parsed once per process (versions never change once stored).
    fn bundle(&self, tenant: &str, version: u64) -> Result<PolicyBundle, ApiError> {
        let k = key(tenant, &format!("{version:020}"));
        if let Some(b) = lock(&self.inner.bundles).get(&k) {
            return Ok(b.clone());
        }
        let v = self.bundle_version(tenant, version)?;
        let b = PolicyBundle::from_sources(v.sources).map_err(|e| ApiError::internal(&e))?;
        lock(&self.inner.bundles).insert(k, b.clone());
        Ok(b)
    }

    pub(crate) fn activate(&self, tenant: &str, version: u64) -> Result<Tenant, ApiError> {
        self.bundle_version(tenant, version)?;
        let (t, _) = self.update_tenant(tenant, |t| {
            if t.active_bundle != Some(version) {
                if let Some(prev) = t.active_bundle {
                    t.previous_bundles.push(prev);
                }
                t.active_bundle = Some(version);
            }
            Ok(())
        })?;
        self.log_operator(
            tenant,
            "admin:activate-bundle",
            &format!("version {version}"),
        )?;
        Ok(t)
    }

    pub(crate) fn rollback(&self, tenant: &str) -> Result<Tenant, ApiError> {
        let (t, v) = self.update_tenant(tenant, |t| {
            let prev = t.previous_bundles.pop().ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "no-previous-bundle",
                    "no earlier active version to roll back to",
                )
            })?;
            t.active_bundle = Some(prev);
            Ok(prev)
        })?;
        self.log_operator(tenant, "admin:rollback-bundle", &format!("version {v}"))?;
        Ok(t)
    }

    pub(crate) fn set_shadow(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> Result<Tenant, ApiError> {
        if let Some(v) = version {
            self.bundle_version(tenant, v)?;
        }
        let (t, _) = self.update_tenant(tenant, |t| {
            t.shadow_bundle = version;
            Ok(())
        })?;
        Ok(t)
    }

    pub(crate) fn shadow_differences(
        &self,
        tenant: &str,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        self.tenant(tenant)?;
        Ok(self
            .inner
            .store
            .list::<serde_json::Value>(store::SHADOW, &key(tenant, ""))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    // ---- identity ----

    pub(crate) fn add_identity_key(
        &self,
        tenant: &str,
        k: IdentityKey,
    ) -> Result<String, ApiError> {
        self.tenant(tenant)?;
        k.validate()
            .map_err(|e| ApiError::bad_request("invalid-key", e.to_string()))?;
        let id = uuid::Uuid::new_v4().to_string();
        self.inner.store.put(store::KEYS, &key(tenant, &id), &k)?;
        Ok(id)
    }

    pub(crate) fn identity_keys(
        &self,
        tenant: &str,
    ) -> Result<Vec<(String, IdentityKey)>, ApiError> {
        let prefix = key(tenant, "");
        Ok(self
            .inner
            .store
            .list::<IdentityKey>(store::KEYS, &prefix)?
            .into_iter()
            .map(|(k, v)| (k[prefix.len()..].to_owned(), v))
            .collect())
    }

    // ---- components ----

    pub(crate) async fn upload_component(
        &self,
        tenant: &str,
        bytes: Vec<u8>,
    ) -> Result<(ComponentInfo, bool), ApiError> {
        let t = self.tenant(tenant)?;
        if bytes.len() as u64 > t.limits.max_component_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "component-too-large",
                format!(
                    "the component is {} bytes; this tenant accepts at most {}",
                    bytes.len(),
                    t.limits.max_component_bytes
                ),
            ));
        }
        let digest = cordon_runtime::digest(&bytes);
        let k = key(tenant, &digest);
        if let Some(info) = self
            .inner
            .store
            .get::<ComponentInfo>(store::COMPONENTS, &k)?
        {
            return Ok((info, false));
        }
        let state = self.clone();
        let (bytes, loaded) = tokio::task::spawn_blocking(move || {
            let r = state.inner.engine.load(&bytes);
            (bytes, r)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        if let Err(e) = loaded {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-component",
                e.to_string(),
            ));
        }
        let info = ComponentInfo {
            digest: digest.clone(),
            size: bytes.len() as u64,
            uploaded_at: now(),
        };
        self.inner.store.put_all(vec![
            Write::json(store::COMPONENTS, &k, &info)?,
            Write::bytes(store::COMPONENT_BYTES, &k, bytes),
        ])?;
        Ok((info, true))
    }

    pub(crate) fn components(&self, tenant: &str) -> Result<Vec<ComponentInfo>, ApiError> {
        Ok(self
            .inner
            .store
            .list::<ComponentInfo>(store::COMPONENTS, &key(tenant, ""))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    pub(crate) fn component(&self, tenant: &str, digest: &str) -> Result<ComponentInfo, ApiError> {
        if !valid_digest(digest) {
            return Err(ApiError::not_found("component"));
        }
        self.inner
            .store
            .get::<ComponentInfo>(store::COMPONENTS, &key(tenant, digest))?
            .ok_or_else(|| ApiError::not_found("component"))
    }

    pub(crate) fn delete_component(&self, tenant: &str, digest: &str) -> Result<(), ApiError> {
        self.component(tenant, digest)?;
        let k = key(tenant, digest);
        self.inner.store.put_all(vec![
            Write::remove(store::COMPONENTS, &k),
            Write::remove(store::COMPONENT_BYTES, &k),
        ])?;
        Ok(())
    }

    /// The bytes of one of the tenant's components, as uploaded.
    pub(crate) fn component_bytes(&self, tenant: &str, digest: &str) -> Result<Vec<u8>, ApiError> {
        if !valid_digest(digest) {
            return Err(ApiError::not_found("component"));
        }
        self.inner
            .store
            .get_bytes(store::COMPONENT_BYTES, &key(tenant, digest))?
            .ok_or_else(|| ApiError::not_found("component"))
    }

    async fn loaded(&self, tenant: &str, digest: &str) -> Result<LoadedComponent, ApiError> {
        if let Some(c) = lock(&self.inner.loaded).get(digest) {
            return Ok(c.clone());
        }
        let bytes = self.component_bytes(tenant, digest)?;
        let state = self.clone();
        let c = tokio::task::spawn_blocking(move || state.inner.engine.load(&bytes))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))?;
        lock(&self.inner.loaded).insert(digest.to_owned(), c.clone());
        Ok(c)
    }

    // ---- suspension and the operator's log entries ----

    pub(crate) fn suspend(
        &self,
        tenant: &str,
        component: Option<&str>,
        suspend: bool,
    ) -> Result<Tenant, ApiError> {
        if let Some(d) = component {
            self.component(tenant, d)?;
        }
        let (t, _) = self.update_tenant(tenant, |t| {
            match component {
                None => t.suspended = suspend,
                Some(d) => {
                    t.suspended_components.retain(|c| c != d);
                    if suspend {
                        t.suspended_components.push(d.to_owned());
                    }
                }
            }
            Ok(())
        })?;
        let (action, target) = match (suspend, component) {
            (true, _) => ("admin:suspend", component.unwrap_or("tenant")),
            (false, _) => ("admin:resume", component.unwrap_or("tenant")),
        };
        self.log_operator(tenant, action, target)?;
        if suspend {
            for slot in lock(&self.inner.runs).slots.values() {
                if slot.tenant == tenant
                    && slot.view.is_none()
                    && component.is_none_or(|d| d == slot.component)
                {
                    slot.cancel.cancel();
                }
            }
        }
        Ok(t)
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
            .append(Entry {
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
            })
            .map_err(|e| ApiError::internal(&e))?;
        log.sync(r.seq).map_err(|e| ApiError::internal(&e))?;
        tracing::info!(target: "cordon.server", tenant, action, target, seq = r.seq, "operator action");
        Ok(())
    }

    // ---- runs ----

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
        self.component(tenant_id, &req.component)?;
        if tenant.suspended_components.contains(&req.component) {
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
                match crate::identity::verify(&keys, token, &req.purpose, &req.engagement) {
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
        let component = self.loaded(tenant_id, &req.component).await?;
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
                    component: req.component.clone(),
                    user: human.as_ref().map(|h| h.id.clone()),
                    cancel: cancel.clone(),
                    view: None,
                    kept: req.is_async,
                },
            );
        }
        if req.is_async {
            let running = RunView {
                run_id: run_id.clone(),
                status: "running".into(),
                component: req.component.clone(),
                user: human.as_ref().map(|h| h.id.clone()),
                report: None,
                summary: None,
            };
            if let Err(e) = run_store::save(&self.inner.store, tenant_id, &running) {
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
            && (t.suspended || t.suspended_components.contains(&req.component))
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
            let result = state.inner.engine.run(&component, inv);
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
                        if let Err(e) = self.inner.store.put(
                            store::SHADOW,
                            &key(&t, &format!("{:020}-{run_id}", now())),
                            &record,
                        ) {
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
        };
        let (tenant, kept) = match lock(&self.inner.runs).slots.get(run_id) {
            Some(slot) => {
                view.component = slot.component.clone();
                view.user = slot.user.clone();
                (Some(slot.tenant.clone()), slot.kept)
            }
            None => (None, false),
        };
        // Stored before it is shown, so a poller never sees a result a restart would lose.
        if let Some(t) = tenant.as_deref().filter(|_| kept)
            && let Err(e) = run_store::save(&self.inner.store, t, &view)
        {
            // Still pollable from memory until this process stops.
            tracing::error!(target: "cordon.server", run = run_id, error = %e, "cannot store the run's result");
        }
        let mut runs = lock(&self.inner.runs);
        if let Some(slot) = runs.slots.get_mut(run_id) {
            slot.view = Some(view.clone());
        }
        if let Some(t) = &tenant
            && let Some(n) = runs.running.get_mut(t)
        {
            *n = n.saturating_sub(1);
        }
        runs.finished.push_back(run_id.to_owned());
        while runs.finished.len() > KEEP_FINISHED {
            if let Some(old) = runs.finished.pop_front() {
                runs.slots.remove(&old);
            }
        }
        drop(runs);
        self.inner.running.send_modify(|n| *n = n.saturating_sub(1));
        view
    }

    /// A run of this process, or an async run stored by an earlier one.
    pub(crate) fn run_view(&self, tenant: &str, run_id: &str) -> Result<RunView, ApiError> {
        let runs = lock(&self.inner.runs);
        let Some(slot) = runs.slots.get(run_id).filter(|s| s.tenant == tenant) else {
            drop(runs);
            return run_store::load(&self.inner.store, tenant, run_id)?
                .ok_or_else(|| ApiError::not_found("run"));
        };
        Ok(slot.view.clone().unwrap_or_else(|| RunView {
            run_id: run_id.to_owned(),
            status: "running".into(),
            component: slot.component.clone(),
            user: slot.user.clone(),
            report: None,
            summary: None,
        }))
    }

    pub(crate) fn cancel_run(&self, tenant: &str, run_id: &str) -> Result<RunView, ApiError> {
        let component = {
            let runs = lock(&self.inner.runs);
            let Some(slot) = runs.slots.get(run_id).filter(|s| s.tenant == tenant) else {
                drop(runs);
                // Not running in this process: as an earlier one left it, or 404.
                return self.run_view(tenant, run_id);
            };
            slot.cancel.cancel();
            slot.component.clone()
        };
        self.log_operator(tenant, "admin:cancel-run", &format!("{component}/{run_id}"))?;
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
