//! The whole-component cache: each compiled component's machine code, serialised by this
//! engine, in a file of its own that a later process maps instead of compiling.
//!
//! ```text
//! <cache_dir>/artifacts/<engine>/<component digest>.cwasm   (mode 0600)
//! ```
//!
//! A load maps the file (`Component::deserialize_file`): pages are read when first touched and
//! a linear memory's initial image is mapped copy-on-write from it, so a 20 MB interpreter
//! component (a runner) starts in milliseconds where decompressing and copying its code took
//! over a hundred (wasmtime's own cache compresses every entry). The name is the BLAKE3 of the
//! component's bytes, as everywhere; `<engine>` is a hash of what makes compiled code
//! compatible (wasmtime's version and the engine's configuration), and wasmtime still refuses
//! (and the cache then replaces) a file written by another.
//!
//! **Trust.** Deserialising runs no validation of the machine code: whoever can write a file
//! here can run code in the host. The cache lives in the data directory, beside the log's
//! signing key, with the same trust: only the host's own user can write either. Files are
//! written to a temporary name (mode 0600) and renamed into place, so a reader never maps a
//! half-written file, and a file being replaced stays intact for whoever has it mapped.
//!
//! **Bounded.** After each write the oldest files (by modification time; a load touches
//! nothing) are removed until the directory holds at most
//! [`EngineOptions::artifact_cache_bytes`](crate::EngineOptions::artifact_cache_bytes).

use std::path::{Path, PathBuf};

use wasmtime::component::Component;

/// The artifact directory of `engine` in the cache directory `cache_dir`.
pub(crate) fn dir_in(cache_dir: &Path, engine: &wasmtime::Engine) -> PathBuf {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same binary names the same directory in every process.
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    cache_dir
        .join("artifacts")
        .join(format!("{:016x}", h.finish()))
}

/// Compiled components of one engine configuration, by digest.
#[derive(Debug, Clone)]
pub(crate) struct Artifacts {
    dir: PathBuf,
    max_bytes: u64,
}

impl Artifacts {
    /// The artifacts in `dir` (created if missing), keeping at most `max_bytes`.
    pub(crate) fn open(dir: PathBuf, max_bytes: u64) -> std::io::Result<Artifacts> {
        std::fs::create_dir_all(&dir)?;
        Ok(Artifacts { dir, max_bytes })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.cwasm"))
    }

    /// The component compiled before for `digest`, if this cache holds it for this engine.
    /// A file wasmtime refuses (another version or configuration, or damaged) is removed.
    pub(crate) fn get(&self, engine: &wasmtime::Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.is_file() {
            return None;
        }
        match deserialize(engine, &path) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(target: "cordon.cache", path = %path.display(), error = %format!("{e:#}"),
                    "compiled component refused; it will be compiled again");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Keeps `component`, compiled from the bytes of `digest`. Best effort: a cache that cannot
    /// be written costs the next process a compile, never this load.
    pub(crate) fn put(&self, digest: &str, component: &Component) {
        if let Err(e) = self.write(digest, component) {
            tracing::warn!(target: "cordon.cache", dir = %self.dir.display(), error = %e,
                "cannot keep the compiled component");
        }
    }

    fn write(&self, digest: &str, component: &Component) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        if bytes.len() as u64 > self.max_bytes {
            return Ok(());
        }
        let path = self.path(digest);
        let temp = self.dir.join(format!(
            ".{digest}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &path)) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        self.prune()
    }

    /// Removes the oldest files until the directory holds at most `max_bytes`.
    fn prune(&self) -> std::io::Result<()> {
        let mut files = Vec::new();
        let mut total = 0u64;
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let meta = item.metadata()?;
            if meta.is_file() {
                total += meta.len();
                files.push((meta.modified()?, meta.len(), item.path()));
            }
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            std::fs::remove_file(&path)?;
            total -= len;
        }
        Ok(())
    }
}

/// Maps a file this cache wrote.
#[expect(
    unsafe_code,
    reason = "deserialising compiled code is unsafe by nature: the file is one this engine \
              serialised into the host's private cache (see the module docs on trust), and \
              wasmtime checks that it was built by this version and configuration"
)]
fn deserialize(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `path` is in the cache directory only this host's user can write (mode 0600
    // files, renamed into place whole), holding code serialised by `Component::serialize` of
    // an engine of this version and configuration, which wasmtime checks before use.
    unsafe { Component::deserialize_file(engine, path) }
}
