//! Changing files: `write`, `replace`, `touch`, `cp`, `mv`, `rm`.
//!
//! Plain mode keeps Cordon's own forms: `write(path, text)` replaces the file and `cp`
//! overwrites its destination, each one call. Rex mode follows Rex: `write` appends unless
//! given `write::replace`, and `cp` refuses a destination that is not empty unless given
//! `cp::force`.

use cordon_guest::Error;
use rhai::{Array, Engine};

use super::Out;
use super::walk;
use crate::checks;
use crate::error::Failure;
use crate::flags::{self, Flag};
use crate::log_line;
use crate::paths::{self, rex_mode};

#[derive(Debug, Clone)]
enum WriteFlag {
    Append,
    Replace,
}

impl Flag for WriteFlag {
    const COMMAND: &'static str = "write";
    const TYPE: &'static str = "WriteFlag";
    const NAMES: &'static [&'static str] = &["append", "a", "replace", "r"];
}

#[derive(Debug, Clone)]
enum CpFlag {
    Force,
    Preserve,
}

impl Flag for CpFlag {
    const COMMAND: &'static str = "cp";
    const TYPE: &'static str = "CpFlag";
    const NAMES: &'static [&'static str] = &["force", "f", "preserve", "p"];
}

#[derive(Debug, Clone)]
enum MvFlag {
    Backup,
    Verbose,
}

impl Flag for MvFlag {
    const COMMAND: &'static str = "mv";
    const TYPE: &'static str = "MvFlag";
    const NAMES: &'static [&'static str] = &["backup", "b", "verbose", "v"];
}

#[derive(Debug, Clone)]
enum RmFlag {
    Force,
    Recursive,
}

impl Flag for RmFlag {
    const COMMAND: &'static str = "rm";
    const TYPE: &'static str = "RmFlag";
    const NAMES: &'static [&'static str] = &["force", "f", "recursive", "r"];
}

pub(super) fn register(engine: &mut Engine) {
    use {CpFlag as C, MvFlag as M, RmFlag as R, WriteFlag as W};
    flags::register(
        engine,
        &[
            ("append", W::Append),
            ("a", W::Append),
            ("replace", W::Replace),
            ("r", W::Replace),
        ],
        |_| {},
    );
    flags::register(
        engine,
        &[
            ("force", C::Force),
            ("f", C::Force),
            ("preserve", C::Preserve),
            ("p", C::Preserve),
        ],
        |_| {},
    );
    flags::register(
        engine,
        &[
            ("backup", M::Backup),
            ("b", M::Backup),
            ("verbose", M::Verbose),
            ("v", M::Verbose),
        ],
        |_| {},
    );
    flags::register(
        engine,
        &[
            ("force", R::Force),
            ("f", R::Force),
            ("recursive", R::Recursive),
            ("r", R::Recursive),
        ],
        |_| {},
    );
    engine.register_fn("write", |path: &str, text: &str| {
        write(&Array::new(), path, text)
    });
    engine.register_fn("write", |flags: Array, path: &str, text: &str| {
        write(&flags, path, text)
    });
    // Rex's own example scripts overwrite a file with `replace(path, text)`.
    engine.register_fn("replace", |path: &str, text: &str| -> Out<()> {
        Ok(replace(&paths::resolve(path)?, text)?)
    });
    engine.register_fn("touch", touch);
    engine.register_fn("cp", |from: &str, to: &str| cp(&Array::new(), from, to));
    engine.register_fn("cp", |flags: Array, from: &str, to: &str| {
        cp(&flags, from, to)
    });
    engine.register_fn("mv", |from: &str, to: &str| mv(&Array::new(), from, to));
    engine.register_fn("mv", |flags: Array, from: &str, to: &str| {
        mv(&flags, from, to)
    });
    engine.register_fn("rm", |path: &str| rm(&Array::new(), path));
    engine.register_fn("rm", |flags: Array, path: &str| rm(&flags, path));
}

/// Write `text` to the file: replace it (`write::replace`, or no flag in plain mode) or add to
/// its end (`write::append`, or no flag in Rex mode); created if missing.
fn write(flags: &Array, path: &str, text: &str) -> Out<()> {
    let flags = flags::parse::<WriteFlag>(flags)?;
    let path = paths::resolve(path)?;
    let replacing = if flags.is_empty() {
        !rex_mode()
    } else {
        flags::has(&flags, |f| matches!(f, WriteFlag::Replace))
    };
    if replacing {
        return Ok(replace(&path, text)?);
    }
    checks::open_in_dir(&path, true)?;
    if rex_mode() {
        // Rex reads the file before it appends (and goes on whatever the read answers).
        let _ = checks::read(&path);
    }
    Ok(checks::append(&path, text.as_bytes(), "write")?)
}

/// Replace the file `path` (a Cordon path) with `text`, creating it if missing.
fn replace(path: &str, text: &str) -> Result<(), Failure> {
    checks::open_in_dir(path, true)?;
    checks::write(path, text.as_bytes())
}

/// Create the file if it is missing (an append of nothing); an existing file is left as is.
fn touch(path: &str) -> Out<()> {
    let path = paths::resolve(path)?;
    checks::open_in_dir(&path, true)?;
    Ok(checks::append(&path, b"", "create")?)
}

/// Copy the file `from` to `to`. Rex mode refuses a destination that is not empty unless given
/// `cp::force`; `cp::preserve` is accepted and has no effect (Cordon sets no file metadata).
fn cp(flags: &Array, from: &str, to: &str) -> Out<()> {
    let flags = flags::parse::<CpFlag>(flags)?;
    let (from, to) = (paths::resolve(from)?, paths::resolve(to)?);
    checks::open_in_dir(&from, false)?;
    let existing = checks::open_in_dir(&to, true)?;
    let bytes = checks::read(&from)?;
    if let Some(meta) = existing
        && meta.size > 0
        && !flags::has(&flags, |f| matches!(f, CpFlag::Force))
    {
        return Err(Failure::from(Error::Io(format!(
            "`{}` is not empty ({} bytes): `cp` overwrites a file only with `cp::force`",
            paths::show(&to),
            meta.size
        )))
        .into());
    }
    Ok(checks::write(&to, &bytes)?)
}

/// Move (rename) `from` to `to`. `mv::verbose` logs the move; `mv::backup` is accepted and,
/// as in Rex on one filesystem, has no effect.
fn mv(flags: &Array, from: &str, to: &str) -> Out<()> {
    let flags = flags::parse::<MvFlag>(flags)?;
    let (from, to) = (paths::resolve(from)?, paths::resolve(to)?);
    checks::open_in_dir(&from, false)?;
    checks::open_dir(paths::parent(&to))?;
    checks::rename(&from, &to)?;
    // Rex opens the moved file again under its new name.
    checks::open_file(&to, false)?;
    if flags::has(&flags, |f| matches!(f, MvFlag::Verbose)) {
        log_line(
            "info",
            &format!(
                "Moved from '{}' to '{}'",
                paths::show(&from),
                paths::show(&to)
            ),
        );
    }
    Ok(())
}

/// Remove a file or an empty directory; with `rm::recursive` a directory and everything in it.
/// `rm::force` is accepted; as in Rex, a missing path is still an error.
fn rm(flags: &Array, path: &str) -> Out<()> {
    let flags = flags::parse::<RmFlag>(flags)?;
    let recursive = flags::has(&flags, |f| matches!(f, RmFlag::Recursive));
    let path = paths::resolve(path)?;
    let is_dir = if rex_mode() {
        // Rex looks at what the path is without a check; Cordon looks with a stat, which is
        // Rex's `open` of the directory, or of the file (then of the directory that holds it).
        let dir = checks::open_entry(&path)?.is_dir();
        if !dir {
            checks::open_dir(paths::parent(&path))?;
        }
        Some(dir)
    } else {
        None
    };
    // The directory's own removal is decided first, so that a refusal removes nothing: once
    // decided, it fails when the directory is not empty.
    let Err(first) = checks::remove(&path, is_dir.unwrap_or(false)) else {
        return Ok(());
    };
    if !recursive || is_dir == Some(false) || first.is_denied() || first.is_not_found() {
        return Err(first.into());
    }
    let entries = match walk::below(&path, "rm") {
        Ok(entries) => entries,
        // Not a directory: the removal failed for another reason.
        Err(e) if matches!(e.error, Error::Io(_)) && is_dir.is_none() => {
            return Err(first.into());
        }
        Err(e) => return Err(e.into()),
    };
    for (entry, dir) in entries.iter().rev() {
        checks::remove(entry, *dir)?;
    }
    Ok(checks::remove(&path, true)?)
}
