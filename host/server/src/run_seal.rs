//! Stored runs sealed so that they can be erased.
//!
//! A run's view and report name the records and people it worked on (record ids in its
//! decisions, their content in its output). Erasing a data subject must leave no plaintext
//! of them in any file Cordon writes, but redb keeps a replaced or deleted row's bytes in its
//! free pages and a removed file's blocks are not wiped. So every stored run (its row in the
//! state store and its report file) is sealed with ChaCha20 under its tenant's *report key*,
//! and erasure destroys the key: the kept runs are re-sealed under a new key generation first,
//! the ones naming the subject replaced by a tombstone, then the key file is rewritten without
//! the old key. Whatever old ciphertext survives is under a key that no longer exists.
//!
//! ```text
//! sealed = 0xC5 ‖ generation:u64 BE ‖ nonce:12 ‖ ChaCha20(report key, nonce, JSON)
//! ```
//!
//! The nonce is random per write. Values written before sealing are plain JSON (they start
//! with `{`) and still read; the tenant's next erasure re-seals or drops them.
//!
//! The keys live in one file, `<data>/run-keys.json` (mode 0600), read when the state opens
//! and rewritten (temporary file, fsync, rename, fsync of the directory) only when a tenant's
//! first key is made or a key is rotated or destroyed — never per run.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chacha20::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};

/// The key file inside the data directory.
pub(crate) const KEYS_FILE: &str = "run-keys.json";

/// The first byte of a sealed value (plain JSON starts with `{`).
const SEALED: u8 = 0xC5;
const HEADER: usize = 1 + 8 + 12;

/// One generation of a tenant's report key.
#[derive(Clone, Serialize, Deserialize)]
struct GenKey {
    generation: u64,
    /// 32 bytes, lower-case hex.
    key: String,
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    /// Each tenant's live key generations, oldest first; the last seals new writes.
    tenants: BTreeMap<String, Vec<GenKey>>,
}

/// The key file could not be read, written or a key made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    /// Reading or writing the key file failed.
    #[error("run report keys `{0}`")]
    Io(PathBuf, #[source] std::io::Error),
    /// The key file does not parse.
    #[error("run report keys `{0}` do not parse: {1}")]
    Parse(PathBuf, String),
    /// The OS random source failed.
    #[error("cannot make a run report key: {0}")]
    Random(String),
}

/// Every tenant's report keys, as the key file holds them.
pub(crate) struct RunKeys {
    path: PathBuf,
    keys: Mutex<BTreeMap<String, Vec<Key>>>,
    /// Held for a whole erasure of stored runs: one rotation at a time.
    pub(crate) rotation: Mutex<()>,
}

/// The key of `tenant` a value was sealed under, or the one to seal with.
pub(crate) type Key = (u64, [u8; 32]);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

impl RunKeys {
    /// The keys in `<data>/run-keys.json`, none if it does not exist yet.
    pub(crate) fn open(data: &Path) -> Result<RunKeys, KeyError> {
        let path = data.join(KEYS_FILE);
        let mut keys = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: KeyFile = serde_json::from_slice(&bytes)
                    .map_err(|e| KeyError::Parse(path.clone(), e.to_string()))?;
                for (tenant, gens) in file.tenants {
                    let mut list = Vec::new();
                    for g in gens {
                        let key = unhex(&g.key).ok_or_else(|| {
                            KeyError::Parse(
                                path.clone(),
                                format!("a key of `{tenant}` is not 32 hex bytes"),
                            )
                        })?;
                        list.push((g.generation, key));
                    }
                    keys.insert(tenant, list);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(KeyError::Io(path, e)),
        }
        Ok(RunKeys {
            path,
            keys: Mutex::new(keys),
            rotation: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Key>>> {
        crate::state::lock(&self.keys)
    }

    /// Rewrite the key file from `keys`: a temporary file, fsynced, renamed over it, and the
    /// directory fsynced, so a crash leaves the old file or the new one.
    fn persist(&self, keys: &BTreeMap<String, Vec<Key>>) -> Result<(), KeyError> {
        let io = |e| KeyError::Io(self.path.clone(), e);
        let file = KeyFile {
            tenants: keys
                .iter()
                .map(|(t, gens)| {
                    let gens = gens
                        .iter()
                        .map(|(generation, key)| GenKey {
                            generation: *generation,
                            key: hex(key),
                        })
                        .collect();
                    (t.clone(), gens)
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|e| KeyError::Parse(self.path.clone(), e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// The key new values of `tenant` are sealed with: its newest generation, made (and the
    /// key file rewritten) if it has none.
    pub(crate) fn current(&self, tenant: &str) -> Result<Key, KeyError> {
        let mut keys = self.lock();
        if let Some(k) = keys.get(tenant).and_then(|g| g.last()) {
            return Ok(*k);
        }
        let key = (1, random::<32>()?);
        let mut next = keys.clone();
        next.insert(tenant.to_owned(), vec![key]);
        self.persist(&next)?;
        *keys = next;
        Ok(key)
    }

    /// Add a new generation for `tenant` (kept beside the old ones until
    /// [`RunKeys::retire_old`]); new values are sealed with it from now on.
    pub(crate) fn rotate(&self, tenant: &str) -> Result<Key, KeyError> {
        let mut keys = self.lock();
        let generation = keys
            .get(tenant)
            .and_then(|g| g.last())
            .map_or(1, |(g, _)| g + 1);
        let key = (generation, random::<32>()?);
        let mut next = keys.clone();
        next.entry(tenant.to_owned()).or_default().push(key);
        self.persist(&next)?;
        *keys = next;
        Ok(key)
    }

    /// Destroy every generation of `tenant` older than `keep`: the key file is rewritten
    /// without them.
    pub(crate) fn retire_old(&self, tenant: &str, keep: u64) -> Result<(), KeyError> {
        let mut keys = self.lock();
        let mut next = keys.clone();
        if let Some(gens) = next.get_mut(tenant) {
            gens.retain(|(g, _)| *g >= keep);
        }
        self.persist(&next)?;
        *keys = next;
        Ok(())
    }

    /// `tenant`'s key of `generation`, if it is not destroyed.
    fn get(&self, tenant: &str, generation: u64) -> Option<[u8; 32]> {
        self.lock()
            .get(tenant)?
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, k)| *k)
    }
}

fn apply(key: &[u8; 32], nonce: &[u8; 12], bytes: &mut [u8]) {
    let mut cipher = chacha20::ChaCha20::new(key.into(), nonce.into());
    cipher.apply_keystream(bytes);
}

/// `plain` sealed under `key`, with a fresh random nonce.
pub(crate) fn seal(key: &Key, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = random::<12>()?;
    let mut out = Vec::with_capacity(HEADER + plain.len());
    out.push(SEALED);
    out.extend_from_slice(&key.0.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    apply(&key.1, &nonce, &mut out[HEADER..]);
    Ok(out)
}

/// A stored value as it can be read.
pub(crate) enum Opened {
    /// The plain bytes (a value written before sealing, or opened with its key).
    Plain(Vec<u8>),
    /// Sealed under a key generation that is destroyed (or never was).
    Erased,
}

/// Open a stored value of `tenant`: plain JSON as it is, a sealed one with its generation's
/// key (if the key is destroyed: [`Opened::Erased`]). Whether the bytes parse is for the
/// caller to find out (a damaged value opens to garbage).
pub(crate) fn open(keys: &RunKeys, tenant: &str, stored: &[u8]) -> Opened {
    let Some(rest) = stored.strip_prefix(&[SEALED]) else {
        return Opened::Plain(stored.to_vec());
    };
    if rest.len() < HEADER - 1 {
        return Opened::Erased;
    }
    let (generation, rest) = rest.split_at(8);
    let (nonce, body) = rest.split_at(12);
    let mut g = [0u8; 8];
    g.copy_from_slice(generation);
    let mut n = [0u8; 12];
    n.copy_from_slice(nonce);
    let Some(key) = keys.get(tenant, u64::from_be_bytes(g)) else {
        return Opened::Erased;
    };
    let mut plain = body.to_vec();
    apply(&key, &n, &mut plain);
    Opened::Plain(plain)
}

/// Whether the JSON `text` names any of `ids`, as itself or as JSON escapes it in a string.
pub(crate) fn names_any(text: &[u8], ids: &[String]) -> bool {
    let text = String::from_utf8_lossy(text);
    ids.iter().any(|id| {
        cordon_audit::source::names(&text, id)
            || serde_json::to_string(id).is_ok_and(|quoted| {
                let escaped = &quoted[1..quoted.len() - 1];
                escaped != id && cordon_audit::source::names(&text, escaped)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_generation_and_reads_erased_once_it_is_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RunKeys::open(dir.path()).unwrap();
        let k1 = keys.current("acme").unwrap();
        let sealed = seal(&k1, br#"{"x":"Zoe"}"#).unwrap();
        assert!(!sealed.windows(3).any(|w| w == b"Zoe"));
        assert!(matches!(open(&keys, "acme", &sealed), Opened::Plain(p) if p == br#"{"x":"Zoe"}"#));
        assert!(matches!(open(&keys, "globex", &sealed), Opened::Erased));
        let k2 = keys.rotate("acme").unwrap();
        assert_eq!(k2.0, 2);
        // A restart reads the same keys.
        let again = RunKeys::open(dir.path()).unwrap();
        assert!(matches!(open(&again, "acme", &sealed), Opened::Plain(_)));
        keys.retire_old("acme", 2).unwrap();
        assert!(matches!(open(&keys, "acme", &sealed), Opened::Erased));
        let file = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!file.contains(&hex(&k1.1)));
        assert!(file.contains(&hex(&k2.1)));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn names_an_id_only_as_a_whole_word_and_as_json_escapes_it() {
        assert!(names_any(
            br#"{"o":"T-3:carol@example.org"}"#,
            &["T-3".into()]
        ));
        assert!(names_any(
            br#"{"o":"T-3:carol@example.org"}"#,
            &["carol".into()]
        ));
        assert!(!names_any(br#"{"o":"T-30"}"#, &["T-3".into()]));
        assert!(!names_any(br#"{"o":"caroline"}"#, &["carol".into()]));
        assert!(names_any(br#"{"o":"a \"q\" b"}"#, &["\"q\"".into()]));
        assert!(!names_any(b"anything", &[String::new()]));
    }
}
