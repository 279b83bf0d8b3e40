//! Directories: `ls` and `mkdir`.

use rhai::{Array, Dynamic, Engine, Map};

use super::Out;
use crate::checks;
use crate::error::Failure;
use crate::flags::{self, Flag};
use crate::paths;

#[derive(Debug, Clone)]
enum LsFlag {
    All,
    Long,
    Recursive,
}

impl Flag for LsFlag {
    const COMMAND: &'static str = "ls";
    const TYPE: &'static str = "LsFlag";
    const NAMES: &'static [&'static str] = &["all", "a", "long", "l", "recursive", "R"];
}

#[derive(Debug, Clone)]
enum MkdirFlag {
    Parents,
}

impl Flag for MkdirFlag {
    const COMMAND: &'static str = "mkdir";
    const TYPE: &'static str = "MkdirFlag";
    const NAMES: &'static [&'static str] = &["parents", "p"];
}

pub(super) fn register(engine: &mut Engine) {
    flags::register(
        engine,
        &[
            ("all", LsFlag::All),
            ("a", LsFlag::All),
            ("long", LsFlag::Long),
            ("l", LsFlag::Long),
            ("recursive", LsFlag::Recursive),
            ("R", LsFlag::Recursive),
        ],
        |_| {},
    );
    flags::register(
        engine,
        &[("parents", MkdirFlag::Parents), ("p", MkdirFlag::Parents)],
        |_| {},
    );
    engine.register_fn("ls", |path: &str| ls(&Array::new(), path));
    engine.register_fn("ls", |flags: Array, path: &str| ls(&flags, path));
    engine.register_fn("mkdir", |path: &str| mkdir(&Array::new(), path));
    engine.register_fn("mkdir", |flags: Array, path: &str| mkdir(&flags, path));
}

/// The directory's entries: a map of name to `#{name, type, path}`, `type` one of `file`,
/// `directory`, `symlink`, `other`. Names starting with `.` only with `ls::all`; `ls::long`
/// and `ls::recursive` are accepted and, as in Rex, change nothing.
fn ls(flags: &Array, path: &str) -> Out<Map> {
    let flags = flags::parse::<LsFlag>(flags)?;
    let all = flags::has(&flags, |f| matches!(f, LsFlag::All));
    let dir = paths::resolve(path)?;
    checks::open_dir(&dir)?;
    let mut map = Map::new();
    for entry in checks::list(&dir)? {
        if !all && entry.name.starts_with('.') {
            continue;
        }
        let mut info = Map::new();
        info.insert("name".into(), entry.name.clone().into());
        info.insert("type".into(), checks::kind_name(entry.kind).into());
        let shown = paths::show(&paths::join(&dir, &entry.name));
        info.insert("path".into(), shown.into());
        map.insert(entry.name.into(), Dynamic::from_map(info));
    }
    Ok(map)
}

/// Create the directory; its parent must exist, unless `mkdir::parents`, which creates each
/// missing one. A directory that exists already is no error (as Rex's).
fn mkdir(flags: &Array, path: &str) -> Out<()> {
    let flags = flags::parse::<MkdirFlag>(flags)?;
    let dir = paths::resolve(path)?;
    if !flags::has(&flags, |f| matches!(f, MkdirFlag::Parents)) {
        checks::open_dir(paths::parent(&dir))?;
        return Ok(create_or_find(&dir)?);
    }
    // Rex finds the deepest directory that exists without a check; Cordon cannot look without
    // one: a stat of each path from the new directory up, until one exists (Rex's `open`).
    let mut missing = Vec::new();
    let mut at = dir.as_str();
    loop {
        match checks::open_entry(at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(Failure::from(cordon_guest::Error::Io(format!(
                    "`{}` is not a directory",
                    paths::show(at)
                )))
                .into());
            }
            Err(e) if e.is_not_found() && at != "/" => {
                missing.push(at);
                at = paths::parent(at);
            }
            Err(e) => return Err(e.into()),
        }
    }
    for dir in missing.iter().rev() {
        create_or_find(dir)?;
    }
    Ok(())
}

/// Create `dir`; when that fails but a directory is there (made already), that is success.
fn create_or_find(dir: &str) -> Result<(), Failure> {
    match checks::create_dir(dir) {
        Err(e) if !e.is_denied() && !e.is_not_found() => match checks::open_entry(dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            _ => Err(e),
        },
        other => other,
    }
}
