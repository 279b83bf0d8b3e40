//! Rex's checks as Cordon's gated calls: each function here is one Rex check and makes at most
//! one Cordon call, so each Rex check a command makes is one decision in Cordon's log.
//!
//! | Rex check | Cordon call |
//! |---|---|
//! | `open` of a directory or file | `fs.stat` of it, in Rex mode only ([`open_dir`], [`open_file`]) |
//! | `read` of a file | `fs.read` ([`read`]) |
//! | `read` of a directory | `fs.list` ([`list`]) |
//! | `write` of a file | `fs.write` or `fs.append` ([`write`], [`append`]) |
//! | `create` of a directory | `fs.create-dir` ([`create_dir`]) |
//! | `create` of a file | the write that creates it |
//! | `delete` | `fs.remove` ([`remove`]) |
//! | `move` | `fs.rename` ([`rename`]; the host also decides `fs:write` on the new path) |
//! | `stat` | `fs.stat` ([`stat`]) |
//!
//! Outside Rex mode an `open` makes no call: a command then makes only the calls it needs.
//! Every path here is a Cordon path ([`crate::paths::resolve`]).

use cordon_guest::Error;
use cordon_guest::fs::{self, DirEntry, EntryKind, Metadata};

use crate::error::{Failure, on_path, rex_fs_check};
use crate::paths::{self, rex_mode};

/// Rex's `open` of the directory `dir`: in Rex mode, a stat that must find a directory.
pub(crate) fn open_dir(dir: &str) -> Result<(), Failure> {
    if !rex_mode() {
        return Ok(());
    }
    let rex = || rex_fs_check("open", "Dir", dir);
    let meta = fs::stat(dir).map_err(|e| on_path(e, dir, rex()))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(on_path(
            Error::Io(format!("`{dir}` is not a directory")),
            dir,
            None,
        ))
    }
}

/// Rex's `open` of the file `path` (with `create`: one about to be created): in Rex mode a stat
/// that must find a file, or find nothing when `create`. Returns what the stat found.
pub(crate) fn open_file(path: &str, create: bool) -> Result<Option<Metadata>, Failure> {
    if !rex_mode() {
        return Ok(None);
    }
    match fs::stat(path) {
        Ok(meta) if meta.is_dir() => Err(on_path(
            Error::Io(format!("`{path}` is a directory")),
            path,
            None,
        )),
        Ok(meta) => Ok(Some(meta)),
        Err(Error::NotFound(_)) if create => Ok(None),
        Err(e) => Err(on_path(e, path, rex_fs_check("open", "File", path))),
    }
}

/// Rex's `open` of `path`, a directory or a file (a stat in both modes: the caller needs to
/// know which). A denial names the kind the host decided it as.
pub(crate) fn open_entry(path: &str) -> Result<Metadata, Failure> {
    fs::stat(path).map_err(|e| {
        let entity = match &e {
            Error::AccessDenied { resource, .. } if resource.starts_with("Cordon::Dir::") => "Dir",
            _ => "File",
        };
        on_path(e, path, rex_fs_check("open", entity, path))
    })
}

/// Rex's `open` of the directory that holds `path`, then of `path` itself: what every command
/// on one file does first.
pub(crate) fn open_in_dir(path: &str, create: bool) -> Result<Option<Metadata>, Failure> {
    if path == "/" {
        return Err(on_path(Error::Io("`/` is a directory".into()), path, None));
    }
    open_dir(paths::parent(path))?;
    open_file(path, create)
}

/// Rex's `read` of the file `path`: `fs.read`.
pub(crate) fn read(path: &str) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|e| on_path(e, path, rex_fs_check("read", "File", path)))
}

/// [`read`], as UTF-8 text.
pub(crate) fn read_text(path: &str) -> Result<String, Failure> {
    String::from_utf8(read(path)?).map_err(|e| {
        on_path(
            Error::Invalid(format!("`{path}` is not UTF-8 text: {e}")),
            path,
            None,
        )
    })
}

/// Rex's `read` of the directory `dir`: `fs.list`, its entries sorted by name.
pub(crate) fn list(dir: &str) -> Result<Vec<DirEntry>, Failure> {
    fs::list_dir(dir).map_err(|e| on_path(e, dir, rex_fs_check("read", "Dir", dir)))
}

/// Rex's `stat` of `path`, a `Dir` when `dir`: `fs.stat`.
pub(crate) fn stat(path: &str, dir: bool) -> Result<Metadata, Failure> {
    let entity = if dir { "Dir" } else { "File" };
    fs::stat(path).map_err(|e| on_path(e, path, rex_fs_check("stat", entity, path)))
}

/// Rex's `write` (or `create`) of the file `path` with `data`, replacing it: `fs.write`.
pub(crate) fn write(path: &str, data: &[u8]) -> Result<(), Failure> {
    fs::write(path, data).map_err(|e| on_path(e, path, rex_fs_check("write", "File", path)))
}

/// Rex's `write` (or `create`, of nothing) of the file `path`, adding `data`: `fs.append`.
pub(crate) fn append(path: &str, data: &[u8], rex_action: &str) -> Result<(), Failure> {
    fs::append(path, data).map_err(|e| on_path(e, path, rex_fs_check(rex_action, "File", path)))
}

/// Rex's `create` of the directory `dir`: `fs.create-dir`.
pub(crate) fn create_dir(dir: &str) -> Result<(), Failure> {
    fs::create_dir(dir).map_err(|e| on_path(e, dir, rex_fs_check("create", "Dir", dir)))
}

/// Rex's `delete` of `path`, a `Dir` when `dir`: `fs.remove`.
pub(crate) fn remove(path: &str, dir: bool) -> Result<(), Failure> {
    let entity = if dir { "Dir" } else { "File" };
    fs::remove(path).map_err(|e| on_path(e, path, rex_fs_check("delete", entity, path)))
}

/// Rex's `move` of the file `from` to `to`: `fs.rename`.
pub(crate) fn rename(from: &str, to: &str) -> Result<(), Failure> {
    fs::rename(from, to).map_err(|e| {
        let e = on_path(e, from, None).error;
        on_path(e, to, rex_fs_check("move", "File", from))
    })
}

/// The name Rex and scripts use for an entry's kind.
pub(crate) fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "other",
    }
}
