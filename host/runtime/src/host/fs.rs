//! `cordon:agent/fs`: files under the directory the operator granted the run.
//!
//! Every call goes through the gate first; a denied call returns `access-denied` before any
//! syscall on its target. Paths are checked twice over: `..` is refused outright (so the path
//! the policy sees is the path that is opened), symlinks are not followed, and the capability
//! itself is a `cap_std::fs::Dir`, which cannot reach outside its root whatever the path says.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, FileType, OpenOptions};
use cordon_policy::{Action, Request, Resource};
use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::fs::{DirEntry, EntryKind, Host, Metadata};
use crate::gate::Gate;

/// Most entries one `list-dir` returns.
const MAX_DIR_ENTRIES: usize = 100_000;

/// The state the fs interface may touch: the granted root (if any), the gate, and how many
/// bytes one read may bring into the host.
pub(crate) struct FsView<'a> {
    pub(crate) root: Option<&'a Dir>,
    pub(crate) gate: &'a mut Gate,
    pub(crate) max_read_bytes: u64,
}

pub(crate) struct HasFs;

impl HasData for HasFs {
    type Data<'a> = FsView<'a>;
}

/// A guest path, checked: `policy` is what Cedar sees (`/a/b`), `rel` what is opened (`a/b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestPath {
    pub(crate) policy: String,
    pub(crate) rel: PathBuf,
}

/// Check and normalize a path given by the guest.
pub(crate) fn parse_path(raw: &str) -> Result<GuestPath, Error> {
    if raw.is_empty() {
        return Err(Error::Invalid("empty path".into()));
    }
    if raw.contains('\0') {
        return Err(Error::Invalid(format!("path {raw:?} contains a NUL byte")));
    }
    let mut segments = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(Error::Invalid(format!(
                    "path `{raw}` contains `..`, which is not allowed"
                )));
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Ok(GuestPath {
            policy: "/".into(),
            rel: PathBuf::from("."),
        });
    }
    Ok(GuestPath {
        policy: format!("/{}", segments.join("/")),
        rel: segments.iter().collect(),
    })
}

fn io_error(path: &str, e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => Error::NotFound(format!("`{path}` does not exist")),
        ErrorKind::AlreadyExists => Error::Io(format!("`{path}` already exists")),
        ErrorKind::DirectoryNotEmpty => Error::Io(format!("`{path}` is not empty")),
        ErrorKind::IsADirectory => Error::Io(format!("`{path}` is a directory")),
        ErrorKind::NotADirectory => Error::Io(format!("`{path}` is not a directory")),
        ErrorKind::PermissionDenied => {
            Error::Io(format!("`{path}`: the operating system refused access"))
        }
        _ => Error::Io(format!("`{path}`: {e}")),
    }
}

fn kind_of(t: FileType) -> EntryKind {
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_dir() {
        EntryKind::Directory
    } else if t.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

impl<'a> FsView<'a> {
    /// The gate, then the root and symlink checks. Only an `Ok(dir)` may be acted on.
    fn admit(
        &mut self,
        action: Action,
        resource: Resource,
        path: &GuestPath,
    ) -> wasmtime::Result<Result<&'a Dir, Error>> {
        if let Err(denied) = self.gate.check(Request::new(action, resource))? {
            return Ok(Err(denied));
        }
        let Some(root) = self.root else {
            return Ok(Err(Error::Unsupported(
                "no directory is granted to this run".into(),
            )));
        };
        Ok(no_symlinks(root, path).map(|()| root))
    }

    /// Parse `raw`, then admit `action` on it as a file (`Resource::File`) or a directory
    /// (`Resource::Dir`).
    fn path(
        &mut self,
        action: Action,
        raw: &str,
        as_resource: fn(String) -> Resource,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath), Error>> {
        let path = match parse_path(raw) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let resource = as_resource(path.policy.clone());
        Ok(self.admit(action, resource, &path)?.map(|d| (d, path)))
    }

    fn file(
        &mut self,
        action: Action,
        raw: &str,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath), Error>> {
        self.path(action, raw, Resource::File)
    }

    fn dir(
        &mut self,
        action: Action,
        raw: &str,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath), Error>> {
        self.path(action, raw, Resource::Dir)
    }
}

/// Refuse a path any existing component of which is a symlink: the policy decided on this
/// path, so this path — not wherever a link points — is what gets opened.
fn no_symlinks(root: &Dir, path: &GuestPath) -> Result<(), Error> {
    let mut prefix = PathBuf::new();
    for c in path.rel.components() {
        prefix.push(c);
        if prefix == Path::new(".") {
            continue;
        }
        match root.symlink_metadata(&prefix) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "`{}` passes through a symlink; Cordon does not follow symlinks",
                    path.policy
                )));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Run `op`, mapping an OS error to the guest's `io`/`not-found`.
macro_rules! act {
    ($admitted:expr, |$dir:ident, $path:ident| $op:expr) => {{
        match $admitted? {
            Err(e) => Ok(Err(e)),
            Ok(($dir, $path)) => Ok($op.map_err(|e| io_error(&$path.policy, &e))),
        }
    }};
}

impl Host for FsView<'_> {
    #[tracing::instrument(name = "cordon.fs.read", skip_all)]
    fn read(&mut self, path: String) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let max = self.max_read_bytes;
        let (dir, path) = match self.file(Action::FsRead, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let result = (|| {
            let file = dir.open(&path.rel)?;
            let mut data = Vec::new();
            file.take(max.saturating_add(1)).read_to_end(&mut data)?;
            Ok::<_, std::io::Error>(data)
        })();
        Ok(match result {
            Ok(data) if data.len() as u64 > max => Err(Error::LimitExceeded(format!(
                "`{}` is larger than the {max} bytes one read may return",
                path.policy
            ))),
            Ok(data) => Ok(data),
            Err(e) => Err(io_error(&path.policy, &e)),
        })
    }

    #[tracing::instrument(name = "cordon.fs.write", skip_all)]
    fn write(&mut self, path: String, data: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = self.gate.charge_write(data.len()) {
            return Ok(Err(e));
        }
        act!(self.file(Action::FsWrite, &path), |dir, path| dir
            .write(&path.rel, &data))
    }

    #[tracing::instrument(name = "cordon.fs.append", skip_all)]
    fn append(&mut self, path: String, data: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = self.gate.charge_write(data.len()) {
            return Ok(Err(e));
        }
        act!(self.file(Action::FsAppend, &path), |dir, path| {
            dir.open_with(&path.rel, OpenOptions::new().append(true).create(true))
                .and_then(|mut f| f.write_all(&data))
        })
    }

    #[tracing::instrument(name = "cordon.fs.list_dir", skip_all)]
    fn list_dir(&mut self, path: String) -> wasmtime::Result<Result<Vec<DirEntry>, Error>> {
        let (dir, path) = match self.dir(Action::FsList, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let result = (|| {
            let mut out = Vec::new();
            for entry in dir.read_dir(&path.rel)? {
                let entry = entry?;
                if out.len() == MAX_DIR_ENTRIES {
                    return Ok(None);
                }
                out.push(DirEntry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    kind: kind_of(entry.file_type()?),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok::<_, std::io::Error>(Some(out))
        })();
        Ok(match result {
            Ok(Some(entries)) => Ok(entries),
            Ok(None) => Err(Error::LimitExceeded(format!(
                "`{}` has more than {MAX_DIR_ENTRIES} entries",
                path.policy
            ))),
            Err(e) => Err(io_error(&path.policy, &e)),
        })
    }

    #[tracing::instrument(name = "cordon.fs.stat", skip_all)]
    fn stat(&mut self, path: String) -> wasmtime::Result<Result<Metadata, Error>> {
        act!(self.file(Action::FsStat, &path), |dir, path| {
            dir.symlink_metadata(&path.rel).map(|m| Metadata {
                kind: kind_of(m.file_type()),
                size: m.len(),
                modified_ms: m
                    .modified()
                    .ok()
                    .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| u64::try_from(d.as_millis()).ok()),
            })
        })
    }

    #[tracing::instrument(name = "cordon.fs.create_dir", skip_all)]
    fn create_dir(&mut self, path: String) -> wasmtime::Result<Result<(), Error>> {
        act!(self.dir(Action::FsCreateDir, &path), |dir, path| dir
            .create_dir(&path.rel))
    }

    #[tracing::instrument(name = "cordon.fs.remove", skip_all)]
    fn remove(&mut self, path: String) -> wasmtime::Result<Result<(), Error>> {
        act!(self.file(Action::FsRemove, &path), |dir, path| {
            dir.symlink_metadata(&path.rel).and_then(|m| {
                if m.is_dir() {
                    dir.remove_dir(&path.rel)
                } else {
                    dir.remove_file(&path.rel)
                }
            })
        })
    }

    #[tracing::instrument(name = "cordon.fs.rename", skip_all)]
    fn rename(&mut self, from: String, to: String) -> wasmtime::Result<Result<(), Error>> {
        let to = match parse_path(&to) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let (_, from) = match self.file(Action::FsRename, &from)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let dir = match self.admit(Action::FsWrite, Resource::File(to.policy.clone()), &to)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        Ok(dir
            .rename(&from.rel, dir, &to.rel)
            .map_err(|e| io_error(&from.policy, &e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_relative_to_the_root() {
        let p = parse_path("/a//b/./c.txt").unwrap();
        assert_eq!(p.policy, "/a/b/c.txt");
        assert_eq!(p.rel, PathBuf::from("a/b/c.txt"));
        assert_eq!(parse_path("a/b").unwrap(), parse_path("/a/b").unwrap());
        let root = parse_path("/").unwrap();
        assert_eq!(
            (root.policy.as_str(), root.rel.as_path()),
            ("/", Path::new("."))
        );
    }

    #[test]
    fn dot_dot_empty_and_nul_paths_are_invalid() {
        for bad in ["..", "../etc/passwd", "a/../../b", "a/..", "", "a\0b"] {
            assert!(matches!(parse_path(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }
}
