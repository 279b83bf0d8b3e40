//! Loading a component: validated once, against the cordon world, with an error that names
//! what is wrong.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use crate::bindings::AgentPre;
use crate::engine::Caches;
use crate::state::RunState;

/// Interfaces of `cordon:agent` a component may import.
const CORDON_INTERFACES: [&str; 4] = ["types", "fs", "http", "records"];
/// WASI packages that are linked (toolchains import them) but grant nothing: no preopened
/// directories, no sockets, no environment, no arguments.
const WASI_PACKAGES: [&str; 6] = ["cli", "io", "clocks", "random", "filesystem", "sockets"];

/// Why a component was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (bad magic number)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component; turn it into one with `wasm-tools component new`"
    )]
    CoreModule,
    /// The component is larger than the engine accepts.
    #[error("the component is {size} bytes, more than the {limit} bytes this host accepts")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The engine's limit.
        limit: usize,
    },
    /// The component did not compile within the engine's time limit.
    #[error(
        "the component did not compile within {} ms, the limit of this host",
        limit.as_millis()
    )]
    CompileTimeout {
        /// The engine's limit.
        limit: Duration,
    },
    /// The component is malformed or cannot be compiled.
    #[error("the component is malformed: {0}")]
    Malformed(String),
    /// The component imports something Cordon does not provide.
    #[error(
        "the component imports `{0}`, which Cordon does not provide; a component may import only cordon:agent/{{{cordon}}} and wasi:{{{wasi}}} (which grant nothing)",
        cordon = CORDON_INTERFACES.join(","),
        wasi = WASI_PACKAGES.join(",")
    )]
    UnknownImport(String),
    /// The component does not export `run` with the world's signature.
    #[error(
        "the component does not export `run: func(input: string) -> result<string, error>` of world cordon:agent/agent: {0}"
    )]
    MissingRun(String),
    /// An import has the right name but the wrong type (e.g. an older WIT version).
    #[error("the component's imports do not match what Cordon provides: {0}")]
    Link(String),
}

/// A validated, compiled component ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) pre: AgentPre<RunState>,
    digest: String,
    size: usize,
    report: CompileReport,
}

/// Where a component's machine code came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeSource {
    /// This engine had already loaded these bytes: nothing was read or compiled.
    Loaded,
    /// The whole-component cache held code for these bytes: read from disk, nothing compiled.
    ComponentCache,
    /// Compiled, reusing from the function cache every function it held.
    Compiled,
}

/// How a load went: see [`LoadedComponent::compile_report`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompileReport {
    /// Where the machine code came from.
    pub source: CodeSource,
    /// Functions whose machine code the function cache supplied.
    pub functions_reused: u64,
    /// Functions compiled because the function cache did not hold them (all of them when
    /// the engine has no cache directory, which is not counted: then 0).
    pub functions_compiled: u64,
    /// Wall time of the load, waiting for an earlier compilation included, in milliseconds.
    pub millis: u64,
    /// Why the function cache could not be used (a corrupt or unwritable file, one held by
    /// another process's compile, an entry failing its checksum), if it could not: the
    /// component was compiled all the same. Also logged as a warning.
    pub cache_warning: Option<String>,
}

impl fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish()
    }
}

impl LoadedComponent {
    /// blake3 digest of the component's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How this load went: from memory, from the whole-component cache, or compiled (and how
    /// many functions the function cache supplied).
    pub fn compile_report(&self) -> &CompileReport {
        &self.report
    }

    /// The same component, handed out again by the engine that loaded it.
    pub(crate) fn reloaded(mut self) -> Self {
        self.report = CompileReport {
            source: CodeSource::Loaded,
            functions_reused: 0,
            functions_compiled: 0,
            millis: 0,
            cache_warning: None,
        };
        self
    }
}

/// The engine's one compilation at a time: see [`CordonEngine::load`](crate::CordonEngine::load).
#[derive(Debug, Default)]
pub(crate) struct CompileSlot {
    busy: Mutex<bool>,
    freed: Condvar,
}

/// Holds the [`CompileSlot`] until dropped.
struct SlotGuard(Arc<CompileSlot>);

impl CompileSlot {
    /// Take the slot, waiting until `deadline` at most.
    fn take(self: &Arc<Self>, deadline: Instant) -> Option<SlotGuard> {
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = deadline.saturating_duration_since(Instant::now());
        let (mut busy, _) = self
            .freed
            .wait_timeout_while(busy, wait, |busy| *busy)
            .unwrap_or_else(PoisonError::into_inner);
        if *busy {
            return None;
        }
        *busy = true;
        Some(SlotGuard(self.clone()))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.0.freed.notify_one();
    }
}

/// What compiling needs from the engine.
pub(crate) struct Compiler<'a> {
    pub(crate) timeout: Duration,
    pub(crate) slot: &'a Arc<CompileSlot>,
    pub(crate) caches: &'a Caches,
}

/// blake3 digest of `bytes`, hex: how components are named everywhere.
///
/// ```
/// assert_eq!(cordon_runtime::digest(b"").len(), 64);
/// ```
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Cheap checks before compiling: the header says component, not core module.
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    let Some(header) = bytes.get(..8) else {
        return Err(LoadError::NotWasm);
    };
    if &header[..4] != b"\0asm" {
        // WAT text is accepted by wasmtime; let the compiler judge it.
        return if std::str::from_utf8(bytes).is_ok() {
            Ok(())
        } else {
            Err(LoadError::NotWasm)
        };
    }
    match header[4..8] {
        [1, 0, 0, 0] => Err(LoadError::CoreModule),
        _ => Ok(()),
    }
}

/// Is `name` (e.g. `wasi:cli/stdout@0.2.3`) something Cordon links?
pub(crate) fn import_allowed(name: &str) -> bool {
    let unversioned = name.split('@').next().unwrap_or(name);
    let Some((package, interface)) = unversioned.split_once('/') else {
        return false;
    };
    match package {
        "cordon:agent" => CORDON_INTERFACES.contains(&interface),
        _ => package
            .strip_prefix("wasi:")
            .is_some_and(|p| WASI_PACKAGES.contains(&p)),
    }
}

/// Compile `bytes` on a thread of its own, in the engine's compile slot, and wait for it at
/// most `compiler.timeout` (the wait for the slot included). Cranelift cannot be stopped: past
/// the limit the thread is left to finish, holding the slot, and what it compiled is dropped.
fn compile(
    engine: &wasmtime::Engine,
    bytes: &[u8],
    digest: &str,
    compiler: Compiler<'_>,
) -> Result<(Component, CompileReport), LoadError> {
    let started = Instant::now();
    let artifacts = compiler.caches.components.clone();
    if let Some(component) = artifacts.as_ref().and_then(|a| a.get(engine, digest)) {
        let report = CompileReport {
            source: CodeSource::ComponentCache,
            functions_reused: 0,
            functions_compiled: 0,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            cache_warning: None,
        };
        return Ok((component, report));
    }
    let limit = compiler.timeout;
    let timeout = LoadError::CompileTimeout { limit };
    let deadline = started
        .checked_add(limit)
        .ok_or(LoadError::CompileTimeout { limit })?;
    let slot = compiler.slot.take(deadline).ok_or(timeout)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (engine, bytes, digest) = (engine.clone(), bytes.to_vec(), digest.to_owned());
    let functions = compiler.caches.functions.clone();
    std::thread::Builder::new()
        .name("cordon-compile".into())
        .spawn(move || {
            let _slot = slot;
            let before = functions.as_ref().map(|f| f.counts()).unwrap_or_default();
            let compiled = {
                let _compiling = functions.as_ref().map(|f| f.compiling());
                Component::new(&engine, &bytes)
            };
            // Kept before it is handed over: a process that exits after this load (`cordon
            // run`) must not cut the write short. Kept even if the load stopped waiting.
            if let (Ok(component), Some(artifacts)) = (&compiled, &artifacts) {
                artifacts.put(&digest, component);
            }
            let after = functions.as_ref().map(|f| f.counts()).unwrap_or_default();
            let report = CompileReport {
                source: CodeSource::Compiled,
                functions_reused: after.hits.saturating_sub(before.hits),
                functions_compiled: after.misses.saturating_sub(before.misses),
                millis: 0,
                cache_warning: functions.as_ref().and_then(|f| f.take_problem()),
            };
            let _ = tx.send(compiled.map(|c| (c, report)));
        })
        .map_err(|e| LoadError::Malformed(format!("cannot start compiling: {e}")))?;
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok((component, mut report))) => {
            report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            Ok((component, report))
        }
        Ok(Err(e)) => Err(LoadError::Malformed(format!("{e:#}"))),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(LoadError::CompileTimeout { limit }),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(LoadError::Malformed(
            "the compiler stopped without an answer".into(),
        )),
    }
}

pub(crate) fn load(
    engine: &wasmtime::Engine,
    linker: &wasmtime::component::Linker<RunState>,
    bytes: &[u8],
    compiler: Compiler<'_>,
) -> Result<LoadedComponent, LoadError> {
    check_header(bytes)?;
    let digest = digest(bytes);
    let (component, report) = compile(engine, bytes, &digest, compiler)?;
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        if !import_allowed(name) {
            return Err(LoadError::UnknownImport(name.to_owned()));
        }
    }
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Link(format!("{e:#}")))?;
    let pre = AgentPre::new(instance_pre).map_err(|e| LoadError::MissingRun(format!("{e:#}")))?;
    Ok(LoadedComponent {
        pre,
        digest,
        size: bytes.len(),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cordon_and_inert_wasi_imports_are_allowed() {
        for ok in [
            "cordon:agent/fs@0.1.0",
            "cordon:agent/types@0.1.0",
            "wasi:cli/stdout@0.2.6",
            "wasi:io/streams@0.2.0",
        ] {
            assert!(import_allowed(ok), "{ok}");
        }
        for bad in [
            "cordon:agent/admin@0.1.0",
            "wasi:http/outgoing-handler@0.2.0",
            "evil:net/raw",
            "fs",
            "wasi:cli",
        ] {
            assert!(!import_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn headers_tell_modules_from_components() {
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            check_header(b"\x7fELF\x02\x01\x01\0\xff"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(check_header(b"ab"), Err(LoadError::NotWasm)));
    }
}
