//! The engine: one wasmtime `Engine` and `Linker` for every run, a compiled-component cache,
//! and a single epoch-ticker thread that drives every run's wall-clock deadline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::artifacts::Artifacts;

use crate::bindings::cordon::agent::{fs, http, records, types};
use crate::component::{CompileSlot, Compiler, LoadError, LoadedComponent};
use crate::function_cache::FunctionCache;
use crate::host::fs::HasFs;
use crate::host::http::HasHttp;
use crate::host::poll::HasPoll;
use crate::host::records::HasRecords;
use crate::state::RunState;

/// How often the epoch advances; deadlines are accurate to about this much.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How to build an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where compiled code is cached across processes: whole components in `artifacts/`
    /// (keyed by the component's digest, one file per wasmtime version; see
    /// `artifact_cache_bytes`), and single functions in `functions.redb` (see
    /// `function_cache_bytes`). `None`: compile in every process.
    pub cache_dir: Option<PathBuf>,
    /// Preallocate instance slots for this many concurrent runs (wasmtime's pooling
    /// allocator): a run then takes a slot whose memories and tables were reserved up front
    /// and are reset, not unmapped, when it ends. A run that finds every slot taken is refused
    /// with [`RunError::AtCapacity`](crate::RunError::AtCapacity). `None`: allocate each
    /// run's instance on demand.
    pub pool: Option<PoolOptions>,
    /// Largest component [`CordonEngine::load`] accepts, in bytes; a larger one is refused
    /// with [`LoadError::TooLarge`] before anything is parsed. Default 256 MiB.
    pub max_component_bytes: usize,
    /// Longest [`CordonEngine::load`] waits for a component to compile; a component that
    /// takes longer is refused with [`LoadError::CompileTimeout`]. Default 120 s (an 18 MB
    /// interpreter component compiles in well under a minute).
    ///
    /// Compilation runs on a thread of its own, and cranelift cannot be interrupted: a
    /// compilation that runs past the limit is no longer waited for, but its thread runs on
    /// to the end (using CPU, and memory bounded by the component's size) and its result is
    /// dropped. Compilation happens at load, never inside a run, so it does not count
    /// against any run's deadline.
    pub compile_timeout: Duration,
    /// Most bytes of machine code the function cache in `cache_dir` keeps (wasmtime's
    /// incremental compilation cache: single functions keyed by their code, so a new component
    /// built around an interpreter compiled before compiles only what is new). When a
    /// compilation would grow it past this, it is emptied and refilled. Default 1 GiB (a
    /// componentize-py interpreter takes about 40 MiB).
    pub function_cache_bytes: u64,
    /// Most bytes of compiled components the whole-component cache in `cache_dir` keeps;
    /// past it the oldest are removed. Default 2 GiB (a runner takes about 100 MiB).
    pub artifact_cache_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            cache_dir: None,
            pool: None,
            max_component_bytes: 256 << 20,
            compile_timeout: Duration::from_secs(120),
            function_cache_bytes: 1 << 30,
            artifact_cache_bytes: 2 << 30,
        }
    }
}

/// The pooling allocator's size. Each slot reserves address space (about 6 GiB per linear
/// memory, most of it never touched), not memory: a run's memory is still bounded by its
/// [`RunLimits`](crate::RunLimits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most runs at the same time.
    pub max_runs: u32,
}

impl PoolOptions {
    /// Core module instances, linear memories and tables one run's component may hold.
    /// Rust, Python and JS guests built by `scripts/build-guests.sh` need well under these.
    const CORE_INSTANCES_PER_RUN: u32 = 32;
    const MEMORIES_PER_RUN: u32 = 8;
    const TABLES_PER_RUN: u32 = 16;
    /// Elements of one table; interpreters (CPython, SpiderMonkey) have large function tables.
    const TABLE_ELEMENTS: usize = 100_000;

    fn config(self) -> PoolingAllocationConfig {
        let runs = self.max_runs.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(runs)
            .total_core_instances(runs.saturating_mul(Self::CORE_INSTANCES_PER_RUN))
            .total_memories(runs.saturating_mul(Self::MEMORIES_PER_RUN))
            .total_tables(runs.saturating_mul(Self::TABLES_PER_RUN))
            .max_core_instances_per_component(Self::CORE_INSTANCES_PER_RUN)
            .max_memories_per_component(Self::MEMORIES_PER_RUN)
            .max_tables_per_component(Self::TABLES_PER_RUN)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .table_elements(Self::TABLE_ELEMENTS);
        pool
    }
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration.
    #[error("cannot configure wasmtime: {0}")]
    Config(String),
    /// The compiled-component cache could not be set up.
    #[error("cannot use the compile cache at `{path}`: {message}")]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The host interfaces could not be linked (a bug).
    #[error("cannot link host interfaces: {0}")]
    Link(String),
}

/// Runs components. Build one per process and share it: compiling and linking happen once.
pub struct CordonEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<RunState>,
    loaded: Mutex<HashMap<String, LoadedComponent>>,
    ticker: Ticker,
    max_component_bytes: usize,
    compile_timeout: Duration,
    caches: Caches,
    compile_slot: Arc<CompileSlot>,
}

/// The on-disk caches of an engine with a cache directory, kept to read their counters.
#[derive(Default)]
pub(crate) struct Caches {
    /// Compiled whole components, by digest.
    pub(crate) components: Option<Artifacts>,
    /// The incremental (function) cache.
    pub(crate) functions: Option<Arc<FunctionCache>>,
}

impl std::fmt::Debug for CordonEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CordonEngine").finish_non_exhaustive()
    }
}

impl CordonEngine {
    /// A new engine with fuel metering, epoch deadlines and the cordon world linked.
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        if let Some(pool) = options.pool {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool.config()));
        }
        let mut caches = Caches::default();
        if let Some(dir) = &options.cache_dir {
            let cache_err = |message: String| EngineError::Cache {
                path: dir.clone(),
                message,
            };
            std::fs::create_dir_all(dir).map_err(|e| cache_err(e.to_string()))?;
            let absolute = std::fs::canonicalize(dir).map_err(|e| cache_err(e.to_string()))?;
            let functions = Arc::new(FunctionCache::new(absolute, options.function_cache_bytes));
            config
                .enable_incremental_compilation(functions.clone())
                .map_err(|e| EngineError::Config(format!("{e:#}")))?;
            caches.functions = Some(functions);
        }
        let engine = Engine::new(&config).map_err(|e| EngineError::Config(format!("{e:#}")))?;
        if let Some(dir) = &options.cache_dir {
            // Canonical: created and resolved above.
            let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            let artifacts = Artifacts::open(
                crate::artifacts::dir_in(&absolute, &engine),
                options.artifact_cache_bytes,
            )
            .map_err(|e| EngineError::Cache {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            caches.components = Some(artifacts);
        }
        let linker = link(&engine).map_err(|e| EngineError::Link(format!("{e:#}")))?;
        let ticker = Ticker::start(engine.clone())
            .map_err(|e| EngineError::Config(format!("cannot start the epoch ticker: {e}")))?;
        Ok(CordonEngine {
            engine,
            linker,
            loaded: Mutex::default(),
            ticker,
            max_component_bytes: options.max_component_bytes,
            compile_timeout: options.compile_timeout,
            caches,
            compile_slot: Arc::default(),
        })
    }

    /// Validate and compile a component (once per process per digest), within the engine's
    /// size and compile-time limits ([`EngineOptions`]). With a cache directory, the machine
    /// code comes from the whole-component cache when these bytes were compiled before, and
    /// otherwise each function the function cache holds is reused; see
    /// [`LoadedComponent::compile_report`].
    ///
    /// One component compiles at a time per engine (cranelift already uses every core for
    /// one): a load waits for the one before it, and the wait counts against
    /// `compile_timeout`. A compilation that ran past its timeout keeps its turn until it
    /// really ends, so abandoned compilations never pile up.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        if bytes.len() > self.max_component_bytes {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                limit: self.max_component_bytes,
            });
        }
        let digest = crate::component::digest(bytes);
        if let Some(c) = self
            .loaded
            .lock()
            .ok()
            .and_then(|m| m.get(&digest).cloned())
        {
            return Ok(c.reloaded());
        }
        let c = crate::component::load(
            &self.engine,
            &self.linker,
            bytes,
            Compiler {
                timeout: self.compile_timeout,
                slot: &self.compile_slot,
                caches: &self.caches,
            },
        )?;
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(digest, c.clone());
        }
        Ok(c)
    }

    /// Whether the epoch ticker is still running (it stops only when the engine is dropped).
    pub fn is_healthy(&self) -> bool {
        self.ticker
            .handle
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }
}

/// Link WASI (no authority: see `run`) and the cordon interfaces, each on its own view.
fn link(engine: &Engine) -> wasmtime::Result<Linker<RunState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    // wasi:io/poll again, on top of wasmtime-wasi's: waits that end at the run's deadline or
    // on cancel (see `host/poll.rs`).
    linker.allow_shadowing(true);
    wasmtime_wasi::p2::bindings::sync::io::poll::add_to_linker::<RunState, HasPoll>(
        &mut linker,
        RunState::poll,
    )?;
    linker.allow_shadowing(false);
    types::add_to_linker::<RunState, wasmtime::component::HasSelf<RunState>>(&mut linker, |s| s)?;
    fs::add_to_linker::<RunState, HasFs>(&mut linker, RunState::fs)?;
    http::add_to_linker::<RunState, HasHttp>(&mut linker, RunState::http)?;
    records::add_to_linker::<RunState, HasRecords>(&mut linker, RunState::records)?;
    Ok(linker)
}

/// The one thread per engine that advances the epoch. Dropping it stops the thread at once
/// (it waits on a channel, not in a sleep), so that a `cordon run` does not wait out a tick
/// before it exits.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("cordon-epoch".into())
            .spawn(move || {
                // A message or the sender's drop ends the loop; only a timeout ticks.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
