//! Files under the directory the host operator gave this run.
//!
//! Paths are relative to that root: `notes/a.txt` and `/notes/a.txt` name the same file, and
//! neither `..` nor a symlink can leave it. Every call is one Cedar request (action `fs:read`,
//! `fs:write`, ... on resource `Cordon::File::"/notes/a.txt"` or `Cordon::Dir::"/notes"`),
//! decided and logged by the host before it touches anything.
//!
//! # Example
//!
//! ```no_run
//! use cordon_guest::fs;
//!
//! for entry in fs::list_dir("logs")? {
//!     if entry.is_file() {
//!         let text = fs::read_to_string(format!("logs/{}", entry.name))?;
//!         fs::append("summary.txt", format!("{}: {} lines\n", entry.name, text.lines().count()))?;
//!     }
//! }
//! # Ok::<(), cordon_guest::Error>(())
//! ```

use serde::Serialize;

use crate::__bindings::cordon::agent::fs as wit;
use crate::{Error, Result};

/// What kind of thing a path names.
///
/// ```no_run
/// use cordon_guest::fs::{self, EntryKind};
///
/// if fs::stat("logs")?.kind == EntryKind::Directory {
///     let _ = fs::list_dir("logs")?;
/// }
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (the host does not follow links out of the root).
    Symlink,
    /// Anything else (a device, a socket, ...).
    Other,
}

impl From<wit::EntryKind> for EntryKind {
    fn from(kind: wit::EntryKind) -> Self {
        match kind {
            wit::EntryKind::File => EntryKind::File,
            wit::EntryKind::Directory => EntryKind::Directory,
            wit::EntryKind::Symlink => EntryKind::Symlink,
            wit::EntryKind::Other => EntryKind::Other,
        }
    }
}

/// What [`stat`] returns.
///
/// ```no_run
/// let meta = cordon_guest::fs::stat("hello.txt")?;
/// assert!(meta.is_file());
/// let _bytes = meta.size;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// What kind of thing the path names.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification in milliseconds since the Unix epoch, when the host knows it.
    pub modified_ms: Option<u64>,
}

impl Metadata {
    /// True for a regular file.
    ///
    /// ```no_run
    /// assert!(cordon_guest::fs::stat("hello.txt")?.is_file());
    /// # Ok::<(), cordon_guest::Error>(())
    /// ```
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// True for a directory.
    ///
    /// ```no_run
    /// assert!(cordon_guest::fs::stat("logs")?.is_dir());
    /// # Ok::<(), cordon_guest::Error>(())
    /// ```
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }
}

/// One entry of a directory listing, see [`list_dir`].
///
/// ```no_run
/// let names: Vec<String> = cordon_guest::fs::list_dir("logs")?
///     .into_iter()
///     .filter(|entry| entry.is_file())
///     .map(|entry| entry.name)
///     .collect();
/// # Ok::<(), cordon_guest::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    /// The entry's name within its directory (no path).
    pub name: String,
    /// What kind of thing it is.
    pub kind: EntryKind,
}

impl DirEntry {
    /// True for a regular file.
    ///
    /// ```no_run
    /// let files = cordon_guest::fs::list_dir("logs")?.iter().filter(|e| e.is_file()).count();
    /// # Ok::<(), cordon_guest::Error>(())
    /// ```
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// True for a directory.
    ///
    /// ```no_run
    /// let dirs = cordon_guest::fs::list_dir(".")?.iter().filter(|e| e.is_dir()).count();
    /// # Ok::<(), cordon_guest::Error>(())
    /// ```
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }
}

/// Read a whole file (action `fs:read`).
///
/// ```no_run
/// let bytes: Vec<u8> = cordon_guest::fs::read("data.bin")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn read(path: impl AsRef<str>) -> Result<Vec<u8>> {
    Ok(wit::read(path.as_ref())?)
}

/// Read a whole file as UTF-8 text (action `fs:read`). A file that is not UTF-8 is
/// [`Error::Invalid`].
///
/// ```no_run
/// let text = cordon_guest::fs::read_to_string("hello.txt")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn read_to_string(path: impl AsRef<str>) -> Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path)?)
        .map_err(|err| Error::Invalid(format!("`{path}` is not UTF-8 text: {err}")))
}

/// Create or truncate a file and write `data` to it (action `fs:write`).
///
/// ```no_run
/// cordon_guest::fs::write("out/report.md", "# Report\n")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn write(path: impl AsRef<str>, data: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::write(path.as_ref(), data.as_ref())?)
}

/// Append `data` to a file, creating it if needed (action `fs:append`).
///
/// ```no_run
/// cordon_guest::fs::append("run.log", "step 1 done\n")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn append(path: impl AsRef<str>, data: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::append(path.as_ref(), data.as_ref())?)
}

/// List a directory (action `fs:list`), in the order the host returns.
///
/// ```no_run
/// for entry in cordon_guest::fs::list_dir("logs")? {
///     let _ = (entry.name, entry.kind);
/// }
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn list_dir(path: impl AsRef<str>) -> Result<Vec<DirEntry>> {
    let entries = wit::list_dir(path.as_ref())?;
    Ok(entries
        .into_iter()
        .map(|entry| DirEntry {
            name: entry.name,
            kind: entry.kind.into(),
        })
        .collect())
}

/// Describe a path (action `fs:stat`).
///
/// ```no_run
/// let size = cordon_guest::fs::stat("hello.txt")?.size;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn stat(path: impl AsRef<str>) -> Result<Metadata> {
    let meta = wit::stat(path.as_ref())?;
    Ok(Metadata {
        kind: meta.kind.into(),
        size: meta.size,
        modified_ms: meta.modified_ms,
    })
}

/// Create a directory whose parent exists (action `fs:create-dir`).
///
/// ```no_run
/// cordon_guest::fs::create_dir("out")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn create_dir(path: impl AsRef<str>) -> Result<()> {
    Ok(wit::create_dir(path.as_ref())?)
}

/// Remove a file or an empty directory (action `fs:remove`).
///
/// ```no_run
/// cordon_guest::fs::remove("scratch.txt")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn remove(path: impl AsRef<str>) -> Result<()> {
    Ok(wit::remove(path.as_ref())?)
}

/// Rename a file or directory (action `fs:rename` on `from`, `fs:write` on `to` — or
/// `fs:create-dir` when `from` is a directory; refused when the new name would be allowed
/// anything the policy withholds from the old one, see the README's *The fs model*).
///
/// ```no_run
/// cordon_guest::fs::rename("draft.md", "final.md")?;
/// # Ok::<(), cordon_guest::Error>(())
/// ```
pub fn rename(from: impl AsRef<str>, to: impl AsRef<str>) -> Result<()> {
    Ok(wit::rename(from.as_ref(), to.as_ref())?)
}
