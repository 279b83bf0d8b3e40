//! Loading a component: validated once, against the cordon world, with an error that names
//! what is wrong.

use std::fmt;
use std::time::Duration;

use wasmtime::component::Component;

use crate::bindings::AgentPre;
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

/// Compile `bytes` on a thread of its own and wait for it at most `limit`. Cranelift cannot be
/// stopped: past the limit the thread is left to finish, and what it compiled is dropped.
fn compile(
    engine: &wasmtime::Engine,
    bytes: &[u8],
    limit: Duration,
) -> Result<Component, LoadError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (engine, bytes) = (engine.clone(), bytes.to_vec());
    std::thread::Builder::new()
        .name("cordon-compile".into())
        .spawn(move || {
            let _ = tx.send(Component::new(&engine, &bytes));
        })
        .map_err(|e| LoadError::Malformed(format!("cannot start compiling: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(compiled) => compiled.map_err(|e| LoadError::Malformed(format!("{e:#}"))),
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
    compile_timeout: Duration,
) -> Result<LoadedComponent, LoadError> {
    check_header(bytes)?;
    let component = compile(engine, bytes, compile_timeout)?;
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
        digest: digest(bytes),
        size: bytes.len(),
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
