//! Commands that walk a tree: `find_files` (also called `glob`) and `du`.

use std::collections::HashMap;

use cordon_guest::fs::EntryKind;
use rhai::{Array, Dynamic, Engine, Map};

use super::walk::{Step, Walk};
use super::{Out, int, strings};
use crate::checks;
use crate::error::Failure;
use crate::flags::{self, Flag};
use crate::paths::{self, rex_mode};

#[derive(Debug, Clone)]
enum GlobFlag {
    Recursive,
}

impl Flag for GlobFlag {
    const COMMAND: &'static str = "glob";
    const TYPE: &'static str = "GlobFlag";
    const NAMES: &'static [&'static str] = &["recursive", "r"];
}

#[derive(Debug, Clone)]
enum DuFlag {
    Summarize,
    AllFiles,
    ApparentSize,
    MaxDepth(i64),
}

impl Flag for DuFlag {
    const COMMAND: &'static str = "du";
    const TYPE: &'static str = "DuFlag";
    const NAMES: &'static [&'static str] = &[
        "summarize",
        "s",
        "all_files",
        "a",
        "apparent_size",
        "max_depth(n)",
        "d(n)",
    ];
}

pub(super) fn register(engine: &mut Engine) {
    flags::register(
        engine,
        &[
            ("recursive", GlobFlag::Recursive),
            ("r", GlobFlag::Recursive),
        ],
        |_| {},
    );
    flags::register(
        engine,
        &[
            ("summarize", DuFlag::Summarize),
            ("s", DuFlag::Summarize),
            ("all_files", DuFlag::AllFiles),
            ("a", DuFlag::AllFiles),
            ("apparent_size", DuFlag::ApparentSize),
        ],
        |m| {
            m.set_native_fn("max_depth", |v: Dynamic| {
                Ok(DuFlag::MaxDepth(flags::int("du::max_depth", &v)?))
            });
            m.set_native_fn("d", |v: Dynamic| {
                Ok(DuFlag::MaxDepth(flags::int("du::d", &v)?))
            });
        },
    );
    for name in ["find_files", "glob"] {
        engine.register_fn(name, |pattern: &str, path: &str| {
            find_files(&Array::new(), pattern, path)
        });
        engine.register_fn(name, |flags: Array, pattern: &str, path: &str| {
            find_files(&flags, pattern, path)
        });
    }
    engine.register_fn("du", |path: &str| du(&Array::new(), path));
    engine.register_fn("du", |flags: Array, path: &str| du(&flags, path));
}

/// The names of the entries (files and directories) of the directory `path` whose name
/// matches the glob `pattern` (`*`, `?`, `[a-z]`); with `glob::recursive`, of every
/// directory below it too. Names only, as Rex returns them.
fn find_files(flags: &Array, pattern: &str, path: &str) -> Out<Array> {
    let flags = flags::parse::<GlobFlag>(flags)?;
    let root = paths::resolve(path)?;
    checks::open_dir(&root)?;
    let pattern = glob::Pattern::new(pattern)
        .map_err(|e| Failure::invalid(format!("bad glob pattern `{pattern}`: {e}")))?;
    let walk = Walk {
        command: "find_files",
        max_depth: if flags::has(&flags, |f| matches!(f, GlobFlag::Recursive)) {
            usize::MAX
        } else {
            1
        },
        rex: true,
    };
    let mut found = Vec::new();
    walk.run(&root, |step| {
        if let Step::Entry(path, ..) = step {
            let name = path.rsplit('/').next().unwrap_or(path);
            if pattern.matches(name) {
                found.push(name.to_owned());
            }
        }
        Ok(())
    })?;
    Ok(strings(found))
}

/// Disk usage below the directory `path`: `#{entries, total_size_bytes, total_inode_count}`,
/// `entries` one `#{path, size_bytes, inode_count}` per directory, deepest first (with
/// `du::all_files` also per file; `du::summarize` only the directory itself;
/// `du::max_depth(n)` only those at most `n` levels down). Sizes are the files' apparent sizes
/// (the bytes a read returns: Cordon's stat has no block counts, so `du::apparent_size`
/// changes nothing); a directory counts one inode and no bytes of its own.
fn du(flags: &Array, path: &str) -> Out<Map> {
    let flags = flags::parse::<DuFlag>(flags)?;
    let summarize = flags::has(&flags, |f| matches!(f, DuFlag::Summarize));
    let all_files = flags::has(&flags, |f| matches!(f, DuFlag::AllFiles));
    let max_depth = flags::find(&flags, |f| match f {
        DuFlag::MaxDepth(n) => Some(*n),
        _ => None,
    })
    .unwrap_or(i64::MAX);
    let root = paths::resolve(path)?;
    checks::open_dir(&root)?;
    if rex_mode() {
        // Rex's disk usage starts with the directory's own metadata.
        checks::stat(&root, true)?;
    }
    let shown = |p: &str| int(paths::depth(&root, p)) <= max_depth && (!summarize || p == root);
    let mut totals: HashMap<String, (u64, u64)> = HashMap::new();
    let mut open: Vec<String> = Vec::new();
    let mut entries = Array::new();
    let mut push = |p: &str, (size, inodes): (u64, u64)| {
        let mut m = Map::new();
        m.insert("path".into(), paths::show(p).into());
        m.insert("size_bytes".into(), Dynamic::from(int(size)));
        m.insert("inode_count".into(), Dynamic::from(int(inodes)));
        entries.push(Dynamic::from_map(m));
    };
    let walk = Walk {
        command: "du",
        max_depth: usize::MAX,
        rex: true,
    };
    walk.run(&root, |step| {
        match step {
            Step::Pre(dir) => {
                open.push(dir.to_owned());
                totals.insert(dir.to_owned(), (0, 0));
            }
            Step::Entry(p, kind) => {
                let file = kind == EntryKind::File;
                // Rex looks at every entry's metadata; plain mode needs only the files' sizes.
                if !(file || rex_mode()) {
                    return Ok(());
                }
                let size = match checks::stat(p, kind == EntryKind::Directory) {
                    Ok(meta) => meta.size,
                    Err(e) if walk.skippable(p, &e) => return Ok(()),
                    Err(e) => return Err(e),
                };
                if file && let Some(t) = open.last().and_then(|d| totals.get_mut(d)) {
                    t.0 += size;
                    t.1 += 1;
                }
                if all_files && kind != EntryKind::Directory && shown(p) {
                    push(p, (size, 1));
                }
            }
            Step::Post(dir) => {
                open.pop();
                if rex_mode()
                    && let Err(e) = checks::stat(dir, true)
                {
                    return if walk.skippable(dir, &e) {
                        Ok(())
                    } else {
                        Err(e)
                    };
                }
                let t = totals.entry(dir.to_owned()).or_default();
                t.1 += 1;
                let t = *t;
                if shown(dir) {
                    push(dir, t);
                }
                if let Some(p) = open.last().and_then(|d| totals.get_mut(d)) {
                    p.0 += t.0;
                    p.1 += t.1;
                }
            }
        }
        Ok(())
    })?;
    let (size, inodes) = totals.get(&root).copied().unwrap_or_default();
    let mut map = Map::new();
    map.insert("entries".into(), Dynamic::from_array(entries));
    map.insert("total_size_bytes".into(), Dynamic::from(int(size)));
    map.insert("total_inode_count".into(), Dynamic::from(int(inodes)));
    Ok(map)
}
