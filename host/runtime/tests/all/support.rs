//! A harness: one engine per test binary, a temp root and log per test.

use std::sync::{Arc, OnceLock};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use cordon_audit::{AuditLog, LogOptions};
use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{
    CordonEngine, EngineOptions, Invocation, LoadedComponent, PoolOptions, RunLimits, RunReport,
};

pub fn engine() -> &'static CordonEngine {
    static ENGINE: OnceLock<CordonEngine> = OnceLock::new();
    // Pooled, as `cordon serve` runs them: every test exercises the slots.
    ENGINE.get_or_init(|| {
        CordonEngine::new(EngineOptions {
            cache_dir: None,
            pool: Some(PoolOptions { max_runs: 16 }),
            ..EngineOptions::default()
        })
        .unwrap()
    })
}

pub fn load(bytes: anyhow::Result<Vec<u8>>) -> LoadedComponent {
    engine().load(&bytes.unwrap()).unwrap()
}

/// A temp dir with `root/` (the run's files), `outside/` (must stay unreachable) and the log.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub log: Arc<AuditLog>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "top secret").unwrap();
        let log = Arc::new(
            AuditLog::open(
                &dir.path().join("audit.redb"),
                LogOptions::in_dir(dir.path()),
            )
            .unwrap(),
        );
        Sandbox { dir, log }
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.dir.path().join("root").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("root").join(rel)).ok()
    }

    pub fn run(&self, c: &LoadedComponent, policy: &str, input: &str) -> RunReport {
        self.run_with(c, policy, input, RunLimits::default())
    }

    /// An invocation of this sandbox: its root, its log, `policy` and `input`, default limits.
    /// Tests change what they need with `Invocation { field, ..sb.invocation(p, i) }`.
    pub fn invocation(&self, policy: &str, input: &str) -> Invocation {
        let root =
            Dir::open_ambient_dir(self.dir.path().join("root"), ambient_authority()).unwrap();
        Invocation {
            run_id: "test-run".into(),
            tenant: "acme".into(),
            human: None,
            context: RunContext::new("testing", "t-1"),
            bundle: PolicyBundle::from_sources([("test.cedar", policy)]).unwrap(),
            root: Some(root),
            limits: RunLimits::default(),
            log: self.log.clone(),
            input: input.into(),
            egress: cordon_runtime::EgressPolicy::default(),
            taint: cordon_policy::Taint::default(),
            shadow: None,
            cancel: None,
            records: None,
        }
    }

    pub fn run_with(
        &self,
        c: &LoadedComponent,
        policy: &str,
        input: &str,
        limits: RunLimits,
    ) -> RunReport {
        let inv = Invocation {
            limits,
            ..self.invocation(policy, input)
        };
        engine().run(c, inv).unwrap()
    }
}

pub const ALLOW_ALL: &str = r#"@id("allow-all") permit(principal, action, resource);"#;
pub const ALLOW_DATA_READS: &str = r#"@id("read-data") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/data");"#;
