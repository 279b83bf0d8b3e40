//! The incremental compilation cache: machine code of single functions, keyed by cranelift's
//! hash of the function's IR (wasmtime's `incremental-cache`), in a redb file beside the
//! whole-component cache.
//!
//! A new Python or JavaScript component is mostly an interpreter that was compiled before:
//! its functions are found here and only what is new is compiled. The whole-component cache
//! (wasmtime's, keyed by the component's bytes) cannot help there, since every change of
//! source changes the bytes.
//!
//! The store is a cache, never a dependency: a file that cannot be opened (unwritable, corrupt,
//! held by another process's compile), an entry that fails its checksum, or a write that fails
//! is logged as a warning and the function is compiled as if it had never been seen. The file
//! is opened only while a compilation is under way, so processes sharing a data directory
//! contend only if they compile at the same moment (one of them then compiles without it).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use wasmtime::CacheStore;

/// The file inside the engine's cache directory.
pub(crate) const FUNCTION_CACHE_FILE: &str = "functions.redb";

/// cranelift's cache key (a sha256) to `blake3(code) ++ code`.
const FUNCTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("functions");
/// `"bytes"`: the sum of the stored values' sizes.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const STORED_BYTES: &str = "bytes";
const CHECKSUM_LEN: usize = 32;

/// Function-level hits and misses, for one compilation or for the engine's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

/// The redb-backed [`CacheStore`] wasmtime's compiler asks for each function it compiles.
#[derive(Debug)]
pub(crate) struct FunctionCache {
    path: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The first problem since [`FunctionCache::take_problem`] last asked.
    problem: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    /// Compilations under way (each holds a [`Compiling`]).
    compiling: usize,
    /// Open while a compilation is under way and the file could be opened.
    db: Option<Arc<Database>>,
    /// The file could not be opened for the compilations under way: do not retry per function.
    unavailable: bool,
    /// Functions compiled since the last flush, written in one transaction when a
    /// compilation ends (a transaction per function would cost an fsync each).
    pending: HashMap<Vec<u8>, Vec<u8>>,
    pending_bytes: u64,
}

impl FunctionCache {
    /// A cache in `dir`, holding at most about `max_bytes` of machine code. The file is not
    /// opened until a compilation needs it.
    pub(crate) fn new(dir: PathBuf, max_bytes: u64) -> Self {
        FunctionCache {
            path: dir.join(FUNCTION_CACHE_FILE),
            max_bytes,
            state: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            problem: Mutex::default(),
        }
    }

    /// Log a problem as a warning, and keep the first for [`FunctionCache::take_problem`].
    fn warn(&self, problem: String) {
        tracing::warn!(target: "cordon.compile", path = %self.path.display(), "{problem}");
        let mut kept = self.problem.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get_or_insert(problem);
    }

    /// The first problem met since the last call, if any: the caller reports it.
    pub(crate) fn take_problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hits and misses since the engine was built.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Mark a compilation under way until the guard drops; the guard then writes what was
    /// compiled, and closes the file when no other compilation is under way.
    pub(crate) fn compiling(self: &Arc<Self>) -> Compiling {
        self.state().compiling += 1;
        Compiling(self.clone())
    }

    /// The open database, opening it on first use within a compilation.
    fn db(&self) -> Option<Arc<Database>> {
        let mut state = self.state();
        if state.db.is_none() && !state.unavailable {
            match self.open() {
                Ok(db) => state.db = Some(Arc::new(db)),
                Err(message) => {
                    self.warn(format!(
                        "the function cache `{}` cannot be used ({message}); compiling without it",
                        self.path.display()
                    ));
                    state.unavailable = true;
                }
            }
        }
        state.db.clone()
    }

    fn open(&self) -> Result<Database, String> {
        let db = Database::create(&self.path).map_err(|e| e.to_string())?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(FUNCTIONS).map_err(|e| e.to_string())?;
        txn.open_table(META).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        Ok(db)
    }

    fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.state().pending.get(key) {
            return Some(v.clone());
        }
        let db = self.db()?;
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = db.begin_read()?;
            let table = txn.open_table(FUNCTIONS)?;
            Ok(table.get(key)?.map(|v| v.value().to_vec()))
        };
        let stored = match read() {
            Ok(stored) => stored?,
            Err(e) => {
                self.warn(format!(
                    "cannot read the function cache `{}`: {e}",
                    self.path.display()
                ));
                return None;
            }
        };
        let (sum, code) = stored.split_at_checked(CHECKSUM_LEN)?;
        if blake3::hash(code).as_bytes() != sum {
            self.warn(format!(
                "an entry of the function cache `{}` fails its checksum; compiling the function again",
                self.path.display()
            ));
            return None;
        }
        Some(code.to_vec())
    }

    /// Write the pending functions in one transaction. When the store would grow past its
    /// bound, it is emptied first: the compilation that overflows it fills it again with
    /// what it just used.
    fn flush(&self, db: &Database, pending: HashMap<Vec<u8>, Vec<u8>>) -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let mut stored = meta.get(STORED_BYTES)?.map_or(0, |v| v.value());
            let incoming: u64 = pending.values().map(|v| v.len() as u64).sum();
            if stored.saturating_add(incoming) > self.max_bytes {
                txn.delete_table(FUNCTIONS)?;
                stored = 0;
            }
            let mut functions = txn.open_table(FUNCTIONS)?;
            for (key, code) in pending {
                let size = code.len() as u64;
                if stored.saturating_add(size) > self.max_bytes {
                    break;
                }
                let mut value = Vec::with_capacity(CHECKSUM_LEN + code.len());
                value.extend_from_slice(blake3::hash(&code).as_bytes());
                value.extend_from_slice(&code);
                if functions
                    .insert(key.as_slice(), value.as_slice())?
                    .is_none()
                {
                    stored += size;
                }
            }
            meta.insert(STORED_BYTES, stored)?;
        }
        txn.commit()?;
        Ok(())
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.lookup(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let mut state = self.state();
        if state.unavailable
            || state.pending_bytes.saturating_add(value.len() as u64) > self.max_bytes
        {
            return false;
        }
        state.pending_bytes += value.len() as u64;
        state.pending.insert(key.to_vec(), value);
        true
    }
}

/// A compilation under way; see [`FunctionCache::compiling`].
pub(crate) struct Compiling(Arc<FunctionCache>);

impl Drop for Compiling {
    fn drop(&mut self) {
        let cache = &self.0;
        let (db, pending) = {
            let mut state = cache.state();
            state.pending_bytes = 0;
            (state.db.clone(), std::mem::take(&mut state.pending))
        };
        if let Some(db) = db
            && !pending.is_empty()
            && let Err(e) = cache.flush(&db, pending)
        {
            cache.warn(format!(
                "cannot write the function cache `{}`: {e}",
                cache.path.display()
            ));
        }
        let mut state = cache.state();
        state.compiling = state.compiling.saturating_sub(1);
        if state.compiling == 0 {
            // Close the file so another process sharing the directory can use it.
            state.db = None;
            state.unavailable = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &std::path::Path, max_bytes: u64) -> Arc<FunctionCache> {
        Arc::new(FunctionCache::new(dir.to_path_buf(), max_bytes))
    }

    /// Look `key` up, then store `code` under it, as cranelift does on a miss.
    fn compile_one(cache: &Arc<FunctionCache>, key: &[u8], code: &[u8]) -> Option<Vec<u8>> {
        let _compiling = cache.compiling();
        let found = cache.get(key).map(Cow::into_owned);
        if found.is_none() {
            cache.insert(key, code.to_vec());
        }
        found
    }

    #[test]
    fn functions_compiled_in_one_compilation_are_found_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let first = cache(dir.path(), 1 << 20);
        assert_eq!(compile_one(&first, b"k1", b"code one"), None);
        assert_eq!(first.counts(), Counts { hits: 0, misses: 1 });
        // Another engine (as in another process) on the same directory.
        let second = cache(dir.path(), 1 << 20);
        assert_eq!(
            compile_one(&second, b"k1", b"other"),
            Some(b"code one".to_vec())
        );
        assert_eq!(second.counts(), Counts { hits: 1, misses: 0 });
    }

    #[test]
    fn an_entry_that_fails_its_checksum_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1 << 20);
        compile_one(&c, b"k1", b"code one");
        {
            let db = Database::create(dir.path().join(FUNCTION_CACHE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(FUNCTIONS).unwrap();
                let mut value = t.get(b"k1".as_slice()).unwrap().unwrap().value().to_vec();
                let last = value.len() - 1;
                value[last] ^= 1;
                t.insert(b"k1".as_slice(), value.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        assert_eq!(compile_one(&c, b"k1", b"code one"), None);
        // The recompiled function replaced the bad entry.
        assert_eq!(
            compile_one(&c, b"k1", b"code one"),
            Some(b"code one".to_vec())
        );
    }

    #[test]
    fn a_file_that_is_not_a_cache_means_compiling_without_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FUNCTION_CACHE_FILE), vec![0xa5; 8192]).unwrap();
        let c = cache(dir.path(), 1 << 20);
        assert_eq!(compile_one(&c, b"k1", b"code"), None);
        assert_eq!(compile_one(&c, b"k1", b"code"), None);
        assert_eq!(c.counts(), Counts { hits: 0, misses: 2 });
    }

    #[test]
    fn a_cache_held_open_elsewhere_means_compiling_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = Database::create(dir.path().join(FUNCTION_CACHE_FILE)).unwrap();
        let c = cache(dir.path(), 1 << 20);
        assert_eq!(compile_one(&c, b"k1", b"code"), None);
        drop(held);
        // Once released, the next compilation uses it again.
        assert_eq!(compile_one(&c, b"k1", b"code"), None);
        assert_eq!(compile_one(&c, b"k1", b"code"), Some(b"code".to_vec()));
    }

    #[test]
    fn a_store_past_its_bound_is_emptied_and_refilled() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 100);
        compile_one(&c, b"k1", &[1; 60]);
        compile_one(&c, b"k2", &[2; 60]);
        assert_eq!(compile_one(&c, b"k2", &[2; 60]), Some(vec![2; 60]));
        assert_eq!(compile_one(&c, b"k1", &[1; 60]), None, "evicted");
        // A function larger than the whole bound is never stored.
        compile_one(&c, b"big", &[3; 101]);
        assert_eq!(compile_one(&c, b"big", &[3; 101]), None);
    }
}
